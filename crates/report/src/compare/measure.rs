//! The statistics of one metric of one baseline/candidate pair: the
//! samples each [`MetricKey`] draws from the request records (per request,
//! per repeat), the bootstrap interval of the change, and the verdict.

use serde::Serialize;
use stackbench_core::run_file::RunFile;
use stackbench_core::stats::{bootstrap_change, Statistic};
use stackbench_core::{RequestRecord, RequestStatus};

use super::metric::{Better, MetricKey};

/// Fewer samples than this on either side: the interval means nothing.
pub(crate) const MIN_SAMPLES: usize = 5;

/// One run and its measured request records.
#[derive(Debug, Clone)]
pub struct RunData {
    /// Where it was read from.
    pub dir: String,
    /// Its `run.json`.
    pub file: RunFile,
    /// Its `requests.jsonl`.
    pub records: Vec<RequestRecord>,
}

/// A metric's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The whole interval is beyond the threshold in the good direction.
    Improved,
    /// The whole interval is beyond the threshold in the bad direction.
    Regressed,
    /// Anything else.
    NoChange,
    /// A metric with no better direction (the reasoning share) moved: the
    /// whole interval lies beyond the threshold. Reported, never a
    /// regression.
    Changed,
    /// Too few samples to say.
    InsufficientData,
}

impl Verdict {
    /// The verdict as the Markdown table writes it.
    pub fn text(self) -> &'static str {
        match self {
            Self::Improved => "improved",
            Self::Regressed => "REGRESSED",
            Self::NoChange => "no change",
            Self::Changed => "changed (not gated)",
            Self::InsufficientData => "insufficient data",
        }
    }
}

