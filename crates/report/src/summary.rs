//! The summary of one run, as printed after `stackbench run` and `merge`:
//! what was sent and received, how prompts were sized, the schedule, the
//! server's own counters beside ours, and the per-metric distribution table.

use stackbench_core::run_file::RunFile;
use stackbench_core::summary::{Dist, Summary};

use crate::table::{Cell, Table};

/// `x` with `digits` decimals, or `-`.
pub fn num(x: Option<f64>, digits: usize) -> String {
    Cell::num(x, digits).plain()
}

fn dist_row(name: &str, unit: &str, d: &Dist, digits: usize) -> Vec<Cell> {
    vec![
        Cell::text(format!("{name} ({unit})")),
        Cell::num(d.mean, digits),
        Cell::num(d.p10, digits),
        Cell::num(d.p50, digits),
        Cell::num(d.p90, digits),
        Cell::num(d.p99, digits),
        Cell::figure(d.count.to_string()),
    ]
}

/// The distribution of every per-request metric.
pub fn metrics_table(s: &Summary) -> Table {
    Table::new(
        &["metric", "mean", "p10", "p50", "p90", "p99", "n"],
        vec![
            dist_row("decode rate", "tok/s", &s.decode_tok_s, 1),
            dist_row("e2e rate", "tok/s", &s.e2e_tok_s, 1),
            dist_row("TTFT", "ms", &s.ttft_ms, 1),
            dist_row("ITL", "ms", &s.itl_ms, 2),
            dist_row("event gap", "ms", &s.event_gap_ms, 2),
            dist_row("TPOT", "ms", &s.tpot_ms, 2),
            dist_row("E2E", "ms", &s.e2e_ms, 0),
        ],
    )
}

/// The summary of one run, as printed after `stackbench run`.
pub fn run_summary(run: &RunFile) -> String {
    let s = &run.summary;
    let mut out = headline(run);
    if s.requests.failed > 0 {
        out += &format!("failed by class: {}\n", failure_classes(s));
    }
    out += &prompt_line(run);
    out += &open_loop_line(s);
    if let Some(g) = &s.goodput {
        out += &format!(
            "goodput ({}): {} of {} requests met every limit ({:.1}%), {:.2} req/s\n",
            g.slo, g.met, g.judged, g.share_pct, g.rate_per_s
        );
    }
    if let Some(pooled) = s.decode_tok_s_pooled {
        out += &format!(
            "decode: {pooled:.1} tok/s pooled (all decode tokens / all decode time; the table's decode rates are per request)\n"
        );
    }
    out += "\n";
    out += &crate::markdown::grid(&metrics_table(s));
    out += &count_lines(run);
    if let Some(m) = &run.server_metrics {
        out += &server_line(m);
    }
    out += &client_lines(s);
    if !s.errors.is_empty() {
        out += "\nfailures:\n";
        for (reason, n) in &s.errors {
            out += &format!("  {n} x {reason}\n");
        }
    }
    out
}

/// What was measured at which load, and the outcome in two lines.
fn headline(run: &RunFile) -> String {
    let s = &run.summary;
    let r = &s.requests;
    let window = s.steady_window.map_or_else(
        || "no steady window; whole run".to_string(),
        |w| {
            format!(
                "steady window {:.1}-{:.1} s",
                w.start_us as f64 / 1e6,
                w.end_us as f64 / 1e6
            )
        },
    );
    format!(
        "{} ({} API) at {}: {} ok, {} failed, {} cancelled in {:.1} s\n",
        run.target.model,
        run.target.api,
        load_level(&run.load),
        r.ok,
        r.failed,
        r.cancelled,
        s.wall_s
    ) + &format!(
        "output: {} tokens, {:.1} tok/s total ({window}), {:.1} tok/s over the whole run, {:.2} req/s\n",
        s.output_tokens, s.output_tok_s, s.output_tok_s_wall, s.requests_per_s
    )
}

