//! The summary of one run, as printed after `stackbench run` and `merge`:
//! what was sent and received, how prompts were sized, the schedule, the
//! reasoning and the prompt cache, the server's own counters beside ours,
//! the per-metric distribution table and, for conversations, one row per
//! turn.

use stackbench_core::kinds::Thinking;
use stackbench_core::run_file::{LoadConfig, RunFile};
use stackbench_core::summary::{Dist, Summary, TurnSummary};

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

/// The distribution of every per-request metric; time to first answer
/// token (TTFAT) below TTFT when any request reasoned (otherwise it is
/// TTFT).
pub fn metrics_table(s: &Summary) -> Table {
    let mut rows = vec![
        dist_row("decode rate", "tok/s", &s.decode_tok_s, 1),
        dist_row("e2e rate", "tok/s", &s.e2e_tok_s, 1),
        dist_row("TTFT", "ms", &s.ttft_ms, 1),
        dist_row("ITL", "ms", &s.itl_ms, 2),
        dist_row("event gap", "ms", &s.event_gap_ms, 2),
        dist_row("TPOT", "ms", &s.tpot_ms, 2),
        dist_row("E2E", "ms", &s.e2e_ms, 0),
    ];
    if reasoned(s) {
        rows.insert(3, dist_row("TTFAT", "ms", &s.ttfat_ms, 1));
    }
    Table::new(&["metric", "mean", "p10", "p50", "p90", "p99", "n"], rows)
}

/// Whether any OK request of the run reasoned before answering.
pub fn reasoned(s: &Summary) -> bool {
    s.reasoning_requests > 0
}

/// `part` of `whole` in %, or `None`.
fn pct(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64 * 100.0)
}

/// A turn's mean prompt length as the server reported it.
fn mean_prompt(t: &TurnSummary) -> Option<f64> {
    (t.requests > 0).then(|| t.prompt_tokens as f64 / t.requests as f64)
}

/// One row per turn of a multi-turn run: requests, mean prompt length,
/// the share of it the server took from its cache, TTFT and prefill rate.
pub fn turns_table(s: &Summary) -> Table {
    let rows = s
        .turns
        .iter()
        .map(|t| {
            let cached = match (t.cache_hit_share, t.requests) {
                (Some(h), n) if n > 0 => Cell::figure(format!(
                    "{:.0} ({:.1}%)",
                    t.cached_prompt_tokens as f64 / n as f64,
                    h * 100.0
                )),
                _ => Cell::missing(),
            };
            vec![
                Cell::figure(t.turn.to_string()),
                Cell::figure(t.requests.to_string()),
                Cell::num(mean_prompt(t), 1),
                cached,
                Cell::num(t.ttft_ms.p50, 1),
                Cell::num(t.ttft_ms.p90, 1),
                Cell::num(t.prefill_tok_s.p50, 1),
            ]
        })
        .collect();
    Table::new(
        &[
            "turn",
            "requests",
            "prompt tokens (mean)",
            "cached (share)",
            "TTFT p50 (ms)",
            "TTFT p90 (ms)",
            "prefill p50 (tok/s)",
        ],
        rows,
    )
}

/// The reasoning line: how much of the output was thinking, and when the
/// answer began.
fn reasoning_line(s: &Summary) -> String {
    if !reasoned(s) {
        return String::new();
    }
    format!(
        "reasoning: {} of {} output tokens ({}%) in {} requests; first answer token p50 {} ms\n",
        s.reasoning_tokens,
        s.ok_output_tokens,
        num(s.reasoning_share.map(|x| x * 100.0), 1),
        s.reasoning_requests,
        num(s.ttfat_ms.p50, 1)
    )
}

/// The prompt-cache line, when the server reported cached counts.
fn cache_line(s: &Summary) -> String {
    if s.cache_reported_prompt_tokens == 0 {
        return String::new();
    }
    format!(
        "prompt cache: {} of {} prompt tokens from the cache ({}%)\n",
        s.cached_prompt_tokens,
        s.cache_reported_prompt_tokens,
        num(
            pct(s.cached_prompt_tokens, s.cache_reported_prompt_tokens),
            1
        )
    )
}

