//! Counters that a progress display reads while the run goes on. Each
//! runtime lane adds to its own slot, on its own cache line, so lanes on
//! different threads never write the same line (the token counter moves
//! with every streamed event); the reader sums the slots.

use std::sync::atomic::{AtomicU64, Ordering};

/// Slots: lane `n` uses slot `n % SLOTS`, so lanes share a slot only
/// beyond this many threads.
const SLOTS: usize = 16;

/// One lane's running totals.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct LaneCounters {
    /// Measured requests finished OK.
    pub(crate) ok: AtomicU64,
    /// Measured requests failed.
    pub(crate) failed: AtomicU64,
    /// Tokens received so far (every content event, warm-up included).
    pub(crate) tokens: AtomicU64,
    /// Warm-up requests finished.
    pub(crate) warmup_done: AtomicU64,
}

/// Lock-free running totals, updated by the workers, one slot per lane.
#[derive(Debug, Default)]
pub struct LiveCounters {
    lanes: [LaneCounters; SLOTS],
}

impl LiveCounters {
    /// The counters lane `lane` adds to.
    pub(crate) fn lane(&self, lane: usize) -> &LaneCounters {
        &self.lanes[lane % SLOTS]
    }

    fn sum(&self, field: impl Fn(&LaneCounters) -> &AtomicU64) -> u64 {
        self.lanes
            .iter()
            .map(|l| field(l).load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }

    /// Reads `(ok, failed, tokens)`, summed over the lanes.
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.sum(|l| &l.ok),
            self.sum(|l| &l.failed),
            self.sum(|l| &l.tokens),
        )
    }

    /// Warm-up requests finished, summed over the lanes.
    pub fn warmup_done(&self) -> u64 {
        self.sum(|l| &l.warmup_done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_sums_every_lane() {
        let live = LiveCounters::default();
        for lane in 0..40 {
            live.lane(lane).ok.fetch_add(1, Ordering::Relaxed);
            live.lane(lane)
                .tokens
                .fetch_add(lane as u64, Ordering::Relaxed);
        }
        live.lane(3).failed.fetch_add(2, Ordering::Relaxed);
        live.lane(5).warmup_done.fetch_add(4, Ordering::Relaxed);
        assert_eq!(live.snapshot(), (40, 2, (0..40).sum()));
        assert_eq!(live.warmup_done(), 4);
        // Lanes 0 and 16 share a slot; lanes 0 and 1 do not.
        assert!(std::ptr::eq(live.lane(0), live.lane(16)));
        assert!(!std::ptr::eq(live.lane(0), live.lane(1)));
        assert_eq!(std::mem::align_of::<LaneCounters>(), 128);
    }
}
