//! The load engine: runs a closed loop of N workers, or an open loop of
//! requests at planned times, against one driver, warm-up first, bounded
//! by a request count or a duration, cancellable at any moment, and streams
//! every request's record to `requests.jsonl` as it finishes. Workers share
//! a few histogram shards; they are merged once at the end. The client
//! watches its own load over the measured phase (`self_watch`), so a run
//! whose client was the bottleneck says so.
#![warn(missing_docs)]

pub mod arrival;
mod lanes;
mod live;
mod open_loop;
pub mod prompt;
mod schedule;
mod self_watch;
mod sink;

pub use arrival::{OpenLoopPlan, Schedule, ScheduleError};
pub use lanes::{LaneError, Lanes, MAX_THREADS};
pub use live::LiveCounters;
pub use prompt::PromptGenerator;
pub use schedule::{
    run, run_with_hooks, Bound, NoHooks, PhaseHooks, RunOutcome, RunPlan, DEFAULT_COLD_LOAD_MS,
};
pub use sink::{write_atomic, RecordSink, SinkError};
