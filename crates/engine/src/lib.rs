//! The load engine: runs a closed loop of N workers, or an open loop of
//! requests at planned times, against one driver, warm-up first, bounded
//! by a request count or a duration, cancellable at any moment, and streams
//! every request's record to `requests.jsonl` as it finishes. Workers share
//! a few shards of histograms and tallies; the shards are summed once at
//! the end. The client watches its own load over the measured phase
//! (`self_watch`), so a run whose client was the bottleneck says so.
//!
//! Where each part lives: the plan and its bounds in `plan`, one phase's
//! shared state in `phase`, sending and accounting for one request in
//! `account`, the two loops in `closed_loop` and `open_loop`, and the order
//! of a run (warm-up, measured phase, outcome) in `schedule`.
#![warn(missing_docs)]

mod account;
pub mod arrival;
mod blocks;
mod closed_loop;
mod lag_book;
mod lanes;
mod live;
mod open_loop;
mod phase;
mod plan;
pub mod prompt;
mod replay;
mod schedule;
mod self_watch;
mod session;
mod sink;
mod warmup;

pub use arrival::{Schedule, ScheduleError};
pub use blocks::BlockPrompts;
pub use lanes::{LaneError, Lanes, MAX_THREADS};
pub use live::LiveCounters;
pub use plan::OpenLoopPlan;
pub use plan::{Bound, RunPlan, DEFAULT_COLD_LOAD_MS, ERROR_STOP_MIN};
pub use prompt::{ContextKey, PromptGenerator};
pub use replay::ReplayPlan;
pub use schedule::{run, run_with_hooks, NoHooks, PhaseHooks, RunOutcome};
pub use session::SessionPlan;
pub use sink::{write_atomic, RecordSink, SinkError};
