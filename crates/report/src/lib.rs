//! Rendering results for people: the per-run summary table and the two
//! comparison tables (single-user decode tok/s; total tok/s at c=N).
//! Every table is Markdown, which reads well in a terminal too.
#![warn(missing_docs)]

pub mod compare;

use stackbench_core::run_file::RunFile;
use stackbench_core::summary::Dist;

/// A Markdown table with right-aligned numeric columns.
pub fn markdown_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..headers.len())
        .map(|i| {
            rows.iter().all(|r| {
                r.get(i).is_some_and(|c| {
                    c == "-"
                        || c == "-‡"
                        || c.trim_end_matches(['%', '*', '‡']).parse::<f64>().is_ok()
                })
            }) && !rows.is_empty()
        })
        .collect();
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let pad = |s: &str, w: usize, right: bool| {
        let n = w.saturating_sub(s.chars().count());
        if right {
            format!("{}{s}", " ".repeat(n))
        } else {
            format!("{s}{}", " ".repeat(n))
        }
    };
    let mut out = line(
        headers
            .iter()
            .zip(&widths)
            .zip(&numeric)
            .map(|((h, w), r)| pad(h, *w, *r))
            .collect(),
    );
    out += &line(
        widths
            .iter()
            .zip(&numeric)
            .map(|(w, r)| {
                let dashes = "-".repeat((*w).max(3) - 1);
                if *r {
                    format!("{dashes}:")
                } else {
                    format!("{dashes}-")
                }
            })
            .collect(),
    );
    for row in rows {
        out += &line(
            row.iter()
                .zip(&widths)
                .zip(&numeric)
                .map(|((c, w), r)| pad(c, *w, *r))
                .collect(),
        );
    }
    out
}

/// `x` with `digits` decimals, or `-`.
pub fn num(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
}

fn dist_row(name: &str, unit: &str, d: &Dist, digits: usize) -> Vec<String> {
    vec![
        format!("{name} ({unit})"),
        num(d.mean, digits),
        num(d.p10, digits),
        num(d.p50, digits),
        num(d.p90, digits),
        num(d.p99, digits),
        d.count.to_string(),
    ]
}

