//! The state one phase (warm-up or measured) shares between its workers:
//! the range of request ids still to send, the stop token, the histogram
//! and tally shards, the token timeline and the moments that bound the
//! steady window. Built by one constructor, [`Phase::new`]; how a finished
//! request changes it is in [`crate::account`].
//!
//! Tallies live in the shards, beside the histograms, rather than in each
//! worker: the reader sums the shards at the end, so a worker that panics
//! takes none of the requests it finished with it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stackbench_core::slo::Slo;
use stackbench_core::summary::Totals;
use stackbench_core::sync::lock;
use stackbench_core::{LatencyHistograms, Timeline};
use stackbench_wire::body::{Prompt, Request};
use tokio_util::sync::CancellationToken;

use crate::lag_book::LagBook;
use crate::live::LiveCounters;
use crate::plan::{micros, too_many_failures, RunPlan};
use crate::prompt::{ContextKey, PromptGenerator};
use crate::session::{Conversation, SessionBook};
use crate::sink::RecordSink;

/// Histogram shards per phase: enough that workers rarely wait on a lock.
const HIST_SHARDS: usize = 4;

/// One shard of a measured phase's results. A full set of HDR histograms
/// takes about 2 MB, so one per worker would cost gigabytes at thousands of
/// streams; workers share a few shards and lock one once per request.
#[derive(Default)]
pub(crate) struct Shard {
    pub(crate) hists: LatencyHistograms,
    pub(crate) totals: Totals,
}

/// One depth-prefill request that ended: what `summary.depth_prefill`
/// is built from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DepthSample {
    /// Whether it ended OK.
    pub(crate) ok: bool,
    /// Time to its first token, µs.
    pub(crate) ttft_us: Option<u64>,
    /// Its prompt as the server counted it.
    pub(crate) prompt_tokens: Option<u64>,
    /// The part the server took from its cache, where it says.
    pub(crate) cached_tokens: Option<u64>,
}

/// Which phase, and what only the measured one has.
// Built twice per run and moved once: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Kind {
    /// Requests `0..warmup_requests`, sent and recorded but not counted.
    Warmup,
    /// A run at a cached depth: each user sends its context once (one
    /// output token), recorded and summed apart (`ctx_pp`), before the
    /// measured requests that take it from the cache.
    DepthPrefill {
        /// The first id (after the warm-up ones); one id per user.
        first_id: u64,
    },
    /// Requests from `first_id` to the plan's bound, counted.
    Measured {
        /// The first measured request id (after the warm-up ones).
        first_id: u64,
        /// Open-loop runs: the schedule's lag by quarter.
        lag: Option<LagBook>,
    },
}

/// What every phase of a run shares.
pub(crate) struct Shared {
    /// When the run began: every offset is from here.
    pub(crate) t0: Instant,
    /// Ends the phase (a child of the run's cancel token).
    pub(crate) stop: CancellationToken,
    pub(crate) live: Arc<LiveCounters>,
    pub(crate) sink: RecordSink,
}

