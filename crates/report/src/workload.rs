//! Whether the runs a set of tables shows together ran the same workload,
//! by `stackbench_core::workload`'s keys, and the list of what differs
//! under the tables when the user shows them anyway (`--allow-mismatch`).
//!
//! Two checks, after how the tables place runs:
//!
//! - runs **pooled into one row** (the repeats of one stack and scenario,
//!   by `identity`) must agree on every key: a median over repeats of two
//!   workloads is no figure;
//! - rows of **different stacks side by side in one scenario** (the
//!   suite's scenario, else the level: `c8`, `r4`) must agree on every key
//!   but the stack's own (API, model, quantization differ between stacks
//!   by design) and the level (the scenario's own, and its table's or
//!   column's). Different scenarios differ by design (a c=32 scenario with
//!   longer prompts than the c=1 one, a dataset scenario beside a
//!   generated one), so they are not checked against each other.
//!
//! `stackbench table` and `stackbench report` refuse a difference (exit 2)
//! unless `--allow-mismatch`, which lists it under the tables; `stackbench
//! suite` only lists it, since its runs are already done (its stacks run
//! the same scenarios, so only a setting the suite leaves to each run, a
//! dataset sample drawn by each run's fresh seed, can differ).

use std::fmt;

use stackbench_core::identity::{group_runs, RunIdentity};
use stackbench_core::run_file::RunFile;
use stackbench_core::workload::{differences, join, Difference, WorkloadKey};

use crate::table::{Note, Tables};

/// A run shown, and where it was read from (empty when unknown).
#[derive(Debug, Clone, Copy)]
pub struct Shown<'a> {
    /// Its folder, as given.
    pub dir: &'a str,
    /// Its `run.json`.
    pub file: &'a RunFile,
}

/// How two runs sit together in the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Together {
    /// Repeats of one stack and scenario, pooled into one row.
    Pooled,
    /// Rows of two stacks side by side in one scenario.
    SideBySide,
}

/// Two runs the tables show together that ran different workloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// How they sit together.
    pub together: Together,
    /// The run the other is checked against, named.
    pub first: String,
    /// The other run, named.
    pub other: String,
    /// What differs (the first run's value, then the other's).
    pub differences: Vec<Difference>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match self.together {
            Together::Pooled => "pooled into one row",
            Together::SideBySide => "side by side",
        };
        write!(
            f,
            "{} and {} ({how}): {}",
            self.first,
            self.other,
            join(&self.differences)
        )
    }
}

/// The runs shown together ran different workloads, and the user did not
/// pass `--allow-mismatch`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the runs shown together ran different workloads:\n{}\npass --allow-mismatch to show them anyway (the differences are then listed under the tables)", list(.0))]
pub struct MismatchError(pub Vec<Mismatch>);

fn list(ms: &[Mismatch]) -> String {
    ms.iter()
        .map(|m| format!("- {m}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A run as messages name it: `results/x/vllm/c1 (vllm-nvfp4 / c1, repeat
/// 2)`, with its upgrade side when it has one (`vllm-nvfp4 (baseline) /
/// c1`), or without the folder when it is unknown.
fn name(s: &Shown<'_>) -> String {
    let id = RunIdentity::of(s.file);
    let side = id
        .side
        .as_ref()
        .map_or(String::new(), |s| format!(" ({s})"));
    let mut what = format!("{}{side} / {}", id.stack, id.scenario_or_level());
    if id.repeat > 1 {
        what += &format!(", repeat {}", id.repeat);
    }
    if s.dir.is_empty() {
        what
    } else {
        format!("{} ({what})", s.dir)
    }
}

fn mismatch(
    together: Together,
    a: &Shown<'_>,
    b: &Shown<'_>,
    keys: &[WorkloadKey],
) -> Option<Mismatch> {
    let d = differences(a.file, b.file, keys);
    (!d.is_empty()).then(|| Mismatch {
        together,
        first: name(a),
        other: name(b),
        differences: d,
    })
}

/// Every workload difference among `runs` as the tables would show them:
/// each repeat against its row's first run (every key), then each row's
/// first run against the first row of its scenario (every key but the
/// stack's and the level).
pub fn mismatches(runs: &[Shown<'_>]) -> Vec<Mismatch> {
    let refs: Vec<&Shown<'_>> = runs.iter().collect();
    let groups = group_runs(&refs, |s| s.file);
    let mut out: Vec<Mismatch> = groups
        .iter()
        .flat_map(|g| {
            g.runs[1..]
                .iter()
                .filter_map(|r| mismatch(Together::Pooled, g.runs[0], r, &WorkloadKey::ALL))
        })
        .collect();
    let side =
        WorkloadKey::all_except(&[&WorkloadKey::STACK[..], &WorkloadKey::LEVEL[..]].concat());
    let mut scenarios: Vec<(&str, &Shown<'_>)> = Vec::new();
    for g in &groups {
        let first = g.runs[0];
        match scenarios.iter().find(|(s, _)| *s == g.key.scenario) {
            Some((_, head)) => out.extend(mismatch(Together::SideBySide, head, first, &side)),
            None => scenarios.push((&g.key.scenario, first)),
        }
    }
    out
}

/// The notes that list `ms` under the tables.
pub fn notes(ms: &[Mismatch]) -> Vec<Note> {
    if ms.is_empty() {
        return Vec::new();
    }
    let head = Note {
        mark: None,
        text: "Workload differences: these runs are pooled or set side by side above but did not send or count the same requests, so their figures are not like for like.".into(),
    };
    std::iter::once(head)
        .chain(ms.iter().map(|m| Note {
            mark: None,
            text: format!("- {m}"),
        }))
        .collect()
}

/// The comparison tables of `runs` (see [`crate::tables::comparison`]),
/// refused when the runs shown together ran different workloads unless
/// `allow_mismatch`, which lists the differences under the tables.
pub fn checked_comparison(
    runs: &[Shown<'_>],
    allow_mismatch: bool,
) -> Result<Tables, MismatchError> {
    let ms = mismatches(runs);
    if !ms.is_empty() && !allow_mismatch {
        return Err(MismatchError(ms));
    }
    let files: Vec<&RunFile> = runs.iter().map(|s| s.file).collect();
    let mut t = crate::tables::comparison(&files);
    t.notes.extend(notes(&ms));
    Ok(t)
}

#[cfg(test)]
#[path = "workload_tests.rs"]
mod tests;
