//! `history`: every run of a set of folders as a time series per stack and
//! scenario, one point per measurement session (see [`points`]), with each
//! point's value and 95 % interval per metric and each **change point**:
//! a point that, judged against the point before it with `compare`'s own
//! statistics and thresholds ([`crate::compare::measure::metric`]), is
//! *regressed* or *improved*. So the history of ten monthly upgrades says
//! which upgrade moved decode tok/s, with the images on either side.
//!
//! A point's interval is `stackbench_core::stats::bootstrap_interval` over
//! the samples `compare` draws for the metric (runs, then samples within
//! them); the error rate is counted exactly, so its interval is the value.
//! A change is judged with the seed `compare` gives that metric, so two
//! points read as `compare` would read the two folders.

pub mod points;
pub mod render;

use std::collections::BTreeMap;

use serde::Serialize;
use stackbench_core::identity::group_runs_across_sides;
use stackbench_core::stats::bootstrap_interval;
use stackbench_core::workload::{differences, Difference, WorkloadKey};

use crate::compare::measure::{exact_samples, exact_value, metric, reasoned, samples, MIN_SAMPLES};
use crate::compare::{Better, MetricKey, RunData, Verdict};

pub use points::Point;
pub use render::markdown;

/// What to show.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only this stack (its name, or its label).
    pub stack: Option<String>,
    /// Only these metrics (empty: all, in `MetricKey::ALL` order, the
    /// reasoning ones only for series where a run reasoned).
    pub metrics: Vec<MetricKey>,
    /// Thresholds by metric, % (points for the error rate); a metric not
    /// here takes its default.
    pub thresholds: BTreeMap<MetricKey, f64>,
}

/// The whole history.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    /// Runs read (after `--stack`).
    pub runs: usize,
    /// One per stack and scenario, in the order of their first run.
    pub groups: Vec<GroupHistory>,
    /// Every change point, group by group, metric by metric.
    pub change_points: Vec<ChangePoint>,
}

/// One stack at one scenario over time.
#[derive(Debug, Clone, Serialize)]
pub struct GroupHistory {
    /// The stack (config name, else `--stack` label, else model).
    pub stack: String,
    /// Its label in tables.
    pub label: String,
    /// The quantization label (empty when none).
    pub quantization: String,
    /// The scenario, or the level (`c1`) outside a suite.
    pub scenario: String,
    /// The points, in time order.
    pub points: Vec<Point>,
    /// One per metric shown.
    pub metrics: Vec<MetricHistory>,
}

/// One metric of one group over time.
#[derive(Debug, Clone, Serialize)]
pub struct MetricHistory {
    /// Which metric.
    pub key: MetricKey,
    /// What it is.
    pub name: String,
    /// Which way is better.
    pub better: Better,
    /// The threshold a change must clear, % (points for the error rate).
    pub threshold: f64,
    /// One per point, in the points' order.
    pub values: Vec<PointValue>,
}

/// A metric at one point, and its change from the point before.
#[derive(Debug, Clone, Serialize)]
pub struct PointValue {
    /// The point's number.
    pub point: usize,
    /// The metric over the point's runs pooled.
    pub value: Option<f64>,
    /// 95 % interval of the value (absent with fewer than 5 samples).
    pub interval: Option<[f64; 2]>,
    /// Samples it rests on (requests, steady seconds or repeats; measured
    /// requests for the error rate).
    pub samples: usize,
    /// Against the previous point (absent for the first).
    pub change: Option<Step>,
}

/// A change between two consecutive points, as `compare` judges it.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Change, % (points for the error rate).
    pub pct: Option<f64>,
    /// 95 % interval of the change.
    pub interval: Option<[f64; 2]>,
    /// `compare`'s verdict.
    pub verdict: Verdict,
    /// Why there is no verdict, when there is too little to judge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// Regressed or improved, across the same workload: a change point.
    pub change_point: bool,
    /// How the workload differs from the point before's
    /// (`stackbench_core::workload`, every key): a step across a workload
    /// change is not judged a change point, whatever the numbers did.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub workload_changed: Vec<Difference>,
}

/// A point whose change from the one before is regressed or improved.
#[derive(Debug, Clone, Serialize)]
pub struct ChangePoint {
    /// Stack.
    pub stack: String,
    /// Scenario.
    pub scenario: String,
    /// Which metric.
    pub key: MetricKey,
    /// The point before the change.
    pub from: usize,
    /// The point after it.
    pub to: usize,
    /// Regressed or improved.
    pub verdict: Verdict,
    /// Change, %.
    pub pct: Option<f64>,
    /// Its 95 % interval.
    pub interval: Option<[f64; 2]>,
    /// The point before, as [`Point::label`] reads.
    pub before: String,
    /// The point after.
    pub after: String,
}

/// Why there is no history.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// `--stack` matched nothing.
    #[error("no run of stack '{stack}' (stacks found: {found})")]
    NoSuchStack {
        /// Asked for.
        stack: String,
        /// Present.
        found: String,
    },
    /// No runs at all.
    #[error("no runs to make a history of")]
    NoRuns,
}

/// The value, interval and sample count of `key` at one point.
fn estimate(point: &[&RunData], key: MetricKey) -> (Option<f64>, Option<[f64; 2]>, usize) {
    if key.counted_exactly() {
        let v = exact_value(point, key);
        return (v, v.map(|v| [v, v]), exact_samples(point, key));
    }
    let (s, stat) = samples(point, key);
    let n = s.iter().map(Vec::len).sum();
    if n < MIN_SAMPLES {
        return (stat.of(&mut s.concat()), None, n);
    }
    match bootstrap_interval(&s, stat, key.seed()) {
        Some(e) => (Some(e.value), Some([e.lo, e.hi]), n),
        None => (None, None, n),
    }
}

