//! Open-loop dispatch: requests sent at their planned times (from
//! [`crate::arrival::Schedule`]) whatever the server does, each in its own
//! task, optionally capped at `max_concurrency` in flight.
//!
//! Each request is timed from its planned send time, so TTFT and E2E
//! include any time the client was late (the coordinated-omission
//! correction); the lateness itself is recorded per request and, by
//! quarter of the schedule, in a [`LagBook`] that tells a schedule that
//! slipped (the lag grew) from timer jitter, and whether the cap or the
//! client was the cause.
//!
//! A request's task that panics (a bug) is reported as a run warning
//! naming the request, which is then missing from `requests.jsonl` and the
//! summary; every other request is counted as usual.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stackbench_core::histogram::Hist;
use stackbench_core::open_loop::{lag_grew, LagCause, OpenLoopSummary};
use stackbench_core::summary::Dist;
use stackbench_core::sync::lock;
use stackbench_core::LatencyHistograms;
use tokio::sync::Semaphore;
use tokio::task::{JoinError, JoinSet};

use crate::account::{Lateness, Sent};
use crate::arrival::{OpenLoopPlan, Schedule};
use crate::lanes::Lanes;
use crate::phase::{join_failure, micros, Phase};

/// Schedule lag by quarter of the planned span.
pub(crate) struct LagBook {
    /// Start of the measured phase, µs since the run began.
    origin_us: u64,
    quarter_us: u64,
    quarters: [Mutex<Hist>; 4],
    sent: [AtomicU64; 4],
    cap_waits: [AtomicU64; 4],
    /// Latest actual send time, µs after `origin_us`.
    last_send_us: AtomicU64,
    span_us: u64,
}

impl LagBook {
    /// A book for a schedule spanning `span` from `origin_us`.
    pub(crate) fn new(origin_us: u64, span: Duration) -> Self {
        let span_us = micros(span).max(4);
        Self {
            origin_us,
            quarter_us: span_us / 4,
            quarters: std::array::from_fn(|_| Mutex::new(Hist::latency())),
            sent: Default::default(),
            cap_waits: Default::default(),
            last_send_us: AtomicU64::new(0),
            span_us,
        }
    }

    /// Records a measured request planned at `planned_us` (µs since the run
    /// began) and sent `late`.
    pub(crate) fn record(&self, planned_us: u64, late: Lateness) {
        let rel = planned_us.saturating_sub(self.origin_us);
        let q = usize::try_from(rel / self.quarter_us).map_or(3, |q| q.min(3));
        lock(&self.quarters[q]).record(late.lag_us);
        self.sent[q].fetch_add(1, Ordering::Relaxed);
        self.cap_waits[q].fetch_add(u64::from(late.cap_wait_us.is_some()), Ordering::Relaxed);
        self.last_send_us
            .fetch_max(rel + late.lag_us, Ordering::Relaxed);
    }

    fn median_ms(&self, q: usize) -> f64 {
        lock(&self.quarters[q])
            .quantile(0.5)
            .map_or(0.0, |us| us as f64 / 1000.0)
    }

    /// The run's open-loop summary: `sent` requests dispatched.
    pub(crate) fn summary(
        &self,
        plan: &OpenLoopPlan,
        sent: u64,
        hists: &LatencyHistograms,
        cap_waits: u64,
    ) -> OpenLoopSummary {
        let first = self.median_ms(0);
        let last = self.median_ms(3);
        let span_s = self.span_us.max(self.last_send_us.load(Ordering::Relaxed)) as f64 / 1e6;
        let late_sent = self.sent[3].load(Ordering::Relaxed);
        let late_capped = self.cap_waits[3].load(Ordering::Relaxed);
        OpenLoopSummary {
            offered_rate_per_s: plan.rate,
            arrival: plan.arrival,
            max_concurrency: plan.max_concurrency,
            sent,
            achieved_rate_per_s: sent as f64 / span_s,
            schedule_lag_ms: Dist::from_hist(&hists.schedule_lag_us, 1000.0),
            cap_waits,
            lag_first_quarter_p50_ms: first,
            lag_last_quarter_p50_ms: last,
            limited_by: lag_grew(first, last).then_some(if 2 * late_capped > late_sent {
                LagCause::Cap
            } else {
                LagCause::Client
            }),
        }
    }
}

/// Sends the measured requests of `phase` at the times `schedule` plans,
/// at most `cap` at once. Returns the number sent.
pub(crate) async fn dispatch(
    phase: Arc<Phase>,
    schedule: Schedule,
    cap: Option<u32>,
    lanes: &Lanes,
) -> u64 {
    let origin = phase.t0
        + phase
            .lag
            .as_ref()
            .map_or(Duration::ZERO, |b| Duration::from_micros(b.origin_us));
    let slots = cap.map(|c| Arc::new(Semaphore::new(c as usize)));
    let mut tasks = Tasks::default();
    let mut sent = 0u64;
    for offset in schedule {
        let planned = origin + offset;
        tokio::select! {
            biased;
            () = phase.stop.cancelled() => break,
            () = tokio::time::sleep_until(planned.into()) => {}
        }
        let (permit, cap_wait_us) = match &slots {
            None => (None, None),
            Some(s) => match s.clone().try_acquire_owned() {
                Ok(p) => (Some(p), None),
                Err(_) => {
                    let from = Instant::now();
                    let permit = tokio::select! {
                        biased;
                        () = phase.stop.cancelled() => break,
                        p = s.clone().acquire_owned() => p,
                    };
                    match permit {
                        Ok(p) => (Some(p), Some(micros(from.elapsed()))),
                        Err(_) => break,
                    }
                }
            },
        };
        let id = phase.next_id.fetch_add(1, Ordering::Relaxed);
        sent += 1;
        let p = phase.clone();
        let lane = lanes.pick(id);
        let (driver, lane_index) = (lane.driver.clone(), lane.index);
        let task = lane.spawn_into(&mut tasks.set, async move {
            let _permit = permit;
            let late = Lateness {
                lag_us: micros(Instant::now().saturating_duration_since(planned)),
                cap_wait_us,
            };
            let sent = Sent {
                id,
                worker: 0,
                lane: lane_index,
                start: planned,
                late: Some(late),
            };
            p.send_one(&driver, sent, &mut Vec::new()).await;
        });
        tasks.requests.insert(task.id(), id);
        while let Some(done) = tasks.set.try_join_next_with_id() {
            tasks.ended(&phase, done);
        }
    }
    phase.mark_drain();
    while let Some(done) = tasks.set.join_next_with_id().await {
        tasks.ended(&phase, done);
    }
    sent
}

/// The requests in flight: their tasks, and which request each task sends.
#[derive(Default)]
struct Tasks {
    set: JoinSet<()>,
    requests: HashMap<tokio::task::Id, u64>,
}

impl Tasks {
    /// Forgets a task that ended; warns when it did not return.
    fn ended(&mut self, phase: &Phase, done: Result<(tokio::task::Id, ()), JoinError>) {
        match done {
            Ok((task, ())) => {
                self.requests.remove(&task);
            }
            Err(e) => {
                let id = self.requests.remove(&e.id());
                phase.warn(lost_request(id, &join_failure(e)));
            }
        }
    }
}

/// The warning for the task of open-loop request `id` that ended with `how`.
fn lost_request(id: Option<u64>, how: &str) -> String {
    let id = id.map_or_else(|| "?".to_string(), |id| id.to_string());
    format!(
        "open-loop request {id} {how} (it is missing from requests.jsonl and the summary; the other requests are counted)"
    )
}
