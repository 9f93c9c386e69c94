//! The gate a CI job trusts: a comparison turned into test cases that pass,
//! fail or are skipped, and one decision. It fails on a regression, on a
//! flag the user did not `--allow`, and (with `--strict`) on anything it
//! could not judge; it never passes a case silently because it could not
//! judge it: *insufficient data* and a stack or scenario present on one
//! side only are *skipped* cases with their reason.

use serde::Serialize;

use super::flag::FlagKind;
use super::measure::{MetricResult, Verdict};
use super::pair::{Comparison, PairResult};

/// What the user accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Flags that do not fail the gate (`--allow`).
    pub allow: Vec<FlagKind>,
    /// What cannot be judged fails instead of being skipped (`--strict`).
    pub strict: bool,
}

/// How one case ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", content = "message", rename_all = "snake_case")]
pub enum Outcome {
    /// Judged and fine (or a flag the user allowed, with why).
    Passed(Option<String>),
    /// A regression, a flag, or (under `--strict`) what could not be judged.
    Failed(String),
    /// Not judged, and why.
    Skipped(String),
}

/// One test case: a metric of a pair, a flag of a pair, a pair's workload
/// differences accepted by `--allow-mismatch`, or a run without a
/// counterpart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    /// `stack.scenario`.
    pub class: String,
    /// The metric key, `flag.KIND`, or `paired`.
    pub name: String,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The counts of the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Metrics with a verdict.
    pub judged: usize,
    /// Metrics that regressed.
    pub regressed: usize,
    /// Cases that could not be judged (insufficient data, one side only).
    pub skipped: usize,
    /// Flags that fail the gate.
    pub flagged: usize,
    /// Flags the user allowed.
    pub allowed: usize,
}

/// The gate's cases and decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gate {
    /// Whether the gate failed (exit 1).
    pub failed: bool,
    /// The counts.
    pub summary: Summary,
    /// Every case, in the order of the comparison.
    pub cases: Vec<Case>,
}

impl Summary {
    /// The one line a CI log shows.
    pub fn line(&self, failed: bool) -> String {
        format!(
            "{}: {} judged, {} regressed, {} skipped (insufficient data or one side only), {} flags failing{}",
            if failed { "gate FAILED" } else { "gate passed" },
            self.judged,
            self.regressed,
            self.skipped,
            self.flagged,
            if self.allowed > 0 {
                format!(", {} allowed", self.allowed)
            } else {
                String::new()
            }
        )
    }
}

/// The comparison judged under `policy`.
pub fn gate(c: &Comparison, policy: &Policy) -> Gate {
    let mut s = Summary::default();
    let mut cases = Vec::new();
    for p in &c.pairs {
        let class = format!("{}.{}", p.stack, p.scenario);
        for m in &p.metrics {
            let outcome = metric_outcome(m, policy, &mut s);
            cases.push(Case {
                class: class.clone(),
                name: m.key.name().into(),
                outcome,
            });
        }
        cases.extend(flag_cases(p, &class, policy, &mut s));
        if !p.mismatches.is_empty() {
            // Accepted by --allow-mismatch, and said in this output too.
            cases.push(Case {
                class: class.clone(),
                name: "workload".into(),
                outcome: Outcome::Passed(Some(format!(
                    "compared with --allow-mismatch although the workloads differ: {}",
                    stackbench_core::workload::join(&p.mismatches)
                ))),
            });
        }
    }
    for u in &c.unmatched {
        s.skipped += 1;
        let why = format!("{} only ({}): nothing to compare it with", u.side, u.dir);
        cases.push(Case {
            class: format!("{}.{}", u.stack, u.scenario),
            name: "paired".into(),
            outcome: unjudged(why, policy),
        });
    }
    let failed = s.regressed > 0 || s.flagged > 0 || (policy.strict && s.skipped > 0);
    Gate {
        failed,
        summary: s,
        cases,
    }
}

/// Skipped, or failed under `--strict`.
fn unjudged(why: String, policy: &Policy) -> Outcome {
    if policy.strict {
        Outcome::Failed(format!("{why} (--strict)"))
    } else {
        Outcome::Skipped(why)
    }
}

fn metric_outcome(m: &MetricResult, policy: &Policy, s: &mut Summary) -> Outcome {
    match m.verdict {
        Verdict::Regressed => {
            s.judged += 1;
            s.regressed += 1;
            Outcome::Failed(regression_message(m))
        }
        Verdict::InsufficientData => {
            s.skipped += 1;
            let why = m.why.clone().unwrap_or_else(|| "insufficient data".into());
            unjudged(format!("insufficient data: {why}"), policy)
        }
        Verdict::NoChange | Verdict::Improved => {
            s.judged += 1;
            Outcome::Passed(None)
        }
        Verdict::Changed => {
            s.judged += 1;
            Outcome::Passed(Some(format!(
                "changed, reported and not gated: {}",
                regression_message(m)
            )))
        }
    }
}

fn flag_cases(p: &PairResult, class: &str, policy: &Policy, s: &mut Summary) -> Vec<Case> {
    p.flags
        .iter()
        .map(|f| {
            let outcome = if policy.allow.contains(&f.kind) {
                s.allowed += 1;
                Outcome::Passed(Some(format!("allowed by --allow {}: {}", f.kind, f.text)))
            } else {
                s.flagged += 1;
                Outcome::Failed(format!("{} (pass --allow {} to accept it)", f.text, f.kind))
            };
            Case {
                class: class.into(),
                name: format!("flag.{}", f.kind),
                outcome,
            }
        })
        .collect()
}

/// `decode tok/s p50: 40.00 -> 18.00 (-55.0; 95% CI [-57.1, -52.3]; threshold 5)`.
pub fn regression_message(m: &MetricResult) -> String {
    let fmt = |x: Option<f64>| match x {
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
        None => "-".into(),
    };
    format!(
        "{}: {} -> {} ({}; 95% CI {}; threshold {})",
        m.name,
        fmt(m.base),
        fmt(m.candidate),
        m.change.map_or("-".into(), |x| format!("{x:+.1}")),
        m.interval
            .map_or("-".into(), |[lo, hi]| format!("[{lo:+.1}, {hi:+.1}]")),
        m.threshold
    )
}
