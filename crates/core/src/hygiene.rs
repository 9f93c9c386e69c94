//! Whether a run was clean and warm: `run.json`'s `hygiene`.
//!
//! The two most-reported ways a benchmark of these servers lies are a warm
//! prompt cache (a second run of the same prompts is served from the
//! cache) and a cold engine (the first requests read slow). This module
//! holds what a run records about both: the cache reset it asked for and
//! its proof from the server's own counts, the cache check of its first
//! requests, the warm-up it did, whether its measured window was steady,
//! how long the server had been idle, and the flags that follow
//! (`cache`, `unsteady`, `throttled`), which tables mark and `compare`'s
//! gate fails on unless allowed. The judgements are plain functions here,
//! so the engine, the runner and the tests share them.

use serde::{Deserialize, Serialize};

use crate::stats::Statistic;

fn median(v: &mut [f64]) -> Option<f64> {
    Statistic::Quantile(0.5).of(v)
}

/// Everything a run says about its cleanliness and warmth.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hygiene {
    /// The cache reset done before the warm-up (`--reset-cache`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<CacheReset>,
    /// What the server said it took from its cache for the run's first
    /// requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_check: Option<CacheCheck>,
    /// The warm-up as done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<WarmupReport>,
    /// The measured window's first and last thirds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steadiness: Option<Steadiness>,
    /// What the server's counters said before the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<ServerBefore>,
    /// What the run's figures should not be trusted for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<RunFlag>,
}

/// A cache reset that was done (one that failed fails the run).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheReset {
    /// How: `vllm /reset_prefix_cache`, `llama-server erase N slots`,
    /// `ollama unload and reload`.
    pub how: String,
    /// What the server answered, for people.
    pub detail: String,
    /// How long the reset took, ms (Ollama: unload and reload).
    pub ms: f64,
    /// Ollama: the reload's own `load_duration`, ms (a cold load).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_load_ms: Option<f64>,
    /// Whether the cache check proved it (cached counts of zero); `None`
    /// where the server reports no cached count (Ollama).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proven: Option<bool>,
}

/// The cache check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheVerdict {
    /// No first request took more than the fixed head from the cache.
    Clean,
    /// A first request took more than the head: its prompt was there.
    Cached,
    /// The server reports no cached count.
    Unknown,
}

/// The first requests' cached counts against the prompts' fixed head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheCheck {
    /// Where the counts came from: `usage` (per request), `metrics` (vLLM's
    /// prefix-cache counters over the measured requests) or `none`.
    pub source: String,
    /// Requests checked: the run's first, warm-up included.
    pub requests: u64,
    /// Tokens every prompt of the run shares (chat template, instruction,
    /// shared prefix): a cache may hold these without harm.
    pub head_tokens: u64,
    /// The most any checked request took from the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cached: Option<u64>,
    /// The least any checked request took (0 proves an empty cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_cached: Option<u64>,
    /// Checked requests that took more than the head.
    pub over_head: u64,
    /// The verdict.
    pub verdict: CacheVerdict,
    /// `source` `metrics`: the server's prefix-cache hits over the
    /// measured requests' prompt tokens, %.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hit_pct: Option<f64>,
}

/// The warm-up as done.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WarmupReport {
    /// `fixed` (`--warmup N`) or `auto`.
    pub mode: String,
    /// Warm-up requests sent.
    pub requests: u64,
    /// Seconds the warm-up took.
    pub seconds: f64,
    /// Completed warm-up requests' decode rates, tok/s, in the order they
    /// ended.
    pub rates_tok_s: Vec<f64>,
    /// `auto`: whether the last `consecutive` rates agreed (false: the cap
    /// ended it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady: Option<bool>,
    /// `auto`: the rule (consecutive requests, tolerance %, cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<AutoWarmup>,
}

/// `--warmup auto`'s rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AutoWarmup {
    /// This many consecutive completed requests must agree.
    pub consecutive: u32,
    /// Within this spread, % ((max − min) / median).
    pub tolerance_pct: f64,
    /// At most this many warm-up requests.
    pub max_requests: u64,
    /// At most this long, s.
    pub max_seconds: f64,
}

