//! Trace replay (`--trace`): each entry of a shaped trace sent at its
//! recorded time, whatever the server does (an open loop), except the
//! turns of a session, which wait for the entry before them: a turn is
//! released when its parent's answer is in, plus the recorded think time
//! where the trace has one (agent spans), else at its own time or when its
//! parent ends, whichever is later (Bailian, which records no end times).
//! A turn whose parent failed is not sent (its history would be wrong),
//! nor are its own children: they count as dropped.
//!
//! Entry k of the trace is request `first_id + k`, so its record names the
//! entry it replayed; each request is timed from the moment it was due,
//! and its lateness goes into the same lag book as a rate-driven open
//! loop's (`crate::lag_book`). `--max-concurrency` caps the requests in
//! flight as it does there.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stackbench_backends::StreamDriver;
use stackbench_trace::{Entry, Trace};
use stackbench_wire::body::{Prompt, Request};
use tokio::sync::{mpsc, Semaphore};

use crate::account::Sent;
use crate::blocks::BlockPrompts;
use crate::lag_book::Lateness;
use crate::lanes::Lanes;
use crate::open_loop::{place, Tasks};
use crate::phase::Phase;
use crate::plan::micros;
use crate::session::TurnOf;

/// A shaped trace and how its prompts are built.
#[derive(Debug, Clone)]
pub struct ReplayPlan {
    /// The trace as replayed (windowed, sped up, scaled, capped).
    pub trace: Trace,
    /// Prompts from blocks (entries without a recorded chat).
    pub prompts: BlockPrompts,
    /// `--max-concurrency`: at most this many requests in flight.
    pub max_concurrency: Option<u32>,
}

impl ReplayPlan {
    /// The span of the recorded arrivals (at least 1 µs).
    pub fn span(&self) -> Duration {
        let last = self
            .trace
            .entries
            .iter()
            .map(|e| e.at_us)
            .max()
            .unwrap_or(0);
        Duration::from_micros(last.max(1))
    }

    /// Requests over their span, per second: the offered rate.
    pub fn offered_rate(&self) -> f64 {
        self.trace.entries.len() as f64 / self.span().as_secs_f64()
    }

    /// The request entry `index` sends.
    pub(crate) fn request(&self, index: usize) -> Option<Request> {
        let e = self.trace.entries.get(index)?;
        let max_tokens = Some(e.output_tokens);
        Some(match &e.chat {
            Some(chat) => {
                let mut r = Request::new(Prompt::Messages(chat.messages.clone()), max_tokens);
                r.tools = chat.tools.clone();
                r
            }
            None => {
                let text = self.prompts.prompt(index as u64, &e.blocks, e.input_tokens);
                Request::new(Prompt::Text(text.into()), max_tokens)
            }
        })
    }

    /// Each entry's children: the entries that wait for it.
    fn children(&self) -> Vec<Vec<usize>> {
        let mut kids = vec![Vec::new(); self.trace.entries.len()];
        for (i, e) in self.trace.entries.iter().enumerate() {
            if let Some(p) = parent(e) {
                kids[p].push(i);
            }
        }
        kids
    }
}

fn parent(e: &Entry) -> Option<usize> {
    e.link.as_ref().and_then(|l| l.parent)
}

/// When a child is due, its parent having ended at `parent_end`.
fn release(e: &Entry, origin: Instant, parent_end: Instant) -> Instant {
    match e.link.as_ref().and_then(|l| l.think_us) {
        Some(think) => parent_end + Duration::from_micros(think),
        None => parent_end.max(origin + Duration::from_micros(e.at_us)),
    }
}

/// What every request task of a replay shares.
struct Replaying {
    phase: Arc<Phase>,
    plan: Arc<ReplayPlan>,
    children: Vec<Vec<usize>>,
    first_id: u64,
    origin: Instant,
    slots: Option<Arc<Semaphore>>,
    sent: AtomicU64,
    /// Where a request that ended OK hands its children.
    ready: mpsc::UnboundedSender<(usize, Instant)>,
}

