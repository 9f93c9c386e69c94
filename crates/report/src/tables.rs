//! The comparison tables of a set of runs, as [`Table`]s: single-user
//! decode tok/s, prompt processing beside generation, total tok/s at each
//! higher concurrency, and latencies and errors per run; and a sweep's
//! table of levels. Runs are grouped into stacks and repeats by
//! `stackbench_core::identity`; a group's row holds the median of its
//! repeats and their range.

use stackbench_core::identity::{closed_levels, group_runs, Group, Level, RunIdentity};
use stackbench_core::run_file::RunFile;

use crate::cells::{
    answered_wrong, cache_hit_pct, cache_reported, client_saturated, completed_only, diff_pct,
    flagged, med, none_completed, published_cell, published_single, published_total, queued,
    reasoned, reasoning_pct, requests_cell, roofline, row_marks, spread,
};
use crate::table::{Cell, Mark, Note, Table, Tables};

/// The notes of the marks `t` uses, in the marks' order.
fn notes_of_marks(t: &Table) -> Vec<Note> {
    [
        Mark::Saturated,
        Mark::WrongAnswer,
        Mark::Flagged,
        Mark::NoneCompleted,
    ]
    .into_iter()
    .filter(|m| t.rows.iter().flatten().any(|c| c.marks.contains(m)))
    .map(Mark::note)
    .collect()
}

/// Throughput and latency per load level (a sweep's levels, in the order
/// given): the data behind a throughput-vs-concurrency plot.
pub fn levels(runs: &[&RunFile]) -> Table {
    let rows = runs
        .iter()
        .map(|r| {
            let s = &r.summary;
            vec![
                Cell::text(Level::of(&r.load).label()).marked(row_marks(&[r])),
                Cell::num(Some(s.output_tok_s), 1),
                Cell::num(Some(s.requests_per_s), 2),
                Cell::num(s.decode_tok_s.p50, 1),
                Cell::num(s.ttft_ms.p50, 0),
                Cell::num(s.ttft_ms.p99, 0),
                Cell::num(s.e2e_ms.p50, 0),
                Cell::num(Some(s.requests.failed_pct()), 1),
                Cell::num(s.goodput.map(|g| g.share_pct), 1),
            ]
        })
        .collect();
    let mut t = Table::new(
        &[
            "level",
            "total tok/s",
            "req/s",
            "decode tok/s p50",
            "TTFT p50 ms",
            "TTFT p99 ms",
            "E2E p50 ms",
            "errors %",
            "SLO met %",
        ],
        rows,
    );
    t.notes = notes_of_marks(&t);
    t
}

/// The comparison tables of a set of runs: *Stack | Quantization |
/// Single-user tok/s* from the c=1 runs, *Stack | c=N total tok/s* for
/// every higher concurrency, each with the published figure and the
/// difference where the stack config carries one, and a wider table of
/// latencies, errors and the server's own decode rate beside ours.
/// Open-loop runs have no number of users: they appear in the last table
/// only (level `r<rate>`).
pub fn comparison(runs: &[&RunFile]) -> Tables {
    let all: Vec<&RunFile> = runs.to_vec();
    let at = |c: u32| -> Vec<&RunFile> {
        all.iter()
            .copied()
            .filter(|r| Level::of(&r.load) == Level::Users(c))
            .collect()
    };
    let mut out = Tables::default();
    let single = at(1);
    if !single.is_empty() {
        let mut t = single_user_table(&single);
        t.title = Some(format!(
            "Single-user decode tok/s (c=1{})",
            output_tokens_note(&single)
        ));
        out.tables.push(t);
    }
    if single.iter().any(|r| r.summary.prefill_tok_s.p50.is_some()) {
        let mut t = pp_table(&single);
        let at = if crate::depth::any_depth(&single) {
            " at depth"
        } else {
            ""
        };
        t.title = Some(format!(
            "Prompt processing and generation{at} (c=1, as llama-bench's pp/tg)"
        ));
        out.tables.push(t);
    }
    for c in closed_levels(runs.iter().copied())
        .into_iter()
        .filter(|&c| c > 1)
    {
        let here = at(c);
        if crate::depth::any_depth(&here) {
            let mut t = pp_table(&here);
            t.title = Some(format!(
                "Prompt processing and generation at depth (c={c}, per request)"
            ));
            out.tables.push(t);
        }
        let mut t = total_table(&at(c), c);
        t.title = Some(format!(
            "Total output tok/s at {c} concurrent users (steady state)"
        ));
        out.tables.push(t);
    }
    if !runs.is_empty() {
        let mut t = detail_table(&all);
        t.title = Some("Latency, errors and the server's own rate".into());
        out.tables.push(t);
    }
    let notes = [
        (Mark::Saturated, runs.iter().any(|r| client_saturated(r))),
        (Mark::WrongAnswer, runs.iter().any(|r| answered_wrong(r))),
        (Mark::Flagged, runs.iter().any(|r| flagged(r))),
        (
            Mark::NoneCompleted,
            runs.iter().any(|r| none_completed(&[r])),
        ),
    ];
    out.notes = notes
        .into_iter()
        .filter(|(_, any)| *any)
        .map(|(m, _)| m.note())
        .collect();
    out
}