impl Default for AutoWarmup {
    fn default() -> Self {
        Self {
            consecutive: 3,
            tolerance_pct: 10.0,
            max_requests: 64,
            max_seconds: 120.0,
        }
    }
}

impl AutoWarmup {
    /// Whether the last `consecutive` of `rates` agree within the
    /// tolerance.
    pub fn steady(&self, rates: &[f64]) -> bool {
        let k = self.consecutive.max(2) as usize;
        if rates.len() < k {
            return false;
        }
        spread_pct(&rates[rates.len() - k..]).is_some_and(|s| s <= self.tolerance_pct)
    }
}

/// (max − min) / median of `xs`, %; `None` when empty or the median is 0.
pub fn spread_pct(xs: &[f64]) -> Option<f64> {
    let mut v = xs.to_vec();
    let m = median(&mut v)?;
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (m > 0.0).then(|| (hi - lo) / m * 100.0)
}

/// How many warm-up requests: a count, or `auto` (until steady).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarmupSpec {
    /// Exactly this many.
    Count(u64),
    /// Until [`AutoWarmup`]'s rule says steady.
    Auto,
}

impl WarmupSpec {
    /// The warm-up requests a run may send under `rule` (`auto`: its cap).
    pub fn requests(self, rule: &AutoWarmup) -> u64 {
        match self {
            Self::Count(n) => n,
            Self::Auto => rule.max_requests,
        }
    }

    /// The rule a run warms up by: `rule` when `auto`, else none.
    pub fn rule(self, rule: AutoWarmup) -> Option<AutoWarmup> {
        (self == Self::Auto).then_some(rule)
    }
}

impl std::str::FromStr for WarmupSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("auto") {
            return Ok(Self::Auto);
        }
        s.parse()
            .map(Self::Count)
            .map_err(|_| format!("'{s}' is neither a number of warm-up requests nor 'auto'"))
    }
}

impl std::fmt::Display for WarmupSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Count(n) => write!(f, "{n}"),
            Self::Auto => f.write_str("auto"),
        }
    }
}

impl Serialize for WarmupSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Count(n) => s.serialize_u64(*n),
            Self::Auto => s.serialize_str("auto"),
        }
    }
}

impl<'de> Deserialize<'de> for WarmupSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Count(u64),
            Word(String),
        }
        match Raw::deserialize(d)? {
            Raw::Count(n) => Ok(Self::Count(n)),
            Raw::Word(w) => w.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// The measured window's first third against its last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Steadiness {
    /// Completed measured requests judged.
    pub requests: u64,
    /// Median decode rate of the requests started in the first third.
    pub first_third_tok_s: f64,
    /// Median decode rate of those started in the last third.
    pub last_third_tok_s: f64,
    /// Last against first, %.
    pub change_pct: f64,
    /// A change beyond this (either way), % flags the run `unsteady`,
    /// when the thirds are also `separated`.
    pub tolerance_pct: f64,
    /// Every rate of one third is above every rate of the other: a trend,
    /// not noise (the exact rank-sum test's chance of that between two
    /// samples of 4 that do not differ is 2 in 70, ~3 %).
    #[serde(default)]
    pub separated: bool,
}

impl Steadiness {
    /// Whether it flags the run `unsteady`: beyond the tolerance, and the
    /// thirds separated.
    pub fn unsteady(&self) -> bool {
        self.change_pct.abs() > self.tolerance_pct && self.separated
    }
}

/// The change beyond which a window is unsteady, %: a cold engine reads
/// ~30 % slow; on this 2-core machine the real servers' thirds moved up to
/// ~17 % by noise alone with 2-4 requests a third, which the separation
/// rule (below) tells apart.
pub const UNSTEADY_PCT: f64 = 15.0;

/// Fewer completed requests than this in a third and steadiness is not
/// judged (with 4 a side, two thirds that do not differ are separated by
/// chance 3 % of the time).
pub const STEADY_MIN_PER_THIRD: usize = 4;

