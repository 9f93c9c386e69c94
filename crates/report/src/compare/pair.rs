//! Pairing a candidate's runs with the baseline's (same stack and
//! scenario, by `stackbench_core::identity`; repeats pooled), checking
//! that their workloads match, flagging what makes a candidate
//! untrustworthy, and judging every [`MetricKey`] of every pair.

use std::collections::BTreeMap;

use serde::Serialize;
use stackbench_core::identity::{group_runs, Group, GroupKey};
use stackbench_core::workload::{differences, join, Difference, WorkloadKey};

use super::flag::{flags, Flag};
use super::measure::{metric, reasoned, MetricResult, RunData, Verdict};
use super::metric::{MetricKey, UnknownMetric};

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
    /// Workload differences, every `core::workload` key (compared only
    /// with `--allow-mismatch`).
    pub mismatches: Vec<Difference>,
    /// Reasons to distrust the pair (errors, a saturated client).
    pub flags: Vec<Flag>,
    /// Per metric.
    pub metrics: Vec<MetricResult>,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Matched pairs.
    pub pairs: Vec<PairResult>,
    /// Runs with no counterpart.
    pub unmatched: Vec<Unmatched>,
    /// Any metric regressed.
    pub regressed: bool,
}

/// Which side of a comparison: the upgrade check's closed set (its
/// `baseline` and `candidate` are compare's two sides).
pub use stackbench_core::kinds::Side;

/// A run whose stack and scenario the other side lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unmatched {
    /// The side it is on.
    pub side: Side,
    /// Its stack.
    pub stack: String,
    /// Its scenario.
    pub scenario: String,
    /// Its folder.
    pub dir: String,
}

impl Unmatched {
    fn of(side: Side, g: &Group<'_, RunData>) -> Vec<Self> {
        g.runs
            .iter()
            .map(|d| Self {
                side,
                stack: g.identity.stack.clone(),
                scenario: g.key.scenario.clone(),
                dir: d.dir.clone(),
            })
            .collect()
    }
}

/// Why runs cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// Workloads differ and `--allow-mismatch` was not given.
    #[error("{stack}/{scenario}: the workloads differ ({what}); pass --allow-mismatch to compare anyway", what = join(.differences))]
    Mismatch {
        /// Stack.
        stack: String,
        /// Scenario.
        scenario: String,
        /// The differences, by key.
        differences: Vec<Difference>,
    },
    /// Nothing matched.
    #[error("no baseline run matches a candidate run (by stack and scenario)")]
    NothingMatched,
    /// A threshold key is unknown.
    #[error(transparent)]
    UnknownMetric(#[from] UnknownMetric),
}

/// Thresholds by metric, defaults overridden; an unknown key is an error.
pub fn thresholds(overrides: &[(String, f64)]) -> Result<BTreeMap<MetricKey, f64>, CompareError> {
    let mut t: BTreeMap<MetricKey, f64> = MetricKey::ALL
        .into_iter()
        .map(|k| (k, k.default_threshold()))
        .collect();
    for (k, v) in overrides {
        t.insert(k.parse()?, *v);
    }
    Ok(t)
}

/// The runs of one stack and scenario on one side: one, or the repeats of
/// a `--repeat` suite, taken together (figures over all their requests;
/// intervals drawing repeats, then requests).
fn groups(runs: &[RunData]) -> Vec<Group<'_, RunData>> {
    let refs: Vec<&RunData> = runs.iter().collect();
    group_runs(&refs, |d| &d.file)
}

/// The workload differences within a pair (every key, the baseline's
/// first run against each run of both sides), each once.
fn pair_mismatches(b: &[&RunData], c: &[&RunData]) -> Vec<Difference> {
    let mut mism: Vec<Difference> = Vec::new();
    for d in b.iter().chain(c.iter()) {
        for m in differences(&b[0].file, &d.file, &WorkloadKey::ALL) {
            if !mism.contains(&m) {
                mism.push(m);
            }
        }
    }
    mism
}

