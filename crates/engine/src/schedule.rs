//! The order of a run: a warm-up phase, then a measured phase bounded by
//! count or duration, the measured phase closed-loop
//! ([`crate::closed_loop`]) or open-loop ([`crate::open_loop`]), then the
//! outcome built from the phase's shards, timeline and warnings.
//!
//! One mechanism serves every mode: a phase ([`crate::phase`]) is a range
//! of request ids, an optional deadline and a stop token; warm-up and
//! measurement are two phases of the same kind, and both loops send and
//! account for a request through the same `Phase::send_one`
//! ([`crate::account`]).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use stackbench_backends::StreamDriver;
use stackbench_core::client_load::ClientLoad;
use stackbench_core::slo::Goodput;
use stackbench_core::summary::{DepthPrefill, Spread, Summary};
use stackbench_core::sync::lock;
use stackbench_core::LatencyHistograms;
use tokio_util::sync::CancellationToken;

use crate::arrival::Schedule;
use crate::lag_book::LagBook;
use crate::lanes::Lanes;
use crate::live::LiveCounters;
use crate::phase::{DepthSample, Kind, Phase, Shard, Shared};
use crate::plan::micros;
use crate::plan::RunPlan;
use crate::sink::RecordSink;

/// The result of a run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Merged histograms of the measured phase.
    pub histograms: LatencyHistograms,
    /// The summary (built from the histograms, counters and timeline).
    pub summary: Summary,
    /// True when the run was cancelled from outside (Ctrl-C).
    pub interrupted: bool,
    /// Why the measured phase ended before its bound, when the engine
    /// ended it (`max_error_pct`).
    pub stopped_early: Option<String>,
    /// Output tokens of the measured phase over time.
    pub timeline: stackbench_core::TimelineSeries,
    /// What went wrong in the engine itself (a worker that panicked, an
    /// open-loop schedule that could not be built), for `run.json`.
    pub warnings: Vec<String>,
    /// What the warm-up did (none without one).
    pub warmup: Option<stackbench_core::hygiene::WarmupReport>,
}

/// Work done around the measured phase: after warm-up, right before the
/// first measured request, and after the last measured request ended (e.g.
/// scraping the server's counters so their difference covers exactly the
/// measured requests).
pub trait PhaseHooks: Send {
    /// Called once warm-up is over, before measuring starts.
    fn before_measure(&mut self) -> impl std::future::Future<Output = ()> + Send;
    /// Called when every measured request has ended.
    fn after_measure(&mut self) -> impl std::future::Future<Output = ()> + Send;
}

/// No hooks.
pub struct NoHooks;

impl PhaseHooks for NoHooks {
    async fn before_measure(&mut self) {}
    async fn after_measure(&mut self) {}
}

/// Runs the plan: warm-up, then the measured phase. `cancel` stops it at
/// any time (the outcome is then marked interrupted). Records go to `sink`.
pub async fn run(
    driver: Arc<StreamDriver>,
    plan: &RunPlan,
    sink: RecordSink,
    live: Arc<LiveCounters>,
    cancel: CancellationToken,
) -> RunOutcome {
    let lanes = Lanes::single(driver);
    run_with_hooks(&lanes, plan, sink, live, cancel, &mut NoHooks).await
}

/// When the run and its measured phase began and ended.
struct Span {
    /// When the run began, µs since the Unix epoch.
    t0_unix_us: u64,
    /// Start of the measured phase, since `t0`.
    measured_start: Duration,
    /// End of the measured phase, since `t0`.
    end: Duration,
}

