//! Confidence intervals for comparing two runs, as pure functions.
//!
//! Method: the percentile bootstrap (Efron & Tibshirani, *An Introduction
//! to the Bootstrap*, 1993, ch. 13). Each run's samples are resampled with
//! replacement, the statistic (a median, a p99, a mean rate) is computed on
//! both resamples, and the relative change `cand / base − 1` is collected;
//! the 2.5th and 97.5th percentiles of those changes bound a 95 % interval.
//! Per-request metrics resample requests; the steady-state total rate
//! resamples one-second blocks of the steady window (a block bootstrap:
//! neighbouring 50 ms buckets are correlated, whole seconds much less so).
//! Repeated runs are resampled in two stages, runs then samples within
//! them (see [`bootstrap_change`]). The generator is seeded, so the same
//! runs always give the same interval. [`bootstrap_interval`] is the same
//! method on one side alone: the interval of the statistic itself (one
//! point of a history), not of a change.

/// The Kolmogorov–Smirnov D statistic of `gaps` against the exponential
/// distribution of rate `rate`: how far a set of inter-arrival gaps is
/// from a Poisson process's (the open-loop schedule's tests use it).
pub fn ks_exponential(mut gaps: Vec<f64>, rate: f64) -> f64 {
    gaps.sort_by(f64::total_cmp);
    let n = gaps.len() as f64;
    gaps.iter()
        .enumerate()
        .map(|(i, g)| {
            let f = 1.0 - (-rate * g).exp();
            (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
        })
        .fold(0.0, f64::max)
}

/// Resamples drawn per interval.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// A small, fast, seedable generator (SplitMix64): enough for resampling,
/// and no dependency.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform index below `n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        // Multiply-shift: unbiased enough for n far below 2^32.
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// The `q` quantile (0–1) of `sorted` by linear interpolation; `None` when
/// empty.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// A statistic of a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistic {
    /// A quantile, 0–1 (0.5: the median).
    Quantile(f64),
    /// The mean.
    Mean,
}

impl Statistic {
    /// The statistic of `v` (sorted in place).
    pub fn of(self, v: &mut [f64]) -> Option<f64> {
        if v.is_empty() {
            return None;
        }
        match self {
            Self::Quantile(q) => {
                v.sort_by(f64::total_cmp);
                quantile(v, q)
            }
            Self::Mean => Some(v.iter().sum::<f64>() / v.len() as f64),
        }
    }
}

/// A relative change with its 95 % interval, in percent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    /// The statistic on the baseline.
    pub base: f64,
    /// The statistic on the candidate.
    pub candidate: f64,
    /// `(candidate / base − 1) × 100`.
    pub pct: f64,
    /// Lower bound of the 95 % interval, %.
    pub lo_pct: f64,
    /// Upper bound, %.
    pub hi_pct: f64,
}

/// The change of `stat` from `base` to `candidate` with a percentile
/// bootstrap interval; `None` when either side has no sample or the
/// baseline statistic is zero.
///
/// Each side is a list of runs (the repeats of a `--repeat` suite, or one
/// run), each a list of samples. The statistic is taken over all of a
/// side's samples pooled; each resample first draws as many runs as there
/// are, with replacement, then samples within each drawn run (a two-stage,
/// or cluster, bootstrap: Davison & Hinkley, *Bootstrap Methods and their
/// Application*, 1997, §3.8). So the spread from one run to the next —
/// a busy box, a relaunched server — widens the interval, where pooling
/// the requests of every repeat would count each request as independent
/// and let one slow repeat read as a regression. With one run per side it
/// is the plain bootstrap, draw for draw.
pub fn bootstrap_change(
    base: &[Vec<f64>],
    candidate: &[Vec<f64>],
    stat: Statistic,
    seed: u64,
) -> Option<Change> {
    let base: Vec<&[f64]> = non_empty(base);
    let candidate: Vec<&[f64]> = non_empty(candidate);
    let b = stat.of(&mut base.concat())?;
    let c = stat.of(&mut candidate.concat())?;
    if b == 0.0 {
        return None;
    }
    let mut rng = SplitMix64::new(seed);
    let (mut rb, mut rc) = (Vec::new(), Vec::new());
    let mut changes = Vec::with_capacity(BOOTSTRAP_RESAMPLES);
    for _ in 0..BOOTSTRAP_RESAMPLES {
        resample(&base, &mut rng, &mut rb);
        resample(&candidate, &mut rng, &mut rc);
        if let (Some(sb), Some(sc)) = (stat.of(&mut rb), stat.of(&mut rc)) {
            if sb != 0.0 {
                changes.push((sc / sb - 1.0) * 100.0);
            }
        }
    }
    changes.sort_by(f64::total_cmp);
    Some(Change {
        base: b,
        candidate: c,
        pct: (c / b - 1.0) * 100.0,
        lo_pct: quantile(&changes, 0.025)?,
        hi_pct: quantile(&changes, 0.975)?,
    })
}

/// A statistic of one side with its 95 % interval, in the statistic's
/// unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The statistic over all samples pooled.
    pub value: f64,
    /// Lower bound of the 95 % interval.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

