//! The load engine: runs a closed loop of N workers, or an open loop of
//! requests at planned times, against one driver, warm-up first, bounded
//! by a request count or a duration, cancellable at any moment, and streams every request's record to `requests.jsonl` as it
//! finishes. Each worker owns its histograms and counters; they are merged
//! once at the end.
#![warn(missing_docs)]

pub mod arrival;
mod live;
mod open_loop;
pub mod prompt;
mod schedule;
mod sink;

pub use arrival::{OpenLoopPlan, Schedule, ScheduleError};
pub use live::LiveCounters;
pub use prompt::PromptGenerator;
pub use schedule::{run, run_with_hooks, Bound, NoHooks, PhaseHooks, RunOutcome, RunPlan};
pub use sink::{write_atomic, RecordSink, SinkError};