/// The switches the run asked for (`--thinking`, `--cache-salt` with the
/// salt it drew) and the body fields they became, when it asked for any.
/// A salt also seeds the prompts, and vLLM gets `cache_salt` per request
/// (`<salt>-<id>`), which is not among the fields every request shares.
fn switches_line(l: &LoadConfig) -> String {
    let mut asked = Vec::new();
    if l.thinking != Thinking::Default {
        asked.push(format!("--thinking {}", l.thinking));
    }
    if let Some(salt) = &l.cache_salt {
        asked.push(format!("--cache-salt (salt {salt})"));
    }
    if asked.is_empty() {
        return String::new();
    }
    let sent = if l.switches.is_empty() {
        "none".to_string()
    } else {
        l.switches
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "switches: {}; body fields sent with every request: {sent}\n",
        asked.join(", ")
    )
}

/// The per-turn section of a multi-turn run: a heading and the table.
fn turns_section(run: &RunFile) -> String {
    let s = &run.summary;
    if s.turns.is_empty() {
        return String::new();
    }
    let pause = if run.load.think_time_s > 0.0 {
        format!(", {} s think time between turns", run.load.think_time_s)
    } else {
        String::new()
    };
    format!(
        "\nper turn ({} turns per conversation{pause}; each turn resends the history):\n",
        run.load.turns
    ) + &crate::markdown::grid(&turns_table(s))
}

/// The summary of one run, as printed after `stackbench run`.
pub fn run_summary(run: &RunFile) -> String {
    let s = &run.summary;
    let mut out = headline(run);
    if s.requests.failed > 0 {
        out += &format!("failed by class: {}\n", failure_classes(s));
    }
    out += &match run.load.trace {
        Some(_) => crate::replay::replay_lines(run),
        None => prompt_line(run),
    };
    out += &depth_prefill_line(run);
    out += &crate::hygiene::hygiene_lines(run);
    out += &switches_line(&run.load);
    out += &reasoning_line(s);
    out += &cache_line(s);
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
    out += &turns_section(run);
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
    // At a depth, each request's prompt is the context and then its own.
    let (target, asked) = match run.load.depth.as_ref().filter(|d| d.tokens > 0) {
        Some(d) => (
            target + d.tokens,
            format!(
                "{} tokens of context ({}) + {target} tokens",
                d.tokens,
                if d.cached {
                    "cached per user"
                } else {
                    "uncached"
                }
            ),
        ),
        None => (target, format!("{target} tokens")),
    };
    let line = format!("prompt: {asked} asked ({how}){reported}\n");
    if run.load.turns > 1 || !run.summary.turns.is_empty() {
        return line + &first_turn_prompt_lines(run);
    }
    match run
        .summary
        .prompt_miss_pct(target)
        .filter(|m| *m > PROMPT_MISS_PCT)
    {
        Some(miss) => line + &format!(
            "warning: reported prompt lengths miss the target by up to {miss:.1}% (more than {PROMPT_MISS_PCT}%)\n"
        ),
        None => line,
    }
}

/// The depth prefill of a run at a cached depth (`ctx_pp`): each user's
/// context sent once; nothing for other runs.
fn depth_prefill_line(run: &RunFile) -> String {
    let Some(p) = &run.summary.depth_prefill else {
        return String::new();
    };
    let figure = |x: Option<f64>, digits: usize| {
        x.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
    };
    format!(
        "depth prefill (ctx_pp): {} of {} user contexts of {} tokens sent first, {} tok/s, TTFT {} ms (means); cached before: {} tokens at most\n",
        p.ok,
        p.requests,
        p.prompt_tokens.map_or_else(|| "-".to_string(), |n| n.to_string()),
        figure(p.tok_s.mean, 1),
        figure(p.ttft_ms.mean, 0),
        p.cached_tokens.map_or_else(|| "-".to_string(), |n| n.to_string()),
    )
}

