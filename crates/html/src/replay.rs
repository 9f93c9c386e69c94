//! The report's trace-replay section: for every run that replayed a trace
//! (`load.trace`), how faithfully (arrival, lengths, expected against
//! achieved prefix-cache hits, shortfalls) and its sessions' and tool
//! calls' figures, one row a run.

use stackbench_core::replay::{Quantiles, ReplayReport, TraceLoad};

use crate::page::esc;
use crate::ReportRun;

fn f(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

fn p50_p99(q: &Quantiles, digits: usize) -> String {
    format!("{} / {}", f(q.p50, digits), f(q.p99, digits))
}

/// One run's row: the trace, then fidelity, sessions and tools.
fn row(dir: &str, t: &TraceLoad, r: &ReplayReport) -> String {
    let (a, l, c) = (&r.arrival, &r.lengths, &r.cache);
    let sessions = r.sessions.as_ref().map_or_else(
        || "-".to_string(),
        |s| {
            let turns: Vec<String> = s
                .ttft_ms_by_turn
                .iter()
                .map(|t| {
                    format!(
                        "{}{}: {}",
                        t.turn,
                        if t.plus { "+" } else { "" },
                        f(t.ttft_ms.p50, 0)
                    )
                })
                .collect();
            format!(
                "{} of {} completed; makespan p50 {} s; TTFT p50 ms by turn {}",
                s.completed,
                s.sessions,
                f(s.makespan_s.p50, 2),
                turns.join(", ")
            )
        },
    );
    let tools = r.tools.as_ref().map_or_else(
        || "-".to_string(),
        |t| {
            format!(
                "{} offered, {} calls, {} tokens, first token p50 {} ms",
                t.requests,
                t.calls,
                t.tokens,
                f(t.ttftc_ms.p50, 0)
            )
        },
    );
    let cells = [
        esc(dir),
        esc(&format!(
            "{} ({}), speed x{}, scale x{}",
            t.format, t.source, t.speed, t.scale
        )),
        format!("{} of {} ({} dropped)", a.sent, a.entries, a.dropped),
        p50_p99(&a.lag_ms, 1),
        format!(
            "{} of {}",
            l.input_exact + l.input_below_overhead,
            l.input_checked
        ),
        format!(
            "{} / {} ({})",
            f(c.expected_pct, 1),
            f(c.achieved_pct, 1),
            esc(&c.source)
        ),
        esc(&sessions),
        esc(&tools),
        esc(&r.shortfalls.join("; ")),
    ];
    let tds: String = cells.iter().map(|c| format!("<td>{c}</td>")).collect();
    format!("<tr>{tds}</tr>\n")
}

/// The section; empty when no run replayed a trace.
pub(crate) fn section(runs: &[ReportRun]) -> String {
    let rows: String = runs
        .iter()
        .filter_map(|r| {
            Some(row(
                &r.dir,
                r.file.load.trace.as_ref()?,
                r.file.replay.as_ref()?,
            ))
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "<section>\n<h2>Trace replays</h2>\n<p>How faithfully each run replayed its trace (docs/traces.md): lag is actual − due send time; prompts exact counts those recorded shorter than the template as exact; the hit share is expected from the trace's blocks and achieved from the server's own counts.</p>\n<table>\n<thead><tr><th>run</th><th>trace</th><th>sent</th><th>lag p50 / p99 ms</th><th>prompts exact</th><th>prefix-cache hits expected / achieved %</th><th>sessions</th><th>tools</th><th>shortfalls</th></tr></thead>\n<tbody>\n{rows}</tbody>\n</table>\n</section>\n"
    )
}
