//! One benchmark run, from a validated [`RunConfig`] to a results folder:
//! wait for the server, pick the model, gather metadata and probe, build the
//! driver and load plan, run it with `/metrics` scrapes and power samples
//! around the measured phase, and write `requests.jsonl` and `run.json`.
//!
//! `stackbench run`, `demo` and `suite` all go through [`execute`]; the
//! clap flags and the suite's TOML scenarios are two ways to fill the same
//! [`RunSettings`], which [`RunSettings::into_run_config`] checks and turns
//! into a [`RunConfig`].
#![warn(missing_docs)]

mod config;
pub mod dataset;
mod depth_check;
mod error;
pub mod gpu;
pub mod host;
mod hygiene;
mod load;
mod power;
mod prepare;
pub mod prompt_size;
mod replay_judge;
mod results;
mod server_side;
mod server_watch;
mod settings;
pub mod sweep;
pub mod trace;

use std::path::PathBuf;
use std::sync::Arc;

use stackbench_core::run_file::RunFile;
use stackbench_engine::LiveCounters;
use tokio_util::sync::CancellationToken;

pub use config::{RunConfig, RunContext};
pub use error::RunnerError;
pub use gpu::NVIDIA_SMI_ENV;
pub use load::{load_records, load_runs, LoadError, LoadedRun};
pub use power::PowerSampler;
pub use prepare::{prepare, random_seed};
pub use results::{benchmark, default_out, safe_name, utc_stamp, Job};
pub use settings::{Naming, RunSettings, Setting, SettingError};
pub use stackbench_core::kinds::{Api, FlavorChoice, ServerKind};

/// Where a run's lines for the user go before it starts: the caller decides
/// how to show them (the library prints nothing).
#[derive(Clone, Copy)]
pub struct Notes<'a> {
    /// Progress: what we are waiting for.
    pub progress: &'a (dyn Fn(&str) + Sync),
    /// Warnings (also kept in `run.json`).
    pub warn: &'a (dyn Fn(&str) + Sync),
}

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
/// then marked incomplete); `say` shows progress before the run begins
/// (waiting for the server) and each warning the preparation found (kept
/// in `run.json` too).
pub async fn execute(
    config: RunConfig,
    live: Arc<LiveCounters>,
    cancel: CancellationToken,
    say: Notes<'_>,
) -> Result<RunOutput, RunnerError> {
    let job = tokio::select! {
        job = prepare(config, say.progress) => job?,
        () = cancel.cancelled() => return Err(RunnerError::Interrupted),
    };
    for w in &job.warnings {
        (say.warn)(w);
    }
    let dir = job.out.clone();
    let before = job.warnings.len();
    let file = benchmark(job, live, cancel).await?;
    for w in file.warnings.iter().skip(before) {
        (say.warn)(w);
    }
    Ok(RunOutput { file, dir })
}
