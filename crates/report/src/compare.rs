//! `compare`: baseline against candidate, metric by metric, with a 95 %
//! bootstrap interval on each change (see `stackbench_core::stats` for the
//! method) and a verdict. A metric *regressed* only when its whole interval
//! lies beyond the threshold in the bad direction, and *improved* only when
//! it lies beyond it in the good one; anything else is *no change*. So two
//! noisy runs of the same thing do not make a regression, and a CI job can
//! gate on the exit code.

use std::collections::BTreeMap;

use serde::Serialize;
use stackbench_core::run_file::RunFile;
use stackbench_core::stats::{bootstrap_change, Statistic};
use stackbench_core::{RequestRecord, RequestStatus};

/// Fewer samples than this on either side: the interval means nothing.
const MIN_SAMPLES: usize = 5;
/// A candidate with more failed requests than this (%) is flagged.
const ERROR_FLAG_PCT: f64 = 5.0;
/// Client and server pooled decode rates further apart than this (%): the
/// client (or the box) was short of CPU; flagged.
const SATURATION_FLAG_PCT: f64 = 2.0;

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

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Rates.
    Higher,
    /// Latencies, errors.
    Lower,
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
    /// Too few samples to say.
    InsufficientData,
}

impl Verdict {
    fn text(self) -> &'static str {
        match self {
            Self::Improved => "improved",
            Self::Regressed => "REGRESSED",
            Self::NoChange => "no change",
            Self::InsufficientData => "insufficient data",
        }
    }
}

/// The metrics compared, with their default thresholds (%; percentage
/// points for the error rate).
pub const METRICS: &[(&str, &str, Better, f64)] = &[
    (
        "decode_tok_s_p50",
        "decode tok/s p50 (per request; at c=1 the single-user figure)",
        Better::Higher,
        5.0,
    ),
    (
        "total_tok_s",
        "total tok/s (steady window)",
        Better::Higher,
        5.0,
    ),
    ("ttft_p50_ms", "TTFT p50 ms", Better::Lower, 10.0),
    ("ttft_p99_ms", "TTFT p99 ms", Better::Lower, 20.0),
    (
        "itl_p50_ms",
        "ITL p50 ms (per-request mean)",
        Better::Lower,
        10.0,
    ),
    (
        "itl_p99_ms",
        "ITL p99 ms (per-request mean)",
        Better::Lower,
        20.0,
    ),
    ("e2e_p50_ms", "E2E p50 ms", Better::Lower, 10.0),
    (
        "error_rate_pct",
        "error rate % (change in points)",
        Better::Lower,
        1.0,
    ),
];

/// One metric of one pair.
#[derive(Debug, Clone, Serialize)]
pub struct MetricResult {
    /// Key (`decode_tok_s_p50`, ...).
    pub key: String,
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

/// One baseline/candidate pair (same stack and scenario).
#[derive(Debug, Clone, Serialize)]
pub struct PairResult {
    /// Stack.
    pub stack: String,
    /// Scenario (or `c<N>`).
    pub scenario: String,
    /// Baseline folder (the first, with repeats).
    pub base_dir: String,
    /// Candidate folder (the first, with repeats).
    pub candidate_dir: String,
    /// Baseline runs pooled (repeats).
    pub base_runs: usize,
    /// Candidate runs pooled (repeats).
    pub candidate_runs: usize,
    /// Workload differences (compared only with `--allow-mismatch`).
    pub mismatches: Vec<String>,
    /// Reasons to distrust the candidate (errors, a saturated client).
    pub flags: Vec<String>,
    /// Per metric.
    pub metrics: Vec<MetricResult>,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Matched pairs.
    pub pairs: Vec<PairResult>,
    /// Runs with no counterpart.
    pub unmatched: Vec<String>,
    /// Any metric regressed.
    pub regressed: bool,
}

/// Why runs cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// Workloads differ and `--allow-mismatch` was not given.
    #[error("{stack}/{scenario}: the workloads differ ({what}); pass --allow-mismatch to compare anyway")]
    Mismatch {
        /// Stack.
        stack: String,
        /// Scenario.
        scenario: String,
        /// The differences.
        what: String,
    },
    /// Nothing matched.
    #[error("no baseline run matches a candidate run (by stack and scenario)")]
    NothingMatched,
    /// A threshold key is unknown.
    #[error("unknown metric '{0}' (known: {known})", known = METRICS.iter().map(|m| m.0).collect::<Vec<_>>().join(", "))]
    UnknownMetric(String),
}

