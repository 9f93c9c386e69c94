//! One benchmark run, from a validated [`RunConfig`] to a results folder:
//! wait for the server, pick the model, gather metadata and probe, build the
//! driver and load plan, run it with `/metrics` scrapes and power samples
//! around the measured phase, and write `requests.jsonl` and `run.json`.
//!
//! `stackbench run`, `demo` and `suite` all go through [`execute`]; the
//! clap flags and the suite's TOML scenarios are two ways to fill the same
//! [`RunConfig`].
#![warn(missing_docs)]

mod config;
pub mod dataset;
mod error;
pub mod host;
mod load;
mod power;
mod prepare;
pub mod prompt_size;
mod results;
mod server_watch;
pub mod sweep;

use std::path::PathBuf;
use std::sync::Arc;

use stackbench_core::run_file::RunFile;
use stackbench_engine::LiveCounters;
use tokio_util::sync::CancellationToken;

pub use config::{parse_api, FlavorChoice, RunConfig, RunContext};
pub use error::RunnerError;
pub use load::{load_records, load_runs, LoadError, LoadedRun};
pub use power::{PowerSampler, NVIDIA_SMI_ENV};
pub use prepare::{prepare, random_seed};
pub use results::{benchmark, default_out, safe_name, utc_stamp, Job};

/// A finished (or interrupted) run: its `run.json` and its folder.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// The final `run.json`.
    pub file: RunFile,
    /// The results folder.
    pub dir: PathBuf,
}

/// Prepares and runs `config`. `live` counts tokens and requests as they
/// happen (for a progress display); `cancel` ends the run early (it is
/// then marked incomplete); `warn` shows each warning the preparation
/// found before the run begins (they are kept in `run.json` too).
pub async fn execute(
    config: RunConfig,
    live: Arc<LiveCounters>,
    cancel: CancellationToken,
    warn: &(dyn Fn(&str) + Sync),
) -> Result<RunOutput, RunnerError> {
    let job = tokio::select! {
        job = prepare(config) => job?,
        () = cancel.cancelled() => return Err(RunnerError::Interrupted),
    };
    for w in &job.warnings {
        warn(w);
    }
    let dir = job.out.clone();
    let file = benchmark(job, live, cancel).await?;
    Ok(RunOutput { file, dir })
}