/// Judges one pair of groups: every metric, the reasoning ones only when
/// a run of either side reasoned.
fn pair(
    b: &Group<'_, RunData>,
    c: &Group<'_, RunData>,
    thresholds: &BTreeMap<MetricKey, f64>,
    allow_mismatch: bool,
) -> Result<PairResult, CompareError> {
    let stack = c.identity.stack.clone();
    let scenario = c.key.scenario.clone();
    let mism = pair_mismatches(&b.runs, &c.runs);
    if !mism.is_empty() && !allow_mismatch {
        return Err(CompareError::Mismatch {
            stack,
            scenario,
            differences: mism,
        });
    }
    let reasoning = reasoned(&b.runs) || reasoned(&c.runs);
    let metrics = MetricKey::ALL
        .into_iter()
        .filter(|k| reasoning || !k.needs_reasoning())
        .map(|k| {
            let t = thresholds
                .get(&k)
                .copied()
                .unwrap_or_else(|| k.default_threshold());
            metric(&b.runs, &c.runs, k, t, k.seed())
        })
        .collect();
    Ok(PairResult {
        stack,
        scenario,
        base_dir: b.runs[0].dir.clone(),
        candidate_dir: c.runs[0].dir.clone(),
        base_runs: b.runs.len(),
        candidate_runs: c.runs.len(),
        mismatches: mism,
        flags: flags(&b.runs, &c.runs),
        metrics,
    })
}

/// The group of `groups` that `key` pairs with: the same stack and
/// scenario, on the same upgrade side if there is one, else on any (an
/// upgrade check's `baseline/` against its `candidate/`: same stack, two
/// sides).
fn counterpart<'g, 'a>(
    groups: &'g [Group<'a, RunData>],
    key: &GroupKey,
) -> Option<&'g Group<'a, RunData>> {
    groups.iter().find(|g| g.key == *key).or_else(|| {
        let across = key.across_sides();
        groups.iter().find(|g| g.key.across_sides() == across)
    })
}

