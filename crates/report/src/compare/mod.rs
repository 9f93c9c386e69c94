//! `compare`: baseline against candidate, metric by metric, with a 95 %
//! bootstrap interval on each change (see `stackbench_core::stats` for the
//! method) and a verdict. A metric *regressed* only when its whole interval
//! lies beyond the threshold in the bad direction, and *improved* only when
//! it lies beyond it in the good one; anything else is *no change*. So two
//! noisy runs of the same thing do not make a regression, and a CI job can
//! gate on the exit code.
//!
//! [`metric`] names the metrics, [`measure`] judges one metric of one pair,
//! [`pair`] pairs the runs and judges every metric, [`flag`] says what
//! makes a pair untrustworthy, [`gate`] turns it all into test cases and
//! one decision, [`render`] writes them as Markdown and JUnit XML.

pub mod flag;
pub mod gate;
pub mod measure;
pub mod metric;
pub mod pair;
pub mod render;

pub use flag::{Flag, FlagKind, UnknownFlag};
pub use gate::{gate, Gate, Policy};
pub use measure::{MetricResult, RunData, Verdict};
pub use metric::{Better, MetricKey, UnknownMetric};
pub use pair::{compare, thresholds, CompareError, Comparison, PairResult, Side, Unmatched};
pub use render::{junit, markdown};