/// How the token counts were made, short requests and cold loads.
fn count_lines(run: &RunFile) -> String {
    let r = &run.summary.requests;
    let mut out = String::new();
    if r.unreconciled > 0 || r.estimated_counts > 0 {
        out += &format!(
            "\ntoken counts: {} requests counted one token per event (server gave no per-event count); {} did not match the server's final count\n",
            r.estimated_counts, r.unreconciled
        );
    }
    if r.short > 0 {
        out += &format!(
            "\n{} requests ended before {} tokens (EOS); {} the statistics above\n",
            r.short,
            run.load.output_tokens,
            if run.load.exclude_short {
                "left out of"
            } else {
                "included in"
            }
        );
    }
    if r.cold_loads > 0 {
        out += &format!(
            "\nwarning: {} measured requests included a model load (load_duration > 1 s); raise --warmup-requests\n",
            r.cold_loads
        );
    }
    out
}

fn client_lines(s: &Summary) -> String {
    let Some(c) = &s.client else {
        return String::new();
    };
    let mut out = format!("\n{}\n", c.line());
    if c.saturated {
        out += &format!(
            "warning: the client was saturated ({}): the latencies above are partly the client's, not the server's; give it more CPU (--threads, a quieter box) and rerun\n",
            c.reasons.join("; ")
        );
    }
    out
}

/// The failed requests by class, most frequent first: `stream 10,
/// http_status 2`.
pub fn failure_classes(s: &Summary) -> String {
    let mut by: Vec<_> = s.failures.iter().collect();
    by.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let counted: u64 = s.failures.values().sum();
    let mut parts: Vec<String> = by.iter().map(|(k, n)| format!("{k} {n}")).collect();
    // Files written before the classes were counted have none.
    if counted < s.requests.failed {
        parts.push(format!("unclassified {}", s.requests.failed - counted));
    }
    parts.join(", ")
}

/// The load a run applied: `concurrency 8`, or `4 req/s (poisson, at
/// most 16 in flight)`.
pub fn load_level(l: &stackbench_core::run_file::LoadConfig) -> String {
    match (l.request_rate, l.arrival) {
        (Some(rate), arrival) => {
            let cap = if l.concurrency > 0 {
                format!(", at most {} in flight", l.concurrency)
            } else {
                String::new()
            };
            format!(
                "{rate} req/s ({}{cap})",
                arrival.map_or("open loop", |a| a.name())
            )
        }
        _ => format!("concurrency {}", l.concurrency),
    }
}

/// How an open-loop run kept to its schedule.
fn open_loop_line(s: &Summary) -> String {
    let Some(o) = &s.open_loop else {
        return String::new();
    };
    let mut line = format!(
        "schedule: {} requests sent at {:.2} req/s ({} offered); lag p50 {} ms, p99 {} ms, max {} ms; {} waited for the concurrency cap\n",
        o.sent,
        o.achieved_rate_per_s,
        o.offered_rate_per_s,
        num(o.schedule_lag_ms.p50, 2),
        num(o.schedule_lag_ms.p99, 2),
        num(o.schedule_lag_ms.max, 1),
        o.cap_waits
    );
    if let Some(cause) = o.limited_by {
        let why = match cause {
            stackbench_core::open_loop::LagCause::Cap => "requests waited for the --max-concurrency cap: the server completes fewer requests per second than offered",
            stackbench_core::open_loop::LagCause::Client => "the client could not send on time (short of CPU?)",
        };
        line += &format!(
            "warning: the schedule slipped (median lag {:.1} ms in the first quarter, {:.1} ms in the last): {why}; latencies count from the planned send times\n",
            o.lag_first_quarter_p50_ms, o.lag_last_quarter_p50_ms
        );
    }
    line
}

/// A prompt length further than this (%) from the target is flagged.
const PROMPT_MISS_PCT: f64 = 1.0;