/// How each point's workload differs from the point before's (none for
/// the first).
fn workload_changes(points: &[Vec<&RunData>]) -> Vec<Vec<Difference>> {
    fn first<'a>(p: &[&'a RunData]) -> Option<&'a stackbench_core::run_file::RunFile> {
        p.first().map(|d| &d.file)
    }
    (0..points.len())
        .map(|i| {
            let prev = i.checked_sub(1).and_then(|j| first(&points[j]));
            match (prev, first(&points[i])) {
                (Some(a), Some(b)) => differences(a, b, &WorkloadKey::ALL),
                _ => Vec::new(),
            }
        })
        .collect()
}

/// `key` over the points of one group (`changed`: each point's workload
/// differences from the one before).
fn metric_history(
    points: &[Vec<&RunData>],
    changed: &[Vec<Difference>],
    key: MetricKey,
    threshold: f64,
) -> MetricHistory {
    let estimates: Vec<_> = points.iter().map(|p| estimate(p, key)).collect();
    let values = points
        .iter()
        .zip(&estimates)
        .enumerate()
        .map(|(i, (p, &(value, interval, n)))| {
            let change = i.checked_sub(1).map(|prev| {
                let m = metric(&points[prev], p, key, threshold, key.seed());
                let why = m.why.map(|_| {
                    format!(
                        "{} samples before, {n} here, {MIN_SAMPLES} needed",
                        estimates[prev].2
                    )
                });
                let workload_changed = changed.get(i).cloned().unwrap_or_default();
                Step {
                    pct: m.change,
                    interval: m.interval,
                    verdict: m.verdict,
                    why,
                    change_point: workload_changed.is_empty()
                        && matches!(m.verdict, Verdict::Regressed | Verdict::Improved),
                    workload_changed,
                }
            });
            PointValue {
                point: i + 1,
                value,
                interval,
                samples: n,
                change,
            }
        })
        .collect();
    MetricHistory {
        key,
        name: key.description().into(),
        better: key.better(),
        threshold,
        values,
    }
}

/// The change points of one group's metrics.
fn change_points(g: &GroupHistory) -> Vec<ChangePoint> {
    let mut out = Vec::new();
    for m in &g.metrics {
        for v in &m.values {
            let Some(step) = v.change.as_ref().filter(|s| s.change_point) else {
                continue;
            };
            let label = |n: usize| g.points.get(n - 1).map(Point::label).unwrap_or_default();
            out.push(ChangePoint {
                stack: g.stack.clone(),
                scenario: g.scenario.clone(),
                key: m.key,
                from: v.point - 1,
                to: v.point,
                verdict: step.verdict,
                pct: step.pct,
                interval: step.interval,
                before: label(v.point - 1),
                after: label(v.point),
            });
        }
    }
    out
}

/// Keeps the runs of `stack` (by name or label); an error naming the
/// stacks there are when none is.
fn filter_stack<'a>(runs: Vec<&'a RunData>, stack: &str) -> Result<Vec<&'a RunData>, HistoryError> {
    let ids: Vec<_> = runs
        .iter()
        .map(|d| stackbench_core::identity::RunIdentity::of(&d.file))
        .collect();
    let kept: Vec<&RunData> = runs
        .iter()
        .zip(&ids)
        .filter(|(_, id)| id.stack == stack || id.label == stack)
        .map(|(d, _)| *d)
        .collect();
    if kept.is_empty() {
        let mut found: Vec<String> = ids.into_iter().map(|i| i.stack).collect();
        found.sort();
        found.dedup();
        return Err(HistoryError::NoSuchStack {
            stack: stack.into(),
            found: found.join(", "),
        });
    }
    Ok(kept)
}

/// The history of `runs` (any order) as `opts` asks.
pub fn history(runs: &[RunData], opts: &Options) -> Result<History, HistoryError> {
    let mut ordered = points::in_time_order(runs);
    if let Some(s) = &opts.stack {
        ordered = filter_stack(ordered, s)?;
    }
    if ordered.is_empty() {
        return Err(HistoryError::NoRuns);
    }
    let keys: Vec<MetricKey> = if opts.metrics.is_empty() {
        MetricKey::ALL.to_vec()
    } else {
        opts.metrics.clone()
    };
    let mut groups = Vec::new();
    // One series per stack and scenario through time: the two sides of
    // an upgrade check are two of its points (told apart by folder).
    for g in group_runs_across_sides(&ordered, |d| &d.file) {
        let split = points::split(&g.runs);
        let changed = workload_changes(&split);
        let any_reasoned = reasoned(&g.runs);
        let metrics = keys
            .iter()
            // Asked for by name, a metric is shown whatever the runs did;
            // by default the reasoning ones only where a run reasoned.
            .filter(|k| !opts.metrics.is_empty() || !k.needs_reasoning() || any_reasoned)
            .map(|&k| {
                let t = opts
                    .thresholds
                    .get(&k)
                    .copied()
                    .unwrap_or_else(|| k.default_threshold());
                metric_history(&split, &changed, k, t)
            })
            .collect();
        groups.push(GroupHistory {
            stack: g.identity.stack.clone(),
            label: g.label.clone(),
            quantization: g.key.stack.quantization.clone(),
            scenario: g.key.scenario.clone(),
            points: split
                .iter()
                .enumerate()
                .map(|(i, p)| points::describe(i + 1, p))
                .collect(),
            metrics,
        });
    }
    let change_points = groups.iter().flat_map(change_points).collect();
    Ok(History {
        runs: ordered.len(),
        groups,
        change_points,
    })
}

#[cfg(test)]
mod tests;
