//! `compare`: baseline against candidate, metric by metric, with a 95 %
//! bootstrap interval on each change (see `stackbench_core::stats` for the
//! method) and a verdict. A metric *regressed* only when its whole interval
//! lies beyond the threshold in the bad direction, and *improved* only when
//! it lies beyond it in the good one; anything else is *no change*. So two
//! noisy runs of the same thing do not make a regression, and a CI job can
//! gate on the exit code.
//!
//! [`metric`] names the metrics, [`measure`] judges one metric of one pair,
//! [`pair`] pairs the runs and judges every metric, [`render`] writes the
//! result as Markdown and JUnit XML.

pub mod measure;
pub mod metric;
pub mod pair;
pub mod render;

pub use measure::{MetricResult, RunData, Verdict};
pub use metric::{Better, MetricKey, UnknownMetric};
pub use pair::{compare, thresholds, CompareError, Comparison, PairResult};
pub use render::{junit, markdown};