/// [`run`] on the runtime threads of `lanes`, with [`PhaseHooks`].
pub async fn run_with_hooks<H: PhaseHooks>(
    lanes: &Lanes,
    plan: &RunPlan,
    sink: RecordSink,
    live: Arc<LiveCounters>,
    cancel: CancellationToken,
    hooks: &mut H,
) -> RunOutcome {
    let t0 = Instant::now();
    let t0_unix_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, micros);
    let shared = |stop: CancellationToken| Shared {
        t0,
        stop,
        live: live.clone(),
        sink: sink.clone(),
    };
    let warmed = crate::warmup::warm_up(plan, lanes, shared(cancel.child_token())).await;
    let mut warnings = warmed.warnings;
    let depth_shared = shared(cancel.child_token());
    let depth_prefill = depth_prefill(
        plan,
        lanes,
        &cancel,
        depth_shared,
        warmed.sent,
        &mut warnings,
    )
    .await;
    if !cancel.is_cancelled() {
        hooks.before_measure().await;
    }
    let measured_start = t0.elapsed();
    let watch = crate::self_watch::SelfWatch::start(lanes);
    let schedule = open_loop_schedule(plan, &mut warnings);
    let lag = plan
        .replay
        .as_ref()
        .map(|r| r.span())
        .or_else(|| schedule.as_ref().map(|(s, _)| s.span()))
        .map(|span| LagBook::new(micros(measured_start), span));
    let first_id = plan.first_measured_id(warmed.sent);
    let kind = Kind::Measured { first_id, lag };
    let phase = Arc::new(Phase::new(plan, kind, shared(cancel.child_token())));
    let sent = measure(&phase, plan, schedule, lanes, &cancel).await;
    let end = t0.elapsed();
    let results = phase.collect();
    let client = watch.finish(results.totals.output_tokens).await;
    hooks.after_measure().await;
    warnings.extend(phase.take_warnings());
    let span = Span {
        t0_unix_us,
        measured_start,
        end,
    };
    let mut outcome = outcome(plan, &phase, results, &span, sent, client);
    outcome.summary.depth_prefill = depth_prefill;
    outcome.warmup = warmed.report;
    outcome.interrupted = cancel.is_cancelled();
    outcome.warnings = warnings;
    outcome
}

/// At a cached depth, each user's context sent once (after the warm-up,
/// so a cold engine does not slow it), its figures summed apart.
async fn depth_prefill(
    plan: &RunPlan,
    lanes: &Lanes,
    cancel: &CancellationToken,
    shared: Shared,
    first_id: u64,
    warnings: &mut Vec<String>,
) -> Option<DepthPrefill> {
    if !plan.has_depth_prefill() || cancel.is_cancelled() {
        return None;
    }
    let kind = Kind::DepthPrefill { first_id };
    let phase = Arc::new(Phase::new(plan, kind, shared));
    crate::closed_loop::run(phase.clone(), plan.workers(), lanes).await;
    warnings.extend(phase.take_warnings());
    let samples = lock(&phase.depth_samples).clone();
    Some(depth_summary(plan.prompts.depth_words(), &samples))
}

/// `summary.depth_prefill` from the depth-prefill requests that ended.
fn depth_summary(depth: u32, samples: &[DepthSample]) -> DepthPrefill {
    let ok: Vec<&DepthSample> = samples.iter().filter(|s| s.ok).collect();
    let ttft_ms: Vec<f64> = ok
        .iter()
        .filter_map(|s| s.ttft_us)
        .map(|t| t as f64 / 1000.0)
        .collect();
    let rates: Vec<f64> = ok
        .iter()
        .filter_map(|s| {
            let p = s
                .prompt_tokens?
                .saturating_sub(s.cached_tokens.unwrap_or(0));
            let t = s.ttft_us.filter(|t| *t > 0)?;
            Some(p as f64 * 1e6 / t as f64)
        })
        .collect();
    DepthPrefill {
        depth_tokens: depth,
        requests: samples.len() as u64,
        ok: ok.len() as u64,
        prompt_tokens: ok.iter().filter_map(|s| s.prompt_tokens).max(),
        cached_tokens: ok.iter().filter_map(|s| s.cached_tokens).max(),
        ttft_ms: Spread::of(&ttft_ms),
        tok_s: Spread::of(&rates),
    }
}

/// The open-loop schedule of `plan` and its concurrency cap; `None` for a
/// closed loop, or (with a warning) when the schedule cannot be built.
fn open_loop_schedule(
    plan: &RunPlan,
    warnings: &mut Vec<String>,
) -> Option<(Schedule, Option<u32>)> {
    let o = plan.open_loop.as_ref().filter(|_| plan.replay.is_none())?;
    match Schedule::new(o, plan.bound, plan.seed) {
        Ok(s) => Some((s, o.max_concurrency)),
        Err(e) => {
            // RunConfig validation refuses these first; a library caller
            // gets a run with nothing sent and the reason.
            tracing::error!("open-loop schedule: {e}");
            warnings.push(format!("open-loop schedule: {e}; nothing was sent"));
            None
        }
    }
}

