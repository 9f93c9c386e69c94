//! A distribution summarised from one histogram (count, mean, min,
//! percentiles, max): the shape every latency and rate figure of a run
//! summary, of the open-loop summary and of the client's own load takes.
//! Its own module so that those summaries depend on it and not on each
//! other.

use serde::{Deserialize, Serialize};

use crate::histogram::Hist;

/// A distribution summarised from one histogram, in the unit its name says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Dist {
    /// Number of samples.
    pub count: u64,
    /// Mean.
    pub mean: Option<f64>,
    /// Smallest sample.
    pub min: Option<f64>,
    /// 10th percentile.
    pub p10: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest sample.
    pub max: Option<f64>,
}

impl Dist {
    /// Summarises `h`, dividing every value by `scale` (1000 turns µs into ms
    /// and milli-tokens/s into tokens/s).
    pub fn from_hist(h: &Hist, scale: f64) -> Self {
        let q = |p: f64| h.quantile(p).map(|v| v as f64 / scale);
        let (min, max) = h.min_max().map_or((None, None), |(a, b)| {
            (Some(a as f64 / scale), Some(b as f64 / scale))
        });
        Self {
            count: h.len(),
            mean: h.mean().map(|m| m / scale),
            min,
            p10: q(0.10),
            p50: q(0.50),
            p90: q(0.90),
            p99: q(0.99),
            max,
        }
    }
}