/// The summary of one run, as printed after `stackbench run`.
pub fn run_summary(run: &RunFile) -> String {
    let s = &run.summary;
    let r = &s.requests;
    let mut out = format!(
        "{} ({} API) at {}: {} ok, {} failed, {} cancelled in {:.1} s\n",
        run.target.model,
        run.target.api,
        load_level(&run.load),
        r.ok,
        r.failed,
        r.cancelled,
        s.wall_s
    );
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
    out += &format!(
        "output: {} tokens, {:.1} tok/s total ({window}), {:.1} tok/s over the whole run, {:.2} req/s\n",
        s.output_tokens, s.output_tok_s, s.output_tok_s_wall, s.requests_per_s
    );
    if r.failed > 0 {
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
    let rows = vec![
        dist_row("decode rate", "tok/s", &s.decode_tok_s, 1),
        dist_row("e2e rate", "tok/s", &s.e2e_tok_s, 1),
        dist_row("TTFT", "ms", &s.ttft_ms, 1),
        dist_row("ITL", "ms", &s.itl_ms, 2),
        dist_row("event gap", "ms", &s.event_gap_ms, 2),
        dist_row("TPOT", "ms", &s.tpot_ms, 2),
        dist_row("E2E", "ms", &s.e2e_ms, 0),
    ];
    out += &markdown_table(&["metric", "mean", "p10", "p50", "p90", "p99", "n"], &rows);
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

/// What the client spent, and the warning when it was the bottleneck.
fn client_lines(s: &stackbench_core::summary::Summary) -> String {
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

/// The mark a table puts beside a stack whose client was saturated in
/// any of `runs` (explained under the table by [`SATURATED_NOTE`]).
fn row_marks(runs: &[&RunFile]) -> String {
    let mut marks = String::new();
    if runs.iter().any(|r| client_saturated(r)) {
        marks += " †";
    }
    if runs.iter().any(|r| answered_wrong(r)) {
        marks += " ✗";
    }
    marks
}

/// Whether the stack failed its known-answer check before this run.
fn answered_wrong(r: &RunFile) -> bool {
    r.launch
        .as_ref()
        .and_then(|l| l.known_answer.as_ref())
        .is_some_and(|k| !k.passed)
}

/// Explains a `✗` row.
pub const WRONG_ANSWER_NOTE: &str = "✗ the stack answered its known-answer question wrong before this run (see `launch.known_answer` in its run.json): its figures are not a result — fast and wrong is not fast.\n";

fn client_saturated(r: &RunFile) -> bool {
    r.summary.client.as_ref().is_some_and(|c| c.saturated)
}

/// The footnote of the `†` of [`row_marks`].
pub const SATURATED_NOTE: &str = "† the client was saturated in this run (see its summary): its latencies and rates are partly the client's, not the server's.\n";

/// Explains a `‡` cell: a figure that only completed requests give.
pub const NONE_COMPLETED_NOTE: &str = "‡ no request completed in this run (every one was still streaming when it ended): per-stream decode rates and E2E come from completed requests only. TTFT and inter-token latencies include the streams cut off after their first token (`+N partial` under requests); lengthen the scenario or ask for fewer output tokens.\n";

/// Whether no measured request of `g` completed.
fn none_completed(g: &[&RunFile]) -> bool {
    g.iter().all(|r| r.summary.requests.ok == 0)
}

/// A figure only completed requests give: `-‡` when none completed.
fn completed_only(g: &[&RunFile], x: Option<f64>, digits: usize) -> String {
    match x {
        None if none_completed(g) => "-‡".into(),
        _ => num(x, digits),
    }
}

/// The `requests` column: completed requests, and those cut off after
/// their first token when there were any.
fn requests_cell(g: &[&RunFile]) -> String {
    let ok: u64 = g.iter().map(|r| r.summary.requests.ok).sum();
    let partial: u64 = g.iter().map(|r| r.summary.requests.partial).sum();
    if partial > 0 {
        format!("{ok} (+{partial} partial)")
    } else {
        ok.to_string()
    }
}

/// The failed requests by class, most frequent first: `stream 10,
/// http_status 2`.
pub fn failure_classes(s: &stackbench_core::summary::Summary) -> String {
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

/// The short label of a run's load level: `c8` or `r4`.
pub fn level_label(l: &stackbench_core::run_file::LoadConfig) -> String {
    match l.request_rate {
        Some(rate) => format!("r{rate}"),
        None => format!("c{}", l.concurrency),
    }
}

/// How an open-loop run kept to its schedule.
fn open_loop_line(s: &stackbench_core::summary::Summary) -> String {
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

/// Throughput and latency per load level (a sweep's levels, in the order
/// given): the data behind a throughput-vs-concurrency plot.
pub fn levels_table(runs: &[&RunFile]) -> String {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let s = &r.summary;
            let err = s.requests.failed_pct();
            vec![
                format!("{}{}", level_label(&r.load), row_marks(&[r])),
                format!("{:.1}", s.output_tok_s),
                format!("{:.2}", s.requests_per_s),
                num(s.decode_tok_s.p50, 1),
                num(s.ttft_ms.p50, 0),
                num(s.ttft_ms.p99, 0),
                num(s.e2e_ms.p50, 0),
                format!("{err:.1}"),
                s.goodput
                    .map_or_else(|| "-".into(), |g| format!("{:.1}", g.share_pct)),
            ]
        })
        .collect();
    let mut table = markdown_table(
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
        &rows,
    );
    if runs.iter().any(|r| client_saturated(r)) {
        table += &format!("\n{SATURATED_NOTE}");
    }
    table
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
/// difference where the stack config carries one, and a wider table of
/// latencies, errors and the server's own decode rate beside ours.
pub fn comparison_tables(runs: &[RunFile]) -> String {
    let mut out = String::new();
    // Open-loop runs have no concurrency level: they appear in the
    // detail table (level `r<rate>`) only.
    let closed: Vec<&RunFile> = runs
        .iter()
        .filter(|r| r.load.request_rate.is_none())
        .collect();
    let single: Vec<&RunFile> = closed
        .iter()
        .copied()
        .filter(|r| r.load.concurrency == 1)
        .collect();
    if !single.is_empty() {
        let tokens = output_tokens_note(&single);
        out += &format!(
            "## Single-user decode tok/s (c=1{tokens})\n\n{}",
            single_user_table(&single)
        );
        if single
            .iter()
            .any(|r| roofline(r).is_some_and(|(_, spec)| spec))
        {
            out += "\n\\* speculative decoding: the bound is per verified step, and a step can emit several tokens.\n";
        }
    }
    if single.iter().any(|r| r.summary.prefill_tok_s.p50.is_some()) {
        out += &format!(
            "\n## Prompt processing and generation (c=1, as llama-bench's pp/tg)\n\n{}",
            pp_table(&single)
        );
    }
    let mut levels: Vec<u32> = closed
        .iter()
        .map(|r| r.load.concurrency)
        .filter(|&c| c > 1)
        .collect();
    levels.sort_unstable();
    levels.dedup();
    for c in levels {
        let at: Vec<&RunFile> = closed
            .iter()
            .copied()
            .filter(|r| r.load.concurrency == c)
            .collect();
        if !out.is_empty() {
            out += "\n";
        }
        out += &format!(
            "## Total output tok/s at {c} concurrent users (steady state)\n\n{}",
            total_table(&at, c)
        );
    }
    if !runs.is_empty() {
        out += &format!(
            "\n## Latency, errors and the server's own rate\n\n{}",
            detail_table(runs)
        );
    }
    if runs.iter().any(client_saturated) {
        out += &format!("\n{SATURATED_NOTE}");
    }
    if runs.iter().any(answered_wrong) {
        out += &format!("\n{WRONG_ANSWER_NOTE}");
    }
    if runs.iter().any(|r| none_completed(&[r])) {
        out += &format!("\n{NONE_COMPLETED_NOTE}");
    }
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

fn stack_label(r: &RunFile) -> String {
    r.target
        .stack
        .clone()
        .unwrap_or_else(|| r.target.model.clone())
}

fn quant_label(r: &RunFile) -> String {
    r.target.quantization.clone().unwrap_or_default()
}

/// The measured value's difference from the published one, in percent.
fn diff_pct(measured: Option<f64>, published: Option<f64>) -> String {
    match (measured, published) {
        (Some(m), Some(p)) if p > 0.0 => format!("{:+.1}%", (m - p) / p * 100.0),
        _ => "-".into(),
    }
}

/// The single-user bound memory bandwidth sets, and whether the stack
/// decodes speculatively (the bound is then per step).
fn roofline(r: &RunFile) -> Option<(f64, bool)> {
    let facts = r.stack.as_ref()?.model_facts.as_ref()?;
    let bw = r.suite.as_ref()?.bandwidth_gb_s?;
    let bound = facts.roofline_steps_per_s(bw)?;
    Some((bound, facts.speculative_tokens.unwrap_or(0) > 0))
}

fn published_single(r: &RunFile) -> Option<f64> {
    r.stack.as_ref()?.reference.as_ref()?.single_user_tok_s
}

fn published_total(r: &RunFile, c: u32) -> Option<f64> {
    let reference = r.stack.as_ref()?.reference.as_ref()?;
    (reference.concurrency == c)
        .then_some(reference.total_tok_s)
        .flatten()
}

/// The runs of one stack at one scenario: one, or a suite's repeats.
fn repeat_groups<'a>(runs: &[&'a RunFile]) -> Vec<Vec<&'a RunFile>> {
    let key = |r: &RunFile| {
        (
            stack_label(r),
            quant_label(r),
            r.load.concurrency,
            r.suite.as_ref().map(|s| s.scenario.clone()),
        )
    };
    let mut out: Vec<Vec<&RunFile>> = Vec::new();
    for r in runs {
        match out.iter_mut().find(|g| key(g[0]) == key(r)) {
            Some(g) => g.push(r),
            None => out.push(vec![r]),
        }
    }
    out
}

/// The median of `values` (the table's figure for repeats), or `None`.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// `min–max (n=K)` over repeats; `-` for a single run.
fn spread(values: &[f64]) -> String {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.len() < 2 {
        return "-".into();
    }
    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{lo:.1}–{hi:.1} (n={})", finite.len())
}

/// The median over a group's runs of `f`.
fn med(g: &[&RunFile], f: impl Fn(&RunFile) -> Option<f64>) -> Option<f64> {
    median(g.iter().filter_map(|r| f(r)).collect())
}

/// Adds the repeats column after column `at` when any group has repeats.
fn with_spread(
    header: &[&str],
    mut body: Vec<Vec<String>>,
    spreads: Vec<String>,
    at: usize,
) -> String {
    if spreads.iter().all(|s| s == "-") {
        return markdown_table(header, &body);
    }
    let mut h: Vec<&str> = header.to_vec();
    h.insert(at + 1, "repeats min–max");
    for (row, sp) in body.iter_mut().zip(spreads) {
        row.insert(at + 1, sp);
    }
    markdown_table(&h, &body)
}

/// *Stack | Quantization | Single-user tok/s* (median decode tok/s at
/// c=1) with the published figure, the roofline share, the E2E rate and
/// TTFT. Repeats of a stack are one row: the median of the repeats, and
/// their range.
pub fn single_user_table(runs: &[&RunFile]) -> String {
    let groups = repeat_groups(runs);
    let spreads = groups
        .iter()
        .map(|g| {
            spread(
                &g.iter()
                    .filter_map(|r| r.summary.decode_tok_s.p50)
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let body: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            let r = g[0];
            let measured = med(g, |r| r.summary.decode_tok_s.p50);
            let published = published_single(r);
            let (bound, share) = match roofline(r) {
                Some((b, spec)) => (
                    format!("{b:.0}{}", if spec { "*" } else { "" }),
                    measured.map_or("-".into(), |m| format!("{:.0}%", m / b * 100.0)),
                ),
                None => ("-".into(), "-".into()),
            };
            vec![
                format!("{}{}", stack_label(r), row_marks(g)),
                quant_label(r),
                completed_only(g, measured, 1),
                num(published, 1),
                diff_pct(measured, published),
                bound,
                share,
                completed_only(g, med(g, |r| r.summary.e2e_tok_s.p50), 1),
                num(med(g, |r| r.summary.ttft_ms.p50), 0),
                requests_cell(g),
            ]
        })
        .collect();
    with_spread(
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
        spreads,
        2,
    )
}

/// *Stack | pp tok/s*: the median prefill rate of single-user requests
/// (prompt tokens processed / TTFT) with the prompt length, beside the
/// generation rate (`tg`): llama-bench's `pp512` / `tg128` pair, measured
/// through the server's API. Repeats as in [`single_user_table`].
pub fn pp_table(runs: &[&RunFile]) -> String {
    let groups = repeat_groups(runs);
    let spreads = groups
        .iter()
        .map(|g| {
            spread(
                &g.iter()
                    .filter_map(|r| r.summary.prefill_tok_s.p50)
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let body: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            let r = g[0];
            vec![
                format!("{}{}", stack_label(r), row_marks(g)),
                quant_label(r),
                num(med(g, |r| r.summary.prefill_tok_s.p50), 1),
                format!("pp{}", r.load.prompt_tokens),
                num(med(g, |r| r.summary.decode_tok_s.p50), 1),
                format!("tg{}", r.load.output_tokens),
                num(med(g, |r| r.summary.ttft_ms.p50), 0),
            ]
        })
        .collect();
    with_spread(
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
        spreads,
        2,
    )
}

/// *Stack | c=N total tok/s* (steady-state total output tok/s) with the
/// published figure, the per-stream rate, TTFT and energy; repeats as in
/// [`single_user_table`].
pub fn total_table(runs: &[&RunFile], concurrency: u32) -> String {
    let col = format!("c={concurrency} total tok/s");
    let groups = repeat_groups(runs);
    let spreads = groups
        .iter()
        .map(|g| spread(&g.iter().map(|r| r.summary.output_tok_s).collect::<Vec<_>>()))
        .collect();
    let body: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            let r = g[0];
            let measured = med(g, |r| Some(r.summary.output_tok_s));
            let published = published_total(r, concurrency);
            vec![
                format!("{}{}", stack_label(r), row_marks(g)),
                quant_label(r),
                num(measured, 1),
                num(published, 1),
                diff_pct(measured, published),
                completed_only(g, med(g, |r| r.summary.decode_tok_s.p50), 1),
                num(med(g, |r| r.summary.ttft_ms.p50), 0),
                num(
                    med(g, |r| r.energy.as_ref().and_then(|e| e.tokens_per_joule)),
                    2,
                ),
                requests_cell(g),
            ]
        })
        .collect();
    with_spread(
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
        spreads,
        2,
    )
}

/// Latency percentiles, errors, and the server's per-stream decode rate
/// beside the client's pooled one.
pub fn detail_table(runs: &[RunFile]) -> String {
    let refs: Vec<&RunFile> = runs.iter().collect();
    let ordered: Vec<&RunFile> = repeat_groups(&refs).into_iter().flatten().collect();
    let repeats = ordered.iter().any(|r| repeat_of(r) > 1);
    let body: Vec<Vec<String>> = ordered
        .iter()
        .map(|r| {
            let s = &r.summary;
            let m = r.server_metrics.as_ref().filter(|m| m.available);
            let mut row = vec![
                format!("{}{}", stack_label(r), row_marks(&[r])),
                quant_label(r),
                match r.load.request_rate {
                    Some(_) => level_label(&r.load),
                    None => r.load.concurrency.to_string(),
                },
                num(s.ttft_ms.p50, 0),
                num(s.ttft_ms.p99, 0),
                num(s.itl_ms.p50, 1),
                num(s.itl_ms.p99, 1),
                format!(
                    "{}/{}",
                    s.requests.failed,
                    s.requests.ok + s.requests.failed
                ),
                num(s.decode_tok_s_pooled, 1),
                num(m.and_then(|m| m.per_stream_decode_tok_s), 1),
                m.and_then(|m| m.decode_diff_pct)
                    .map_or("-".into(), |d| format!("{d:+.1}%")),
            ];
            if repeats {
                row.insert(3, repeat_of(r).to_string());
            }
            row
        })
        .collect();
    let mut header = vec![
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
    ];
    if repeats {
        header.insert(3, "repeat");
    }
    markdown_table(&header, &body)
}

fn repeat_of(r: &RunFile) -> u32 {
    r.suite.as_ref().map_or(1, |s| s.repeat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_numbers_right_and_text_left() {
        let t = markdown_table(
            &["Stack", "tok/s"],
            &[
                vec!["vLLM".into(), "55.9".into()],
                vec!["Ollama".into(), "24.0".into()],
            ],
        );
        let expected =
            "| Stack  | tok/s |\n| ------ | ----: |\n| vLLM   |  55.9 |\n| Ollama |  24.0 |\n";
        assert_eq!(t, expected);
    }

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
        assert_eq!(t.lines().count(), 3, "{t}");
        assert!(
            t.contains(" 41.0 | 40.0–44.0 (n=3) "),
            "median of 40, 44, 41: {t}"
        );
        let one = single_user_table(&refs[..1]);
        assert!(!one.contains("repeats"), "{one}");
    }

    #[test]
    fn median_of_even_counts_is_the_midpoint() {
        assert_eq!(median(vec![1.0, 3.0]), Some(2.0));
        assert_eq!(median(vec![]), None);
    }

    #[test]
    fn missing_numbers_render_as_dash() {
        assert_eq!(num(None, 1), "-");
        assert_eq!(num(Some(1.25), 1), "1.2");
    }
}