/// One phase's shared state.
pub(crate) struct Phase {
    prompts: PromptGenerator,
    dataset: Option<Arc<Vec<Request>>>,
    /// A replayed trace (measured phase only): request `first_id + k`
    /// sends entry k.
    replay: Option<Arc<crate::replay::ReplayPlan>>,
    /// Multi-turn conversations, when the run has them.
    pub(crate) sessions: Option<crate::session::SessionPlan>,
    /// The conversations' numbers and turns.
    session_book: Mutex<SessionBook>,
    cache_salt: Option<Arc<str>>,
    pub(crate) t0: Instant,
    pub(crate) measured: bool,
    /// The depth-prefill phase: one context-only request per worker.
    pub(crate) depth_prefill: bool,
    /// Measured requests carry their user's context (a cached depth);
    /// otherwise each request's context is its own.
    depth_per_user: bool,
    /// The depth-prefill requests that ended, as the summary needs them.
    pub(crate) depth_samples: Mutex<Vec<DepthSample>>,
    /// Warm-up: `--warmup auto`'s rule, when the run has it.
    warm_auto: Option<stackbench_core::hygiene::AutoWarmup>,
    /// Warm-up: completed requests' decode rates, in the order they ended.
    pub(crate) warm_rates: Mutex<Vec<f64>>,
    /// Warm-up: set once the engine is steady (or a cap is reached): no
    /// more ids are handed out; requests in flight finish.
    pub(crate) warm_done: AtomicBool,
    pub(crate) next_id: AtomicU64,
    first_id: u64,
    end_id: Option<u64>,
    pub(crate) stop: CancellationToken,
    /// When the first worker found no more work, µs since t0.
    drain_at_us: AtomicU64,
    /// When the first request finished OK, µs since t0.
    pub(crate) first_ok_us: AtomicU64,
    /// The latest first token among requests cut off by the end, µs since
    /// t0: when no request completed, every stream was decoding from then.
    pub(crate) last_first_token_us: AtomicU64,
    pub(crate) timeline: Mutex<Timeline>,
    pub(crate) target_output_tokens: u32,
    pub(crate) exclude_short: bool,
    pub(crate) cold_load_ms: f64,
    /// Result shards (none in warm-up, which counts nothing).
    shards: Vec<Mutex<Shard>>,
    pub(crate) live: Arc<LiveCounters>,
    pub(crate) sink: RecordSink,
    pub(crate) slo: Option<Slo>,
    max_error_pct: Option<f64>,
    /// Measured requests finished OK and failed (this phase only).
    pub(crate) done_ok: AtomicU64,
    pub(crate) done_failed: AtomicU64,
    /// Set when `max_error_pct` ended the phase.
    error_stop: AtomicBool,
    /// Open-loop runs: the schedule's lag by quarter.
    pub(crate) lag: Option<LagBook>,
    /// What went wrong in the phase's own machinery (a worker that
    /// panicked), for the run's warnings.
    warnings: Mutex<Vec<String>>,
    /// Test-only: the request id whose sending panics.
    #[cfg(test)]
    pub(crate) panic_at: Option<u64>,
}

impl Phase {
    /// The phase `kind` of `plan`.
    pub(crate) fn new(plan: &RunPlan, kind: Kind, shared: Shared) -> Self {
        let depth_prefill = matches!(kind, Kind::DepthPrefill { .. });
        let warmup = matches!(kind, Kind::Warmup);
        let (measured, first_id, end_id, lag) = match kind {
            Kind::Warmup => (false, 0, Some(plan.warmup_requests), None),
            Kind::DepthPrefill { first_id } => {
                let end = first_id + u64::from(plan.workers());
                (false, first_id, Some(end), None)
            }
            Kind::Measured { first_id, lag } => (true, first_id, plan.bound.end_id(first_id), lag),
        };
        let shards = if measured { HIST_SHARDS } else { 0 };
        Self {
            prompts: plan.prompts.clone(),
            dataset: plan.dataset.clone(),
            replay: plan.replay.clone().filter(|_| measured),
            sessions: plan.sessions,
            // Warm-up and measured conversations never share a number.
            session_book: Mutex::new(SessionBook::new(
                first_id,
                end_id.map(|end| end.saturating_sub(first_id)),
            )),
            cache_salt: plan.cache_salt.clone(),
            t0: shared.t0,
            measured,
            depth_prefill,
            depth_per_user: plan.depth_cached && measured,
            depth_samples: Mutex::new(Vec::new()),
            warm_auto: plan.warmup_auto.filter(|_| warmup),
            warm_rates: Mutex::new(Vec::new()),
            warm_done: AtomicBool::new(false),
            next_id: AtomicU64::new(first_id),
            first_id,
            end_id,
            stop: shared.stop,
            drain_at_us: AtomicU64::new(u64::MAX),
            first_ok_us: AtomicU64::new(u64::MAX),
            last_first_token_us: AtomicU64::new(0),
            timeline: Mutex::new(Timeline::default()),
            target_output_tokens: plan.target_output_tokens,
            exclude_short: plan.exclude_short,
            cold_load_ms: plan.cold_load_ms,
            shards: (0..shards).map(|_| Mutex::default()).collect(),
            live: shared.live,
            sink: shared.sink,
            slo: plan.slo.filter(|_| measured),
            max_error_pct: plan.max_error_pct.filter(|_| measured),
            done_ok: AtomicU64::new(0),
            done_failed: AtomicU64::new(0),
            error_stop: AtomicBool::new(false),
            lag,
            warnings: Mutex::new(Vec::new()),
            #[cfg(test)]
            panic_at: plan.panic_at,
        }
    }

