//! Merging shards: one workload run from several load machines at once
//! (the way past one client machine, e.g. a Kubernetes Indexed Job), made
//! into one run as if one client had sent every request.
//!
//! Histograms are merged exactly (HdrHistogram addition), so every
//! percentile of the merged run is the percentile of all requests; counts
//! and tokens are summed; records are concatenated with their shard index
//! and their offsets moved onto the merged clock. The total rate is summed
//! over the window every shard was in steady state: each shard's tokens
//! over time are lined up by wall-clock start (`timeline.run_start_unix_us`;
//! load machines must keep their clocks in sync, e.g. NTP) and the merged
//! window runs from the latest steady-window start to the earliest end.
//! The server's `/metrics` deltas are not merged: each shard's window saw
//! every shard's requests, so they cannot be summed.

use crate::histogram::{HistError, LatencyHistograms};
use crate::identity::RunIdentity;
use crate::kinds::{Recorded, Side};
use crate::run_file::{MergeInfo, RunFile};
use crate::summary::{Summary, Totals};
use crate::timeline::TimelineSeries;
use crate::workload::{differences, WorkloadKey};
use crate::RequestRecord;

/// One shard: its folder, `run.json` and `requests.jsonl`.
#[derive(Debug, Clone)]
pub struct Shard {
    /// Where it was read from.
    pub dir: String,
    /// Its `run.json`.
    pub file: RunFile,
    /// Its records.
    pub records: Vec<RequestRecord>,
}

/// Why shards cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// Fewer than two shards.
    #[error("merge needs at least two shards, got {0}")]
    TooFew(usize),
    /// The shards ran different workloads.
    #[error("{dir} ran a different workload than {first}: {what}")]
    Mismatch {
        /// The first shard.
        first: String,
        /// The odd one.
        dir: String,
        /// What differs.
        what: String,
    },
    /// A shard has no timeline (written before timelines were saved).
    #[error("{0} has no timeline (written by an older stackbench), so the shards cannot be lined up in time")]
    NoTimeline(String),
    /// A shard's histograms could not be read.
    #[error("{dir}: {source}")]
    Histogram {
        /// The shard.
        dir: String,
        /// Why.
        source: HistError,
    },
}

/// What differs between `first` and `s`: the stack, the upgrade side and
/// the scenario by [`RunIdentity`]'s rule, then every workload key but the
/// level (each shard applies its share of the users or the rate).
fn shard_differences(first: &RunFile, s: &RunFile) -> Vec<String> {
    let (a, b) = (RunIdentity::of(first), RunIdentity::of(s));
    let mut out = Vec::new();
    if a.stack != b.stack {
        out.push(format!("stack {} vs {}", a.stack, b.stack));
    }
    if a.side != b.side {
        let name = |s: &Option<Recorded<Side>>| s.as_ref().map_or("none".into(), |s| s.to_string());
        out.push(format!("side {} vs {}", name(&a.side), name(&b.side)));
    }
    let (x, y) = (
        a.scenario.unwrap_or_default(),
        b.scenario.unwrap_or_default(),
    );
    if x != y {
        out.push(format!("scenario {x} vs {y}"));
    }
    let keys = WorkloadKey::all_except(&WorkloadKey::LEVEL);
    out.extend(differences(first, s, &keys).iter().map(|d| d.to_string()));
    out
}

fn check_workloads(shards: &[Shard]) -> Result<(), MergeError> {
    for s in &shards[1..] {
        let diff = shard_differences(&shards[0].file, &s.file);
        if !diff.is_empty() {
            return Err(MergeError::Mismatch {
                first: shards[0].dir.clone(),
                dir: s.dir.clone(),
                what: diff.join(", "),
            });
        }
    }
    Ok(())
}

/// Each shard's start on the merged clock (µs after the earliest start).
fn offsets(series: &[&TimelineSeries]) -> Vec<u64> {
    let origin = series
        .iter()
        .map(|s| s.run_start_unix_us)
        .min()
        .unwrap_or(0);
    series
        .iter()
        .map(|s| s.run_start_unix_us - origin)
        .collect()
}

