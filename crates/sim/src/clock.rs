//! A precise `sleep_until` for the token schedule.
//!
//! Tokio's timer has millisecond granularity and fires late by up to about
//! 2 ms, which would shift every simulated TTFT by an unknown amount. One
//! background thread keeps the pending deadlines in a heap and waits on a
//! condition variable with a nanosecond timeout (a futex on Linux, accurate
//! to tens of microseconds), then wakes the waiting task.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Instant;

use tokio::sync::oneshot;

struct Entry {
    at: Instant,
    seq: u64,
    tx: oneshot::Sender<()>,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

#[derive(Default)]
struct Timer {
    heap: Mutex<(BinaryHeap<Reverse<Entry>>, u64)>,
    cv: Condvar,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let t: &'static Timer = Box::leak(Box::default());
        let spawned = std::thread::Builder::new()
            .name("sim-clock".into())
            .spawn(move || run(t));
        if spawned.is_err() {
            tracing::warn!("cannot start the precise timer thread; falling back to tokio timers");
        }
        t
    })
}

fn run(t: &'static Timer) {
    let Ok(mut guard) = t.heap.lock() else { return };
    loop {
        let now = Instant::now();
        while guard.0.peek().is_some_and(|Reverse(e)| e.at <= now) {
            if let Some(Reverse(e)) = guard.0.pop() {
                let _ = e.tx.send(());
            }
        }
        let next = guard.0.peek().map(|Reverse(e)| e.at);
        guard = match next {
            Some(at) => match t.cv.wait_timeout(guard, at.saturating_duration_since(now)) {
                Ok((g, _)) => g,
                Err(_) => return,
            },
            None => match t.cv.wait(guard) {
                Ok(g) => g,
                Err(_) => return,
            },
        };
    }
}

/// Completes at `at`, to within tens of microseconds.
pub(crate) async fn sleep_until(at: Instant) {
    if at <= Instant::now() {
        return;
    }
    let (tx, rx) = oneshot::channel();
    let t = timer();
    // The clock thread sleeps until the earliest deadline: it needs waking
    // only when this one is earlier (a wake per token was most of the
    // simulator's own cost at thousands of streams).
    let earliest = match t.heap.lock() {
        Ok(mut g) => {
            g.1 += 1;
            let seq = g.1;
            let earliest = g.0.peek().map_or(true, |Reverse(e)| at < e.at);
            g.0.push(Reverse(Entry { at, seq, tx }));
            Some(earliest)
        }
        Err(_) => None,
    };
    match earliest {
        None => return tokio::time::sleep_until(at.into()).await,
        Some(true) => t.cv.notify_one(),
        Some(false) => {}
    }
    if rx.await.is_err() {
        tokio::time::sleep_until(at.into()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn wakes_close_to_the_deadline_and_in_order() {
        let start = Instant::now();
        let mut lates = Vec::new();
        for k in 1..=20u64 {
            let at = start + Duration::from_millis(3 * k);
            sleep_until(at).await;
            lates.push(Instant::now().duration_since(at));
        }
        lates.sort();
        // The median lateness is far below tokio's millisecond tick.
        assert!(lates[10] < Duration::from_micros(900), "{:?}", lates[10]);
    }
}
