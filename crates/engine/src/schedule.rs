//! The scheduler: a warm-up phase and a measured phase bounded by count or
//! duration, the measured phase closed-loop (N workers, each sending its
//! next request as soon as its previous one ends) or open-loop (requests
//! sent at planned times, see [`crate::open_loop`]).
//!
//! One mechanism serves every mode: a phase is a range of request ids, an
//! optional deadline and a stop token; warm-up and measurement are two
//! phases of the same loop, and both loops send and account for a request
//! through the same [`Phase::send_one`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use stackbench_backends::{Driver, RequestError};
use stackbench_core::record::{RequestErrorInfo, TokenCount};
use stackbench_core::slo::{Goodput, Slo};
use stackbench_core::summary::{Summary, Totals};
use stackbench_core::sync::lock;
use stackbench_core::{
    LatencyHistograms, RequestMetrics, RequestRecord, RequestStatus, Timeline, TokenEvent,
};
use stackbench_wire::body::Request;
use stackbench_wire::CountOutcome;
use tokio_util::sync::CancellationToken;

use crate::arrival::OpenLoopPlan;
use crate::lanes::Lanes;
use crate::live::LiveCounters;
use crate::open_loop::LagBook;
use crate::prompt::PromptGenerator;
use crate::sink::RecordSink;

/// What ends the measured phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// After this many measured requests have finished.
    Requests(u64),
    /// At this duration after the measured phase began; requests still in
    /// flight are cancelled and recorded as `cancelled`.
    Duration(Duration),
}

/// The load to apply.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// Closed-loop workers (and warm-up workers).
    pub concurrency: u32,
    /// Send the measured requests at planned times instead of in a closed
    /// loop.
    pub open_loop: Option<OpenLoopPlan>,
    /// Judge every measured request against these limits (goodput).
    pub slo: Option<Slo>,
    /// End of the measured phase.
    pub bound: Bound,
    /// Requests sent (and not counted) before measuring.
    pub warmup_requests: u64,
    /// Prompt source.
    pub prompts: PromptGenerator,
    /// Requests from a dataset, used in turn (request `id` gets entry
    /// `id % len`) instead of `prompts`; each carries its output length.
    pub dataset: Option<Arc<Vec<Request>>>,
    /// Output length asked for: an OK request that ends with fewer tokens
    /// (EOS where the server has no `ignore_eos`, e.g. Ollama) is *short*.
    pub target_output_tokens: u32,
    /// Leave short requests out of the latency and decode histograms (they
    /// are still counted, and their tokens still count in the totals).
    pub exclude_short: bool,
    /// A request whose server-reported model load (Ollama `load_duration`)
    /// took longer than this, ms, was a cold load: it is marked in its
    /// record and counted in `summary.requests.cold_loads`.
    pub cold_load_ms: f64,
    /// Seeds the open-loop arrival times.
    pub seed: u64,
    /// End the measured phase early (cleanly: in-flight requests are
    /// cancelled and recorded) once more than this share of at least
    /// [`ERROR_STOP_MIN`] finished measured requests failed, %.
    pub max_error_pct: Option<f64>,
}

/// Finished measured requests before `max_error_pct` is judged: a few
/// early failures are not yet a broken server.
pub const ERROR_STOP_MIN: u64 = 20;

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
}

