//! Planned send times of an open-loop run.
//!
//! A run offers exactly `rate × duration` requests (or the `n` asked for,
//! over `n / rate` seconds). Constant arrivals are evenly spaced. Poisson
//! arrivals are the arrival times of a Poisson process given that count:
//! sorted independent uniform times over the span, which is how a
//! Poisson process places a known number of arrivals; the gaps between
//! them are exponential with mean `1 / rate`. Fixing the count removes
//! the ±1/√N noise a free-running process would add to the offered rate
//! (1.8 % at 3,000 requests), so runs at the same rate compare on equal
//! terms. The sorted uniforms are drawn one at a time in order (the next
//! is the minimum of the remaining ones), so a long run needs no memory
//! for its schedule.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use stackbench_core::open_loop::Arrival;

use crate::plan::{Bound, OpenLoopPlan};

/// Why an open-loop schedule cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    /// The rate is not a positive number.
    #[error("the request rate must be a positive number of requests per second, got {0}")]
    Rate(f64),
    /// The run would offer no request.
    #[error("{rate} requests/s for {seconds} s offers no request; raise the rate or the duration")]
    Empty {
        /// The rate.
        rate: f64,
        /// The duration.
        seconds: f64,
    },
    /// The schedule would run longer than a clock can count.
    #[error("{total} requests at {rate} requests/s would take {seconds:e} s; raise the rate")]
    TooLong {
        /// Requests.
        total: u64,
        /// The rate.
        rate: f64,
        /// The span.
        seconds: f64,
    },
}

/// The planned send times, as offsets from the start of the measured
/// phase, in order.
#[derive(Debug, Clone)]
pub struct Schedule {
    arrival: Arrival,
    rate: f64,
    total: u64,
    span_s: f64,
    next: u64,
    /// The last sorted uniform drawn (Poisson), in [0, 1).
    u: f64,
    rng: SmallRng,
}

impl Schedule {
    /// The schedule of `plan` over `bound`, its Poisson draws seeded by
    /// `seed`.
    pub fn new(plan: &OpenLoopPlan, bound: Bound, seed: u64) -> Result<Self, ScheduleError> {
        let rate = plan.rate;
        if !(rate.is_finite() && rate > 0.0) {
            return Err(ScheduleError::Rate(rate));
        }
        let (total, span_s) = match bound {
            Bound::Requests(n) => (n, n as f64 / rate),
            Bound::Duration(d) => ((rate * d.as_secs_f64()).round() as u64, d.as_secs_f64()),
        };
        if total == 0 {
            return Err(ScheduleError::Empty {
                rate,
                seconds: span_s,
            });
        }
        // Every planned time is at most the span: once it fits a Duration,
        // they all do.
        if Duration::try_from_secs_f64(span_s).is_err() {
            return Err(ScheduleError::TooLong {
                total,
                rate,
                seconds: span_s,
            });
        }
        Ok(Self {
            arrival: plan.arrival,
            rate,
            total,
            span_s,
            next: 0,
            u: 0.0,
            rng: SmallRng::seed_from_u64(seed ^ 0xa771_7a15),
        })
    }

    /// Requests the schedule offers.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The planned span: `total / rate`, or the run's duration.
    pub fn span(&self) -> Duration {
        Duration::from_secs_f64(self.span_s)
    }
}

impl Iterator for Schedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.next >= self.total {
            return None;
        }
        let i = self.next;
        self.next += 1;
        let at_s = match self.arrival {
            // A trace is replayed by `crate::replay`, never planned here;
            // were it asked, its requests would be evenly spaced.
            Arrival::Constant | Arrival::Trace => i as f64 / self.rate,
            Arrival::Poisson => {
                // The minimum of m uniforms on [u, 1) is u + (1 − u)(1 − V^(1/m)).
                let remaining = (self.total - i) as f64;
                let v: f64 = 1.0 - self.rng.gen::<f64>();
                let step = -(v.ln() / remaining).exp_m1();
                self.u += (1.0 - self.u) * step;
                self.u * self.span_s
            }
        };
        Some(Duration::from_secs_f64(at_s.max(0.0)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.total - self.next).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(rate: f64, arrival: Arrival) -> OpenLoopPlan {
        OpenLoopPlan {
            rate,
            arrival,
            max_concurrency: None,
        }
    }

    #[test]
    fn constant_arrivals_are_evenly_spaced_and_exact_in_number() {
        let s = Schedule::new(
            &plan(4.0, Arrival::Constant),
            Bound::Duration(Duration::from_secs(3)),
            1,
        )
        .unwrap();
        let t: Vec<f64> = s.map(|d| d.as_secs_f64()).collect();
        assert_eq!(t.len(), 12);
        assert!((t[1] - 0.25).abs() < 1e-9 && (t[11] - 2.75).abs() < 1e-9);
    }

    #[test]
    fn a_schedule_too_long_for_a_clock_is_refused_not_a_panic() {
        let err = Schedule::new(&plan(1e-300, Arrival::Constant), Bound::Requests(5), 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("raise the rate"), "{err}");
    }

    /// Kolmogorov–Smirnov: the gaps of a 3,000-arrival Poisson schedule
    /// follow the exponential distribution of mean 1/rate (D below the
    /// 1 % critical value 1.63/√n), for several seeds, not one picked.
    #[test]
    fn poisson_gaps_are_exponential_and_the_count_exact() {
        for seed in 0..5 {
            let s = Schedule::new(
                &plan(50.0, Arrival::Poisson),
                Bound::Duration(Duration::from_secs(60)),
                seed,
            )
            .unwrap();
            let t: Vec<f64> = s.map(|d| d.as_secs_f64()).collect();
            assert_eq!(t.len(), 3000);
            assert!(t.windows(2).all(|w| w[0] <= w[1]), "sorted");
            assert!(*t.last().unwrap() < 60.0);
            let d = ks_exponential(&t, 50.0);
            assert!(d < 1.63 / (t.len() as f64).sqrt(), "seed {seed}: D = {d}");
        }
    }

    /// D statistic of the gaps of `times` (from 0) against Exp(rate).
    pub(crate) fn ks_exponential(times: &[f64], rate: f64) -> f64 {
        let gaps = std::iter::once(times[0])
            .chain(times.windows(2).map(|w| w[1] - w[0]))
            .collect();
        stackbench_core::stats::ks_exponential(gaps, rate)
    }

    #[test]
    fn a_count_bound_spans_n_over_rate_and_bad_rates_are_refused() {
        let s = Schedule::new(&plan(10.0, Arrival::Poisson), Bound::Requests(100), 3).unwrap();
        assert_eq!(s.span(), Duration::from_secs(10));
        assert_eq!(s.count(), 100);
        for r in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(Schedule::new(&plan(r, Arrival::Poisson), Bound::Requests(1), 0).is_err());
        }
        assert!(matches!(
            Schedule::new(
                &plan(0.1, Arrival::Constant),
                Bound::Duration(Duration::from_secs(1)),
                0
            ),
            Err(ScheduleError::Empty { .. })
        ));
    }
}
