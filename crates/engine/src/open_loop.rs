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
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::account::Sent;
use crate::arrival::Schedule;
use crate::lag_book::Lateness;
use crate::lanes::Lanes;
use crate::phase::{join_failure, Phase};
use crate::plan::micros;

/// Sends the measured requests of `phase` at the times `schedule` plans,
/// at most `cap` at once. Returns the number sent.
pub(crate) async fn dispatch(
    phase: Arc<Phase>,
    schedule: Schedule,
    cap: Option<u32>,
    lanes: &Lanes,
) -> u64 {
    let origin = phase.t0 + phase.lag.as_ref().map_or(Duration::ZERO, |b| b.origin());
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
        let Some((permit, cap_wait_us)) = place(slots.as_ref(), &phase.stop).await else {
            break;
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
                turn: None,
            };
            let request = p.request(id, None);
            p.send_one(&driver, sent, request, &mut Vec::new()).await;
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

/// A place under the concurrency cap (`slots`; none without one) and how
/// long it took, µs, when it had to wait; `None` once `stop` fires first.
pub(crate) async fn place(
    slots: Option<&Arc<Semaphore>>,
    stop: &CancellationToken,
) -> Option<(Option<OwnedSemaphorePermit>, Option<u64>)> {
    let Some(s) = slots else {
        return Some((None, None));
    };
    if let Ok(p) = s.clone().try_acquire_owned() {
        return Some((Some(p), None));
    }
    let from = Instant::now();
    tokio::select! {
        biased;
        () = stop.cancelled() => None,
        p = s.clone().acquire_owned() => p.ok().map(|p| (Some(p), Some(micros(from.elapsed())))),
    }
}

/// The requests in flight: their tasks, and which request each task sends.
#[derive(Default)]
pub(crate) struct Tasks {
    pub(crate) set: JoinSet<()>,
    pub(crate) requests: HashMap<tokio::task::Id, u64>,
}

impl Tasks {
    /// Forgets a task that ended; warns when it did not return.
    pub(crate) fn ended(&mut self, phase: &Phase, done: Result<(tokio::task::Id, ()), JoinError>) {
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
