//! The run summary: what the tables show and what `run.json` stores under
//! `summary`. Built once from the merged histograms and counters.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use crate::depth::{DepthPrefill, Spread};
pub use crate::histogram::Dist;
use crate::histogram::LatencyHistograms;
use crate::timeline::WindowRate;

/// Request counts by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCounts {
    /// Finished normally (measured phase only).
    pub ok: u64,
    /// Failed (measured phase only).
    pub failed: u64,
    /// Cut off by the end of the run.
    pub cancelled: u64,
    /// OK requests whose counted tokens did not match the server's final
    /// count, or that had no final count.
    pub unreconciled: u64,
    /// OK requests whose per-event counts were estimated (one per event).
    pub estimated_counts: u64,
    /// OK requests that ended with fewer tokens than asked for.
    #[serde(default)]
    pub short: u64,
    /// OK requests during which the server loaded the model (Ollama
    /// `load_duration` over 1 s): their TTFT includes the load.
    #[serde(default)]
    pub cold_loads: u64,
    /// Cancelled requests that had received tokens: their TTFT and
    /// inter-token gaps are in the latency figures (see
    /// `RequestRecord::partial`).
    #[serde(default)]
    pub partial: u64,
}

impl RequestCounts {
    /// Failed requests as a share of those that finished either way (OK or
    /// failed; cancelled ones were never judged), %; 0 when none finished.
    pub fn failed_pct(&self) -> f64 {
        let judged = self.ok + self.failed;
        if judged == 0 {
            return 0.0;
        }
        self.failed as f64 * 100.0 / judged as f64
    }
}

/// Everything the summary table shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Requests by outcome.
    pub requests: RequestCounts,
    /// Failure reasons (`kind: message`, truncated) with their counts.
    pub errors: BTreeMap<String, u64>,
    /// Failed measured requests by class; the counts add up to
    /// `requests.failed`.
    #[serde(default)]
    pub failures: BTreeMap<crate::record::FailureKind, u64>,
    /// Output tokens of OK requests plus the tokens cancelled requests
    /// received before the end.
    pub output_tokens: u64,
    /// Prompt tokens of OK requests as the server reported them.
    pub prompt_tokens: u64,
    /// When the measured phase began, µs since the run began (after warm-up).
    pub measured_start_us: u64,
    /// Duration of the measured phase, s.
    pub wall_s: f64,
    /// Steady-state total output tok/s (the window below); falls back to
    /// `output_tok_s_wall` when there was no steady window.
    pub output_tok_s: f64,
    /// `"steady_window"` or `"wall"`: where `output_tok_s` comes from.
    pub output_tok_s_source: crate::kinds::Recorded<crate::kinds::RateSource>,
    /// Output tokens / wall time of the measured phase.
    pub output_tok_s_wall: f64,
    /// The steady-state window (µs since the run began), when there was one:
    /// from the first completed request (the pipeline is full) to the moment
    /// the first worker found no more work (drain begins).
    pub steady_window: Option<WindowRate>,
    /// Tokens in each whole second of the steady window, in order: the
    /// samples `compare` resamples (in one-second blocks) for the total
    /// rate's confidence interval.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steady_tokens_per_s: Vec<u32>,
    /// OK requests per second over the measured phase.
    pub requests_per_s: f64,
    /// Per-request decode rate, tokens/s.
    pub decode_tok_s: Dist,
    /// Pooled decode rate, tokens/s: Σ tokens after the first event /
    /// Σ (last event − first event) over the requests in `decode_tok_s`.
    /// A ratio of sums, so it weighs each request by its decode time — the
    /// definition servers use for their own per-stream figure (vLLM's
    /// `request_decode_time_seconds` sum and count, llama-server's
    /// `tokens_predicted_seconds_total`), unlike the median of per-request
    /// rates, which weighs each request once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_tok_s_pooled: Option<f64>,
    /// The pooled rate's numerator: Σ decode tokens (kept so that shards
    /// can be merged; 0 in files written before it was added).
    #[serde(default)]
    pub decode_tokens: u64,
    /// The pooled rate's denominator: Σ decode spans, µs.
    #[serde(default)]
    pub decode_us: u64,
    /// Per-request output tokens / E2E, tokens/s.
    pub e2e_tok_s: Dist,
    /// Time to first token, ms.
    pub ttft_ms: Dist,
    /// Inter-token latency (one sample per token), ms.
    pub itl_ms: Dist,
    /// Gap between content events (one sample per event), ms.
    pub event_gap_ms: Dist,
    /// Time per output token per request, ms.
    pub tpot_ms: Dist,
    /// End-to-end latency, ms.
    pub e2e_ms: Dist,
    /// Prompt tokens per request as the server reported them (absent in
    /// files written before it was added).
    #[serde(default)]
    pub prompt_tokens_dist: Dist,
    /// Prefill rate per request, tokens/s: prompt tokens processed (not
    /// served from the cache) / TTFT. At c=1 with long prompts, the
    /// prompt-processing figure (llama-bench's `pp`).
    #[serde(default)]
    pub prefill_tok_s: Dist,
    /// Open-loop runs: the offered schedule and how well it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_loop: Option<crate::open_loop::OpenLoopSummary>,
    /// With an SLO (`--slo`): the share and rate of requests meeting it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput: Option<crate::slo::Goodput>,
    /// The client's own load over the measured phase, and whether it was
    /// the bottleneck (absent in files written before it was added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<crate::client_load::ClientLoad>,
    /// Time to first answer token, ms: the TTFT of the answer after any
    /// reasoning (equal to `ttft_ms` for a run without reasoning; empty in
    /// files written before it was added).
    #[serde(default)]
    pub ttfat_ms: Dist,
    /// Reasoning: tokens before the first answer token, summed over the
    /// OK requests (the server's count where it sent one).
    #[serde(default)]
    pub reasoning_tokens: u64,
    /// OK requests whose stream showed reasoning.
    #[serde(default)]
    pub reasoning_requests: u64,
    /// Output tokens of the OK requests (the reasoning share's
    /// denominator; 0 in files written before it was added).
    #[serde(default)]
    pub ok_output_tokens: u64,
    /// `reasoning_tokens` / `ok_output_tokens`, when any request
    /// reasoned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_share: Option<f64>,
    /// Prompt tokens the server took from its cache, summed over the OK
    /// requests that said.
    #[serde(default)]
    pub cached_prompt_tokens: u64,
    /// Prompt tokens of the OK requests that reported a cached count (the
    /// cache hit share's denominator).
    #[serde(default)]
    pub cache_reported_prompt_tokens: u64,
    /// `cached_prompt_tokens` / `cache_reported_prompt_tokens`, when a
    /// request reported its cached count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_hit_share: Option<f64>,
    /// Multi-turn runs: each turn's figures, in turn order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub turns: Vec<TurnSummary>,
    /// A run at a cached depth: each user's context sent once before the
    /// measured requests (`ctx_pp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth_prefill: Option<DepthPrefill>,
}

