//! Prompt processing and generation at context depth, as llama-bench
//! (`-d`) and llama-benchy name them: a row per stack and depth, its tests
//! `pp2048 @ d4096` and `tg128 @ d4096`, and, for a cached depth, the
//! context's own prefill (llama-benchy's `ctx_pp @ d4096`).
//!
//! The table is [`crate::tables::pp_table`]'s: a run without a depth reads
//! `pp512` / `tg128` there, as before. This module holds what a depth
//! adds, so the one table serves both.

use stackbench_core::identity::Group;
use stackbench_core::run_file::RunFile;

use crate::cells::med;
use crate::table::{Cell, Note, Table};

/// A pp/tg test's name for run `r`: [`test_name`], with `(uncached)` at a
/// depth whose context was not cached.
pub fn test_of(kind: &str, tokens: u32, r: &RunFile) -> String {
    let name = test_name(kind, tokens, depth_of(r));
    match &r.load.depth {
        Some(d) if d.tokens > 0 && !d.cached => format!("{name} (uncached)"),
        _ => name,
    }
}

/// A run's depth, tokens (0: none).
pub fn depth_of(r: &RunFile) -> u32 {
    r.load.depth.as_ref().map_or(0, |d| d.tokens)
}

/// Whether any of `runs` ran at a depth.
pub fn any_depth(runs: &[&RunFile]) -> bool {
    runs.iter().any(|r| depth_of(r) > 0)
}

/// A test's name as llama-bench writes it: `pp512`, or `pp512 @ d4096`
/// at a depth.
pub fn test_name(kind: &str, tokens: u32, depth: u32) -> String {
    match depth {
        0 => format!("{kind}{tokens}"),
        d => format!("{kind}{tokens} @ d{d}"),
    }
}

/// `groups` ordered by stack (first seen first), then by depth: a stack's
/// depths in rising order, whatever order their folders were read in.
/// Groups without a depth keep their order.
pub fn by_stack_then_depth(mut groups: Vec<Group<'_, RunFile>>) -> Vec<Group<'_, RunFile>> {
    if !groups.iter().any(|g| depth_of(g.runs[0]) > 0) {
        return groups;
    }
    let mut stacks = Vec::new();
    for g in &groups {
        if !stacks.contains(&g.key.stack) {
            stacks.push(g.key.stack.clone());
        }
    }
    groups.sort_by_key(|g| {
        let stack = stacks.iter().position(|s| *s == g.key.stack);
        (stack, depth_of(g.runs[0]))
    });
    groups
}

/// Adds a `depth` column after column `at` (one cell per row, `rows`'
/// runs' depths) when any of them ran at a depth.
pub fn with_depth_column(mut t: Table, rows: &[&RunFile], at: usize) -> Table {
    if any_depth(rows) {
        let cells = rows
            .iter()
            .map(|r| match &r.load.depth {
                Some(d) if d.tokens > 0 && !d.cached => {
                    Cell::text(format!("{} uncached", d.tokens))
                }
                _ => Cell::figure(depth_of(r).to_string()),
            })
            .collect();
        t.insert_column(at + 1, "depth", cells);
    }
    t
}

/// What the depth columns mean, under a table that has them.
const CTX_NOTE: &str = "ctx_pp: each user's context sent alone once before its requests (one output token), as llama-benchy's `ctx_pp @ d<D>`: its prefill rate ((prompt - cached) / TTFT) and TTFT, the mean over the users. With the depth cache on, pp is the new prompt over the cached context (prompt tokens - depth, over TTFT, as llama-bench's pp at depth); with it off, each request's whole prompt.";

/// Adds the depth prefill's rate and TTFT after column `at` when any run
/// of `groups` had one.
pub fn with_depth_prefill(mut t: Table, groups: &[Group<'_, RunFile>], at: usize) -> Table {
    let prefill = |r: &RunFile| r.summary.depth_prefill.clone();
    if !groups
        .iter()
        .any(|g| g.runs.iter().any(|r| prefill(r).is_some()))
    {
        return t;
    }
    let column = |f: fn(&RunFile) -> Option<f64>, digits: usize| -> Vec<Cell> {
        groups
            .iter()
            .map(|g| Cell::num(med(&g.runs, f), digits))
            .collect()
    };
    let rate = column(|r| r.summary.depth_prefill.as_ref()?.tok_s.mean, 1);
    let ttft = column(|r| r.summary.depth_prefill.as_ref()?.ttft_ms.mean, 0);
    t.insert_column(at + 1, "ctx_pp tok/s", rate);
    t.insert_column(at + 2, "ctx_pp TTFT ms", ttft);
    t.notes.push(Note {
        mark: None,
        text: CTX_NOTE.into(),
    });
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_are_named_as_llama_bench_names_them() {
        assert_eq!(test_name("pp", 512, 0), "pp512");
        assert_eq!(test_name("tg", 128, 4096), "tg128 @ d4096");
    }
}