/// One metric of one pair.
#[derive(Debug, Clone, Serialize)]
pub struct MetricResult {
    /// Which metric (serialized as its name, `decode_tok_s_p50`, ...).
    pub key: MetricKey,
    /// What it is.
    pub name: String,
    /// Which way is better.
    pub better: Better,
    /// Baseline value.
    pub base: Option<f64>,
    /// Candidate value.
    pub candidate: Option<f64>,
    /// Change, % (points for the error rate).
    pub change: Option<f64>,
    /// 95 % interval of the change.
    pub interval: Option<[f64; 2]>,
    /// Threshold, % (points for the error rate).
    pub threshold: f64,
    /// The verdict.
    pub verdict: Verdict,
    /// Why there is no verdict, when there is too little to judge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// The measured (not warm-up) records of a group of repeats.
fn records<'a>(g: &'a [&'a RunData]) -> impl Iterator<Item = &'a RequestRecord> + 'a {
    g.iter()
        .copied()
        .flat_map(|d| d.records.iter())
        .filter(|r| !r.warmup)
}

/// One list of values per run (the bootstrap draws runs, then requests).
fn ok_values(g: &[&RunData], f: impl Fn(&RequestRecord) -> Option<f64>) -> Vec<Vec<f64>> {
    g.iter()
        .map(|d| {
            records(std::slice::from_ref(d))
                .filter(|r| r.status == RequestStatus::Ok)
                .filter_map(&f)
                .collect()
        })
        .collect()
}

/// The total-rate samples: with at least [`MIN_SAMPLES`] repeats, one
/// steady-state total per repeat (the between-run spread, the honest one
/// for an upgrade); with fewer, the tokens of every whole second of each
/// repeat's steady window, one list per repeat.
fn total_samples(g: &[&RunData]) -> Vec<Vec<f64>> {
    if g.len() >= MIN_SAMPLES {
        return vec![g.iter().map(|d| d.file.summary.output_tok_s).collect()];
    }
    g.iter()
        .map(|d| {
            d.file
                .summary
                .steady_tokens_per_s
                .iter()
                .map(|t| f64::from(*t))
                .collect()
        })
        .collect()
}

pub(crate) fn error_rate(g: &[&RunData]) -> Option<f64> {
    let measured: Vec<_> = records(g)
        .filter(|r| r.status != RequestStatus::Cancelled)
        .collect();
    (!measured.is_empty()).then(|| {
        measured
            .iter()
            .filter(|r| r.status == RequestStatus::Failed)
            .count() as f64
            / measured.len() as f64
            * 100.0
    })
}

/// The reasoning share of a group, %: reasoning tokens (the server's
/// count where it sent one, as the summary counts them) over the output
/// tokens of its OK measured requests (0 when none reasoned); none
/// without output.
pub(crate) fn reasoning_share(g: &[&RunData]) -> Option<f64> {
    let ok: Vec<&RequestRecord> = records(g)
        .filter(|r| r.status == RequestStatus::Ok)
        .collect();
    let output: u64 = ok.iter().map(|r| r.output_tokens).sum();
    let reasoning: u64 = ok
        .iter()
        .filter_map(|r| r.reasoning_tokens_server.or(r.reasoning_tokens))
        .sum();
    (output > 0).then(|| reasoning as f64 / output as f64 * 100.0)
}

/// Whether any measured request of `g` reasoned (the stream showed it, or
/// the server counted some).
pub(crate) fn reasoned(g: &[&RunData]) -> bool {
    g.iter().any(|d| d.file.summary.reasoning_requests > 0)
        || records(g).any(|r| {
            r.reasoning_tokens.is_some() || r.reasoning_tokens_server.is_some_and(|n| n > 0)
        })
}

/// When a request's answer began, ms: after its reasoning, else its first
/// token (as the run's TTFAT histogram takes it). A request that reasoned
/// and never answered has none.
fn first_answer_ms(r: &RequestRecord) -> Option<f64> {
    let us = match r.reasoning_tokens {
        Some(_) => r.ttfat_us,
        None => r.ttft_us,
    };
    us.map(|u| u as f64 / 1000.0)
}

/// The value of a metric counted exactly (see
/// [`MetricKey::counted_exactly`]).
pub(crate) fn exact_value(g: &[&RunData], key: MetricKey) -> Option<f64> {
    match key {
        MetricKey::ReasoningSharePct => reasoning_share(g),
        _ => error_rate(g),
    }
}

/// How many records an exactly counted metric rests on: measured requests
/// for the error rate, OK ones for the reasoning share.
pub(crate) fn exact_samples(g: &[&RunData], key: MetricKey) -> usize {
    records(g)
        .filter(|r| match key {
            MetricKey::ReasoningSharePct => r.status == RequestStatus::Ok,
            _ => r.status != RequestStatus::Cancelled,
        })
        .count()
}

fn verdict(better: Better, lo: f64, hi: f64, threshold: f64) -> Verdict {
    let (worse, improved) = match better {
        Better::Higher => (hi < -threshold, lo > threshold),
        Better::Lower => (lo > threshold, hi < -threshold),
        Better::Neither if lo > threshold || hi < -threshold => return Verdict::Changed,
        Better::Neither => return Verdict::NoChange,
    };
    if worse {
        Verdict::Regressed
    } else if improved {
        Verdict::Improved
    } else {
        Verdict::NoChange
    }
}

/// The samples `key` draws from `d` (one list per run) and the statistic
/// taken over them; `history` takes a point's interval from the same.
pub(crate) fn samples(d: &[&RunData], key: MetricKey) -> (Vec<Vec<f64>>, Statistic) {
    let ms = |us: Option<u64>| us.map(|u| u as f64 / 1000.0);
    let itl = |r: &RequestRecord| r.tpot_us.map(|u| u / 1000.0);
    match key {
        MetricKey::DecodeTokSP50 => (ok_values(d, |r| r.decode_tok_s), Statistic::Quantile(0.5)),
        MetricKey::TotalTokS => (total_samples(d), Statistic::Mean),
        MetricKey::TtftP50Ms => (ok_values(d, |r| ms(r.ttft_us)), Statistic::Quantile(0.5)),
        MetricKey::TtftP99Ms => (ok_values(d, |r| ms(r.ttft_us)), Statistic::Quantile(0.99)),
        MetricKey::ItlP50Ms => (ok_values(d, itl), Statistic::Quantile(0.5)),
        MetricKey::ItlP99Ms => (ok_values(d, itl), Statistic::Quantile(0.99)),
        MetricKey::E2eP50Ms => (ok_values(d, |r| ms(r.e2e_us)), Statistic::Quantile(0.5)),
        MetricKey::TtfatP50Ms => (ok_values(d, first_answer_ms), Statistic::Quantile(0.5)),
        // Counted exactly, not sampled: see `exact_change`.
        MetricKey::ErrorRatePct | MetricKey::ReasoningSharePct => (Vec::new(), Statistic::Mean),
    }
}

/// The change of a metric counted exactly (the error rate, the reasoning
/// share), in points; the counts are exact, so the interval is the change
/// itself.
fn exact_change(base: &[&RunData], cand: &[&RunData], m: &mut MetricResult) {
    if let (Some(b), Some(c)) = (exact_value(base, m.key), exact_value(cand, m.key)) {
        let d = c - b;
        m.base = Some(b);
        m.candidate = Some(c);
        m.change = Some(d);
        m.interval = Some([d, d]);
        m.verdict = verdict(m.better, d, d, m.threshold);
    }
}

/// `key` judged between `base` and `cand` against `threshold`; `seed`
/// makes the bootstrap repeatable.
pub fn metric(
    base: &[&RunData],
    cand: &[&RunData],
    key: MetricKey,
    threshold: f64,
    seed: u64,
) -> MetricResult {
    let mut m = MetricResult {
        key,
        name: key.description().into(),
        better: key.better(),
        base: None,
        candidate: None,
        change: None,
        interval: None,
        threshold,
        verdict: Verdict::InsufficientData,
        why: None,
    };
    if key.counted_exactly() {
        exact_change(base, cand, &mut m);
        if key == MetricKey::ReasoningSharePct && m.verdict == Verdict::InsufficientData {
            m.why = Some("no completed request with output on one side".into());
        }
        return m;
    }
    let (b, stat) = samples(base, key);
    let (c, _) = samples(cand, key);
    let count = |runs: &[Vec<f64>]| runs.iter().map(Vec::len).sum::<usize>();
    if count(&b) < MIN_SAMPLES || count(&c) < MIN_SAMPLES {
        m.why = Some(format!(
            "{} baseline and {} candidate samples, {MIN_SAMPLES} needed (per-request figures come from completed requests only)",
            count(&b),
            count(&c)
        ));
        m.base = stat.of(&mut b.concat());
        m.candidate = stat.of(&mut c.concat());
        return m;
    }
    if let Some(ch) = bootstrap_change(&b, &c, stat, seed) {
        m.base = Some(ch.base);
        m.candidate = Some(ch.candidate);
        m.change = Some(ch.pct);
        m.interval = Some([ch.lo_pct, ch.hi_pct]);
        m.verdict = verdict(m.better, ch.lo_pct, ch.hi_pct, threshold);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_need_the_whole_interval_beyond_the_threshold() {
        assert_eq!(
            verdict(Better::Higher, -12.0, -7.0, 5.0),
            Verdict::Regressed
        );
        assert_eq!(verdict(Better::Higher, -12.0, -3.0, 5.0), Verdict::NoChange);
        assert_eq!(verdict(Better::Higher, 6.0, 9.0, 5.0), Verdict::Improved);
        assert_eq!(verdict(Better::Lower, 11.0, 30.0, 10.0), Verdict::Regressed);
        assert_eq!(
            verdict(Better::Lower, -30.0, -11.0, 10.0),
            Verdict::Improved
        );
    }
}
