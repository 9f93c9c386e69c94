//! Rendering results for people. The tables are built as data
//! ([`table::Table`]: typed cells with their footnote marks, and notes) by
//! [`tables`] — single-user decode tok/s, prompt processing beside
//! generation, total tok/s at each higher concurrency, latencies and
//! errors per run, and a sweep's levels — and written by renderers:
//! Markdown here ([`markdown`], which reads well in a terminal too), HTML
//! in `stackbench-html`. [`summary`] is one run's summary after `run`;
//! [`compare`] judges a candidate against a baseline; [`history`] lays
//! many runs out in time and finds where a metric moved; [`workload`]
//! checks that the runs shown together ran the same workload.
//!
//! Which runs are one stack, and which are repeats of one scenario, is
//! `stackbench_core::identity`'s rule.
#![warn(missing_docs)]

pub mod cells;
pub mod compare;
pub mod depth;
pub mod history;
pub mod hygiene;
pub mod markdown;
mod replay;
pub mod summary;
pub mod table;
pub mod tables;
pub mod workload;

use stackbench_core::run_file::RunFile;

pub use cells::median;
pub use summary::{failure_classes, load_level, num, run_summary};

/// The comparison tables of `runs` as Markdown (see [`tables::comparison`]),
/// with any workload differences among the runs listed under them, never
/// refused (`stackbench suite`: its runs are already done; see
/// [`workload`]).
pub fn comparison_tables(runs: &[RunFile]) -> String {
    let shown: Vec<workload::Shown<'_>> = runs
        .iter()
        .map(|file| workload::Shown { dir: "", file })
        .collect();
    let refs: Vec<&RunFile> = runs.iter().collect();
    let mut t = tables::comparison(&refs);
    t.notes
        .extend(workload::notes(&workload::mismatches(&shown)));
    markdown::tables(&t)
}

/// The comparison tables of `runs` as Markdown, refused when the runs
/// shown together ran different workloads unless `allow_mismatch` (then
/// listed under them): `stackbench table`.
pub fn checked_comparison_tables(
    runs: &[workload::Shown<'_>],
    allow_mismatch: bool,
) -> Result<String, workload::MismatchError> {
    workload::checked_comparison(runs, allow_mismatch).map(|t| markdown::tables(&t))
}

/// A sweep's levels as Markdown (see [`tables::levels`]).
pub fn levels_table(runs: &[&RunFile]) -> String {
    markdown::table(&tables::levels(runs))
}