/// How the prompt lengths were met, and what the server reported.
fn prompt_line(run: &RunFile) -> String {
    if let Some(d) = &run.load.dataset {
        let p = &run.summary.prompt_tokens_dist;
        let mut line = format!(
            "dataset: {} ({}), {} of {} entries selected{}, sha256 {}; prompts as the server counted them: p50 {} (min {}, max {}) tokens; {} output tokens asked in all\n",
            d.path,
            d.format,
            d.selected,
            d.entries,
            d.sample.map_or_else(String::new, |n| format!(" (sample of {n}, seeded)")),
            &d.sha256[..d.sha256.len().min(16)],
            num(p.p50, 0),
            num(p.min, 0),
            num(p.max, 0),
            d.output_tokens_total
        );
        if d.repeated {
            line += "note: the run sent more requests than the dataset has entries; entries repeated (a prefix cache may serve the repeats)\n";
        }
        return line;
    }
    let target = run.load.prompt_tokens;
    let how = match &run.load.prompt_sizing {
        Some(p) if p.exact => format!(
            "exact: {} tokens of template and instruction + {} words, counted by {}",
            p.overhead_tokens.unwrap_or(0),
            p.words,
            p.source
        ),
        Some(p) => format!("approximate: {}", p.note.as_deref().unwrap_or(&p.source)),
        None => "approximate".into(),
    };
    let d = &run.summary.prompt_tokens_dist;
    let reported = match (d.min, d.p50, d.max) {
        (Some(lo), Some(mid), Some(hi)) => {
            format!("; the server reported p50 {mid:.0} (min {lo:.0}, max {hi:.0})")
        }
        _ => "; the server reported no prompt counts".into(),
    };
    let mut line = format!("prompt: {target} tokens asked ({how}){reported}\n");
    if let Some(miss) = run
        .summary
        .prompt_miss_pct(target)
        .filter(|m| *m > PROMPT_MISS_PCT)
    {
        line += &format!(
            "warning: reported prompt lengths miss the target by up to {miss:.1}% (more than {PROMPT_MISS_PCT}%)\n"
        );
    }
    line
}

/// Above this difference between the client's and the server's pooled
/// decode rates, the run summary warns (see `server_line`).
const DECODE_DISAGREEMENT_PCT: f64 = 2.0;

fn server_line(m: &stackbench_core::run_file::ServerMetrics) -> String {
    if !m.available {
        return format!(
            "\nserver /metrics: not available ({})\n",
            m.note.as_deref().unwrap_or("no answer")
        );
    }
    let pct = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |v| format!("{v:+.2}%"));
    let spec = m.spec_acceptance_rate.map_or_else(String::new, |r| {
        format!(
            "speculative decoding: {:.1}% of draft tokens accepted, {} tokens per step\n",
            r * 100.0,
            num(m.spec_mean_acceptance_length, 2)
        )
    });
    // Both pooled rates time the same tokens of the same requests; they
    // agree within 0.2% on an idle machine (vLLM and llama-server alike).
    // A larger gap means events reached the client late and in bursts:
    // client or server short of CPU, or a proxy that buffers.
    let disagree = m
        .decode_diff_pct
        .filter(|d| d.abs() > DECODE_DISAGREEMENT_PCT)
        .map_or_else(String::new, |d| {
            format!(
                "warning: the client's pooled decode rate differs from the server's by {d:+.1}%: tokens reached the client in bursts (a client or server short of CPU, or a buffering proxy); trust the server's figure\n"
            )
        });
    format!(
        "\nserver /metrics over the measured phase: {} tokens (client {}), {} tok/s (client {}), per-stream decode {} tok/s (client pooled {})\n",
        num(m.tokens, 0),
        pct(m.tokens_diff_pct),
        num(m.tok_s_wall, 1),
        pct(m.tok_s_diff_pct),
        num(m.per_stream_decode_tok_s, 1),
        pct(m.decode_diff_pct),
    ) + &spec
        + &disagree
}

/// The comparison tables of a set of runs: *Stack | Quantization |
/// Single-user tok/s* from the c=1 runs, *Stack | c=N total tok/s* for
/// every higher concurrency, each with the published figure and the
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_server_decode_disagreement_is_warned_about() {
        let mut m = stackbench_core::run_file::ServerMetrics {
            available: true,
            tokens: Some(1280.0),
            per_stream_decode_tok_s: Some(70.0),
            decode_diff_pct: Some(0.1),
            ..Default::default()
        };
        let line = server_line(&m);
        assert!(line.contains("client pooled +0.10%"), "{line}");
        assert!(!line.contains("warning"), "{line}");
        m.decode_diff_pct = Some(-12.5);
        let line = server_line(&m);
        assert!(
            line.contains(
                "warning: the client's pooled decode rate differs from the server's by -12.5%"
            ),
            "{line}"
        );
    }

    #[test]
    fn missing_numbers_render_as_dash() {
        assert_eq!(num(None, 1), "-");
        assert_eq!(num(Some(1.25), 1), "1.2");
    }
}
