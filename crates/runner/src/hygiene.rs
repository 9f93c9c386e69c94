//! A run's cleanliness and warmth, as `run.json`'s `hygiene` records it:
//! before the run, the server's counters (was it cold?) and the cache
//! reset `--reset-cache` asks for; after it, the cache check of the first
//! requests (the proof of the reset, or contamination caught without one),
//! the steadiness of the measured window and GPU throttling, and the flags
//! that follow. The judgements themselves live in
//! [`stackbench_core::hygiene`].

use std::time::{SystemTime, UNIX_EPOCH};

use stackbench_backends::{reset_cache, scrape_metrics, ControlClient, ServerKind};
use stackbench_core::hygiene::{
    steadiness, CacheCheck, CacheReset, CacheVerdict, Hygiene, RunFlag, RunFlagKind, ServerBefore,
};
use stackbench_core::run_file::RunFile;
use stackbench_core::{RequestRecord, RequestStatus};
use stackbench_wire::prometheus::total;

use crate::error::RunnerError;

/// The first requests checked against the cache: at least this many, and
/// at least one per user.
const FIRST_REQUESTS: u64 = 4;

/// The power cap held the clocks down for more than this share of the
/// window: throttled. (A power-capped GPU under full load often shows the
/// cap now and then; thermal and hardware slowdowns count at any share.)
const POWER_CAP_SHARE: f64 = 0.25;