    pub(crate) fn now_us(&self) -> u64 {
        micros(self.t0.elapsed())
    }

    /// Notes that the phase has no more work from now (the first call wins).
    pub(crate) fn mark_drain(&self) {
        self.drain_at_us.fetch_min(self.now_us(), Ordering::Relaxed);
    }

    /// The next request id, or `None` when the phase has no more work.
    pub(crate) fn take(&self) -> Option<u64> {
        if self.stop.is_cancelled() || self.warm_done.load(Ordering::Relaxed) {
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

    /// What request `id`, sent by `worker` (`None`: an open loop's), asks:
    /// a dataset entry, else a generated prompt (at a depth, with the
    /// context of its user or its own; in the depth prefill, the user's
    /// context alone, for one token); salted when the run salts.
    pub(crate) fn request(&self, id: u64, worker: Option<u32>) -> Request {
        let user = worker.filter(|_| self.depth_per_user || self.depth_prefill);
        let key = user.map_or(ContextKey::Request(id), ContextKey::User);
        let r = if self.depth_prefill {
            Request::new(Prompt::Text(self.prompts.context_only(key)), Some(1))
        } else {
            match self.replayed(id).or_else(|| self.entry(id)) {
                Some(r) => r,
                None => Request::text(self.prompts.prompt_at(id, key)),
            }
        };
        self.salted(r, id)
    }

    /// The trace entry request `id` replays; `None` outside a replay.
    fn replayed(&self, id: u64) -> Option<Request> {
        let plan = self.replay.as_ref()?;
        plan.request(usize::try_from(id.checked_sub(self.first_id)?).ok()?)
    }

    /// Dataset entry `key` (modulo the selection); `None` without a dataset.
    fn entry(&self, key: u64) -> Option<Request> {
        let d = self.dataset.as_deref().filter(|d| !d.is_empty())?;
        Some(d[usize::try_from(key % d.len() as u64).unwrap_or(0)].clone())
    }

    /// `r` with request `id`'s cache salt, when the run salts.
    fn salted(&self, mut r: Request, id: u64) -> Request {
        r.salt = self
            .cache_salt
            .as_ref()
            .map(|s| Arc::from(format!("{s}-{id}")));
        r
    }

    /// A new conversation of at most `turns` turns, or `None` when the
    /// phase has no turns left for one (or is stopped). With a dataset,
    /// conversation k (numbered in the run, warm-up first) is entry k.
    pub(crate) fn new_conversation(&self, turns: u32) -> Option<Conversation> {
        let c = if self.stop.is_cancelled() {
            None
        } else {
            lock(&self.session_book).open(turns, |k| self.entry(k))
        };
        if c.is_none() {
            self.mark_drain();
        }
        c
    }

    /// Ends conversation `c`: the turns it left unsent (a turn failed) go
    /// to the next one.
    pub(crate) fn end_conversation(&self, c: &Conversation) {
        lock(&self.session_book).give_back(c);
    }

    /// The prompt tokens a request of `prompt` tokens processed, for its
    /// prefill rate: at a cached depth, the new prompt after its user's
    /// context (llama-bench's `pp512 @ d4096`: 512 tokens over their
    /// time, the same on every server, whether or not it reports what it
    /// took from its cache); otherwise what the server did not take from
    /// its cache (`cached`, where it says).
    pub(crate) fn processed_prompt(&self, prompt: u64, cached: Option<u64>) -> u64 {
        if self.depth_per_user {
            prompt.saturating_sub(u64::from(self.prompts.depth_words()))
        } else {
            prompt.saturating_sub(cached.unwrap_or(0))
        }
    }

    /// Warm-up: notes a completed request's decode rate and, under
    /// `--warmup auto`, ends the warm-up once the rule says the engine is
    /// steady.
    pub(crate) fn note_warm_rate(&self, rate: f64) {
        if self.measured || self.depth_prefill {
            return;
        }
        let mut rates = lock(&self.warm_rates);
        rates.push(rate);
        if self.warm_auto.is_some_and(|rule| rule.steady(&rates)) {
            self.warm_done.store(true, Ordering::Relaxed);
        }
    }

    /// The phase's first request id.
    pub(crate) fn first_id(&self) -> u64 {
        self.first_id
    }

    /// The last id the phase may hand out, plus one (`None`: no end).
    pub(crate) fn end_id(&self) -> Option<u64> {
        self.end_id
    }

    /// The shard request `id` is accounted in; `None` in warm-up.
    pub(crate) fn shard(&self, id: u64) -> Option<&Mutex<Shard>> {
        let n = self.shards.len() as u64;
        (n > 0).then(|| &self.shards[usize::try_from(id % n).unwrap_or(0)])
    }

    /// The phase's results: every shard summed.
    pub(crate) fn collect(&self) -> Shard {
        let mut all = Shard::default();
        for shard in &self.shards {
            let s = lock(shard);
            all.hists += &s.hists;
            all.totals.merge(&s.totals);
        }
        all
    }

    /// Ends the phase when too many measured requests failed.
    pub(crate) fn check_error_rate(&self) {
        let Some(limit) = self.max_error_pct else {
            return;
        };
        let failed = self.done_failed.load(Ordering::Relaxed);
        let ok = self.done_ok.load(Ordering::Relaxed);
        if too_many_failures(limit, failed, ok) {
            self.error_stop.store(true, Ordering::Relaxed);
            self.mark_drain();
            self.stop.cancel();
        }
    }

    /// Whether `max_error_pct` ended the phase.
    pub(crate) fn stopped_for_errors(&self) -> bool {
        self.error_stop.load(Ordering::Relaxed)
    }

    /// The steady window, µs since t0, of a phase that ended at `end`: from
    /// [`steady_start_us`] to the moment the phase ran out of work (or
    /// `end`).
    pub(crate) fn steady_window(&self, end: Duration) -> (u64, u64) {
        let start = steady_start_us(
            self.first_ok_us.load(Ordering::Relaxed),
            self.last_first_token_us.load(Ordering::Relaxed),
        );
        let end = self.drain_at_us.load(Ordering::Relaxed).min(micros(end));
        (start, end)
    }

    /// Adds a warning to the run's (shown by the caller with the run's
    /// other warnings, so only logged here at debug level).
    pub(crate) fn warn(&self, warning: String) {
        tracing::debug!("{warning}");
        lock(&self.warnings).push(warning);
    }

    /// The warnings so far, taken.
    pub(crate) fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut lock(&self.warnings))
    }
}