/// Thresholds by metric key, defaults overridden.
pub fn thresholds(overrides: &[(String, f64)]) -> Result<BTreeMap<String, f64>, CompareError> {
    let mut t: BTreeMap<String, f64> = METRICS.iter().map(|m| (m.0.to_string(), m.3)).collect();
    for (k, v) in overrides {
        if !t.contains_key(k) {
            return Err(CompareError::UnknownMetric(k.clone()));
        }
        t.insert(k.clone(), *v);
    }
    Ok(t)
}

fn stack_of(r: &RunFile) -> String {
    r.stack
        .as_ref()
        .map(|s| s.name.clone())
        .or_else(|| r.target.stack.clone())
        .unwrap_or_else(|| r.target.model.clone())
}

fn scenario_of(r: &RunFile) -> String {
    r.suite
        .as_ref()
        .map(|s| s.scenario.clone())
        .unwrap_or_else(|| crate::level_label(&r.load))
}

fn mismatches(a: &RunFile, b: &RunFile) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |what: &str, x: String, y: String| {
        if x != y {
            out.push(format!("{what} {x} vs {y}"));
        }
    };
    check(
        "concurrency",
        a.load.concurrency.to_string(),
        b.load.concurrency.to_string(),
    );
    let rate = |r: &RunFile| {
        r.load
            .request_rate
            .map_or_else(|| "closed loop".into(), |x| format!("{x}/s"))
    };
    check("request rate", rate(a), rate(b));
    let dataset = |r: &RunFile| {
        r.load.dataset.as_ref().map_or_else(
            || "generated prompts".into(),
            |d| format!("dataset {}", &d.sha256[..d.sha256.len().min(12)]),
        )
    };
    check("workload", dataset(a), dataset(b));
    check(
        "slo",
        a.load.slo.map(|s| s.to_string()).unwrap_or_default(),
        b.load.slo.map(|s| s.to_string()).unwrap_or_default(),
    );
    check(
        "prompt tokens",
        a.load.prompt_tokens.to_string(),
        b.load.prompt_tokens.to_string(),
    );
    check(
        "output tokens",
        a.load.output_tokens.to_string(),
        b.load.output_tokens.to_string(),
    );
    check(
        "shared prefix tokens",
        a.load.shared_prefix_tokens.to_string(),
        b.load.shared_prefix_tokens.to_string(),
    );
    check("api", a.target.api.to_string(), b.target.api.to_string());
    check("model", a.target.model.clone(), b.target.model.clone());
    check(
        "quantization",
        a.target.quantization.clone().unwrap_or_default(),
        b.target.quantization.clone().unwrap_or_default(),
    );
    out
}