/// Compares every candidate stack and scenario with the baseline's (a
/// single stack and scenario on each side is compared whatever its
/// labels). Repeats of one stack and scenario are taken together.
pub fn compare(
    base: &[RunData],
    candidate: &[RunData],
    thresholds: &BTreeMap<MetricKey, f64>,
    allow_mismatch: bool,
) -> Result<Comparison, CompareError> {
    let (base, candidate) = (groups(base), groups(candidate));
    let mut pairs = Vec::new();
    let mut unmatched = Vec::new();
    let single = base.len() == 1 && candidate.len() == 1;
    for c in &candidate {
        match base
            .first()
            .filter(|_| single)
            .or_else(|| counterpart(&base, &c.key))
        {
            Some(b) => pairs.push(pair(b, c, thresholds, allow_mismatch)?),
            None => unmatched.extend(Unmatched::of(Side::Candidate, c)),
        }
    }
    for b in &base {
        if !single && counterpart(&candidate, &b.key).is_none() {
            unmatched.extend(Unmatched::of(Side::Baseline, b));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::gate::Outcome;
    use crate::compare::{gate, Policy};
    use serde_json::json;

    /// Twelve OK records of 32 output tokens, TTFT 50 ms; with
    /// `reasoning`, that many of them reasoning and the answer beginning
    /// at `ttfat_ms`.
    fn run(dir: &str, reasoning: Option<u64>, ttfat_ms: u64) -> RunData {
        let file = serde_json::from_str(include_str!("../../tests/fixtures/run-v2-sim.json"))
            .unwrap_or_else(|e| panic!("fixture: {e}"));
        let records = (0..12)
            .map(|i| {
                let mut r = json!({
                    "id": i, "worker": 0, "warmup": false, "status": "ok",
                    "start_unix_us": 0, "start_offset_us": 0, "ttft_us": 50_000 + i,
                    "e2e_us": 900_000, "stream_end_us": 0, "events": 32, "output_tokens": 32,
                    "count": {"source": "exact", "counted": 32, "reconciled": true},
                    "tpot_us": 20_000.0, "decode_tok_s": 50.0
                });
                if let Some(n) = reasoning {
                    r["reasoning_tokens"] = json!(n);
                    r["ttfat_us"] = json!(ttfat_ms * 1000 + i);
                }
                serde_json::from_value(r).unwrap_or_else(|e| panic!("record: {e}"))
            })
            .collect();
        RunData {
            dir: dir.into(),
            file,
            records,
        }
    }

    fn judged(base: RunData, cand: RunData) -> Comparison {
        let t = thresholds(&[]).unwrap_or_default();
        compare(&[base], &[cand], &t, false).unwrap_or_else(|e| panic!("{e}"))
    }

    fn result(c: &Comparison, key: MetricKey) -> Option<&MetricResult> {
        c.pairs[0].metrics.iter().find(|m| m.key == key)
    }

    #[test]
    fn reasoning_metrics_are_left_out_unless_a_side_reasoned() {
        let c = judged(run("a", None, 0), run("b", None, 0));
        let keys: Vec<MetricKey> = c.pairs[0].metrics.iter().map(|m| m.key).collect();
        assert_eq!(keys, MetricKey::ALL[..8]);
        let c = judged(run("a", None, 0), run("b", Some(20), 600));
        assert_eq!(c.pairs[0].metrics.len(), MetricKey::ALL.len());
    }

    /// A new image whose model starts thinking by default: the answer
    /// comes later (a regression) and the reasoning share moves from 0 to
    /// 62.5 % (reported as changed, not failing the gate by itself).
    #[test]
    fn a_model_that_starts_thinking_regresses_ttfat_and_changes_its_share() {
        let c = judged(run("a", None, 0), run("b", Some(20), 600));
        let ttfat = result(&c, MetricKey::TtfatP50Ms);
        assert_eq!(ttfat.map(|m| m.verdict), Some(Verdict::Regressed));
        assert_eq!(ttfat.and_then(|m| m.base.map(f64::round)), Some(50.0));
        let share = result(&c, MetricKey::ReasoningSharePct);
        assert_eq!(share.map(|m| m.verdict), Some(Verdict::Changed));
        assert_eq!(share.and_then(|m| m.change), Some(62.5));
        assert_eq!(
            result(&c, MetricKey::TtftP50Ms).map(|m| m.verdict),
            Some(Verdict::NoChange),
            "the first token of any kind came as fast"
        );
        let g = gate(&c, &Policy::default());
        assert_eq!(g.summary.regressed, 1, "{:?}", g.cases);
        let case = g.cases.iter().find(|k| k.name == "reasoning_share_pct");
        assert!(
            matches!(&case.map(|k| &k.outcome), Some(Outcome::Passed(Some(m))) if m.starts_with("changed, reported and not gated: reasoning %")),
            "{case:?}"
        );
    }

    #[test]
    fn a_reasoning_share_change_alone_passes_the_gate() {
        let c = judged(run("a", Some(8), 600), run("b", Some(24), 600));
        let share = result(&c, MetricKey::ReasoningSharePct);
        assert_eq!(share.and_then(|m| m.change), Some(50.0));
        assert_eq!(share.map(|m| m.verdict), Some(Verdict::Changed));
        let g = gate(&c, &Policy::default());
        assert!(!g.failed, "{:?}", g.cases);
        assert!(!c.regressed);
        let json = serde_json::to_value(share).unwrap_or_default();
        assert_eq!(json["better"], "neither");
        assert_eq!(json["verdict"], "changed");
    }

    #[test]
    fn unknown_threshold_keys_are_refused() {
        let t = thresholds(&[("decode_tok_s_p50".into(), 3.0)]).ok();
        assert_eq!(
            t.and_then(|t| t.get(&MetricKey::DecodeTokSP50).copied()),
            Some(3.0)
        );
        assert!(matches!(
            thresholds(&[("speed".into(), 3.0)]),
            Err(CompareError::UnknownMetric(_))
        ));
    }
}