/// One turn of a multi-turn run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TurnSummary {
    /// The turn, from 1.
    pub turn: u32,
    /// OK measured requests of this turn.
    pub requests: u64,
    /// Their prompt tokens as the server reported them.
    pub prompt_tokens: u64,
    /// Their cached prompt tokens, where reported.
    pub cached_prompt_tokens: u64,
    /// Prompt tokens of those that reported a cached count.
    #[serde(default)]
    pub cache_reported_prompt_tokens: u64,
    /// `cached_prompt_tokens` / `cache_reported_prompt_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_hit_share: Option<f64>,
    /// Time to first token, ms.
    pub ttft_ms: Dist,
    /// Prefill rate, tokens/s (cached tokens left out).
    pub prefill_tok_s: Dist,
}

/// The per-turn counts of a multi-turn run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TurnTotals {
    /// OK measured requests.
    pub requests: u64,
    /// Their reported prompt tokens.
    pub prompt_tokens: u64,
    /// Their cached prompt tokens.
    pub cached_prompt_tokens: u64,
    /// Prompt tokens of those that reported a cached count.
    pub cache_reported_prompt_tokens: u64,
}

impl TurnTotals {
    /// The counts a turn's summary keeps.
    pub fn of(s: &TurnSummary) -> Self {
        Self {
            requests: s.requests,
            prompt_tokens: s.prompt_tokens,
            cached_prompt_tokens: s.cached_prompt_tokens,
            cache_reported_prompt_tokens: s.cache_reported_prompt_tokens,
        }
    }

    fn merge(&mut self, o: &TurnTotals) {
        self.requests += o.requests;
        self.prompt_tokens += o.prompt_tokens;
        self.cached_prompt_tokens += o.cached_prompt_tokens;
        self.cache_reported_prompt_tokens += o.cache_reported_prompt_tokens;
    }
}

/// `part / whole` when `whole > 0`.
fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Counters the engine accumulates besides the histograms.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    /// Request counts.
    pub requests: RequestCounts,
    /// Failure reasons.
    pub errors: BTreeMap<String, u64>,
    /// Failures by class.
    pub failures: BTreeMap<crate::record::FailureKind, u64>,
    /// Output tokens (see [`Summary::output_tokens`]).
    pub output_tokens: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Σ decode tokens of the requests with a decode rate (see
    /// [`Summary::decode_tok_s_pooled`]).
    pub decode_tokens: u64,
    /// Σ decode spans of the same requests, µs.
    pub decode_us: u64,
    /// Requests that met the SLO (when one was given).
    pub slo_met: u64,
    /// Open-loop runs: requests that waited for a place under the cap.
    pub cap_waits: u64,
    /// See [`Summary::reasoning_tokens`].
    pub reasoning_tokens: u64,
    /// See [`Summary::reasoning_requests`].
    pub reasoning_requests: u64,
    /// Output tokens of the OK requests (the reasoning share's
    /// denominator).
    pub ok_output_tokens: u64,
    /// See [`Summary::cached_prompt_tokens`].
    pub cached_prompt_tokens: u64,
    /// See [`Summary::cache_reported_prompt_tokens`].
    pub cache_reported_prompt_tokens: u64,
    /// Multi-turn runs: counts by turn.
    pub turns: BTreeMap<u32, TurnTotals>,
}