/// `stat` of `runs` with a percentile bootstrap interval, resampled as
/// [`bootstrap_change`] resamples one side (runs, then samples within
/// them): the interval of one measurement, where `bootstrap_change`
/// gives the interval of a change between two. `None` when there is no
/// sample.
pub fn bootstrap_interval(runs: &[Vec<f64>], stat: Statistic, seed: u64) -> Option<Estimate> {
    let runs: Vec<&[f64]> = non_empty(runs);
    let value = stat.of(&mut runs.concat())?;
    let mut rng = SplitMix64::new(seed);
    let mut r = Vec::new();
    let mut values = Vec::with_capacity(BOOTSTRAP_RESAMPLES);
    for _ in 0..BOOTSTRAP_RESAMPLES {
        resample(&runs, &mut rng, &mut r);
        values.extend(stat.of(&mut r));
    }
    values.sort_by(f64::total_cmp);
    Some(Estimate {
        value,
        lo: quantile(&values, 0.025)?,
        hi: quantile(&values, 0.975)?,
    })
}

fn non_empty(runs: &[Vec<f64>]) -> Vec<&[f64]> {
    runs.iter()
        .filter(|r| !r.is_empty())
        .map(Vec::as_slice)
        .collect()
}

/// One two-stage resample of `runs` into `out`: runs drawn with
/// replacement (no draw when there is one), samples drawn within each.
fn resample(runs: &[&[f64]], rng: &mut SplitMix64, out: &mut Vec<f64>) {
    out.clear();
    for _ in 0..runs.len() {
        let run = match runs {
            [one] => one,
            _ => runs[rng.below(runs.len())],
        };
        out.extend((0..run.len()).map(|_| run[rng.below(run.len())]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ks_d_is_small_for_exponential_gaps_and_large_for_even_ones() {
        // Gaps at the exponential's own quantiles: as close as n allows.
        let n = 1000;
        let exp: Vec<f64> = (0..n)
            .map(|i| -(1.0 - (i as f64 + 0.5) / n as f64).ln() / 50.0)
            .collect();
        assert!(ks_exponential(exp, 50.0) < 0.01);
        // Evenly spaced arrivals at the same mean rate are far from it.
        assert!(ks_exponential(vec![0.02; n], 50.0) > 0.3);
    }

    fn noisy(center: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut r = SplitMix64::new(seed);
        (0..n)
            .map(|_| center * (0.95 + 0.1 * (r.next_u64() as f64 / u64::MAX as f64)))
            .collect()
    }

    #[test]
    fn a_ten_percent_drop_is_bracketed_and_excludes_zero() {
        let c = bootstrap_change(
            &[noisy(100.0, 50, 1)],
            &[noisy(90.0, 50, 2)],
            Statistic::Quantile(0.5),
            7,
        )
        .expect("samples");
        assert!((c.pct + 10.0).abs() < 2.0, "{c:?}");
        assert!(c.lo_pct < c.pct && c.pct < c.hi_pct, "{c:?}");
        assert!(c.hi_pct < -5.0, "the whole interval is below -5 %: {c:?}");
    }

    #[test]
    fn the_same_distribution_gives_an_interval_around_zero() {
        let c = bootstrap_change(
            &[noisy(100.0, 50, 3)],
            &[noisy(100.0, 50, 4)],
            Statistic::Mean,
            7,
        )
        .expect("samples");
        assert!(c.lo_pct < 0.0 && c.hi_pct > 0.0, "{c:?}");
    }

    #[test]
    fn quantiles_interpolate() {
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(
            bootstrap_change(&[vec![]], &[vec![1.0]], Statistic::Mean, 1),
            None
        );
    }

    /// Two repeats a side, one of them 15 % off (a busy box): pooling the
    /// requests makes the same thing read as a clear change; drawing runs
    /// first keeps zero inside the interval. A real 30 % drop on every
    /// repeat still lies wholly outside.
    #[test]
    fn run_to_run_spread_widens_the_interval() {
        let base = [noisy(100.0, 40, 5), noisy(100.0, 40, 6)];
        let same = [noisy(100.0, 40, 7), noisy(85.0, 40, 8)];
        let pooled = |runs: &[Vec<f64>]| vec![runs.concat()];
        let median = Statistic::Quantile(0.5);
        let naive = bootstrap_change(&pooled(&base), &pooled(&same), median, 9).unwrap();
        assert!(naive.hi_pct < 0.0, "pooled: a false change {naive:?}");
        let two_stage = bootstrap_change(&base, &same, median, 9).unwrap();
        assert!(
            two_stage.lo_pct < 0.0 && two_stage.hi_pct > 0.0,
            "{two_stage:?}"
        );
        let slower = [noisy(70.0, 40, 10), noisy(70.0, 40, 11)];
        let drop = bootstrap_change(&base, &slower, median, 9).unwrap();
        assert!(drop.hi_pct < -20.0, "{drop:?}");
    }

    #[test]
    fn one_sample_interval_brackets_the_statistic_and_narrows_with_samples() {
        let median = Statistic::Quantile(0.5);
        let few = bootstrap_interval(&[noisy(100.0, 10, 12)], median, 3).unwrap();
        let many = bootstrap_interval(&[noisy(100.0, 400, 12)], median, 3).unwrap();
        for e in [few, many] {
            assert!(e.lo <= e.value && e.value <= e.hi, "{e:?}");
            assert!(e.lo > 94.0 && e.hi < 106.0, "{e:?}");
        }
        assert!(many.hi - many.lo < few.hi - few.lo, "{few:?} {many:?}");
        assert_eq!(bootstrap_interval(&[vec![]], median, 3), None);
        // Two repeats far apart: the interval spans both, as drawing runs
        // first says it should.
        let spread =
            bootstrap_interval(&[noisy(100.0, 40, 13), noisy(80.0, 40, 14)], median, 3).unwrap();
        assert!(spread.lo < 85.0 && spread.hi > 95.0, "{spread:?}");
    }
}