fn flags(base: &[&RunData], candidate: &[&RunData]) -> Vec<String> {
    let mut out = Vec::new();
    let base_flags = base.iter().filter_map(|b| saturation_flag("baseline", b));
    for f in candidate
        .iter()
        .flat_map(|c| run_flags(c))
        .chain(base_flags)
    {
        if !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

/// A run whose client was the bottleneck measured the client too.
fn saturation_flag(side: &str, run: &RunData) -> Option<String> {
    let c = run.file.summary.client.as_ref().filter(|c| c.saturated)?;
    Some(format!(
        "the client was saturated in the {side} run {} ({}): its latencies are partly the client's",
        run.dir,
        c.reasons.join("; ")
    ))
}

fn run_flags(c: &RunData) -> Vec<String> {
    let mut out = Vec::new();
    let pct = c.file.summary.requests.failed_pct();
    if pct > ERROR_FLAG_PCT {
        out.push(format!("{pct:.1}% of the candidate's requests failed"));
    }
    if let Some(d) = c
        .file
        .server_metrics
        .as_ref()
        .and_then(|m| m.decode_diff_pct)
    {
        if d.abs() > SATURATION_FLAG_PCT {
            out.push(format!(
                "client and server decode rates differ by {d:+.1}%: the client or the box was short of CPU"
            ));
        }
    }
    if !c.file.complete {
        out.push("the candidate run did not complete".into());
    }
    out.extend(saturation_flag("candidate", c));
    out
}

/// The runs of one stack and scenario on one side: one, or the repeats of
/// a `--repeat` suite, taken together (figures over all their requests;
/// intervals drawing repeats, then requests).
type Group<'a> = Vec<&'a RunData>;

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

fn error_rate(g: &[&RunData]) -> Option<f64> {
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

fn verdict(better: Better, lo: f64, hi: f64, threshold: f64) -> Verdict {
    let (worse, improved) = match better {
        Better::Higher => (hi < -threshold, lo > threshold),
        Better::Lower => (lo > threshold, hi < -threshold),
    };
    if worse {
        Verdict::Regressed
    } else if improved {
        Verdict::Improved
    } else {
        Verdict::NoChange
    }
}

fn samples(d: &[&RunData], key: &str) -> (Vec<Vec<f64>>, Statistic) {
    let ms = |us: Option<u64>| us.map(|u| u as f64 / 1000.0);
    match key {
        "decode_tok_s_p50" => (ok_values(d, |r| r.decode_tok_s), Statistic::Quantile(0.5)),
        "total_tok_s" => (total_samples(d), Statistic::Mean),
        "ttft_p50_ms" => (ok_values(d, |r| ms(r.ttft_us)), Statistic::Quantile(0.5)),
        "ttft_p99_ms" => (ok_values(d, |r| ms(r.ttft_us)), Statistic::Quantile(0.99)),
        "itl_p50_ms" => (
            ok_values(d, |r| r.tpot_us.map(|u| u / 1000.0)),
            Statistic::Quantile(0.5),
        ),
        "itl_p99_ms" => (
            ok_values(d, |r| r.tpot_us.map(|u| u / 1000.0)),
            Statistic::Quantile(0.99),
        ),
        _ => (ok_values(d, |r| ms(r.e2e_us)), Statistic::Quantile(0.5)),
    }
}

fn metric(
    base: &[&RunData],
    cand: &[&RunData],
    spec: &(&str, &str, Better, f64),
    threshold: f64,
    seed: u64,
) -> MetricResult {
    let (key, name, better, _) = *spec;
    let mut m = MetricResult {
        key: key.into(),
        name: name.into(),
        better,
        base: None,
        candidate: None,
        change: None,
        interval: None,
        threshold,
        verdict: Verdict::InsufficientData,
        why: None,
    };
    if key == "error_rate_pct" {
        // A difference in points; the counts are exact, so no interval.
        if let (Some(b), Some(c)) = (error_rate(base), error_rate(cand)) {
            let d = c - b;
            m.base = Some(b);
            m.candidate = Some(c);
            m.change = Some(d);
            m.interval = Some([d, d]);
            m.verdict = verdict(better, d, d, threshold);
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
        m.verdict = verdict(better, ch.lo_pct, ch.hi_pct, threshold);
    }
    m
}

/// Runs grouped by stack and scenario, in first-seen order.
fn groups(runs: &[RunData]) -> Vec<((String, String), Group<'_>)> {
    let mut out: Vec<((String, String), Group<'_>)> = Vec::new();
    for d in runs {
        let k = (stack_of(&d.file), scenario_of(&d.file));
        match out.iter_mut().find(|(key, _)| *key == k) {
            Some((_, g)) => g.push(d),
            None => out.push((k, vec![d])),
        }
    }
    out
}

/// Compares every candidate stack and scenario with the baseline's (a
/// single stack and scenario on each side is compared whatever its
/// labels). Repeats of one stack and scenario are taken together.
pub fn compare(
    base: &[RunData],
    candidate: &[RunData],
    thresholds: &BTreeMap<String, f64>,
    allow_mismatch: bool,
) -> Result<Comparison, CompareError> {
    let (base, candidate) = (groups(base), groups(candidate));
    let mut pairs = Vec::new();
    let mut unmatched = Vec::new();
    let single = base.len() == 1 && candidate.len() == 1;
    for (key, c) in &candidate {
        let Some((_, b)) = base.iter().find(|(k, _)| single || k == key) else {
            unmatched.extend(c.iter().map(|d| format!("candidate {}", d.dir)));
            continue;
        };
        let (stack, scenario) = key.clone();
        let mut mism: Vec<String> = Vec::new();
        for d in b.iter().chain(c.iter()) {
            for m in mismatches(&b[0].file, &d.file) {
                if !mism.contains(&m) {
                    mism.push(m);
                }
            }
        }
        if !mism.is_empty() && !allow_mismatch {
            return Err(CompareError::Mismatch {
                stack,
                scenario,
                what: mism.join(", "),
            });
        }
        let metrics = METRICS
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let t = thresholds.get(spec.0).copied().unwrap_or(spec.3);
                metric(b, c, spec, t, 0x5eed_0000 + i as u64)
            })
            .collect();
        pairs.push(PairResult {
            stack,
            scenario,
            base_dir: b[0].dir.clone(),
            candidate_dir: c[0].dir.clone(),
            base_runs: b.len(),
            candidate_runs: c.len(),
            mismatches: mism,
            flags: flags(b, c),
            metrics,
        });
    }
    for (key, b) in &base {
        if !single && !candidate.iter().any(|(k, _)| k == key) {
            unmatched.extend(b.iter().map(|d| format!("baseline {}", d.dir)));
        }
    }
    if pairs.is_empty() {
        return Err(CompareError::NothingMatched);
    }
    let regressed = pairs
        .iter()
        .flat_map(|p| &p.metrics)
        .any(|m| m.verdict == Verdict::Regressed);
    Ok(Comparison {
        pairs,
        unmatched,
        regressed,
    })
}

fn fmt(x: Option<f64>) -> String {
    match x {
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
        None => "-".into(),
    }
}

/// The comparison as Markdown (a pull-request comment; reads well in a
/// terminal too).
pub fn markdown(c: &Comparison) -> String {
    let (reg, imp) = c
        .pairs
        .iter()
        .flat_map(|p| &p.metrics)
        .fold((0, 0), |(r, i), m| match m.verdict {
            Verdict::Regressed => (r + 1, i),
            Verdict::Improved => (r, i + 1),
            _ => (r, i),
        });
    let mut out = format!(
        "## stackbench compare: {}\n\n{reg} regressed, {imp} improved, over {} stack/scenario pairs. A change counts only when its whole 95% bootstrap interval lies beyond the threshold.\n",
        if c.regressed { "REGRESSED" } else { "no regression" },
        c.pairs.len()
    );
    for p in &c.pairs {
        out += &format!("\n### {} / {}\n\n", p.stack, p.scenario);
        if p.base_runs > 1 || p.candidate_runs > 1 {
            out += &format!(
                "{} baseline and {} candidate repeats together (intervals draw repeats, then requests).\n\n",
                p.base_runs, p.candidate_runs
            );
        }
        for m in &p.mismatches {
            out += &format!("- **workload mismatch** (compared with --allow-mismatch): {m}\n");
        }
        for f in &p.flags {
            out += &format!("- **flag**: {f}\n");
        }
        if !p.mismatches.is_empty() || !p.flags.is_empty() {
            out += "\n";
        }
        let rows: Vec<Vec<String>> = p
            .metrics
            .iter()
            .map(|m| {
                let unit = if m.key == "error_rate_pct" {
                    " pp"
                } else {
                    "%"
                };
                vec![
                    m.name.clone(),
                    fmt(m.base),
                    fmt(m.candidate),
                    m.change.map_or("-".into(), |x| format!("{x:+.1}{unit}")),
                    m.interval
                        .map_or("-".into(), |[lo, hi]| format!("[{lo:+.1}, {hi:+.1}]")),
                    format!("±{}{unit}", m.threshold),
                    match &m.why {
                        Some(why) => format!("{}: {why}", m.verdict.text()),
                        None => m.verdict.text().into(),
                    },
                ]
            })
            .collect();
        out += &crate::markdown_table(
            &[
                "metric",
                "baseline",
                "candidate",
                "change",
                "95% CI",
                "threshold",
                "verdict",
            ],
            &rows,
        );
    }
    for u in &c.unmatched {
        out += &format!("\nnot compared (no counterpart): {u}\n");
    }
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The comparison as JUnit XML: one test case per metric and pair, failing
/// when it regressed.
pub fn junit(c: &Comparison) -> String {
    let cases: Vec<(String, &MetricResult)> = c
        .pairs
        .iter()
        .flat_map(|p| {
            p.metrics
                .iter()
                .map(move |m| (format!("{}.{}", p.stack, p.scenario), m))
        })
        .collect();
    let failures = cases
        .iter()
        .filter(|(_, m)| m.verdict == Verdict::Regressed)
        .count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"stackbench compare\" tests=\"{}\" failures=\"{failures}\">\n  <testsuite name=\"stackbench compare\" tests=\"{}\" failures=\"{failures}\">\n",
        cases.len(),
        cases.len()
    );
    for (class, m) in &cases {
        out += &format!(
            "    <testcase classname=\"{}\" name=\"{}\"",
            xml_escape(class),
            xml_escape(&m.key)
        );
        if m.verdict == Verdict::Regressed {
            let msg = format!(
                "{}: {} -> {} ({}; 95% CI {}; threshold {})",
                m.name,
                fmt(m.base),
                fmt(m.candidate),
                m.change.map_or("-".into(), |x| format!("{x:+.1}")),
                m.interval
                    .map_or("-".into(), |[lo, hi]| format!("[{lo:+.1}, {hi:+.1}]")),
                m.threshold
            );
            out += &format!(
                ">\n      <failure message=\"{}\"/>\n    </testcase>\n",
                xml_escape(&msg)
            );
        } else {
            out += "/>\n";
        }
    }
    out += "  </testsuite>\n</testsuites>\n";
    out
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

    #[test]
    fn unknown_threshold_keys_are_refused() {
        assert!(thresholds(&[("decode_tok_s_p50".into(), 3.0)]).is_ok());
        assert!(matches!(
            thresholds(&[("speed".into(), 3.0)]),
            Err(CompareError::UnknownMetric(_))
        ));
    }

    #[test]
    fn junit_escapes_and_counts_failures() {
        let m = MetricResult {
            key: "ttft_p50_ms".into(),
            name: "TTFT <p50>".into(),
            better: Better::Lower,
            base: Some(10.0),
            candidate: Some(20.0),
            change: Some(100.0),
            interval: Some([80.0, 120.0]),
            threshold: 10.0,
            verdict: Verdict::Regressed,
            why: None,
        };
        let c = Comparison {
            pairs: vec![PairResult {
                stack: "a&b".into(),
                scenario: "c1".into(),
                base_dir: String::new(),
                candidate_dir: String::new(),
                base_runs: 1,
                candidate_runs: 1,
                mismatches: vec![],
                flags: vec![],
                metrics: vec![m],
            }],
            unmatched: vec![],
            regressed: true,
        };
        let x = junit(&c);
        assert!(x.contains("failures=\"1\""), "{x}");
        assert!(x.contains("classname=\"a&amp;b.c1\""), "{x}");
        assert!(x.contains("TTFT &lt;p50&gt;"), "{x}");
    }
}