/// The shards' timelines summed on the merged clock (each shifted by its
/// offset, rounded to the nearest interval).
fn merged_series(series: &[&TimelineSeries], offsets: &[u64]) -> TimelineSeries {
    let interval_ms = series[0].interval_ms.max(1);
    let step = u64::from(interval_ms) * 1000;
    let mut tokens: Vec<u32> = Vec::new();
    for (s, off) in series.iter().zip(offsets) {
        let shift = usize::try_from((off + step / 2) / step).unwrap_or(usize::MAX);
        let need = shift.saturating_add(s.tokens.len());
        if need > tokens.len() {
            tokens.resize(need, 0);
        }
        for (i, t) in s.tokens.iter().enumerate() {
            tokens[shift + i] = tokens[shift + i].saturating_add(*t);
        }
    }
    TimelineSeries {
        interval_ms,
        run_start_unix_us: series
            .iter()
            .map(|s| s.run_start_unix_us)
            .min()
            .unwrap_or(0),
        tokens,
    }
}

fn totals_of(shards: &[Shard]) -> Totals {
    let mut t = Totals::default();
    for s in shards {
        let m = &s.file.summary;
        t.merge(&Totals {
            requests: m.requests.clone(),
            errors: m.errors.clone(),
            failures: m.failures.clone(),
            output_tokens: m.output_tokens,
            prompt_tokens: m.prompt_tokens,
            decode_tokens: m.decode_tokens,
            decode_us: m.decode_us,
            slo_met: m.goodput.map_or(0, |g| g.met),
            cap_waits: m.open_loop.as_ref().map_or(0, |o| o.cap_waits),
            reasoning_tokens: m.reasoning_tokens,
            reasoning_requests: m.reasoning_requests,
            ok_output_tokens: m.ok_output_tokens,
            cached_prompt_tokens: m.cached_prompt_tokens,
            cache_reported_prompt_tokens: m.cache_reported_prompt_tokens,
            turns: m
                .turns
                .iter()
                .map(|t| (t.turn, crate::summary::TurnTotals::of(t)))
                .collect(),
        });
    }
    t
}

fn histograms_of(shards: &[Shard]) -> Result<LatencyHistograms, MergeError> {
    let mut h = LatencyHistograms::default();
    for s in shards {
        let one = LatencyHistograms::deserialize(&s.file.histograms).map_err(|source| {
            MergeError::Histogram {
                dir: s.dir.clone(),
                source,
            }
        })?;
        h += &one;
    }
    Ok(h)
}

/// The window every shard was in steady state, on the merged clock.
fn shared_window(shards: &[Shard], offsets: &[u64]) -> Option<[u64; 2]> {
    let mut start = 0u64;
    let mut end = u64::MAX;
    for (s, off) in shards.iter().zip(offsets) {
        let w = s.file.summary.steady_window?;
        start = start.max(off + w.start_us);
        end = end.min(off + w.end_us);
    }
    (end > start).then_some([start, end])
}

/// Goodput over all shards: met and judged requests added, when every
/// shard judged the same SLO.
fn merged_goodput(shards: &[Shard], wall_s: f64) -> Option<crate::slo::Goodput> {
    let all: Vec<crate::slo::Goodput> = shards
        .iter()
        .map(|s| s.file.summary.goodput)
        .collect::<Option<_>>()?;
    let slo = all.first()?.slo;
    all.iter().all(|g| g.slo == slo).then(|| {
        let met = all.iter().map(|g| g.met).sum();
        let judged = all.iter().map(|g| g.judged).sum();
        crate::slo::Goodput::new(slo, met, judged, wall_s)
    })
}

/// Open-loop schedules of all shards: rates and counts added, the lag
/// distribution from the merged histogram, the worst quarter medians.
fn merged_open_loop(
    shards: &[Shard],
    hists: &LatencyHistograms,
    cap_waits: u64,
) -> Option<crate::open_loop::OpenLoopSummary> {
    let all: Vec<&crate::open_loop::OpenLoopSummary> = shards
        .iter()
        .map(|s| s.file.summary.open_loop.as_ref())
        .collect::<Option<_>>()?;
    let first = all.first()?;
    let worst = |f: fn(&crate::open_loop::OpenLoopSummary) -> f64| {
        all.iter().map(|o| f(o)).fold(0.0, f64::max)
    };
    Some(crate::open_loop::OpenLoopSummary {
        offered_rate_per_s: all.iter().map(|o| o.offered_rate_per_s).sum(),
        arrival: first.arrival,
        max_concurrency: all.iter().map(|o| o.max_concurrency).sum(),
        sent: all.iter().map(|o| o.sent).sum(),
        achieved_rate_per_s: all.iter().map(|o| o.achieved_rate_per_s).sum(),
        schedule_lag_ms: crate::summary::Dist::from_hist(&hists.schedule_lag_us, 1000.0),
        cap_waits,
        lag_first_quarter_p50_ms: worst(|o| o.lag_first_quarter_p50_ms),
        lag_last_quarter_p50_ms: worst(|o| o.lag_last_quarter_p50_ms),
        limited_by: all.iter().find_map(|o| o.limited_by),
    })
}

