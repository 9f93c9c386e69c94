//! How faithfully a trace replay followed its trace, judged after the run
//! from its records (request `first + k` replayed entry k): arrival lag
//! against the due time and the trace's time, lengths as the server
//! counted them against the trace's, the prefix-cache hit share the
//! trace's blocks imply against the server's own counts, and the sessions'
//! and tool calls' figures. A replay that falls short is flagged `replay`,
//! each shortfall said in `replay.shortfalls`.

use std::collections::BTreeMap;

use stackbench_core::hygiene::{RunFlag, RunFlagKind};
use stackbench_core::kinds::ServerKind;
use stackbench_core::replay::{
    ArrivalFidelity, CacheFidelity, LengthFidelity, Quantiles, ReplayReport, SessionFigures,
    ToolFigures, TurnTtft,
};
use stackbench_core::run_file::RunFile;
use stackbench_core::{RequestRecord, RequestStatus};
use stackbench_trace::Trace;

/// How far (percentage points) the achieved hit share may fall below the
/// expected before the replay is flagged. The expectation assumes an
/// unbounded cache and requests that arrive one after another; requests
/// that run at the same time as the one that fills a block cannot use it
/// yet (vLLM caches a block once computed), and a prompt's template adds a
/// few tokens the blocks do not count: a few points, measured on the real
/// servers (`docs/traces.md`).
pub(crate) const HIT_TOLERANCE_PTS: f64 = 5.0;

/// Client slip (p99, ms) beyond which the replay did not keep the trace's
/// times.
pub(crate) const LAG_LIMIT_MS: f64 = 100.0;

/// A measured record and the entry it replayed.
struct Sent<'a> {
    r: &'a RequestRecord,
    index: usize,
}

/// Judges the replay of `trace` from `records` into `file.replay`, and
/// flags it when it fell short.
pub(crate) fn judge(file: &mut RunFile, records: &[RequestRecord], trace: &Trace) {
    let first = file.load.warmup_requests;
    let sent: Vec<Sent> = records
        .iter()
        .filter(|r| !r.warmup)
        .filter_map(|r| {
            let index = usize::try_from(r.id.checked_sub(first)?).ok()?;
            (index < trace.entries.len()).then_some(Sent { r, index })
        })
        .collect();
    let mut report = ReplayReport {
        arrival: arrival(file, trace, &sent),
        lengths: lengths(file, trace, &sent),
        cache: cache(file, trace, &sent),
        sessions: sessions(trace, &sent),
        tools: tools(trace, &sent),
        shortfalls: Vec::new(),
    };
    report.shortfalls = shortfalls(&report);
    if !report.shortfalls.is_empty() {
        let h = file.hygiene.get_or_insert_with(Default::default);
        h.flags.push(RunFlag {
            kind: RunFlagKind::Replay,
            text: format!(
                "the replay fell short of its trace: {}",
                report.shortfalls.join("; ")
            ),
        });
    }
    file.replay = Some(report);
}

fn arrival(file: &RunFile, trace: &Trace, sent: &[Sent]) -> ArrivalFidelity {
    let origin = file.summary.measured_start_us;
    let lag = |s: &Sent| s.r.schedule_lag_us.unwrap_or(0);
    let behind = sent.iter().map(|s| {
        let actual = s.r.start_offset_us + lag(s);
        (actual as f64 - (origin + trace.entries[s.index].at_us) as f64) / 1000.0
    });
    ArrivalFidelity {
        entries: trace.entries.len() as u64,
        sent: sent.len() as u64,
        dropped: (trace.entries.len() - sent.len()) as u64,
        lag_ms: Quantiles::of(sent.iter().map(|s| lag(s) as f64 / 1000.0).collect()),
        behind_trace_ms: Quantiles::of(behind.collect()),
    }
}