/// A multi-turn run's prompts grow by design (each turn resends the
/// history), so only turn 1's mean reported length is judged against the
/// target, and the summary says so.
fn first_turn_prompt_lines(run: &RunFile) -> String {
    let target = run.load.prompt_tokens;
    let first = run
        .summary
        .turns
        .iter()
        .find(|t| t.turn == 1)
        .and_then(mean_prompt);
    let Some(mean) = first else {
        return "multi-turn: prompts grow with the history; no turn-1 prompt counts to judge against the target\n".into();
    };
    let t = f64::from(target.max(1));
    let miss = (mean - t).abs() / t * 100.0;
    let mut out = format!(
        "multi-turn: prompts grow with the history by design; only turn 1 is judged against the target (mean {mean:.1} tokens)\n"
    );
    if miss > PROMPT_MISS_PCT {
        out += &format!(
            "warning: turn 1's reported prompt length (mean {mean:.1}) misses the target by {miss:.1}% (more than {PROMPT_MISS_PCT}%)\n"
        );
    }
    out
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

    fn fixture() -> RunFile {
        serde_json::from_str(include_str!("../tests/fixtures/run-v2-sim.json"))
            .unwrap_or_else(|e| panic!("fixture: {e}"))
    }

    fn turn(turn: u32, requests: u64, prompt_tokens: u64) -> TurnSummary {
        TurnSummary {
            turn,
            requests,
            prompt_tokens,
            ..TurnSummary::default()
        }
    }

    #[test]
    fn a_multi_turn_run_judges_only_turn_one_against_the_target() {
        let mut r = fixture();
        r.load.prompt_tokens = 128;
        r.summary.prompt_tokens_dist.min = Some(128.0);
        r.summary.prompt_tokens_dist.p50 = Some(384.0);
        r.summary.prompt_tokens_dist.max = Some(640.0);
        // As one prompt per request, 640 misses 128 by 400%.
        let single = run_summary(&r);
        assert!(
            single.contains("warning: reported prompt lengths miss the target by up to 400.0%"),
            "{single}"
        );
        r.load.turns = 3;
        r.summary.turns = vec![turn(1, 4, 512), turn(2, 4, 1536), turn(3, 4, 2560)];
        let text = run_summary(&r);
        assert!(!text.contains("warning"), "{text}");
        assert!(
            text.contains("only turn 1 is judged against the target (mean 128.0 tokens)"),
            "{text}"
        );
        r.summary.turns[0].prompt_tokens = 560;
        let text = run_summary(&r);
        assert!(
            text.contains(
                "warning: turn 1's reported prompt length (mean 140.0) misses the target by 9.4% (more than 1%)"
            ),
            "{text}"
        );
    }

    #[test]
    fn reasoning_cache_and_turn_figures_show_only_when_the_run_has_them() {
        let mut r = fixture();
        let plain = run_summary(&r);
        for absent in [
            "TTFAT",
            "reasoning:",
            "prompt cache:",
            "per turn",
            "switches:",
        ] {
            assert!(!plain.contains(absent), "{absent} in {plain}");
        }
        let s = &mut r.summary;
        s.reasoning_requests = 3;
        s.reasoning_tokens = 150;
        s.ok_output_tokens = 200;
        s.reasoning_share = Some(0.75);
        s.ttfat_ms.p50 = Some(812.25);
        s.cached_prompt_tokens = 0;
        s.cache_reported_prompt_tokens = 512;
        s.cache_hit_share = Some(0.0);
        let text = run_summary(&r);
        assert!(
            text.contains(
                "reasoning: 150 of 200 output tokens (75.0%) in 3 requests; first answer token p50 812.2 ms\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("prompt cache: 0 of 512 prompt tokens from the cache (0.0%)\n"),
            "{text}"
        );
        let t = metrics_table(&r.summary);
        let names: Vec<String> = t.rows.iter().map(|row| row[0].plain()).collect();
        assert_eq!(names[2..4], ["TTFT (ms)", "TTFAT (ms)"]);
        assert_eq!(t.rows[3][3].plain(), "812.2");
    }

    #[test]
    fn a_turn_row_holds_its_mean_prompt_its_cached_share_and_ttft() {
        let mut s = fixture().summary;
        let mut t2 = turn(2, 4, 1536);
        t2.cached_prompt_tokens = 768;
        t2.cache_hit_share = Some(0.5);
        t2.ttft_ms.p50 = Some(48.0);
        t2.ttft_ms.p90 = Some(57.5);
        t2.prefill_tok_s.p50 = Some(4000.0);
        s.turns = vec![turn(1, 4, 512), t2];
        let t = turns_table(&s);
        let row = |i: usize| t.rows[i].iter().map(Cell::plain).collect::<Vec<_>>();
        assert_eq!(
            row(1),
            ["2", "4", "384.0", "192 (50.0%)", "48.0", "57.5", "4000.0"]
        );
        assert_eq!(row(0)[3], "-", "no cached count reported (Ollama)");
    }

    #[test]
    fn the_switches_line_names_the_flags_and_the_fields_sent() {
        let mut l = fixture().load;
        assert_eq!(switches_line(&l), "");
        l.thinking = Thinking::Off;
        l.switches.insert("think".into(), false.into());
        assert_eq!(
            switches_line(&l),
            "switches: --thinking off; body fields sent with every request: think: false\n"
        );
    }

    #[test]
    fn missing_numbers_render_as_dash() {
        assert_eq!(num(None, 1), "-");
        assert_eq!(num(Some(1.25), 1), "1.2");
    }
}