impl Totals {
    /// Adds `o` into `self`.
    pub fn merge(&mut self, o: &Totals) {
        let (a, b) = (&mut self.requests, &o.requests);
        a.ok += b.ok;
        a.failed += b.failed;
        a.cancelled += b.cancelled;
        a.unreconciled += b.unreconciled;
        a.estimated_counts += b.estimated_counts;
        a.short += b.short;
        a.cold_loads += b.cold_loads;
        a.partial += b.partial;
        for (k, v) in &o.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.failures {
            *self.failures.entry(*k).or_default() += v;
        }
        self.output_tokens += o.output_tokens;
        self.prompt_tokens += o.prompt_tokens;
        self.decode_tokens += o.decode_tokens;
        self.decode_us += o.decode_us;
        self.slo_met += o.slo_met;
        self.cap_waits += o.cap_waits;
        self.reasoning_tokens += o.reasoning_tokens;
        self.reasoning_requests += o.reasoning_requests;
        self.ok_output_tokens += o.ok_output_tokens;
        self.cached_prompt_tokens += o.cached_prompt_tokens;
        self.cache_reported_prompt_tokens += o.cache_reported_prompt_tokens;
        for (k, v) in &o.turns {
            self.turns.entry(*k).or_default().merge(v);
        }
    }

    /// Adds one request's decode work to the pooled decode rate.
    pub fn add_decode(&mut self, m: &crate::RequestMetrics) {
        if m.decode_tok_s.is_some() {
            self.decode_tokens += m.decode_tokens;
            self.decode_us += m.decode_span_us;
        }
    }
}

impl Summary {
    /// How far the reported prompt lengths stray from `target`, in % of
    /// it: the larger of |min − target| and |max − target| (histogram
    /// resolution: 0.1%). `None` when no request reported one.
    pub fn prompt_miss_pct(&self, target: u32) -> Option<f64> {
        let d = &self.prompt_tokens_dist;
        let (lo, hi) = (d.min?, d.max?);
        let t = f64::from(target.max(1));
        Some(((lo - t).abs().max((hi - t).abs())) / t * 100.0)
    }

    /// How many streams the server decoded at once, on average over the
    /// measured phase: the completed requests' decode time (first token
    /// to last, [`Summary::decode_us`]) over the phase's wall time. A
    /// server that serves one request at a time gives at most 1 whatever
    /// the concurrency; `None` when no completed request decoded.
    pub fn streams_at_once(&self) -> Option<f64> {
        (self.decode_us > 0 && self.wall_s > 0.0).then(|| self.decode_us as f64 / 1e6 / self.wall_s)
    }

    /// When no measured request succeeded and some failed: the first
    /// failure reason (`kind: message`).
    pub fn all_failed(&self) -> Option<String> {
        let r = &self.requests;
        (r.ok == 0 && r.failed > 0).then(|| self.errors.keys().next().cloned().unwrap_or_default())
    }