fn lengths(file: &RunFile, trace: &Trace, sent: &[Sent]) -> LengthFidelity {
    let controlled = trace.entries.iter().all(|e| e.chat.is_none());
    let overhead = file
        .load
        .prompt_sizing
        .as_ref()
        .and_then(|s| s.overhead_tokens)
        .unwrap_or(0);
    let inputs: Vec<(u64, u64)> = sent
        .iter()
        .filter_map(|s| {
            Some((
                s.r.prompt_tokens?,
                u64::from(trace.entries[s.index].input_tokens),
            ))
        })
        .collect();
    let outputs: Vec<(u64, u64)> = sent
        .iter()
        .filter(|s| s.r.status == RequestStatus::Ok)
        .map(|s| {
            (
                s.r.output_tokens,
                u64::from(trace.entries[s.index].output_tokens),
            )
        })
        .collect();
    let ratio = |v: &[(u64, u64)]| {
        let (a, b) = v.iter().fold((0, 0), |(a, b), (x, y)| (a + x, b + y));
        (b > 0).then(|| a as f64 / b as f64)
    };
    LengthFidelity {
        input_checked: inputs.len() as u64,
        input_exact: inputs.iter().filter(|(a, b)| a == b).count() as u64,
        input_below_overhead: inputs
            .iter()
            .filter(|(_, b)| *b <= u64::from(overhead))
            .count() as u64,
        input_max_diff: inputs.iter().map(|(a, b)| a.abs_diff(*b)).max(),
        input_ratio: ratio(&inputs),
        output_checked: outputs.len() as u64,
        output_exact: outputs.iter().filter(|(a, b)| a == b).count() as u64,
        output_ratio: ratio(&outputs),
        input_controlled: controlled,
    }
}

/// The server's cache block: vLLM's `block_size` (from its
/// `cache_config_info` metric), 1 for llama-server; `None` where unknown.
fn server_block(file: &RunFile) -> Option<u32> {
    match file.server.flavor.as_ref().and_then(|f| f.known())? {
        ServerKind::Vllm => file
            .server_metrics
            .as_ref()?
            .cache_config
            .as_ref()?
            .get("block_size")?
            .parse()
            .ok(),
        ServerKind::Llamacpp => Some(1),
        _ => None,
    }
}

fn cache(file: &RunFile, trace: &Trace, sent: &[Sent]) -> CacheFidelity {
    let block = server_block(file);
    let counted: Vec<&Sent> = sent
        .iter()
        .filter(|s| s.r.prompt_tokens.is_some())
        .collect();
    let expected = stackbench_trace::cache::expected(trace, block.unwrap_or(1));
    let expected_pct = expected
        .as_ref()
        .and_then(|e| e.share(trace, counted.iter().map(|s| s.index)))
        .map(|x| x * 100.0);
    let prompt: u64 = counted.iter().filter_map(|s| s.r.prompt_tokens).sum();
    let with_counts: Vec<&&Sent> = counted
        .iter()
        .filter(|s| s.r.cached_prompt_tokens.is_some())
        .collect();
    let (source, cached, achieved_pct) = if !with_counts.is_empty() {
        let c: u64 = with_counts
            .iter()
            .filter_map(|s| s.r.cached_prompt_tokens)
            .sum();
        let p: u64 = with_counts.iter().filter_map(|s| s.r.prompt_tokens).sum();
        (
            "usage",
            Some(c),
            (p > 0).then(|| c as f64 * 100.0 / p as f64),
        )
    } else {
        let rate = file
            .server_metrics
            .as_ref()
            .and_then(|m| m.prefix_cache_hit_rate);
        let source = if rate.is_some() { "metrics" } else { "none" };
        (source, None, rate.map(|r| r * 100.0))
    };
    CacheFidelity {
        server_block_tokens: block,
        expected_pct,
        achieved_pct,
        source: source.into(),
        prompt_tokens: prompt,
        cached_tokens: cached,
        distinct_tokens: expected.map(|e| e.distinct_tokens),
        tolerance_pts: HIT_TOLERANCE_PTS,
    }
}

/// Turns gathered in the last TTFT bucket: 1, 2, 3, 4 and later.
const TURN_BUCKETS: u32 = 4;