/// One phase's shared state.
pub(crate) struct Phase {
    prompts: PromptGenerator,
    dataset: Option<Arc<Vec<Request>>>,
    pub(crate) t0: Instant,
    measured: bool,
    pub(crate) next_id: AtomicU64,
    end_id: Option<u64>,
    pub(crate) stop: CancellationToken,
    /// When the first worker found no more work, µs since t0.
    drain_at_us: AtomicU64,
    /// When the first request finished OK, µs since t0.
    first_ok_us: AtomicU64,
    /// The latest first token among requests cut off by the end, µs since
    /// t0: when no request completed, every stream was decoding from then.
    last_first_token_us: AtomicU64,
    timeline: Mutex<Timeline>,
    target_output_tokens: u32,
    exclude_short: bool,
    cold_load_ms: f64,
    /// Histogram shards. A full set of HDR histograms takes about 2 MB, so
    /// one per worker would cost gigabytes at thousands of streams; workers
    /// share a few shards instead and lock one once per finished request.
    hists: Vec<Mutex<LatencyHistograms>>,
    live: Arc<LiveCounters>,
    sink: RecordSink,
    slo: Option<Slo>,
    max_error_pct: Option<f64>,
    /// Measured requests finished OK and failed (this phase only).
    done_ok: AtomicU64,
    done_failed: AtomicU64,
    /// Set when `max_error_pct` ended the phase.
    error_stop: std::sync::atomic::AtomicBool,
    /// Open-loop runs: the schedule's lag by quarter.
    pub(crate) lag: Option<LagBook>,
}

/// Histogram shards per phase: enough that workers rarely wait on a lock.
const HIST_SHARDS: usize = 4;

fn shards() -> Vec<Mutex<LatencyHistograms>> {
    (0..HIST_SHARDS)
        .map(|_| Mutex::new(LatencyHistograms::default()))
        .collect()
}

