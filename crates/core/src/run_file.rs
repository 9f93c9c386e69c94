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
    /// Whether requests that ended early were left out of the statistics.
    #[serde(default)]
    pub exclude_short: bool,
    /// Sampling temperature sent.
    pub temperature: f64,
    /// Seed of the prompt generator (fresh per run unless given), also sent
    /// as the sampling seed. Written in `0..=Seed::MAX` (see
    /// [`crate::Seed`]); read as any `u64`, since files written before that
    /// rule may hold larger values.
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
    /// The server's own counters over the measured phase, beside ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_metrics: Option<ServerMetrics>,
}

/// The server's view of the measured phase, from `/metrics` scrapes taken
/// right before the first and after the last measured request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerMetrics {
    /// The scraped URL.
    pub endpoint: String,
    /// False when the endpoint was missing or disabled (see `note`).
    pub available: bool,
    /// Why the figures are missing or partial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Scrapes written to `server-metrics.jsonl`.
    pub scrapes: u64,
    /// Seconds between the before and after scrapes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_s: Option<f64>,
    /// Generated tokens counted by the server in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<f64>,
    /// Server seconds spent generating, summed over slots (llama-server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_seconds: Option<f64>,
    /// Prompt tokens processed by the server in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<f64>,
    /// `tokens / window_s`: the server's total output rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tok_s_wall: Option<f64>,
    /// `tokens / tokens_seconds`: a per-stream decode rate (the seconds
    /// counter sums every slot's time, so at c>1 this is not a total).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_stream_decode_tok_s: Option<f64>,
    /// (client output tokens − server tokens) / server tokens × 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_diff_pct: Option<f64>,
    /// (client `output_tok_s_wall` − `tok_s_wall`) / `tok_s_wall` × 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tok_s_diff_pct: Option<f64>,
    /// (client `summary.decode_tok_s_pooled` − `per_stream_decode_tok_s`) /
    /// `per_stream_decode_tok_s` × 100: both are ratios of sums over the
    /// same requests, so this is the like-for-like decode comparison (the
    /// client's median of per-request rates weighs requests differently and
    /// may differ from the pooled figure by several percent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_diff_pct: Option<f64>,
    /// Speculative decoding steps in the window (absent when the server
    /// ran none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_drafts: Option<f64>,
    /// Draft acceptance rate: accepted / proposed draft tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_acceptance_rate: Option<f64>,
    /// Mean tokens per verification step: 1 + accepted / steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_mean_acceptance_length: Option<f64>,
    /// Highest number of requests running at a scrape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_running: Option<f64>,
    /// Highest number of requests waiting (queued, deferred) at a scrape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_waiting: Option<f64>,
    /// Highest KV-cache usage at a scrape, 0–1 (vLLM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_kv_cache_usage: Option<f64>,
    /// Preemptions during the window (vLLM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preemptions: Option<f64>,
    /// Prefix-cache hits / lookups during the window, in tokens (vLLM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_cache_hit_rate: Option<f64>,
    /// vLLM's `cache_config_info` labels (KV-cache configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_config: Option<std::collections::BTreeMap<String, String>>,
}