/// The steadiness of requests given as (start offset µs, decode tok/s):
/// the first third of them, in the order they started, against the last
/// third (by count, not time: a cold engine's slow requests would leave
/// the first third of the time with too few to judge); `None` with fewer
/// than [`STEADY_MIN_PER_THIRD`] a third.
pub fn steadiness(samples: &[(u64, f64)]) -> Option<Steadiness> {
    let mut ordered = samples.to_vec();
    ordered.sort_by_key(|(t, _)| *t);
    let k = ordered.len() / 3;
    if k < STEADY_MIN_PER_THIRD {
        return None;
    }
    let mut first: Vec<f64> = ordered[..k].iter().map(|(_, r)| *r).collect();
    let mut last: Vec<f64> = ordered[ordered.len() - k..]
        .iter()
        .map(|(_, r)| *r)
        .collect();
    let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let separated = max(&first) < min(&last) || max(&last) < min(&first);
    let a = median(&mut first)?;
    let b = median(&mut last)?;
    (a > 0.0).then(|| Steadiness {
        requests: samples.len() as u64,
        first_third_tok_s: a,
        last_third_tok_s: b,
        change_pct: (b / a - 1.0) * 100.0,
        tolerance_pct: UNSTEADY_PCT,
        separated,
    })
}

/// What the server's own counters said just before the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerBefore {
    /// Output tokens it had generated since it started (vLLM
    /// `generation_tokens_total`, llama-server `tokens_predicted_total`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_tokens: Option<f64>,
    /// Seconds since the server process started (vLLM's
    /// `process_start_time_seconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_s: Option<f64>,
    /// Seconds it had been idle, where the counters tell: it had generated
    /// nothing since it started, so it was idle since then (a cold engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_s: Option<f64>,
    /// Whether it had generated nothing since it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub never_served: Option<bool>,
}

/// What a run's figures should not be trusted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunFlagKind {
    /// Its prompts were in the server's cache, or a reset was not proven.
    Cache,
    /// Its measured window's first and last thirds differ.
    Unsteady,
    /// The GPU throttled for heat or power during it.
    Throttled,
    /// A trace replay fell short of its trace (arrival, lengths or
    /// prefix-cache hits: `replay.shortfalls` says which).
    Replay,
}

/// One flag with what was seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFlag {
    /// Its kind.
    pub kind: RunFlagKind,
    /// What was seen, for people.
    pub text: String,
}

impl RunFlagKind {
    /// The name `run.json` and `compare --allow` use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cache => "cache",
            Self::Unsteady => "unsteady",
            Self::Throttled => "throttled",
            Self::Replay => "replay",
        }
    }
}

impl Hygiene {
    /// Whether the run carries a flag of `kind`.
    pub fn flagged(&self, kind: RunFlagKind) -> bool {
        self.flags.iter().any(|f| f.kind == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_warmup_waits_for_consecutive_rates_that_agree() {
        let rule = AutoWarmup::default();
        assert!(!rule.steady(&[30.0, 45.0]));
        assert!(!rule.steady(&[30.0, 45.0, 50.0, 51.0]));
        assert!(rule.steady(&[30.0, 45.0, 50.0, 51.0, 52.0]));
        assert!(
            !rule.steady(&[0.0, 0.0, 0.0]),
            "a zero median is not steady"
        );
    }

    #[test]
    fn steadiness_compares_the_first_and_last_thirds() {
        // 12 requests: about 40 tok/s, the last third about 50 (given out
        // of order: they are taken in the order they started).
        let rate = |i: u64| if i < 8 { 40.0 } else { 50.0 } + (i % 2) as f64;
        let s: Vec<(u64, f64)> = (0..12).rev().map(|i| (i * 100, rate(i))).collect();
        let st = steadiness(&s).unwrap();
        assert_eq!(st.first_third_tok_s, 40.5);
        assert_eq!(st.last_third_tok_s, 50.5);
        assert!((st.change_pct - 24.69).abs() < 0.01, "{st:?}");
        assert!(st.separated && st.unsteady());
        assert!(steadiness(&s[..11]).is_none(), "too few to judge");
        // As far apart in the medians, but overlapping: noise, not a trend.
        let mut noisy = s.clone();
        noisy[11].1 = 60.0;
        let st = steadiness(&noisy).unwrap();
        assert!(!st.separated && !st.unsteady(), "{st:?}");
    }
}
