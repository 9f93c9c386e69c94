//! How late an open-loop run sent its requests: each request's
//! [`Lateness`] (behind its planned time, and how much of that under the
//! concurrency cap) and the [`LagBook`] that keeps it by quarter of the
//! schedule, so the summary can tell a schedule that fell behind (the
//! client or the cap) from one that kept up. Its own module so that the
//! phase that holds the book, the accounting that fills it and the open
//! loop that reads it depend on it rather than on each other.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use stackbench_core::histogram::Hist;
use stackbench_core::open_loop::{lag_grew, LagCause, OpenLoopSummary};
use stackbench_core::summary::Dist;
use stackbench_core::sync::lock;
use stackbench_core::LatencyHistograms;

use crate::plan::{micros, OpenLoopPlan};

/// When an open-loop request was due, and what held it back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lateness {
    /// Actual − planned send time, µs.
    pub(crate) lag_us: u64,
    /// The part of it spent waiting under the concurrency cap, µs.
    pub(crate) cap_wait_us: Option<u64>,
}

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

    /// Start of the measured phase, since the run began.
    pub(crate) fn origin(&self) -> Duration {
        Duration::from_micros(self.origin_us)
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