/// Where the steady window starts: at the first completed request (the
/// pipeline is full); when none completed (every request longer than the
/// run), once every stream cut off by the end had its first token
/// (`u64::MAX` for either: none).
pub(crate) fn steady_start_us(first_ok_us: u64, last_first_token_us: u64) -> u64 {
    match (first_ok_us, last_first_token_us) {
        (u64::MAX, 0) => u64::MAX,
        (u64::MAX, t) => t,
        (t, _) => t,
    }
}

/// What a worker's task that did not return says about how it ended: its
/// panic message, or that it was cancelled.
pub(crate) fn join_failure(err: tokio::task::JoinError) -> String {
    match err.try_into_panic() {
        Ok(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("(a panic without a message)");
            format!("panicked: {message}")
        }
        Err(e) => format!("did not finish: {e}"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::plan::tests::plan;
    use crate::plan::Bound;

    /// A phase of `plan` whose records go to the returned receiver.
    pub(crate) fn phase_of(
        plan: &RunPlan,
        kind: Kind,
    ) -> (
        Phase,
        tokio::sync::mpsc::Receiver<stackbench_core::RequestRecord>,
    ) {
        let (sink, rx) = RecordSink::in_memory(1024);
        let shared = Shared {
            t0: Instant::now(),
            stop: CancellationToken::new(),
            live: Arc::new(LiveCounters::default()),
            sink,
        };
        (Phase::new(plan, kind, shared), rx)
    }

    fn measured(first_id: u64) -> Kind {
        Kind::Measured {
            first_id,
            lag: None,
        }
    }

    fn ids(phase: &Phase) -> Vec<u64> {
        std::iter::from_fn(|| phase.take()).collect()
    }

    #[test]
    fn warm_up_sends_its_own_ids_and_counts_nothing() {
        let (p, _rx) = phase_of(&plan(2, Bound::Requests(5), 3), Kind::Warmup);
        assert_eq!(ids(&p), [0, 1, 2]);
        assert!(!p.measured);
        assert!(p.shard(0).is_none());
    }

    #[test]
    fn the_measured_phase_starts_after_warm_up_and_stops_at_its_count() {
        let (p, _rx) = phase_of(&plan(2, Bound::Requests(4), 3), measured(3));
        assert_eq!(ids(&p), [3, 4, 5, 6]);
        // Once drained it stays drained, and the drain time is set.
        assert_eq!(p.take(), None);
        assert!(p.drain_at_us.load(Ordering::Relaxed) < u64::MAX);
        assert!(p.shard(5).is_some());
    }

    #[test]
    fn a_duration_bound_gives_ids_until_stopped() {
        let bound = Bound::Duration(Duration::from_secs(1));
        let (p, _rx) = phase_of(&plan(2, bound, 0), measured(0));
        for want in 0..1000 {
            assert_eq!(p.take(), Some(want));
        }
        assert_eq!(p.drain_at_us.load(Ordering::Relaxed), u64::MAX);
        p.stop.cancel();
        assert_eq!(p.take(), None);
        assert!(p.drain_at_us.load(Ordering::Relaxed) < u64::MAX);
    }

    #[test]
    fn warm_up_ignores_the_slo_and_the_failure_limit() {
        let mut pl = plan(1, Bound::Requests(30), 30);
        pl.max_error_pct = Some(0.0);
        pl.slo = Some(Slo::default());
        let (warm, _rx) = phase_of(&pl, Kind::Warmup);
        assert!(warm.slo.is_none());
        warm.done_failed.store(30, Ordering::Relaxed);
        warm.check_error_rate();
        assert!(!warm.stop.is_cancelled());
        let (p, _rx) = phase_of(&pl, measured(30));
        assert!(p.slo.is_some());
        p.done_failed.store(30, Ordering::Relaxed);
        p.check_error_rate();
        assert!(p.stop.is_cancelled() && p.stopped_for_errors());
    }

    #[test]
    fn the_steady_window_starts_at_the_first_completion_else_the_last_first_token() {
        assert_eq!(steady_start_us(500, 900), 500);
        assert_eq!(steady_start_us(u64::MAX, 900), 900);
        assert_eq!(steady_start_us(u64::MAX, 0), u64::MAX);
        let (p, _rx) = phase_of(&plan(1, Bound::Requests(1), 0), measured(0));
        p.first_ok_us.store(2_000, Ordering::Relaxed);
        // Not drained: the window ends at the end given.
        assert_eq!(p.steady_window(Duration::from_millis(9)), (2_000, 9_000));
        // Drained earlier than the end: the window ends at the drain.
        p.drain_at_us.store(7_000, Ordering::Relaxed);
        assert_eq!(p.steady_window(Duration::from_millis(9)), (2_000, 7_000));
    }

    #[test]
    fn collect_sums_every_shard() {
        let (p, _rx) = phase_of(&plan(1, Bound::Requests(8), 0), measured(0));
        for id in 0..8 {
            let mut s = lock(p.shard(id).unwrap());
            s.totals.requests.ok += 1;
            s.totals.output_tokens += id;
            s.hists.ttft_us.record(100 + id);
        }
        let all = p.collect();
        assert_eq!(all.totals.requests.ok, 8);
        assert_eq!(all.totals.output_tokens, 28);
        assert_eq!(all.hists.ttft_us.len(), 8);
    }
}