/// The merged clock: each shard's offset, the summed timeline, and the
/// measured span (start on the merged clock, seconds).
struct Clock {
    offsets: Vec<u64>,
    timeline: TimelineSeries,
    measured_start_us: u64,
    wall_s: f64,
}

fn clock(shards: &[Shard]) -> Result<Clock, MergeError> {
    let series: Vec<&TimelineSeries> = shards
        .iter()
        .map(|s| {
            s.file
                .timeline
                .as_ref()
                .ok_or_else(|| MergeError::NoTimeline(s.dir.clone()))
        })
        .collect::<Result<_, _>>()?;
    let offsets = offsets(&series);
    let timeline = merged_series(&series, &offsets);
    let start = shards
        .iter()
        .zip(&offsets)
        .map(|(s, o)| o + s.file.summary.measured_start_us)
        .min()
        .unwrap_or(0);
    let end = shards
        .iter()
        .zip(&offsets)
        .map(|(s, o)| o + s.file.summary.measured_start_us + (s.file.summary.wall_s * 1e6) as u64)
        .max()
        .unwrap_or(start);
    Ok(Clock {
        offsets,
        timeline,
        measured_start_us: start,
        wall_s: (end - start) as f64 / 1e6,
    })
}

/// The merged summary, and the shared steady window it was measured over.
fn merged_summary(
    shards: &[Shard],
    clock: &Clock,
    hists: &LatencyHistograms,
) -> (Summary, Option<[u64; 2]>) {
    let totals = totals_of(shards);
    let window = shared_window(shards, &clock.offsets);
    let steady = window.and_then(|[a, b]| clock.timeline.rate_in(a, b));
    let mut summary = Summary::build(
        hists,
        &totals,
        clock.measured_start_us,
        clock.wall_s,
        steady,
    );
    summary.steady_tokens_per_s = window
        .map(|[a, b]| clock.timeline.per_second_in(a, b))
        .unwrap_or_default();
    summary.goodput = merged_goodput(shards, clock.wall_s);
    summary.open_loop = merged_open_loop(shards, hists, totals.cap_waits);
    let loads: Vec<&crate::client_load::ClientLoad> = shards
        .iter()
        .filter_map(|s| s.file.summary.client.as_ref())
        .collect();
    summary.client = crate::client_load::ClientLoad::merge(&loads);
    (summary, window)
}

/// The first shard's file with what the shards sum or share: run status,
/// times, load, hosts. Summary, histograms and timeline are set apart.
fn merged_file(shards: &[Shard], command_line: Vec<String>) -> RunFile {
    let mut file = shards[0].file.clone();
    file.command_line = command_line;
    file.complete = shards.iter().all(|s| s.file.complete);
    file.stopped_early = shards.iter().find_map(|s| s.file.stopped_early.clone());
    file.started_at = shards
        .iter()
        .map(|s| s.file.started_at.clone())
        .min()
        .unwrap_or_default();
    file.finished_at = shards
        .iter()
        .filter_map(|s| s.file.finished_at.clone())
        .max();
    file.load.concurrency = shards.iter().map(|s| s.file.load.concurrency).sum();
    file.load.num_requests = shards
        .iter()
        .map(|s| s.file.load.num_requests)
        .sum::<Option<u64>>();
    file.load.warmup_requests = shards.iter().map(|s| s.file.load.warmup_requests).sum();
    let hosts: Vec<&str> = shards
        .iter()
        .map(|s| s.file.host.hostname.as_str())
        .collect();
    file.host.notes.push(format!(
        "merged from {} shards; client hosts: {}; the rest of `host` is the first shard's",
        shards.len(),
        hosts.join(", ")
    ));
    file.server_metrics = None;
    file.energy = None;
    file
}

/// Every shard's records, tagged with the shard and moved onto the merged
/// clock.
fn merged_records(shards: &[Shard], offsets: &[u64]) -> Vec<RequestRecord> {
    let mut records = Vec::new();
    for (k, (s, off)) in shards.iter().zip(offsets).enumerate() {
        records.extend(s.records.iter().cloned().map(|mut r| {
            r.shard = Some(k as u32);
            r.start_offset_us += off;
            r
        }));
    }
    records
}

