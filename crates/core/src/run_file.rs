//! `run.json`: the versioned description and result of one run.
//!
//! A user-facing contract documented field by field in
//! `docs/results-schema.md` and checked against `docs/run.schema.json` by the
//! tests. Bump [`RUN_SCHEMA_VERSION`] when the meaning of a field changes.

use serde::{Deserialize, Serialize};

use crate::histogram::SerializedHistograms;
use crate::summary::Summary;

/// Version of the `run.json` format.
pub const RUN_SCHEMA_VERSION: u32 = 1;

/// What was measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// The base URL requests went to (API key never included).
    pub base_url: String,
    /// API used: `chat` or `completions`.
    pub api: String,
    /// Model name sent in requests.
    pub model: String,
    /// A label for tables (stack name, e.g. `vllm`), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// Quantization label for tables, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<String>,
}

/// The load that was applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadConfig {
    /// Closed-loop workers.
    pub concurrency: u32,
    /// Measured requests asked for, if the run was bounded by count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_requests: Option<u64>,
    /// Measured duration asked for, s, if bounded by time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    /// Warm-up requests sent before measuring.
    pub warmup_requests: u64,
    /// Approximate prompt length asked for, tokens.
    pub prompt_tokens: u32,
    /// `max_tokens` sent with each request.
    pub output_tokens: u32,
    /// Whether `ignore_eos` was sent.
    pub ignore_eos: bool,
    /// Sampling temperature sent.
    pub temperature: f64,
    /// Seed of the prompt generator (fresh per run unless given), also sent
    /// as the sampling seed.
    pub seed: u64,
}

/// The machine the client ran on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    /// Host name.
    pub hostname: String,
    /// Operating system.
    pub os: String,
    /// CPU architecture.
    pub arch: String,
    /// Logical CPUs.
    pub cpus: usize,
}

/// The whole `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFile {
    /// [`RUN_SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// stackbench version that wrote it.
    pub stackbench_version: String,
    /// True only when the run finished as planned; false while it runs and
    /// when it was interrupted.
    pub complete: bool,
    /// Why the run stopped early (`interrupted`, `error: ...`), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
    /// Start, RFC 3339 UTC.
    pub started_at: String,
    /// End, RFC 3339 UTC (absent while running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The command line, as typed (never holds the API key: keys come from
    /// an environment variable).
    pub command_line: Vec<String>,
    /// What was measured.
    pub target: Target,
    /// The load applied.
    pub load: LoadConfig,
    /// Server metadata gathered before the run (free-form per stack).
    #[serde(default)]
    pub server: serde_json::Value,
    /// The client machine.
    pub host: HostInfo,
    /// Results of the measured phase.
    pub summary: Summary,
    /// The merged histograms of the measured phase.
    pub histograms: SerializedHistograms,
}