/// What one worker accumulated besides the histograms.
#[derive(Default)]
pub(crate) struct WorkerTally {
    pub(crate) totals: Totals,
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
    driver: Arc<Driver>,
    plan: &RunPlan,
    sink: RecordSink,
    live: Arc<LiveCounters>,
    cancel: CancellationToken,
) -> RunOutcome {
    let lanes = Lanes::single(driver);
    run_with_hooks(&lanes, plan, sink, live, cancel, &mut NoHooks).await
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
    let workers = plan.concurrency.max(1);
    let mut first_id = 0;
    if plan.warmup_requests > 0 {
        let warm = Phase {
            prompts: plan.prompts.clone(),
            dataset: plan.dataset.clone(),
            t0,
            measured: false,
            next_id: AtomicU64::new(0),
            end_id: Some(plan.warmup_requests),
            stop: cancel.child_token(),
            drain_at_us: AtomicU64::new(u64::MAX),
            first_ok_us: AtomicU64::new(u64::MAX),
            last_first_token_us: AtomicU64::new(0),
            timeline: Mutex::new(Timeline::default()),
            target_output_tokens: plan.target_output_tokens,
            exclude_short: plan.exclude_short,
            cold_load_ms: plan.cold_load_ms,
            hists: Vec::new(),
            live: live.clone(),
            sink: sink.clone(),
            slo: None,
            max_error_pct: None,
            done_ok: AtomicU64::new(0),
            done_failed: AtomicU64::new(0),
            error_stop: std::sync::atomic::AtomicBool::new(false),
            lag: None,
        };
        let n = u64::from(workers).min(plan.warmup_requests) as u32;
        run_phase(Arc::new(warm), n, lanes).await;
        first_id = plan.warmup_requests;
    }
    if !cancel.is_cancelled() {
        hooks.before_measure().await;
    }
    let measured_start = t0.elapsed();
    let watch = crate::self_watch::SelfWatch::start(lanes);
    let schedule = match &plan.open_loop {
        Some(o) => match crate::arrival::Schedule::new(o, plan.bound, plan.seed) {
            Ok(s) => Some((s, o.max_concurrency)),
            Err(e) => {
                // RunConfig validation refuses these first; a library
                // caller gets a run with nothing sent and the reason logged.
                tracing::error!("open-loop schedule: {e}");
                None
            }
        },
        None => None,
    };
    let stop = cancel.child_token();
    let phase = Arc::new(Phase {
        prompts: plan.prompts.clone(),
        dataset: plan.dataset.clone(),
        t0,
        measured: true,
        next_id: AtomicU64::new(first_id),
        end_id: match plan.bound {
            Bound::Requests(n) => Some(first_id + n),
            Bound::Duration(_) => None,
        },
        stop: stop.clone(),
        drain_at_us: AtomicU64::new(u64::MAX),
        first_ok_us: AtomicU64::new(u64::MAX),
        last_first_token_us: AtomicU64::new(0),
        timeline: Mutex::new(Timeline::default()),
        target_output_tokens: plan.target_output_tokens,
        exclude_short: plan.exclude_short,
        cold_load_ms: plan.cold_load_ms,
        hists: shards(),
        live,
        sink,
        slo: plan.slo,
        max_error_pct: plan.max_error_pct,
        done_ok: AtomicU64::new(0),
        done_failed: AtomicU64::new(0),
        error_stop: std::sync::atomic::AtomicBool::new(false),
        lag: schedule
            .as_ref()
            .map(|(s, _)| LagBook::new(micros(measured_start), s.span())),
    });
    let deadline_task = match plan.bound {
        Bound::Duration(d) if !cancel.is_cancelled() => {
            let (stop, phase) = (stop.clone(), phase.clone());
            Some(tokio::spawn(async move {
                tokio::time::sleep(d).await;
                phase.mark_drain();
                stop.cancel();
            }))
        }
        _ => None,
    };
    let (tally, open_loop) = if cancel.is_cancelled() {
        (WorkerTally::default(), None)
    } else if let Some((schedule, cap)) = schedule {
        let (tally, sent) = crate::open_loop::dispatch(phase.clone(), schedule, cap, lanes).await;
        (tally, Some(sent))
    } else if plan.open_loop.is_some() {
        (WorkerTally::default(), None)
    } else {
        (run_phase(phase.clone(), workers, lanes).await, None)
    };
    if let Some(t) = deadline_task {
        t.abort();
    }
    let end = t0.elapsed();
    let client = watch.finish(tally.totals.output_tokens).await;
    hooks.after_measure().await;
    let wall_s = (end - measured_start).as_secs_f64();
    let start_us = steady_start_us(&phase);
    let end_us = phase.drain_at_us.load(Ordering::Relaxed).min(micros(end));
    let (steady, per_second) = {
        let t = lock(&phase.timeline);
        t.rate_in(start_us, end_us)
            .map(|w| (w, t.per_second_in(start_us, end_us)))
            .unzip()
    };
    let timeline = lock(&phase.timeline).series(t0_unix_us);
    let mut hists = LatencyHistograms::default();
    for shard in &phase.hists {
        hists += &lock(shard);
    }
    let mut summary = Summary::build(
        &hists,
        &tally.totals,
        micros(measured_start),
        wall_s,
        steady,
    );
    summary.steady_tokens_per_s = per_second.unwrap_or_default();
    summary.client = Some(client);
    summary.goodput = plan.slo.map(|slo| {
        let judged = tally.totals.requests.ok + tally.totals.requests.failed;
        Goodput::new(slo, tally.totals.slo_met, judged, wall_s)
    });
    if let (Some(o), Some(sent), Some(book)) = (&plan.open_loop, open_loop, &phase.lag) {
        summary.open_loop = Some(book.summary(o, sent, &hists, tally.totals.cap_waits));
    }
    let stopped_early = phase.error_stop.load(Ordering::Relaxed).then(|| {
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
        interrupted: cancel.is_cancelled(),
        timeline,
    }
}

async fn run_phase(phase: Arc<Phase>, workers: u32, lanes: &Lanes) -> WorkerTally {
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let lane = lanes.pick(u64::from(w));
            lane.spawn(worker(phase.clone(), w, lane.driver.clone()))
        })
        .collect();
    let mut all = WorkerTally::default();
    for h in handles {
        // A worker only ends by returning; a panic would be a bug, and the
        // other workers' results are still worth keeping.
        if let Ok(t) = h.await {
            all.totals.merge(&t.totals);
        }
    }
    all
}

