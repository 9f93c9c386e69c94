//! The closed loop: N workers, each sending its next request as soon as its
//! previous one ended, until the phase runs out of request ids or is
//! stopped. Warm-up runs the same loop over its own ids.
//!
//! A worker only ends by returning. One that panics (a bug) is reported as
//! a run warning naming the request it was sending: that request is missing
//! from `requests.jsonl` and the summary; the requests it finished are
//! counted (their tallies live in the phase's shards), and the other
//! workers go on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stackbench_backends::StreamDriver;
use stackbench_core::TokenEvent;

use crate::account::Sent;
use crate::lanes::Lanes;
use crate::phase::{join_failure, Phase};
use crate::session::Conversation;

/// A worker's in-flight slot when it is between requests.
const IDLE: u64 = u64::MAX;

/// Runs `workers` workers on `lanes` until `phase` has no more work.
pub(crate) async fn run(phase: Arc<Phase>, workers: u32, lanes: &Lanes) {
    let in_flight: Arc<[AtomicU64]> = (0..workers).map(|_| AtomicU64::new(IDLE)).collect();
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let lane = lanes.pick(u64::from(w));
            let slots = in_flight.clone();
            lane.spawn(worker(
                phase.clone(),
                w,
                lane.index,
                lane.driver.clone(),
                slots,
            ))
        })
        .collect();
    for (w, h) in handles.into_iter().enumerate() {
        if let Err(e) = h.await {
            let id = in_flight[w].load(Ordering::Relaxed);
            phase.warn(lost_worker(phase.measured, w, &join_failure(e), id));
        }
    }
}

/// The warning for worker `w` that ended with `how` while sending request
/// `id` ([`IDLE`]: between requests).
fn lost_worker(measured: bool, w: usize, how: &str, id: u64) -> String {
    let who = if measured { "worker" } else { "warm-up worker" };
    let request = match id {
        IDLE => String::new(),
        id => format!(
            "request {id}, which it was sending, is missing from requests.jsonl and the summary; "
        ),
    };
    format!("{who} {w} {how} ({request}the requests it finished are counted, and the other workers went on)")
}

async fn worker(
    phase: Arc<Phase>,
    wid: u32,
    lane: usize,
    driver: Arc<StreamDriver>,
    in_flight: Arc<[AtomicU64]>,
) {
    let slot = &in_flight[wid as usize];
    let mut events: Vec<TokenEvent> = Vec::with_capacity(1024);
    let mut conversation: Option<Conversation> = None;
    loop {
        if let (Some(plan), None) = (phase.sessions, &conversation) {
            // A conversation takes its number and its turns before its
            // first request id: none is started that cannot be finished.
            conversation = phase.new_conversation(plan.turns);
            if conversation.is_none() {
                break;
            }
        }
        let Some(id) = phase.take() else { break };
        slot.store(id, Ordering::Relaxed);
        let base = phase.request(id, Some(wid));
        let (request, turn) = match conversation.as_mut() {
            Some(c) => {
                let (r, at) = c.next(base);
                (r, Some(at))
            }
            None => (base, None),
        };
        let sent = Sent {
            id,
            worker: wid,
            lane,
            start: Instant::now(),
            late: None,
            turn,
        };
        let out = phase.send_one(&driver, sent, request, &mut events).await;
        slot.store(IDLE, Ordering::Relaxed);
        let mut pause = Duration::ZERO;
        if let (Some(c), Some(plan)) = (conversation.as_mut(), phase.sessions) {
            if out.ok && !c.done() {
                c.answered(out.answer.unwrap_or_default());
                pause = plan.think_time;
            } else {
                // Done, or a turn failed: its history would be wrong, and
                // its unsent turns go to the next conversation.
                phase.end_conversation(c);
                conversation = None;
            }
        }
        if phase.depth_prefill {
            // One context per user, sent once.
            break;
        }
        if out.refused {
            // A server that is down fails instantly; don't spin on it.
            pause = Duration::from_millis(100);
        }
        if !pause.is_zero() {
            tokio::select! {
                _ = phase.stop.cancelled() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_worker_names_its_request_and_what_is_kept() {
        let w = lost_worker(true, 3, "panicked: boom", 17);
        assert_eq!(
            w,
            "worker 3 panicked: boom (request 17, which it was sending, is missing from \
             requests.jsonl and the summary; the requests it finished are counted, and the \
             other workers went on)"
        );
        let idle = lost_worker(false, 0, "panicked: boom", IDLE);
        assert!(idle.starts_with("warm-up worker 0 panicked: boom (the requests"));
    }
}
