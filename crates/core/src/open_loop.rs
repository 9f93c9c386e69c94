//! Open-loop load as `run.json` records it: how requests were offered (a
//! rate and an arrival process), and how well the client kept to that
//! schedule.
//!
//! In an open-loop run requests are sent at planned times whatever the
//! server does, so a slow server meets a growing queue, as it would in
//! production. Latencies count from the *planned* send time: a request
//! the client sent late (its own CPU was busy, or a `--max-concurrency`
//! cap held it back) still counts the wait, which is the
//! coordinated-omission correction. The lag between the planned and the
//! actual send time is kept per request (`schedule_lag_us`) and summarised
//! here; a lag that grows through the run means the offered load was not
//! applied, and the run is flagged with the cause.

use serde::{Deserialize, Serialize};

use crate::histogram::Dist;

/// How send times are spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrival {
    /// A Poisson process: independent, exponentially spaced arrivals. The
    /// run offers exactly `rate × duration` requests (or the `--num-requests`
    /// asked for over `n / rate` seconds), placed as a Poisson process of
    /// that rate places that many arrivals (sorted uniform times), so the
    /// offered rate is exact and two runs differ only in where the arrivals
    /// fall, not in how many there are.
    Poisson,
    /// Evenly spaced: one request every `1 / rate` seconds.
    Constant,
    /// The arrival times a replayed trace recorded (`--trace`, scaled by
    /// `--speed`); the offered rate is its requests over its span.
    Trace,
}

impl Arrival {
    /// The name used on the command line and in `run.json`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Poisson => "poisson",
            Self::Constant => "constant",
            Self::Trace => "trace",
        }
    }
}

/// What held a lagging open-loop run back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LagCause {
    /// Requests waited for a free place under `--max-concurrency`: the
    /// server completes fewer requests per second than offered.
    Cap,
    /// The client could not send on time (CPU-starved or too slow).
    Client,
}

/// How the client kept to an open-loop schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenLoopSummary {
    /// Requests offered per second.
    pub offered_rate_per_s: f64,
    /// The arrival process.
    pub arrival: Arrival,
    /// The cap on requests in flight, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    /// Measured requests sent.
    pub sent: u64,
    /// Requests sent per second of the schedule: `sent` over the longer of
    /// the planned span and the time the last one was actually sent.
    pub achieved_rate_per_s: f64,
    /// Actual − planned send time, ms, over the measured requests.
    pub schedule_lag_ms: Dist,
    /// Requests that had to wait for a free place under the cap.
    pub cap_waits: u64,
    /// Median lag of the first quarter of the schedule, ms.
    pub lag_first_quarter_p50_ms: f64,
    /// Median lag of the last quarter of the schedule, ms.
    pub lag_last_quarter_p50_ms: f64,
    /// Set when the lag grew through the run (the last quarter's median
    /// exceeds the first's by more than [`LAG_GROWTH_MS`] and is more than
    /// twice it): the offered rate was not applied, and this says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limited_by: Option<LagCause>,
}

/// A lag that grows by more than this (median of the last quarter over
/// the first) means the schedule slipped, not jitter: tokio's timer alone
/// adds up to a millisecond.
pub const LAG_GROWTH_MS: f64 = 10.0;

/// Whether the lag grew: see [`OpenLoopSummary::limited_by`].
pub fn lag_grew(first_p50_ms: f64, last_p50_ms: f64) -> bool {
    last_p50_ms > first_p50_ms + LAG_GROWTH_MS && last_p50_ms > 2.0 * first_p50_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_not_growth_and_a_slipping_schedule_is() {
        assert!(!lag_grew(0.5, 1.5));
        assert!(!lag_grew(30.0, 45.0), "large but steady");
        assert!(lag_grew(0.5, 200.0));
    }
}