fn sessions(trace: &Trace, sent: &[Sent]) -> Option<SessionFigures> {
    let mut by: BTreeMap<u64, Vec<&Sent>> = BTreeMap::new();
    for s in sent {
        let link = trace.entries[s.index].link.as_ref()?;
        by.entry(link.session).or_default().push(s);
    }
    if by.is_empty() {
        return None;
    }
    let mut planned: BTreeMap<u64, usize> = BTreeMap::new();
    for e in &trace.entries {
        if let Some(l) = &e.link {
            *planned.entry(l.session).or_default() += 1;
        }
    }
    let makespan = |v: &[&Sent]| {
        let start = v.iter().map(|s| s.r.start_offset_us).min().unwrap_or(0);
        let end = v
            .iter()
            .map(|s| s.r.start_offset_us + s.r.stream_end_us)
            .max()
            .unwrap_or(0);
        end.saturating_sub(start) as f64 / 1e6
    };
    let completed = by
        .iter()
        .filter(|(k, v)| v.len() == planned[k] && v.iter().all(|s| s.r.status == RequestStatus::Ok))
        .count();
    Some(SessionFigures {
        sessions: by.len() as u64,
        completed: completed as u64,
        makespan_s: Quantiles::of(by.values().map(|v| makespan(v)).collect()),
        turns: Quantiles::of(by.values().map(|v| v.len() as f64).collect()),
        tokens: Quantiles::of(
            by.values()
                .map(|v| {
                    v.iter()
                        .map(|s| s.r.prompt_tokens.unwrap_or(0) + s.r.output_tokens)
                        .sum::<u64>() as f64
                })
                .collect(),
        ),
        ttft_ms_by_turn: ttft_by_turn(sent),
    })
}

fn ttft_by_turn(sent: &[Sent]) -> Vec<TurnTtft> {
    let mut by: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    for s in sent {
        if let (Some(turn), Some(t)) = (s.r.turn, s.r.ttft_us) {
            by.entry(turn.min(TURN_BUCKETS))
                .or_default()
                .push(t as f64 / 1000.0);
        }
    }
    by.into_iter()
        .map(|(turn, v)| TurnTtft {
            turn,
            plus: turn == TURN_BUCKETS,
            ttft_ms: Quantiles::of(v),
        })
        .collect()
}

fn tools(trace: &Trace, sent: &[Sent]) -> Option<ToolFigures> {
    let offered: Vec<&Sent> = sent
        .iter()
        .filter(|s| {
            trace.entries[s.index]
                .chat
                .as_ref()
                .is_some_and(|c| c.tools.is_some())
        })
        .collect();
    if offered.is_empty() {
        return None;
    }
    let calls = |s: &&Sent| u64::from(s.r.tool_calls.unwrap_or(0));
    Some(ToolFigures {
        requests: offered.len() as u64,
        with_calls: offered.iter().filter(|s| calls(s) > 0).count() as u64,
        calls: offered.iter().map(calls).sum(),
        tokens: offered.iter().filter_map(|s| s.r.tool_call_tokens).sum(),
        ttftc_ms: Quantiles::of(
            offered
                .iter()
                .filter_map(|s| s.r.ttftc_us)
                .map(|t| t as f64 / 1000.0)
                .collect(),
        ),
    })
}

fn shortfalls(r: &ReplayReport) -> Vec<String> {
    let mut out = Vec::new();
    let a = &r.arrival;
    if a.dropped > 0 {
        out.push(format!(
            "{} of {} trace requests were not sent",
            a.dropped, a.entries
        ));
    }
    if let Some(p99) = a.lag_ms.p99.filter(|p| *p > LAG_LIMIT_MS) {
        out.push(format!("requests went out {p99:.0} ms late (p99; limit {LAG_LIMIT_MS:.0} ms): the client did not keep the trace's times"));
    }
    let l = &r.lengths;
    if l.input_controlled && l.input_exact + l.input_below_overhead < l.input_checked {
        out.push(format!(
            "{} of {} prompts were not the trace's length as the server counted them (off by up to {} tokens)",
            l.input_checked - l.input_exact - l.input_below_overhead,
            l.input_checked,
            l.input_max_diff.unwrap_or(0)
        ));
    }
    let c = &r.cache;
    if let (Some(e), Some(a)) = (c.expected_pct, c.achieved_pct) {
        if a < e - c.tolerance_pts {
            out.push(format!(
                "the server took {a:.1}% of prompt tokens from its cache, the trace's blocks imply {e:.1}% (tolerance {:.0} points){}",
                c.tolerance_pts,
                c.distinct_tokens.map_or(String::new(), |d| format!("; the trace's distinct blocks need {d} tokens of cache"))
            ));
        }
    }
    out
}
