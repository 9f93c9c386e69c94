//! The summary lines of a trace replay: which trace and how it was fitted
//! to the machine, how faithfully it was replayed (arrival, lengths,
//! expected against achieved prefix-cache hits), and its sessions' and
//! tool calls' figures.

use stackbench_core::replay::{Quantiles, ReplayReport, TraceLoad};
use stackbench_core::run_file::RunFile;

fn ms(q: &Quantiles) -> String {
    match (q.p50, q.p99) {
        (Some(a), Some(b)) => format!("p50 {a:.1} ms, p99 {b:.1} ms"),
        _ => "-".into(),
    }
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{v:.1}%"))
}

/// What was replayed, in one line.
fn trace_line(t: &TraceLoad) -> String {
    let mut fitted = vec![format!("speed x{}", t.speed)];
    if t.scale != 1.0 {
        let block = t
            .block_tokens
            .map_or(String::new(), |b| format!(", blocks of {b} tokens"));
        fitted.push(format!("lengths x{}{block}", t.scale));
    }
    if let Some(m) = t.max_input {
        fitted.push(format!("prompts <= {m} ({} cut)", t.inputs_capped));
    }
    if let Some(m) = t.max_output {
        fitted.push(format!("outputs <= {m} ({} cut)", t.outputs_capped));
    }
    if let Some([a, b]) = t.window_s {
        fitted.push(format!("window {a}..{b} s"));
    }
    format!(
        "trace: {} ({}, sha256 {}), {} of {} requests over {:.1} s; {}\n",
        t.format,
        t.source,
        &t.sha256[..t.sha256.len().min(16)],
        t.entries,
        t.file_entries,
        t.span_s,
        fitted.join(", ")
    )
}

/// How faithful the replay was.
fn fidelity_lines(r: &ReplayReport) -> String {
    let (a, l, c) = (&r.arrival, &r.lengths, &r.cache);
    let inputs = if l.input_controlled {
        format!(
            "prompts exact {} of {}{}",
            l.input_exact,
            l.input_checked,
            if l.input_below_overhead > 0 {
                format!(
                    " ({} recorded shorter than the template)",
                    l.input_below_overhead
                )
            } else {
                String::new()
            }
        )
    } else {
        format!(
            "prompts (recorded chats, counted by this server's tokenizer) x{:.2} the trace's",
            l.input_ratio.unwrap_or(0.0)
        )
    };
    let mut out = format!(
        "replay: {} of {} sent ({} dropped); lag {}; behind the trace {}; {inputs}; outputs exact {} of {}\n",
        a.sent,
        a.entries,
        a.dropped,
        ms(&a.lag_ms),
        ms(&a.behind_trace_ms),
        l.output_exact,
        l.output_checked
    );
    out += &format!(
        "prefix cache: expected {} (trace blocks, server block {}), achieved {} ({}{})\n",
        pct(c.expected_pct),
        c.server_block_tokens
            .map_or_else(|| "unknown".into(), |b| b.to_string()),
        pct(c.achieved_pct),
        c.source,
        c.cached_tokens.map_or(String::new(), |n| format!(
            ": {n} of {} prompt tokens",
            c.prompt_tokens
        ))
    );
    out
}

/// Sessions and tools.
fn session_lines(r: &ReplayReport) -> String {
    let mut out = String::new();
    if let Some(s) = &r.sessions {
        let turns: Vec<String> = s
            .ttft_ms_by_turn
            .iter()
            .map(|t| {
                let plus = if t.plus { "+" } else { "" };
                format!("{}{plus}: {:.0} ms", t.turn, t.ttft_ms.p50.unwrap_or(0.0))
            })
            .collect();
        out += &format!(
            "sessions: {} ({} completed); makespan p50 {:.2} s, max {:.2} s; turns p50 {:.0}; TTFT p50 by turn {}\n",
            s.sessions,
            s.completed,
            s.makespan_s.p50.unwrap_or(0.0),
            s.makespan_s.max.unwrap_or(0.0),
            s.turns.p50.unwrap_or(0.0),
            turns.join(", ")
        );
    }
    if let Some(t) = &r.tools {
        out += &format!(
            "tools: {} requests offered tools, {} answered with {} calls ({} tokens); time to first tool-call token {}\n",
            t.requests,
            t.with_calls,
            t.calls,
            t.tokens,
            ms(&t.ttftc_ms)
        );
    }
    out
}

/// The replay's lines; nothing for a run that replayed no trace.
pub(crate) fn replay_lines(run: &RunFile) -> String {
    let Some(t) = &run.load.trace else {
        return String::new();
    };
    let mut out = trace_line(t);
    if let Some(r) = &run.replay {
        out += &fidelity_lines(r);
        out += &session_lines(r);
    }
    out
}