/// Merges `shards` into one run and its records. `command_line` is the
/// merge's own.
pub fn merge_shards(
    shards: &[Shard],
    command_line: Vec<String>,
) -> Result<(RunFile, Vec<RequestRecord>), MergeError> {
    if shards.len() < 2 {
        return Err(MergeError::TooFew(shards.len()));
    }
    check_workloads(shards)?;
    let clock = clock(shards)?;
    let hists = histograms_of(shards)?;
    let (summary, window) = merged_summary(shards, &clock, &hists);
    let mut file = merged_file(shards, command_line);
    file.summary = summary;
    file.histograms = hists.serialize().map_err(|source| MergeError::Histogram {
        dir: "the merged histograms".into(),
        source,
    })?;
    file.merged = Some(MergeInfo {
        shards: shards.iter().map(|s| s.dir.clone()).collect(),
        shared_window_us: window,
        start_spread_ms: clock.offsets.iter().copied().max().unwrap_or(0) as f64 / 1000.0,
    });
    let records = merged_records(shards, &clock.offsets);
    file.timeline = Some(clock.timeline);
    Ok((file, records))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(dir: &str, edit: impl FnOnce(&mut RunFile)) -> Shard {
        let mut file: RunFile =
            serde_json::from_str(include_str!("../../report/tests/fixtures/run-v2-sim.json"))
                .unwrap_or_else(|e| panic!("fixture: {e}"));
        edit(&mut file);
        Shard {
            dir: dir.into(),
            file,
            records: Vec::new(),
        }
    }

    #[test]
    fn shards_of_two_stacks_or_scenarios_are_refused_by_the_identity_rule() {
        // The same `--stack` label (`vLLM`) but two stack configs: the
        // label alone, as merge compared before, took them for one stack.
        let a = shard("a", |_| {});
        let b = shard("b", |f| {
            if let Some(s) = f.stack.as_mut() {
                s.name = "sim-vllm-nvfp4-eager".into();
            }
        });
        let err = check_workloads(&[a.clone(), b])
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("b ran a different workload than a: stack sim-vllm-nvfp4 vs sim-vllm-nvfp4-eager")
        );
        let c = shard("c", |f| {
            if let Some(s) = f.suite.as_mut() {
                s.scenario = "c4".into();
            }
            // Each shard applies its share of the level: not compared.
            f.load.concurrency = 3;
        });
        let err = check_workloads(&[a.clone(), c])
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("c ran a different workload than a: scenario c1 vs c4")
        );
        let d = shard("d", |f| f.load.concurrency = 7);
        assert!(check_workloads(&[a.clone(), d]).is_ok());
        let e = shard("e", |f| f.load.request_rate = Some(2.0));
        assert!(
            check_workloads(&[a.clone(), e]).is_ok(),
            "the rate is the level too"
        );
        assert!(matches!(
            merge_shards(&[a], Vec::new()),
            Err(MergeError::TooFew(1))
        ));
    }

    /// The two sides of an upgrade check carry one stack name: merge took a
    /// baseline shard and a candidate shard for one run. The side is part
    /// of the identity the shards must share.
    #[test]
    fn a_baseline_shard_and_a_candidate_shard_are_refused() {
        let on = |side: Side| {
            move |f: &mut RunFile| {
                if let Some(s) = f.suite.as_mut() {
                    s.side = Some(side.into());
                }
            }
        };
        let a = shard("a", on(Side::Baseline));
        let b = shard("b", on(Side::Candidate));
        let err = check_workloads(&[a.clone(), b])
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("b ran a different workload than a: side baseline vs candidate")
        );
        let plain = shard("p", |_| {});
        let err = check_workloads(&[plain, a.clone()])
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("a ran a different workload than p: side none vs baseline")
        );
        assert!(check_workloads(&[a.clone(), shard("a2", on(Side::Baseline))]).is_ok());
    }

    /// Keys merge did not check before `core::workload` (temperature, the
    /// dataset's selection filters) are refused now, named as everywhere
    /// else; so are the ones it did (ignore_eos, exclude_short).
    #[test]
    fn shards_differing_in_any_workload_key_but_the_level_are_refused() {
        let a = shard("a", |_| {});
        let b = shard("b", |f| f.load.temperature = 0.7);
        let err = check_workloads(&[a.clone(), b])
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("b ran a different workload than a: temperature 0 vs 0.7")
        );
        let c = shard("c", |f| {
            f.load.ignore_eos = false;
            f.load.exclude_short = true;
        });
        let err = check_workloads(&[a, c]).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("c ran a different workload than a: ignore_eos true vs false, exclude_short false vs true")
        );
    }
}