    /// Builds the summary of a measured phase that lasted `wall_s` seconds.
    pub fn build(
        h: &LatencyHistograms,
        t: &Totals,
        measured_start_us: u64,
        wall_s: f64,
        steady: Option<WindowRate>,
    ) -> Self {
        let per_s = |x: f64| if wall_s > 0.0 { x / wall_s } else { 0.0 };
        let wall_rate = per_s(t.output_tokens as f64);
        let (rate, source) = match steady {
            Some(w) => (w.tok_s, crate::kinds::RateSource::SteadyWindow),
            None => (wall_rate, crate::kinds::RateSource::Wall),
        };
        Self {
            requests: t.requests.clone(),
            errors: t.errors.clone(),
            failures: t.failures.clone(),
            output_tokens: t.output_tokens,
            prompt_tokens: t.prompt_tokens,
            measured_start_us,
            wall_s,
            output_tok_s: rate,
            output_tok_s_source: source.into(),
            output_tok_s_wall: wall_rate,
            steady_window: steady,
            steady_tokens_per_s: Vec::new(),
            requests_per_s: per_s(t.requests.ok as f64),
            decode_tok_s: Dist::from_hist(&h.decode_mtps, 1000.0),
            decode_tok_s_pooled: (t.decode_us > 0)
                .then(|| t.decode_tokens as f64 * 1e6 / t.decode_us as f64),
            decode_tokens: t.decode_tokens,
            decode_us: t.decode_us,
            e2e_tok_s: Dist::from_hist(&h.e2e_rate_mtps, 1000.0),
            ttft_ms: Dist::from_hist(&h.ttft_us, 1000.0),
            itl_ms: Dist::from_hist(&h.itl_us, 1000.0),
            event_gap_ms: Dist::from_hist(&h.event_gap_us, 1000.0),
            tpot_ms: Dist::from_hist(&h.tpot_us, 1000.0),
            e2e_ms: Dist::from_hist(&h.e2e_us, 1000.0),
            prompt_tokens_dist: Dist::from_hist(&h.prompt_tokens, 1.0),
            prefill_tok_s: Dist::from_hist(&h.prefill_mtps, 1000.0),
            open_loop: None,
            goodput: None,
            client: None,
            ttfat_ms: Dist::from_hist(&h.ttfat_us, 1000.0),
            reasoning_tokens: t.reasoning_tokens,
            reasoning_requests: t.reasoning_requests,
            ok_output_tokens: t.ok_output_tokens,
            reasoning_share: share(t.reasoning_tokens, t.ok_output_tokens)
                .filter(|_| t.reasoning_requests > 0),
            cached_prompt_tokens: t.cached_prompt_tokens,
            cache_reported_prompt_tokens: t.cache_reported_prompt_tokens,
            cache_hit_share: share(t.cached_prompt_tokens, t.cache_reported_prompt_tokens),
            turns: turn_summaries(h, t),
            depth_prefill: None,
        }
    }
}

/// Each turn's figures, from the per-turn histograms and counts.
fn turn_summaries(h: &LatencyHistograms, t: &Totals) -> Vec<TurnSummary> {
    let empty = crate::histogram::TurnHistograms::default();
    let turns: std::collections::BTreeSet<u32> =
        h.turns.keys().chain(t.turns.keys()).copied().collect();
    turns
        .into_iter()
        .map(|turn| {
            let c = t.turns.get(&turn).copied().unwrap_or_default();
            let th = h.turns.get(&turn).unwrap_or(&empty);
            TurnSummary {
                turn,
                requests: c.requests,
                prompt_tokens: c.prompt_tokens,
                cached_prompt_tokens: c.cached_prompt_tokens,
                cache_reported_prompt_tokens: c.cache_reported_prompt_tokens,
                cache_hit_share: share(c.cached_prompt_tokens, c.cache_reported_prompt_tokens),
                ttft_ms: Dist::from_hist(&th.ttft_us, 1000.0),
                prefill_tok_s: Dist::from_hist(&th.prefill_mtps, 1000.0),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{RequestMetrics, TokenEvent};

    fn events(gaps_us: &[u64]) -> Vec<TokenEvent> {
        let mut at = 1_000;
        let mut v = vec![TokenEvent {
            at_us: at,
            tokens: 1,
        }];
        for g in gaps_us {
            at += g;
            v.push(TokenEvent {
                at_us: at,
                tokens: 1,
            });
        }
        v
    }

    /// The pooled rate is a ratio of sums (what servers report), not a
    /// mean or median of per-request rates: a slow request weighs by its
    /// decode time.
    #[test]
    fn pooled_decode_rate_is_total_tokens_over_total_decode_time() {
        let mut t = Totals::default();
        let mut h = LatencyHistograms::default();
        // 10 tokens after the first over 100 ms (100 tok/s), and 10 over
        // 400 ms (25 tok/s): per-request mean 62.5, pooled 20 / 0.5 s = 40.
        for gap in [10_000, 40_000] {
            let ev = events(&[gap; 10]);
            let m = RequestMetrics::from_events(&ev, 11).unwrap();
            m.record_into(&ev, &mut h);
            t.add_decode(&m);
        }
        let s = Summary::build(&h, &t, 0, 1.0, None);
        assert_eq!((t.decode_tokens, t.decode_us), (20, 500_000));
        assert!((s.decode_tok_s_pooled.unwrap() - 40.0).abs() < 1e-9);
        assert!((s.decode_tok_s.mean.unwrap() - 62.5).abs() < 0.1);
    }

    #[test]
    fn requests_without_a_decode_rate_add_nothing() {
        let mut t = Totals::default();
        let one_event = RequestMetrics::from_events(&events(&[]), 1).unwrap();
        t.add_decode(&one_event);
        assert_eq!((t.decode_tokens, t.decode_us), (0, 0));
        let s = Summary::build(&LatencyHistograms::default(), &t, 0, 1.0, None);
        assert_eq!(s.decode_tok_s_pooled, None);
    }
}
