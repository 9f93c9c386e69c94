//! The run plan: the load a run applies ([`RunPlan`]) and what ends its
//! measured phase ([`Bound`]), with the few rules derived from them (which
//! request ids a phase sends, how many warm-up workers, when the failure
//! share ends the run) kept here as plain functions, so they are tested
//! without a server.

use std::sync::Arc;
use std::time::Duration;

use stackbench_core::open_loop::Arrival;
use stackbench_core::slo::Slo;
use stackbench_wire::body::Request;

use crate::prompt::PromptGenerator;

/// The open-loop part of a plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenLoopPlan {
    /// Requests offered per second.
    pub rate: f64,
    /// How they are spread.
    pub arrival: Arrival,
    /// At most this many requests in flight; a request due while the cap
    /// is reached waits (its lag counts, and is reported as a cap wait).
    pub max_concurrency: Option<u32>,
}

/// `d` in whole µs, saturating.
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// What ends the measured phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// After this many measured requests have finished.
    Requests(u64),
    /// At this duration after the measured phase began; requests still in
    /// flight are cancelled and recorded as `cancelled`.
    Duration(Duration),
}

impl Bound {
    /// The id past the last measured request when the measured ids start at
    /// `first_id`; `None` when the bound is a duration (ids never run out).
    pub(crate) fn end_id(self, first_id: u64) -> Option<u64> {
        match self {
            Bound::Requests(n) => Some(first_id.saturating_add(n)),
            Bound::Duration(_) => None,
        }
    }

    /// How long the measured phase may last, when the bound is a duration.
    pub(crate) fn deadline(self) -> Option<Duration> {
        match self {
            Bound::Requests(_) => None,
            Bound::Duration(d) => Some(d),
        }
    }
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
    /// Requests sent (and not counted) before measuring; with
    /// `warmup_auto`, the most it may send.
    pub warmup_requests: u64,
    /// `--warmup auto`: warm up until consecutive requests' decode rates
    /// agree (or the rule's caps), instead of a fixed count.
    pub warmup_auto: Option<stackbench_core::hygiene::AutoWarmup>,
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
    /// Multi-turn conversations (closed loop only); `None`: every request
    /// stands alone.
    pub sessions: Option<crate::session::SessionPlan>,
    /// `--cache-salt`: the run's salt; request `id` is salted
    /// `<salt>-<id>`, its own prompt-cache namespace where the server has
    /// one.
    pub cache_salt: Option<Arc<str>>,
    /// At a depth (`prompts` has context words): each user's requests
    /// carry its own context, sent once first (the depth prefill) and
    /// then taken from the cache; `false`: each request's context is its
    /// own.
    pub depth_cached: bool,
    /// `--trace`: replay this trace as the measured phase (an open loop
    /// at the recorded times; `open_loop` then says `trace`).
    pub replay: Option<Arc<crate::replay::ReplayPlan>>,
    /// Test-only: the request id whose sending panics (a worker's bug).
    #[cfg(test)]
    pub(crate) panic_at: Option<u64>,
}

impl RunPlan {
    /// Closed-loop workers: at least one.
    pub(crate) fn workers(&self) -> u32 {
        self.concurrency.max(1)
    }

    /// Whether the run sends a depth prefill: a cached depth, closed loop.
    pub(crate) fn has_depth_prefill(&self) -> bool {
        self.depth_cached && self.prompts.depth_words() > 0 && self.open_loop.is_none()
    }

    /// The first measured request id: after the `warmup_sent` warm-up
    /// ids, and the depth prefill's (one per user).
    pub(crate) fn first_measured_id(&self, warmup_sent: u64) -> u64 {
        let prefill = if self.has_depth_prefill() {
            u64::from(self.workers())
        } else {
            0
        };
        warmup_sent + prefill
    }

    /// Warm-up workers: no more than there are warm-up requests.
    pub(crate) fn warmup_workers(&self) -> u32 {
        let n = u64::from(self.workers()).min(self.warmup_requests);
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

/// Finished measured requests before `max_error_pct` is judged: a few
/// early failures are not yet a broken server.
pub const ERROR_STOP_MIN: u64 = 20;

/// [`RunPlan::cold_load_ms`] when nothing better is known: a warm Ollama
/// reports tens of milliseconds of `load_duration` (its scheduler's
/// bookkeeping: up to 175 ms at c=8 on a busy 2-core box), a cold load of a
/// model of gigabytes takes seconds.
pub const DEFAULT_COLD_LOAD_MS: f64 = 1000.0;

/// Whether `failed` of `failed + ok` finished measured requests is more
/// than `limit_pct` %, judged only from [`ERROR_STOP_MIN`] finished on.
pub(crate) fn too_many_failures(limit_pct: f64, failed: u64, ok: u64) -> bool {
    let done = failed + ok;
    done >= ERROR_STOP_MIN && failed as f64 * 100.0 > limit_pct * done as f64
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use stackbench_core::Seed;

    /// A closed-loop plan of `concurrency` workers bounded by `bound`.
    pub(crate) fn plan(concurrency: u32, bound: Bound, warmup: u64) -> RunPlan {
        RunPlan {
            concurrency,
            open_loop: None,
            slo: None,
            bound,
            warmup_requests: warmup,
            warmup_auto: None,
            prompts: PromptGenerator::approximate(Seed::new(7).unwrap(), 8),
            dataset: None,
            target_output_tokens: 4,
            exclude_short: false,
            cold_load_ms: DEFAULT_COLD_LOAD_MS,
            seed: 1,
            max_error_pct: None,
            sessions: None,
            cache_salt: None,
            depth_cached: false,
            replay: None,
            panic_at: None,
        }
    }

    #[test]
    fn a_count_bound_ends_the_ids_after_the_warm_up_ones() {
        assert_eq!(Bound::Requests(10).end_id(0), Some(10));
        assert_eq!(Bound::Requests(10).end_id(3), Some(13));
        assert_eq!(Bound::Requests(0).end_id(5), Some(5));
        assert_eq!(Bound::Requests(1).end_id(u64::MAX), Some(u64::MAX));
        assert_eq!(Bound::Requests(10).deadline(), None);
    }

    #[test]
    fn a_duration_bound_has_a_deadline_and_no_last_id() {
        let d = Duration::from_secs(3);
        assert_eq!(Bound::Duration(d).end_id(7), None);
        assert_eq!(Bound::Duration(d).deadline(), Some(d));
    }

    #[test]
    fn warm_up_uses_no_more_workers_than_requests_and_at_least_one_worker() {
        assert_eq!(plan(8, Bound::Requests(1), 3).warmup_workers(), 3);
        assert_eq!(plan(2, Bound::Requests(1), 30).warmup_workers(), 2);
        assert_eq!(plan(0, Bound::Requests(1), 30).workers(), 1);
        assert_eq!(plan(0, Bound::Requests(1), 30).warmup_workers(), 1);
        assert_eq!(plan(4, Bound::Requests(1), 0).warmup_workers(), 0);
    }

    #[test]
    fn the_failure_share_is_judged_only_after_enough_requests() {
        // 19 of 19 failed: too few to judge.
        assert!(!too_many_failures(50.0, ERROR_STOP_MIN - 1, 0));
        // 11 of 20 failed is 55 % > 50 %; 10 of 20 is not more than 50 %.
        assert!(too_many_failures(50.0, 11, 9));
        assert!(!too_many_failures(50.0, 10, 10));
        // A limit of 0 %: any failure, once 20 are done.
        assert!(too_many_failures(0.0, 1, 19));
        assert!(!too_many_failures(0.0, 0, 100));
    }
}
