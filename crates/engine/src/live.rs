//! Counters that a progress display reads while the run goes on.

use std::sync::atomic::{AtomicU64, Ordering};

/// Lock-free running totals, updated by the workers.
#[derive(Debug, Default)]
pub struct LiveCounters {
    /// Measured requests finished OK.
    pub ok: AtomicU64,
    /// Measured requests failed.
    pub failed: AtomicU64,
    /// Tokens received so far (every content event, warm-up included).
    pub tokens: AtomicU64,
    /// Warm-up requests finished.
    pub warmup_done: AtomicU64,
}

impl LiveCounters {
    /// Reads `(ok, failed, tokens)`.
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.tokens.load(Ordering::Relaxed),
        )
    }
}
