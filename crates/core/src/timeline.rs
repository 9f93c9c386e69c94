//! Tokens received over time, in fixed buckets, for the steady-state total
//! throughput.
//!
//! The total tok/s of a loaded server is only meaningful away from ramp-up
//! (streams still in their first prefill) and drain (streams finishing with
//! nobody replacing them). We count the tokens of every content event into
//! 50 ms buckets by arrival time and, once the run knows its steady-state
//! window, divide the tokens of the buckets wholly inside the window by their
//! total length. Memory is one `u32` per 50 ms of run time (7 MB per day),
//! whatever the concurrency.

use serde::{Deserialize, Serialize};

/// Width of one bucket, µs.
pub const BUCKET_US: u64 = 50_000;
/// Buckets kept at most: 48 hours. Tokens arriving later are not counted in
/// the timeline (the per-request records and totals still hold them).
const MAX_BUCKETS: usize = 48 * 3600 * 20;

/// Interval of the saved [`TimelineSeries`], µs: fine enough to see
/// ramp-up and drain, coarse enough that an hour is 36,000 numbers.
pub const SERIES_INTERVAL_US: u64 = 100_000;

/// Output tokens over a run in fixed intervals (`run.json` `timeline`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelineSeries {
    /// Interval length, ms.
    pub interval_ms: u32,
    /// When offset 0 was, µs since the Unix epoch (the clock of the
    /// machine that ran the client).
    pub run_start_unix_us: u64,
    /// Tokens that arrived in each interval, from offset 0 (warm-up is
    /// before `summary.measured_start_us` and not counted).
    pub tokens: Vec<u32>,
}

impl TimelineSeries {
    /// The rate over the whole intervals inside `[start_us, end_us)`
    /// (offsets), or `None` when none is.
    pub fn rate_in(&self, start_us: u64, end_us: u64) -> Option<WindowRate> {
        let step = u64::from(self.interval_ms.max(1)) * 1000;
        let first = start_us.div_ceil(step);
        let last = end_us / step;
        if last <= first {
            return None;
        }
        let tokens: u64 = (first..last)
            .filter_map(|i| usize::try_from(i).ok())
            .map(|i| self.tokens.get(i).map_or(0, |t| u64::from(*t)))
            .sum();
        Some(WindowRate {
            start_us: first * step,
            end_us: last * step,
            tokens,
            tok_s: tokens as f64 * 1e6 / ((last - first) * step) as f64,
        })
    }

    /// Tokens per whole second in `[start_us, end_us)`, as
    /// [`Timeline::per_second_in`].
    pub fn per_second_in(&self, start_us: u64, end_us: u64) -> Vec<u32> {
        let step = u64::from(self.interval_ms.max(1)) * 1000;
        let per_s = (1_000_000 / step).max(1);
        let first = start_us.div_ceil(step);
        let seconds = (end_us / step).saturating_sub(first) / per_s;
        (0..seconds)
            .map(|k| {
                (first + k * per_s..first + (k + 1) * per_s)
                    .filter_map(|i| usize::try_from(i).ok())
                    .map(|i| self.tokens.get(i).copied().unwrap_or(0))
                    .fold(0u32, u32::saturating_add)
            })
            .collect()
    }
}

/// Token arrivals bucketed by time since the run started.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    buckets: Vec<u32>,
}

/// The throughput measured inside a window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WindowRate {
    /// Window start, µs since the run began (snapped to a bucket).
    pub start_us: u64,
    /// Window end, µs since the run began (snapped to a bucket).
    pub end_us: u64,
    /// Tokens that arrived inside the window.
    pub tokens: u64,
    /// `tokens / (end - start)`, tokens/s.
    pub tok_s: f64,
}

impl Timeline {
    /// Adds `tokens` that arrived `at_us` after the run started.
    pub fn add(&mut self, at_us: u64, tokens: u32) {
        let idx = usize::try_from(at_us / BUCKET_US).unwrap_or(usize::MAX);
        if idx >= self.buckets.len() {
            if idx >= MAX_BUCKETS {
                return;
            }
            self.buckets.resize(idx + 1, 0);
        }
        self.buckets[idx] = self.buckets[idx].saturating_add(tokens);
    }

    /// Total tokens recorded.
    pub fn total(&self) -> u64 {
        self.buckets.iter().map(|b| u64::from(*b)).sum()
    }