/// What a run records before it starts: the server's counters and, with
/// `--reset-cache`, the reset (which fails the run when it cannot be done).
pub(crate) async fn before(
    c: &crate::config::RunConfig,
    control: &ControlClient,
    (kind, model): (ServerKind, &str),
    before: Option<ServerBefore>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Hygiene, RunnerError> {
    let reset = if c.reset_cache {
        progress("resetting the server's prompt cache (--reset-cache)");
        Some(reset(control, kind, model).await?)
    } else {
        None
    };
    Ok(Hygiene {
        reset,
        before,
        ..Hygiene::default()
    })
}

/// What the server's counters say before the run; `None` without
/// `/metrics` (or with `--no-metrics`).
pub(crate) async fn server_before(
    c: &crate::config::RunConfig,
    control: &ControlClient,
) -> Option<ServerBefore> {
    c.metrics_every?;
    let (_, samples) = scrape_metrics(control).await.ok()?;
    let generated = total(&samples, "vllm:generation_tokens_total")
        .or_else(|| total(&samples, "llamacpp:tokens_predicted_total"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let uptime = total(&samples, "process_start_time_seconds")
        .filter(|t| *t > 0.0)
        .map(|t| (now - t).max(0.0));
    let never = generated.map(|g| g == 0.0);
    Some(ServerBefore {
        generated_tokens: generated,
        uptime_s: uptime,
        idle_s: uptime.filter(|_| never == Some(true)),
        never_served: never,
    })
}

/// Empties the server's prompt cache (`--reset-cache`); a reset that could
/// not be done fails the run.
async fn reset(
    control: &ControlClient,
    kind: ServerKind,
    model: &str,
) -> Result<CacheReset, RunnerError> {
    let done = reset_cache(control, kind, model)
        .await
        .map_err(|e| RunnerError::Reset(e.to_string()))?;
    Ok(CacheReset {
        how: done.how,
        detail: done.detail,
        ms: done.ms,
        cold_load_ms: done.cold_load_ms,
        proven: None,
    })
}

/// Judges the finished run from its records: the cache check (and the
/// reset's proof), steadiness and throttling, and the flags.
pub(crate) fn judge(file: &mut RunFile, records: &[RequestRecord]) {
    let mut h = file.hygiene.take().unwrap_or_default();
    h.cache_check = cache_check(file, records);
    if let (Some(r), Some(c)) = (h.reset.as_mut(), h.cache_check.as_ref()) {
        r.proven = (c.verdict != CacheVerdict::Unknown)
            .then(|| c.verdict == CacheVerdict::Clean && c.min_cached == Some(0));
    }
    h.steadiness = measured_steadiness(records);
    h.flags = flags(&h, file);
    file.hygiene = Some(h);
}

/// Whether the workload shares nothing but a fixed head by design, so a
/// larger cached count means an earlier run's prompts: generated prompts,
/// no depth, no turns.
fn checkable(file: &RunFile) -> bool {
    let l = &file.load;
    l.dataset.is_none()
        && l.depth.is_none()
        && l.trace.is_none()
        && l.turns <= 1
        && l.prompt_sizing.is_some()
}

/// Tokens every prompt of the run shares: the chat template and
/// instruction (the sizing's overhead) and any shared prefix.
fn head_tokens(file: &RunFile) -> u64 {
    let l = &file.load;
    let overhead = l.prompt_sizing.as_ref().map_or(0, |s| {
        s.overhead_tokens
            .unwrap_or_else(|| l.prompt_tokens.saturating_sub(s.words))
    });
    u64::from(overhead) + u64::from(l.shared_prefix_tokens)
}

fn cache_check(file: &RunFile, records: &[RequestRecord]) -> Option<CacheCheck> {
    if !checkable(file) {
        return None;
    }
    let n = FIRST_REQUESTS.max(u64::from(file.load.concurrency));
    let mut first: Vec<&RequestRecord> = records
        .iter()
        .filter(|r| r.status == RequestStatus::Ok && !r.depth_prefill)
        .collect();
    first.sort_by_key(|r| r.id);
    first.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    let counts: Vec<u64> = first
        .iter()
        .filter_map(|r| r.cached_prompt_tokens)
        .collect();
    let head = head_tokens(file);
    if counts.is_empty() {
        return Some(counter_check(file, head, first.len() as u64));
    }
    let over = counts.iter().filter(|c| **c > head).count() as u64;
    Some(CacheCheck {
        source: "usage".into(),
        requests: first.len() as u64,
        head_tokens: head,
        max_cached: counts.iter().copied().max(),
        min_cached: counts.iter().copied().min(),
        over_head: over,
        verdict: if over == 0 {
            CacheVerdict::Clean
        } else {
            CacheVerdict::Cached
        },
        hit_pct: None,
    })
}

/// Without per-request counts (a vLLM without
/// `--enable-prompt-tokens-details`), its prefix-cache counters over the
/// measured requests: hits beyond the head's share of every prompt mean
/// the prompts themselves were there. (No first request can be seen to
/// take 0 this way, so a reset is not proven by it.)
fn counter_check(file: &RunFile, head: u64, requests: u64) -> CacheCheck {
    let rate = file
        .server_metrics
        .as_ref()
        .and_then(|m| m.prefix_cache_hit_rate);
    let prompt = u64::from(file.load.prompt_tokens).max(1);
    let verdict = match rate {
        None => CacheVerdict::Unknown,
        Some(r) if r * prompt as f64 > head as f64 => CacheVerdict::Cached,
        Some(_) => CacheVerdict::Clean,
    };
    CacheCheck {
        source: if rate.is_some() { "metrics" } else { "none" }.into(),
        requests,
        head_tokens: head,
        max_cached: None,
        min_cached: None,
        over_head: 0,
        verdict,
        hit_pct: rate.map(|r| r * 100.0),
    }
}

/// The first and last thirds of the completed measured requests, by start,
/// and their decode rates.
fn measured_steadiness(records: &[RequestRecord]) -> Option<stackbench_core::hygiene::Steadiness> {
    let samples: Vec<(u64, f64)> = records
        .iter()
        .filter(|r| !r.warmup && r.status == RequestStatus::Ok)
        .filter_map(|r| Some((r.start_offset_us, r.decode_tok_s?)))
        .collect();
    steadiness(&samples)
}

fn flags(h: &Hygiene, file: &RunFile) -> Vec<RunFlag> {
    let mut out = Vec::new();
    match h.reset.as_ref().filter(|r| r.proven == Some(false)) {
        Some(r) => out.push(RunFlag {
            kind: RunFlagKind::Cache,
            text: format!(
                "the cache reset ({}) is not proven: {}{}",
                r.how,
                h.cache_check.as_ref().map_or(String::new(), check_text),
                not_proven_hint(&r.how)
            ),
        }),
        None => out.extend(h.cache_check.as_ref().and_then(cache_flag)),
    }
    if let Some(s) = h.steadiness.as_ref().filter(|s| s.unsteady()) {
        out.push(RunFlag {
            kind: RunFlagKind::Unsteady,
            text: format!(
                "decode rate {:+.0}% from the first third of the measured window to the last ({:.1} → {:.1} tok/s median, limit ±{:.0}%, no request of one third as fast as any of the other): the engine was not steady (cold, or warming as it ran)",
                s.change_pct, s.first_third_tok_s, s.last_third_tok_s, s.tolerance_pct
            ),
        });
    }
    out.extend(throttle_flag(file));
    out
}

/// What to do when a reset of this kind was not proven.
fn not_proven_hint(how: &str) -> &'static str {
    if how.starts_with("llama-server") {
        "; llama-server's RAM prompt cache (--cache-ram, on by default) outlives a slot erase: start it with --cache-ram 0"
    } else {
        ""
    }
}

fn cache_flag(c: &CacheCheck) -> Option<RunFlag> {
    (c.verdict == CacheVerdict::Cached).then(|| RunFlag {
        kind: RunFlagKind::Cache,
        text: format!(
            "{}: an earlier run's prompts were in the cache (reset it with --reset-cache, or keep runs apart with --cache-salt)",
            check_text(c)
        ),
    })
}

/// What the cache check saw, in words.
fn check_text(c: &CacheCheck) -> String {
    if c.verdict == CacheVerdict::Clean {
        return format!(
            "none of the first {} requests reported an empty cache (least {} cached tokens)",
            c.requests,
            c.min_cached.unwrap_or(0)
        );
    }
    if let Some(pct) = c.hit_pct {
        return format!(
            "the server's prefix-cache counters served {pct:.0}% of the measured prompt tokens from the cache, more than the {}-token head every prompt shares",
            c.head_tokens
        );
    }
    format!(
        "{} of the first {} requests took up to {} prompt tokens from the server's cache, more than the {}-token head every prompt shares",
        c.over_head,
        c.requests,
        c.max_cached.unwrap_or(0),
        c.head_tokens
    )
}

/// Thermal or hardware slowdowns at any share, the power cap over
/// [`POWER_CAP_SHARE`] of the window.
fn throttle_flag(file: &RunFile) -> Option<RunFlag> {
    let energy = file.energy.as_ref()?;
    let seen: Vec<String> = energy
        .gpus
        .iter()
        .flat_map(|g| {
            g.throttle_reasons.iter().filter_map(move |t| {
                let counts = match t.reason.as_str() {
                    "sw_power_cap" => t.share > POWER_CAP_SHARE,
                    "hw_slowdown"
                    | "sw_thermal_slowdown"
                    | "hw_thermal_slowdown"
                    | "hw_power_brake_slowdown" => t.share > 0.0,
                    _ => false,
                };
                counts.then(|| format!("GPU {} {} {:.0}%", g.index, t.reason, t.share * 100.0))
            })
        })
        .collect();
    (!seen.is_empty()).then(|| RunFlag {
        kind: RunFlagKind::Throttled,
        text: format!(
            "the GPU throttled during the measured window ({} of its samples): heat or power, not the stack, set part of the figures",
            seen.join(", ")
        ),
    })
}