/// Runs the measured phase to its bound (or until stopped). Returns the
/// number of requests an open loop sent.
async fn measure(
    phase: &Arc<Phase>,
    plan: &RunPlan,
    schedule: Option<(Schedule, Option<u32>)>,
    lanes: &Lanes,
    cancel: &CancellationToken,
) -> Option<u64> {
    if cancel.is_cancelled() {
        return None;
    }
    let deadline_task = plan.bound.deadline().map(|d| {
        let phase = phase.clone();
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            phase.mark_drain();
            phase.stop.cancel();
        })
    });
    let sent = match schedule {
        _ if plan.replay.is_some() => {
            let replay = plan.replay.clone()?;
            Some(crate::replay::dispatch(phase.clone(), replay, lanes).await)
        }
        Some((schedule, cap)) => {
            Some(crate::open_loop::dispatch(phase.clone(), schedule, cap, lanes).await)
        }
        None if plan.open_loop.is_some() => None,
        None => {
            crate::closed_loop::run(phase.clone(), plan.workers(), lanes).await;
            None
        }
    };
    if let Some(t) = deadline_task {
        t.abort();
    }
    sent
}

/// The outcome of a measured phase that ended: its summary, steady window,
/// goodput, open-loop figures and early stop.
fn outcome(
    plan: &RunPlan,
    phase: &Phase,
    results: Shard,
    span: &Span,
    sent: Option<u64>,
    client: ClientLoad,
) -> RunOutcome {
    let Shard { hists, totals } = results;
    let wall_s = (span.end - span.measured_start).as_secs_f64();
    let (start_us, end_us) = phase.steady_window(span.end);
    let (steady, per_second, timeline) = {
        let t = lock(&phase.timeline);
        let (steady, per_second) = t
            .rate_in(start_us, end_us)
            .map(|w| (w, t.per_second_in(start_us, end_us)))
            .unzip();
        (steady, per_second, t.series(span.t0_unix_us))
    };
    let mut summary = Summary::build(&hists, &totals, micros(span.measured_start), wall_s, steady);
    summary.steady_tokens_per_s = per_second.unwrap_or_default();
    summary.client = Some(client);
    summary.goodput = plan.slo.map(|slo| {
        let judged = totals.requests.ok + totals.requests.failed;
        Goodput::new(slo, totals.slo_met, judged, wall_s)
    });
    if let (Some(o), Some(sent), Some(book)) = (&plan.open_loop, sent, &phase.lag) {
        summary.open_loop = Some(book.summary(o, sent, &hists, totals.cap_waits));
    }
    let stopped_early = phase.stopped_for_errors().then(|| {
        let r = &summary.requests;
        format!(
            "more than {}% of requests failed ({} of {}): --max-error-rate",
            plan.max_error_pct.unwrap_or(0.0),
            r.failed,
            r.ok + r.failed
        )
    });
    RunOutcome {
        stopped_early,
        histograms: hists,
        summary,
        interrupted: false,
        timeline,
        warnings: Vec::new(),
        warmup: None,
    }
}

#[cfg(test)]
mod tests {
    use stackbench_backends::{normalize_base_url, StreamDriver, StreamTarget};
    use stackbench_core::open_loop::Arrival;
    use stackbench_core::{RequestRecord, RequestStatus};
    use stackbench_wire::body::{Api, BodyOptions};

    use super::*;
    use crate::plan::tests::plan;
    use crate::plan::Bound;
    use crate::plan::OpenLoopPlan;