/// Where the steady window starts: at the first completed request (the
/// pipeline is full); when none completed (every request longer than the
/// run), once every stream cut off by the end had its first token.
fn steady_start_us(phase: &Phase) -> u64 {
    match phase.first_ok_us.load(Ordering::Relaxed) {
        u64::MAX => match phase.last_first_token_us.load(Ordering::Relaxed) {
            0 => u64::MAX,
            t => t,
        },
        t => t,
    }
}

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Phase {
    fn now_us(&self) -> u64 {
        micros(self.t0.elapsed())
    }

    pub(crate) fn mark_drain(&self) {
        self.drain_at_us.fetch_min(self.now_us(), Ordering::Relaxed);
    }

    /// The next request id, or `None` when the phase has no more work.
    fn take(&self) -> Option<u64> {
        if self.stop.is_cancelled() {
            self.mark_drain();
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if self.end_id.is_some_and(|end| id >= end) {
            self.mark_drain();
            return None;
        }
        Some(id)
    }
}

async fn worker(phase: Arc<Phase>, wid: u32, driver: Arc<Driver>) -> WorkerTally {
    let mut tally = WorkerTally::default();
    let mut events: Vec<TokenEvent> = Vec::with_capacity(1024);
    while let Some(id) = phase.take() {
        let sent = Sent {
            id,
            worker: wid,
            start: Instant::now(),
            late: None,
        };
        let refused = phase.send_one(&driver, sent, &mut events, &mut tally).await;
        if refused {
            // A server that is down fails instantly; don't spin on it.
            tokio::select! {
                _ = phase.stop.cancelled() => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    }
    tally
}

/// A request about to be sent.
pub(crate) struct Sent {
    /// Request id.
    pub(crate) id: u64,
    /// The closed-loop worker sending it (0 in an open loop).
    pub(crate) worker: u32,
    /// What it is timed from: now in a closed loop, the planned send time
    /// in an open one.
    pub(crate) start: Instant,
    /// Open loop: how late it was sent.
    pub(crate) late: Option<Lateness>,
}

/// When an open-loop request was due, and what held it back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lateness {
    /// Actual − planned send time, µs.
    pub(crate) lag_us: u64,
    /// The part of it spent waiting under the concurrency cap, µs.
    pub(crate) cap_wait_us: Option<u64>,
}

impl Phase {
    /// Sends a request through `driver`, accounts for it, and streams its
    /// record. True when the server refused the connection.
    pub(crate) async fn send_one(
        &self,
        driver: &Driver,
        sent: Sent,
        events: &mut Vec<TokenEvent>,
        tally: &mut WorkerTally,
    ) -> bool {
        let Sent {
            id,
            worker: wid,
            start,
            late,
        } = sent;
        let request = self.request(id);
        events.clear();
        let start_offset_us = micros(start.saturating_duration_since(self.t0));
        let start_unix_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, micros)
            .saturating_sub(late.map_or(0, |l| l.lag_us));
        let result = tokio::select! {
            biased;
            _ = self.stop.cancelled() => None,
            r = driver.send(&request, start, events, &self.live.tokens) => Some(r),
        };
        let finished = Finished {
            id,
            worker: wid,
            start_unix_us,
            start_offset_us,
            stream_end_us: micros(start.elapsed()),
            late,
            target_output_tokens: request.max_tokens.unwrap_or(self.target_output_tokens),
        };
        let refused = matches!(&result, Some(Err(RequestError::Connect { .. })));
        let record = self.account(&finished, result, events, tally);
        if !self.sink.send(record).await {
            // requests.jsonl cannot be written: stop; the writer's error
            // ends the run (exit 2) once run.json says what was measured.
            self.mark_drain();
            self.stop.cancel();
        }
        refused
    }
}

/// Identity and timing of a request that just ended.
struct Finished {
    id: u64,
    worker: u32,
    start_unix_us: u64,
    start_offset_us: u64,
    stream_end_us: u64,
    late: Option<Lateness>,
    /// The output length this request asked for.
    target_output_tokens: u32,
}

impl Phase {
    /// What request `id` asks: a dataset entry, else a generated prompt.
    fn request(&self, id: u64) -> Request {
        match self.dataset.as_deref().filter(|d| !d.is_empty()) {
            Some(d) => d[usize::try_from(id % d.len() as u64).unwrap_or(0)].clone(),
            None => Request::text(self.prompts.prompt(id)),
        }
    }
}

impl Phase {
    /// Updates the tallies with one request and returns its record.
    fn account(
        &self,
        f: &Finished,
        result: Option<Result<CountOutcome, RequestError>>,
        events: &[TokenEvent],
        tally: &mut WorkerTally,
    ) -> RequestRecord {
        let counted: u64 = events.iter().map(|e| u64::from(e.tokens)).sum();
        let mut rec = RequestRecord {
            id: f.id,
            worker: f.worker,
            shard: None,
            warmup: !self.measured,
            status: RequestStatus::Cancelled,
            error: None,
            start_unix_us: f.start_unix_us,
            start_offset_us: f.start_offset_us,
            schedule_lag_us: f.late.map(|l| l.lag_us),
            cap_wait_us: f.late.and_then(|l| l.cap_wait_us),
            ttft_us: events.first().map(|e| e.at_us),
            e2e_us: events.last().map(|e| e.at_us),
            stream_end_us: f.stream_end_us,
            events: u32::try_from(events.len()).unwrap_or(u32::MAX),
            output_tokens: counted,
            count: TokenCount {
                source: stackbench_core::CountSource::Estimated,
                counted,
                server: None,
                reconciled: false,
            },
            prompt_tokens: None,
            cached_prompt_tokens: None,
            tpot_us: None,
            decode_tok_s: None,
            finish_reason: None,
            server_timings: None,
            short: false,
            cold_load: false,
            partial: false,
        };
        let t = &mut tally.totals;
        if let (true, Some(late)) = (self.measured, f.late) {
            t.cap_waits += u64::from(late.cap_wait_us.is_some());
            lock(&self.hists[f.id as usize % self.hists.len()])
                .schedule_lag_us
                .record(late.lag_us);
            if let Some(book) = &self.lag {
                book.record(f.start_offset_us, late);
            }
        }
        match result {
            None => {
                if self.measured {
                    t.requests.cancelled += 1;
                    t.output_tokens += counted;
                    self.add_to_timeline(f.start_offset_us, events);
                    rec.partial = self.account_partial(f, events, counted);
                    t.requests.partial += u64::from(rec.partial);
                }
            }
            Some(Err(e)) => {
                rec.status = RequestStatus::Failed;
                rec.error = Some(RequestErrorInfo {
                    kind: e.kind(),
                    message: e.to_string(),
                    status: e.status(),
                });
                if self.measured {
                    t.requests.failed += 1;
                    self.live.failed.fetch_add(1, Ordering::Relaxed);
                    add_error(&mut t.errors, &e);
                    *t.failures.entry(e.kind()).or_default() += 1;
                    self.done_failed.fetch_add(1, Ordering::Relaxed);
                    self.check_error_rate();
                }
            }
            Some(Ok(c)) => {
                rec.status = RequestStatus::Ok;
                rec.output_tokens = c.output_tokens;
                rec.count = TokenCount {
                    source: c.source,
                    counted: c.counted,
                    server: c.server,
                    reconciled: c.reconciled,
                };
                rec.prompt_tokens = c.prompt_tokens;
                rec.cached_prompt_tokens = c
                    .cached_tokens
                    .or(c.timings.as_ref().and_then(|t| t.cache_n));
                rec.finish_reason = c.finish_reason;
                rec.server_timings = c.timings;
                let short = c.output_tokens < u64::from(f.target_output_tokens);
                rec.short = short;
                let load_ms = rec.server_timings.as_ref().and_then(|t| t.load_ms);
                rec.cold_load = load_ms.is_some_and(|ms| ms > self.cold_load_ms);
                let m = RequestMetrics::from_events(events, c.output_tokens);
                if let Some(m) = &m {
                    rec.tpot_us = m.tpot_us;
                    rec.decode_tok_s = m.decode_tok_s;
                }
                if self.measured {
                    t.requests.short += u64::from(short);
                    t.requests.cold_loads += u64::from(rec.cold_load);
                    let shard = &self.hists[f.id as usize % self.hists.len()];
                    if let (Some(slo), Some(m)) = (&self.slo, &m) {
                        t.slo_met += u64::from(slo.met_by(m.ttft_us, m.tpot_us, m.e2e_us));
                    }
                    if let Some(m) = m.as_ref().filter(|_| !(short && self.exclude_short)) {
                        t.add_decode(m);
                        m.record_into(events, &mut lock(shard));
                    }
                    if let Some(p) = c.prompt_tokens {
                        let mut h = lock(shard);
                        h.prompt_tokens.record(p);
                        let processed = p.saturating_sub(rec.cached_prompt_tokens.unwrap_or(0));
                        if let Some(ttft) = m.as_ref().map(|m| m.ttft_us).filter(|t| *t > 0) {
                            let rate = processed as f64 * 1e6 / ttft as f64;
                            h.prefill_mtps.record((rate * 1000.0).round() as u64);
                        }
                    }
                    t.requests.ok += 1;
                    t.requests.unreconciled += u64::from(!c.reconciled);
                    t.requests.estimated_counts +=
                        u64::from(c.source == stackbench_core::CountSource::Estimated);
                    t.output_tokens += c.output_tokens;
                    t.prompt_tokens += c.prompt_tokens.unwrap_or(0);
                    self.add_to_timeline(f.start_offset_us, events);
                    self.first_ok_us.fetch_min(self.now_us(), Ordering::Relaxed);
                    self.live.ok.fetch_add(1, Ordering::Relaxed);
                    self.done_ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.live.warmup_done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        rec
    }

    /// A measured request cut off by the end of the run: what it saw (TTFT,
    /// gaps) goes into the latency figures, and the moment its first token
    /// came bounds the steady window's start when no request completed.
    /// Returns whether it had seen a token.
    fn account_partial(&self, f: &Finished, events: &[TokenEvent], counted: u64) -> bool {
        let Some(m) = RequestMetrics::from_events(events, counted) else {
            return false;
        };
        m.record_partial_into(
            events,
            &mut lock(&self.hists[f.id as usize % self.hists.len()]),
        );
        self.last_first_token_us
            .fetch_max(f.start_offset_us + m.ttft_us, Ordering::Relaxed);
        true
    }

    /// Ends the phase when too many measured requests failed.
    fn check_error_rate(&self) {
        let Some(limit) = self.max_error_pct else {
            return;
        };
        let failed = self.done_failed.load(Ordering::Relaxed);
        let done = failed + self.done_ok.load(Ordering::Relaxed);
        if done >= ERROR_STOP_MIN && failed as f64 * 100.0 > limit * done as f64 {
            self.error_stop.store(true, Ordering::Relaxed);
            self.mark_drain();
            self.stop.cancel();
        }
    }

    fn add_to_timeline(&self, start_offset_us: u64, events: &[TokenEvent]) {
        let mut t = lock(&self.timeline);
        for e in events {
            t.add(start_offset_us + e.at_us, e.tokens);
        }
    }
}

/// [`RunPlan::cold_load_ms`] when nothing better is known: a warm Ollama
/// reports tens of milliseconds of `load_duration` (its scheduler's
/// bookkeeping: up to 175 ms at c=8 on a busy 2-core box), a cold load of a
/// model of gigabytes takes seconds.
pub const DEFAULT_COLD_LOAD_MS: f64 = 1000.0;

/// At most this many distinct error reasons are kept; the rest are pooled.
const MAX_ERROR_KINDS: usize = 32;

fn add_error(errors: &mut BTreeMap<String, u64>, e: &RequestError) {
    let mut key: String = format!("{}: {e}", e.kind()).chars().take(160).collect();
    if !errors.contains_key(&key) && errors.len() >= MAX_ERROR_KINDS {
        key = format!("{}: (other reasons)", e.kind());
    }
    *errors.entry(key).or_default() += 1;
}