    /// Throughput over the whole buckets inside `[start_us, end_us)`, or
    /// `None` when the window holds no whole bucket.
    pub fn rate_in(&self, start_us: u64, end_us: u64) -> Option<WindowRate> {
        let first = start_us.div_ceil(BUCKET_US);
        let last = end_us / BUCKET_US; // exclusive
        if last <= first {
            return None;
        }
        let tokens: u64 = (first..last)
            .filter_map(|i| usize::try_from(i).ok())
            .map(|i| self.buckets.get(i).map_or(0, |b| u64::from(*b)))
            .sum();
        let secs = ((last - first) * BUCKET_US) as f64 / 1e6;
        Some(WindowRate {
            start_us: first * BUCKET_US,
            end_us: last * BUCKET_US,
            tokens,
            tok_s: tokens as f64 / secs,
        })
    }

    /// Tokens per whole second inside `[start_us, end_us)` (blocks of
    /// 20 buckets from the window's first whole bucket; a last partial
    /// second is left out): what a comparison resamples to put a
    /// confidence interval on the steady-state total rate.
    pub fn per_second_in(&self, start_us: u64, end_us: u64) -> Vec<u32> {
        const PER_S: u64 = 1_000_000 / BUCKET_US;
        let first = start_us.div_ceil(BUCKET_US);
        let last = end_us / BUCKET_US;
        let seconds = last.saturating_sub(first) / PER_S;
        (0..seconds)
            .map(|k| {
                (first + k * PER_S..first + (k + 1) * PER_S)
                    .filter_map(|i| usize::try_from(i).ok())
                    .map(|i| self.buckets.get(i).copied().unwrap_or(0))
                    .fold(0u32, u32::saturating_add)
            })
            .collect()
    }

    /// The form `run.json` keeps: tokens per [`SERIES_INTERVAL_US`] from
    /// the run's start, for the report's tok/s-over-time plot and for
    /// `merge`, which lines shards up on `run_start_unix_us`.
    pub fn series(&self, run_start_unix_us: u64) -> TimelineSeries {
        let per = (SERIES_INTERVAL_US / BUCKET_US) as usize;
        TimelineSeries {
            interval_ms: (SERIES_INTERVAL_US / 1000) as u32,
            run_start_unix_us,
            tokens: self
                .buckets
                .chunks(per)
                .map(|c| c.iter().copied().fold(0u32, u32::saturating_add))
                .collect(),
        }
    }

    /// Adds every bucket of `other` into `self`.
    pub fn merge(&mut self, other: &Timeline) {
        if other.buckets.len() > self.buckets.len() {
            self.buckets.resize(other.buckets.len(), 0);
        }
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a = a.saturating_add(*b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_rate_is_measured_exactly_inside_the_window() {
        let mut t = Timeline::default();
        // 100 tok/s for 10 s: one token every 10 ms.
        for k in 0..1000u64 {
            t.add(k * 10_000, 1);
        }
        let r = t.rate_in(1_234_567, 8_765_432).unwrap();
        assert_eq!(r.start_us, 1_250_000);
        assert_eq!(r.end_us, 8_750_000);
        assert!((r.tok_s - 100.0).abs() < 1e-9, "{}", r.tok_s);
    }

    #[test]
    fn per_second_blocks_cover_whole_seconds_of_the_window() {
        let mut t = Timeline::default();
        for k in 0..1000u64 {
            t.add(k * 10_000, 1); // 100 tok/s for 10 s
        }
        let s = t.per_second_in(1_234_567, 8_765_432);
        assert_eq!(s, vec![100; 7], "7.5 s of window: 7 whole seconds");
        assert!(t.per_second_in(0, 900_000).is_empty());
    }

    #[test]
    fn empty_window_is_none() {
        let t = Timeline::default();
        assert!(t.rate_in(10_000, 40_000).is_none());
        assert!(t.rate_in(500_000, 100_000).is_none());
    }

    #[test]
    fn the_saved_series_sums_buckets_and_measures_the_same_rate() {
        let mut t = Timeline::default();
        for k in 0..1000u64 {
            t.add(k * 10_000, 1); // 100 tok/s for 10 s
        }
        let s = t.series(42);
        assert_eq!(s.interval_ms, 100);
        assert_eq!(s.tokens.len(), 100);
        assert!(s.tokens.iter().all(|&x| x == 10));
        assert_eq!(
            s.rate_in(1_234_567, 8_765_432).map(|w| w.tok_s),
            Some(100.0)
        );
        assert_eq!(
            s.per_second_in(1_234_567, 8_765_432),
            t.per_second_in(1_234_567, 8_765_432)
        );
    }

    #[test]
    fn merge_adds_buckets() {
        let mut a = Timeline::default();
        a.add(0, 2);
        let mut b = Timeline::default();
        b.add(120_000, 3);
        a.merge(&b);
        assert_eq!(a.total(), 5);
    }
}
