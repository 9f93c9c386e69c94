//! `suite.json`: what a suite did to each stack, written at the start and
//! rewritten after every stack, so an interrupted suite still says what
//! ran, what failed and why. A contract like `run.json`
//! (`docs/results-schema.md`).

use serde::{Deserialize, Serialize};
use stackbench_core::kinds::{Recorded, Side};
use stackbench_core::run_file::LaunchInfo;

/// Version of the `suite.json` format.
pub const SUITE_SCHEMA_VERSION: u32 = 1;

/// The whole `suite.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteFile {
    /// [`SUITE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// stackbench version that wrote it.
    pub stackbench_version: String,
    /// Suite name.
    pub suite: String,
    /// The suite file.
    pub file: String,
    /// argv as typed.
    pub command_line: Vec<String>,
    /// Start, RFC 3339 UTC.
    pub started_at: String,
    /// End (absent while running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// True when every stack was attempted (each may still have failed).
    pub complete: bool,
    /// Set when Ctrl-C or SIGTERM stopped the suite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
    /// Rounds run (the suite's `repeat`): with more than one, each
    /// scenario's runs are in `<stack>/<scenario>/r<K>/`.
    #[serde(default = "one")]
    pub repeat: u32,
    /// The seed the scenarios' order was shuffled by (`shuffle`,
    /// `--shuffle`); absent when they ran as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shuffle: Option<u64>,
    /// The scenarios in the order they ran on each stack (after any
    /// shuffle; absent in files written before it was recorded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scenario_order: Vec<String>,
    /// The suite's `[compare]` thresholds, % by metric key, for
    /// `stackbench compare` (absent when the suite sets none).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub thresholds: std::collections::BTreeMap<String, f64>,
    /// Orphaned containers removed before starting.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub swept: Vec<String>,
    /// One entry per stack, in suite order.
    pub stacks: Vec<StackOutcome>,
    /// Problems that belong to no one stack: a container whose removal
    /// failed where no stack's teardown could report it (a panic).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

fn one() -> u32 {
    1
}

/// What happened to one stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackOutcome {
    /// Stack name.
    pub name: String,
    /// The side of an upgrade check (`baseline`, `candidate`), when this
    /// stack is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side: Option<Recorded<Side>>,
    /// Outcome.
    pub status: StackStatus,
    /// Why it failed or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The server log, relative to the suite folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// Run folders written, relative to the suite folder.
    #[serde(default)]
    pub runs: Vec<String>,
    /// How it was launched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<LaunchInfo>,
    /// What went wrong without failing the stack: a teardown that left its
    /// container behind, say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A stack's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StackStatus {
    /// Not reached yet.
    Pending,
    /// Every scenario ran.
    Ok,
    /// Launch, readiness or a scenario failed (see `reason`).
    Failed,
    /// Not run: the suite was stopped first.
    Skipped,
}