    /// A driver for a port nothing listens on: every request is refused at
    /// once, so a run needs no server.
    fn refused_driver() -> Arc<StreamDriver> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let driver = StreamDriver::new(StreamTarget {
            root: normalize_base_url(&format!("http://127.0.0.1:{port}")).unwrap(),
            api: Api::Completions,
            api_key: None,
            body: BodyOptions {
                model: "m".into(),
                max_tokens: 4,
                ignore_eos: true,
                temperature: 0.0,
                seed: None,
                per_event_counts: true,
                extra: Default::default(),
                switches: serde_json::Map::new(),
                salt_field: false,
            },
            request_timeout: Duration::from_secs(5),
            first_byte_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(5),
            reuse_connections: true,
            counts_stop_token: false,
        })
        .unwrap();
        Arc::new(driver)
    }

    /// Runs `plan` against a refused port; the outcome and every record.
    async fn run_refused(plan: &RunPlan) -> (RunOutcome, Vec<RequestRecord>) {
        let (sink, mut rx) = RecordSink::in_memory(1024);
        let live = Arc::new(LiveCounters::default());
        let cancel = CancellationToken::new();
        let outcome = run(refused_driver(), plan, sink, live, cancel).await;
        let mut records = Vec::new();
        while let Ok(r) = rx.try_recv() {
            records.push(r);
        }
        (outcome, records)
    }

    fn ids(records: &[RequestRecord]) -> Vec<u64> {
        let mut ids: Vec<u64> = records.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids
    }

    #[tokio::test]
    async fn a_closed_loop_worker_that_panics_is_a_warning_and_the_rest_is_counted() {
        let mut pl = plan(2, Bound::Requests(6), 0);
        pl.panic_at = Some(2);
        let (outcome, records) = run_refused(&pl).await;
        assert_eq!(outcome.warnings.len(), 1, "{:?}", outcome.warnings);
        let w = &outcome.warnings[0];
        assert!(w.starts_with("worker "), "{w}");
        assert!(
            w.contains(" panicked: test panic at request 2 (request 2, which it was sending, is missing from requests.jsonl and the summary;"),
            "{w}"
        );
        // Every other request was sent (by the worker left), recorded and
        // counted, including those the panicked worker finished first.
        assert_eq!(ids(&records), [0, 1, 3, 4, 5]);
        assert!(records.iter().all(|r| r.status == RequestStatus::Failed));
        assert_eq!(outcome.summary.requests.failed, 5);
        assert!(!outcome.interrupted && outcome.stopped_early.is_none());
    }

    #[tokio::test]
    async fn a_warm_up_worker_that_panics_is_a_warning_too() {
        let mut pl = plan(1, Bound::Requests(2), 2);
        pl.panic_at = Some(0);
        let (outcome, records) = run_refused(&pl).await;
        assert_eq!(outcome.warnings.len(), 1, "{:?}", outcome.warnings);
        assert!(outcome.warnings[0]
            .starts_with("warm-up worker 0 panicked: test panic at request 0 (request 0,"));
        // The one warm-up worker is gone: the rest of warm-up is not sent;
        // the measured phase runs as planned.
        assert_eq!(ids(&records), [2, 3]);
        assert_eq!(outcome.summary.requests.failed, 2);
    }

    #[tokio::test]
    async fn an_open_loop_request_that_panics_is_a_warning_and_the_rest_is_counted() {
        let mut pl = plan(1, Bound::Requests(6), 0);
        pl.open_loop = Some(OpenLoopPlan {
            rate: 200.0,
            arrival: Arrival::Constant,
            max_concurrency: None,
        });
        pl.panic_at = Some(3);
        let (outcome, records) = run_refused(&pl).await;
        assert_eq!(
            outcome.warnings,
            ["open-loop request 3 panicked: test panic at request 3 (it is missing from requests.jsonl and the summary; the other requests are counted)"]
        );
        assert_eq!(ids(&records), [0, 1, 2, 4, 5]);
        assert_eq!(outcome.summary.requests.failed, 5);
        assert_eq!(outcome.summary.open_loop.map(|o| o.sent), Some(6));
    }

    #[tokio::test]
    async fn an_auto_warm_up_without_rates_runs_to_its_cap_and_measuring_follows_on() {
        let mut pl = plan(1, Bound::Requests(2), 5);
        pl.warmup_auto = Some(stackbench_core::hygiene::AutoWarmup {
            max_requests: 5,
            ..Default::default()
        });
        let (outcome, records) = run_refused(&pl).await;
        // Every request is refused: no decode rate ever agrees.
        let w = outcome.warmup.unwrap();
        assert_eq!(
            (w.mode.as_str(), w.requests, w.steady),
            ("auto", 5, Some(false))
        );
        assert!(w.rates_tok_s.is_empty());
        assert_eq!(ids(&records), [0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(records.iter().filter(|r| r.warmup).count(), 5);
    }

    #[tokio::test]
    async fn a_run_without_panics_has_no_warnings() {
        let (outcome, records) = run_refused(&plan(2, Bound::Requests(3), 1)).await;
        assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
        assert_eq!(ids(&records), [0, 1, 2, 3]);
        assert_eq!(outcome.summary.requests.failed, 3);
    }
}