/// Sends the measured requests of `phase` as `plan` replays them.
/// Returns the number sent.
pub(crate) async fn dispatch(phase: Arc<Phase>, plan: Arc<ReplayPlan>, lanes: &Lanes) -> u64 {
    let origin = phase.t0 + phase.lag.as_ref().map_or(Duration::ZERO, |b| b.origin());
    let (ready, mut rx) = mpsc::unbounded_channel::<(usize, Instant)>();
    let r = Arc::new(Replaying {
        children: plan.children(),
        slots: plan
            .max_concurrency
            .map(|c| Arc::new(Semaphore::new(c as usize))),
        phase: phase.clone(),
        plan: plan.clone(),
        first_id: phase.first_id(),
        origin,
        sent: AtomicU64::new(0),
        ready,
    });
    let mut roots = plan
        .trace
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| parent(e).is_none())
        .map(|(i, e)| (i, origin + Duration::from_micros(e.at_us)));
    let mut next_root = roots.next();
    let mut tasks = Tasks::default();
    // A task hands its children on before it ends, so once no root is
    // left, no task runs and none is waiting, nothing more will come.
    while next_root.is_some() || !tasks.set.is_empty() || !rx.is_empty() {
        let due = next_root.map_or(origin, |(_, at)| at);
        tokio::select! {
            biased;
            () = phase.stop.cancelled() => break,
            Some((i, at)) = rx.recv() => spawn(&r, i, at, lanes, &mut tasks),
            () = tokio::time::sleep_until(due.into()), if next_root.is_some() => {
                if let Some((i, at)) = next_root {
                    spawn(&r, i, at, lanes, &mut tasks);
                }
                next_root = roots.next();
            }
            Some(done) = tasks.set.join_next_with_id() => tasks.ended(&phase, done),
        }
    }
    phase.mark_drain();
    while let Some(done) = tasks.set.join_next_with_id().await {
        tasks.ended(&phase, done);
    }
    r.sent.load(Ordering::Relaxed)
}

/// Spawns the task of entry `i`, due at `at`, on its lane.
fn spawn(r: &Arc<Replaying>, i: usize, at: Instant, lanes: &Lanes, tasks: &mut Tasks) {
    let id = r.first_id + i as u64;
    let lane = lanes.pick(id);
    let (driver, index) = (lane.driver.clone(), lane.index);
    let me = r.clone();
    let task = lane.spawn_into(&mut tasks.set, async move {
        me.send(i, at, &driver, index).await;
    });
    tasks.requests.insert(task.id(), id);
}

impl Replaying {
    /// Waits until `at` (and for a place under the cap), sends entry `i`
    /// and, when it ended OK, hands its children on.
    async fn send(&self, i: usize, at: Instant, driver: &StreamDriver, lane: usize) {
        let p = &self.phase;
        tokio::select! {
            biased;
            () = p.stop.cancelled() => return,
            () = tokio::time::sleep_until(at.into()) => {}
        }
        let Some((_permit, cap_wait_us)) = place(self.slots.as_ref(), &p.stop).await else {
            return;
        };
        let id = self.first_id + i as u64;
        let entry = &self.plan.trace.entries[i];
        let sent = Sent {
            id,
            worker: 0,
            lane,
            start: at,
            late: Some(Lateness {
                lag_us: micros(Instant::now().saturating_duration_since(at)),
                cap_wait_us,
            }),
            turn: entry.link.as_ref().map(|l| TurnOf {
                session: l.session,
                turn: l.turn,
            }),
        };
        self.sent.fetch_add(1, Ordering::Relaxed);
        let request = p.request(id, None);
        let out = p.send_one(driver, sent, request, &mut Vec::new()).await;
        if out.ok {
            let end = Instant::now();
            for &c in &self.children[i] {
                let due = release(&self.plan.trace.entries[c], self.origin, end);
                let _ = self.ready.send((c, due));
            }
        }
    }
}