fn output_tokens_note(runs: &[&RunFile]) -> String {
    let mut n: Vec<u32> = runs.iter().map(|r| r.load.output_tokens).collect();
    n.dedup();
    match n.as_slice() {
        [one] => format!(", {one} output tokens"),
        _ => String::new(),
    }
}

/// The Stack cell of a group: its label and the marks of its runs.
fn stack_cell(g: &Group<'_, RunFile>) -> Cell {
    Cell::text(g.label.clone()).marked(row_marks(&g.runs))
}

fn quant_cell(g: &Group<'_, RunFile>) -> Cell {
    Cell::text(g.identity.quantization.clone())
}

/// Adds the repeats column after column `at` when any group has repeats.
fn with_spread(mut t: Table, spreads: Vec<Cell>, at: usize) -> Table {
    if spreads.iter().any(|s| *s != Cell::missing()) {
        t.insert_column(at + 1, "repeats min–max", spreads);
    }
    t
}

/// The range over each group's repeats of `f`.
fn spreads(groups: &[Group<'_, RunFile>], f: impl Fn(&RunFile) -> Option<f64>) -> Vec<Cell> {
    groups
        .iter()
        .map(|g| spread(&g.runs.iter().filter_map(|r| f(r)).collect::<Vec<_>>()))
        .collect()
}

/// What the reasoning columns mean, under a table that has them.
const REASONING_NOTE: &str = "TTFAT: time to first answer token, the first answer text after any reasoning (TTFT when a request did not reason); reasoning %: the share of output tokens before the first answer token, delimiters included (see docs/metrics.md).";

/// What the cache column means, under a table that has it.
const CACHE_NOTE: &str = "cache hit %: the share of prompt tokens the server reported taking from its prompt cache (vLLM with `--enable-prompt-tokens-details`, llama-server; Ollama reports none: `-`).";

/// Adds, after column `at`, the median time to first answer token and
/// reasoning share when any of the groups' runs reasoned, and the cache
/// hit share when any reported cached prompt tokens; a table of runs
/// without either is left as it was.
fn with_reasoning_and_cache(mut t: Table, groups: &[Group<'_, RunFile>], at: usize) -> Table {
    let runs = || groups.iter().flat_map(|g| g.runs.iter().copied());
    let column = |f: fn(&RunFile) -> Option<f64>, digits: usize| -> Vec<Cell> {
        groups
            .iter()
            .map(|g| Cell::num(med(&g.runs, f), digits))
            .collect()
    };
    let mut next = at + 1;
    if runs().any(reasoned) {
        t.insert_column(next, "TTFAT p50 ms", column(|r| r.summary.ttfat_ms.p50, 0));
        t.insert_column(next + 1, "reasoning %", column(reasoning_pct, 1));
        next += 2;
        t.notes.push(Note {
            mark: None,
            text: REASONING_NOTE.into(),
        });
    }
    if runs().any(cache_reported) {
        t.insert_column(next, "cache hit %", column(cache_hit_pct, 1));
        t.notes.push(Note {
            mark: None,
            text: CACHE_NOTE.into(),
        });
    }
    t
}

/// The roofline bound of `r` and the share of it `measured` reached.
fn roofline_cells(r: &RunFile, measured: Option<f64>) -> (Cell, Cell) {
    match roofline(r) {
        Some((b, spec)) => (
            Cell::figure(format!("{b:.0}")).marked(spec.then_some(Mark::Speculative)),
            measured.map_or_else(Cell::missing, |m| {
                Cell::figure(format!("{:.0}%", m / b * 100.0))
            }),
        ),
        None => (Cell::missing(), Cell::missing()),
    }
}

/// *Stack | Quantization | Single-user tok/s* (median decode tok/s at
/// c=1) with the published figure, the roofline share, the E2E rate and
/// TTFT (and time to first answer token, reasoning and cache hit shares
/// when the runs have them, see [`with_reasoning_and_cache`]). Repeats of
/// a stack are one row: the median of the repeats, and their range. Notes
/// the speculative bound when one is shown.
pub fn single_user_table(runs: &[&RunFile]) -> Table {
    let groups = crate::depth::by_stack_then_depth(group_runs(runs, |r| r));
    let body: Vec<Vec<Cell>> = groups
        .iter()
        .map(|g| {
            let r = g.runs[0];
            let measured = med(&g.runs, |r| r.summary.decode_tok_s.p50);
            let published = published_single(r);
            let (bound, share) = roofline_cells(r, measured);
            vec![
                stack_cell(g),
                quant_cell(g),
                completed_only(&g.runs, measured, 1),
                published_cell(r, published),
                diff_pct(measured, published),
                bound,
                share,
                completed_only(&g.runs, med(&g.runs, |r| r.summary.e2e_tok_s.p50), 1),
                Cell::num(med(&g.runs, |r| r.summary.ttft_ms.p50), 0),
                requests_cell(&g.runs),
            ]
        })
        .collect();
    let t = Table::new(
        &[
            "Stack",
            "Quantization",
            "Single-user tok/s",
            "Published",
            "Diff",
            "Roofline tok/s",
            "% of roofline",
            "E2E tok/s",
            "TTFT p50 ms",
            "requests",
        ],
        body,
    );
    let t = with_reasoning_and_cache(t, &groups, 8);
    let mut t = with_spread(t, spreads(&groups, |r| r.summary.decode_tok_s.p50), 2);
    if runs
        .iter()
        .any(|r| roofline(r).is_some_and(|(_, spec)| spec))
    {
        t.notes.push(Mark::Speculative.note());
    }
    let firsts: Vec<&RunFile> = groups.iter().map(|g| g.runs[0]).collect();
    let t = crate::depth::with_depth_column(t, &firsts, 1);
    with_cell_notes(t, &[Mark::InProcess])
}

/// `t` with the notes of those of `marks` its cells carry.
fn with_cell_notes(mut t: Table, marks: &[Mark]) -> Table {
    for &m in marks {
        if t.rows.iter().flatten().any(|c| c.marks.contains(&m)) {
            t.notes.push(m.note());
        }
    }
    t
}

/// Adds, after column `at`, how many streams each group decoded at once
/// when any group at `c` users was a queue (see [`queued`]), whose total
/// (column `total`) is then marked `§`.
fn with_queues(mut t: Table, groups: &[Group<'_, RunFile>], c: u32, total: usize) -> Table {
    let is_queue: Vec<bool> = groups
        .iter()
        .map(|g| g.runs.iter().any(|r| queued(r, c)))
        .collect();
    if !is_queue.contains(&true) {
        return t;
    }
    for (row, &q) in t.rows.iter_mut().zip(&is_queue) {
        if q {
            row[total].marks.push(Mark::Queued);
        }
    }
    let at_once = groups
        .iter()
        .map(|g| Cell::num(med(&g.runs, |r| r.summary.streams_at_once()), 1))
        .collect();
    t.insert_column(total + 1, "decoding at once", at_once);
    t
}

/// *Stack | pp tok/s*: the median prefill rate of single-user requests
/// (prompt tokens processed / TTFT) with the prompt length, beside the
/// generation rate (`tg`): llama-bench's `pp512` / `tg128` pair, measured
/// through the server's API. Repeats as in [`single_user_table`].
pub fn pp_table(runs: &[&RunFile]) -> Table {
    let groups = crate::depth::by_stack_then_depth(group_runs(runs, |r| r));
    let body: Vec<Vec<Cell>> = groups
        .iter()
        .map(|g| {
            let r = g.runs[0];
            vec![
                stack_cell(g),
                quant_cell(g),
                Cell::num(med(&g.runs, |r| r.summary.prefill_tok_s.p50), 1),
                Cell::text(crate::depth::test_of("pp", r.load.prompt_tokens, r)),
                Cell::num(med(&g.runs, |r| r.summary.decode_tok_s.p50), 1),
                Cell::text(crate::depth::test_of("tg", r.load.output_tokens, r)),
                Cell::num(med(&g.runs, |r| r.summary.ttft_ms.p50), 0),
            ]
        })
        .collect();
    let t = Table::new(
        &[
            "Stack",
            "Quantization",
            "pp tok/s",
            "prompt",
            "tg tok/s",
            "output",
            "TTFT p50 ms",
        ],
        body,
    );
    let mut t = crate::depth::with_depth_prefill(t, &groups, 6);
    if crate::depth::any_depth(runs) {
        // At a depth, whether the context came from the cache.
        let last = t.columns.len() - 1;
        t = with_reasoning_and_cache(t, &groups, last);
    }
    with_spread(t, spreads(&groups, |r| r.summary.prefill_tok_s.p50), 2)
}

/// *Stack | c=N total tok/s* (steady-state total output tok/s) with the
/// published figure, the per-stream rate, TTFT (and the reasoning and
/// cache columns as in [`single_user_table`]) and energy; repeats as in
/// [`single_user_table`].
pub fn total_table(runs: &[&RunFile], concurrency: u32) -> Table {
    let col = format!("c={concurrency} total tok/s");
    let groups = crate::depth::by_stack_then_depth(group_runs(runs, |r| r));
    let body: Vec<Vec<Cell>> = groups
        .iter()
        .map(|g| {
            let measured = med(&g.runs, |r| Some(r.summary.output_tok_s));
            let published = published_total(g.runs[0], concurrency);
            let tok_j = med(&g.runs, |r| {
                r.energy.as_ref().and_then(|e| e.tokens_per_joule)
            });
            vec![
                stack_cell(g),
                quant_cell(g),
                Cell::num(measured, 1),
                published_cell(g.runs[0], published),
                diff_pct(measured, published),
                completed_only(&g.runs, med(&g.runs, |r| r.summary.decode_tok_s.p50), 1),
                Cell::num(med(&g.runs, |r| r.summary.ttft_ms.p50), 0),
                Cell::num(tok_j, 2),
                requests_cell(&g.runs),
            ]
        })
        .collect();
    let t = Table::new(
        &[
            "Stack",
            "Quantization",
            &col,
            "Published",
            "Diff",
            "per-stream tok/s p50",
            "TTFT p50 ms",
            "tok/J",
            "requests",
        ],
        body,
    );
    let t = with_reasoning_and_cache(t, &groups, 6);
    let t = with_queues(t, &groups, concurrency, 2);
    let t = with_spread(t, spreads(&groups, |r| Some(r.summary.output_tok_s)), 2);
    let firsts: Vec<&RunFile> = groups.iter().map(|g| g.runs[0]).collect();
    let t = crate::depth::with_depth_column(t, &firsts, 1);
    with_cell_notes(t, &[Mark::InProcess, Mark::Queued])
}

/// One row of the detail table: `r` of the group `g`.
fn detail_row(g: &Group<'_, RunFile>, r: &RunFile) -> Vec<Cell> {
    let s = &r.summary;
    let m = r.server_metrics.as_ref().filter(|m| m.available);
    let level = Level::of(&r.load);
    vec![
        Cell::text(g.label.clone()).marked(row_marks(&[r])),
        quant_cell(g),
        match level.users() {
            Some(c) => Cell::figure(c.to_string()),
            None => Cell::text(level.label()),
        },
        Cell::num(s.ttft_ms.p50, 0),
        Cell::num(s.ttft_ms.p99, 0),
        Cell::num(s.itl_ms.p50, 1),
        Cell::num(s.itl_ms.p99, 1),
        Cell::text(format!(
            "{}/{}",
            s.requests.failed,
            s.requests.ok + s.requests.failed
        )),
        Cell::num(s.decode_tok_s_pooled, 1),
        Cell::num(m.and_then(|m| m.per_stream_decode_tok_s), 1),
        m.and_then(|m| m.decode_diff_pct)
            .map_or_else(Cell::missing, |d| Cell::figure(format!("{d:+.1}%"))),
    ]
}

/// Latency percentiles, errors, and the server's per-stream decode rate
/// beside the client's pooled one: one row per run, repeats together.
pub fn detail_table(runs: &[&RunFile]) -> Table {
    let groups = crate::depth::by_stack_then_depth(group_runs(runs, |r| r));
    let repeats = runs.iter().any(|r| RunIdentity::of(r).repeat > 1);
    let mut repeat_cells = Vec::new();
    let mut body = Vec::new();
    for g in &groups {
        for r in &g.runs {
            body.push(detail_row(g, r));
            repeat_cells.push(Cell::figure(RunIdentity::of(r).repeat.to_string()));
        }
    }
    let mut t = Table::new(
        &[
            "Stack",
            "Quantization",
            "c",
            "TTFT p50 ms",
            "TTFT p99 ms",
            "ITL p50 ms",
            "ITL p99 ms",
            "errors",
            "decode tok/s (ours)",
            "decode tok/s (server)",
            "diff",
        ],
        body,
    );
    if repeats {
        t.insert_column(3, "repeat", repeat_cells);
    }
    let rows: Vec<&RunFile> = groups.iter().flat_map(|g| g.runs.iter().copied()).collect();
    crate::depth::with_depth_column(t, &rows, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_one_row_with_the_median_and_range() {
        let run = |rate: f64, repeat: u32| {
            let mut r: RunFile =
                serde_json::from_str(include_str!("../tests/fixtures/run-v2-sim.json"))
                    .expect("fixture");
            r.load.concurrency = 1;
            r.summary.decode_tok_s.p50 = Some(rate);
            if let Some(s) = r.suite.as_mut() {
                s.repeat = repeat;
            }
            r
        };
        let runs = [run(40.0, 1), run(44.0, 2), run(41.0, 3)];
        let refs: Vec<&RunFile> = runs.iter().collect();
        let t = single_user_table(&refs);
        assert_eq!(t.rows.len(), 1);
        assert_eq!(t.columns[3], "repeats min–max");
        assert_eq!(t.rows[0][2], Cell::figure("41.0"), "median of 40, 44, 41");
        assert_eq!(t.rows[0][3].plain(), "40.0–44.0 (n=3)");
        let one = single_user_table(&refs[..1]);
        assert!(!one.columns.iter().any(|c| c.contains("repeats")));
    }

    fn fixture_run() -> RunFile {
        serde_json::from_str(include_str!("../tests/fixtures/run-v2-sim.json")).expect("fixture")
    }

    #[test]
    fn only_a_run_that_decoded_few_streams_at_once_is_marked_a_queue() {
        let run = |at_once: f64, partial: u64, think_s: f64| {
            let mut r = fixture_run();
            r.load.concurrency = 32;
            r.load.think_time_s = think_s;
            let s = &mut r.summary;
            (s.requests.ok, s.requests.partial, s.wall_s) = (64, partial, 100.0);
            s.decode_tokens = 64 * 511;
            s.decode_us = (at_once * 100.0 * 1e6) as u64;
            r
        };
        let one_slot = run(0.95, 1, 0.0);
        let batched = run(28.0, 0, 0.0);
        // Long streams cut off by a timed end: most users mid-stream.
        let cut_off = run(12.0, 30, 0.0);
        let thinking = run(3.0, 0, 5.0);
        // Each run alone: the same fixture would group them as repeats.
        let marked = |r: &RunFile| {
            let t = total_table(&[r], 32);
            let queued = t.rows[0][2].marks.contains(&Mark::Queued);
            let noted = t.notes.iter().any(|n| n.mark == Some(Mark::Queued));
            assert_eq!(queued, noted, "{t:?}");
            assert_eq!(queued, t.columns.iter().any(|c| c == "decoding at once"));
            queued
        };
        let all = [&one_slot, &batched, &cut_off, &thinking];
        assert_eq!(all.map(marked), [true, false, false, false]);
        let t = total_table(&[&one_slot], 32);
        assert_eq!(t.rows[0][3].value_text(), "0.9", "decoding at once: {t:?}");
    }

    #[test]
    fn reasoning_and_cache_columns_appear_only_when_a_run_has_them() {
        let plain = fixture_run();
        let mut thinking = fixture_run();
        if let Some(s) = thinking.stack.as_mut() {
            s.name = "vllm-think".into();
        }
        let s = &mut thinking.summary;
        s.reasoning_requests = 4;
        s.reasoning_share = Some(0.6);
        s.ok_output_tokens = 384;
        s.ttfat_ms.p50 = Some(410.0);
        let before = single_user_table(&[&plain]);
        assert!(!before.columns.iter().any(|c| c.contains("TTFAT")));
        let t = single_user_table(&[&plain, &thinking]);
        let at = t.columns.iter().position(|c| c == "TTFT p50 ms");
        assert_eq!(
            at.map(|i| t.columns[i + 1..i + 3].to_vec()),
            Some(vec!["TTFAT p50 ms".to_string(), "reasoning %".to_string()])
        );
        let i = at.unwrap_or_default();
        // The fixture predates reasoning: no TTFAT, no share; the thinker's.
        assert_eq!(t.rows[0][i + 1], Cell::missing());
        assert_eq!(t.rows[0][i + 2], Cell::missing());
        assert_eq!(t.rows[1][i + 1].plain(), "410");
        assert_eq!(t.rows[1][i + 2].plain(), "60.0");
        assert!(!t.columns.iter().any(|c| c == "cache hit %"));
        assert!(t.notes.iter().any(|n| n.text.starts_with("TTFAT: ")));

        let mut cached = fixture_run();
        cached.load.concurrency = 4;
        cached.summary.cache_reported_prompt_tokens = 1000;
        cached.summary.cache_hit_share = Some(0.25);
        let t = total_table(&[&cached], 4);
        let at = t
            .columns
            .iter()
            .position(|c| c == "TTFT p50 ms")
            .unwrap_or_default();
        assert_eq!(t.columns[at + 1], "cache hit %");
        assert_eq!(t.rows[0][at + 1].plain(), "25.0");
        assert!(!t.columns.iter().any(|c| c.contains("TTFAT")));
    }

    /// Two stack configs under one label and quantization were one row
    /// (their runs' median taken as repeats); now two, each under its name.
    #[test]
    fn two_configs_under_one_label_are_two_rows_under_their_names() {
        let run = |name: &str, rate: f64| {
            let mut r: RunFile =
                serde_json::from_str(include_str!("../tests/fixtures/run-v2-sim.json"))
                    .expect("fixture");
            if let Some(s) = r.stack.as_mut() {
                s.name = name.into();
            }
            r.summary.decode_tok_s.p50 = Some(rate);
            r
        };
        let runs = [run("vllm-nvfp4", 40.0), run("vllm-nvfp4-eager", 30.0)];
        let refs: Vec<&RunFile> = runs.iter().collect();
        let t = single_user_table(&refs);
        let rows: Vec<(String, String)> = t
            .rows
            .iter()
            .map(|r| (r[0].plain(), r[2].plain()))
            .collect();
        assert_eq!(
            rows,
            [
                ("vllm-nvfp4".to_string(), "40.0".to_string()),
                ("vllm-nvfp4-eager".to_string(), "30.0".to_string()),
            ]
        );
        assert!(!t.columns.iter().any(|c| c.contains("repeats")));
    }
}
