//! Stack configurations: what a stack is (flavor, API, model, labels), how
//! to launch it (a container, a process, or the built-in simulator) and the
//! facts the tables need (model size for the roofline, published figures).
//!
//! These are the types of `configs/stacks/*.toml` (kebab-case keys, unknown
//! keys rejected) and of `run.json`'s `stack`, so a result folder says
//! exactly what was launched. Loading, overrides and validation with file
//! and line live in `stackbench-stacks`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::kinds::{Api, FlavorChoice, LaunchKind};

/// One stack: a server (launched by stackbench or already running) and the
/// labels its results go under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct StackConfig {
    /// Row label in the tables, e.g. `vLLM NVFP4+MTP-1`; also the key of
    /// `--only` and `--set stack.NAME.…`.
    pub name: String,
    /// The Stack column of the tables (e.g. `vLLM`); default: `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `vllm`, `llamacpp`, `ollama`, `openai` or `auto` (probe the server).
    #[serde(default)]
    pub flavor: FlavorChoice,
    /// `chat`, `completions`, `native`, `ollama-generate` or `ollama-chat`.
    #[serde(default)]
    pub api: Api,
    /// Model name sent in requests; default: the first the server lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Quantization label for the tables.
    #[serde(default)]
    pub quantization: String,
    /// Where the server answers: a root or `/v1` URL. Default:
    /// `http://127.0.0.1:PORT` with the launch's published port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// How long the launched server may take to become ready, e.g. `20m`
    /// (model downloads and CUDA-graph captures take minutes).
    #[serde(default = "default_ready_timeout")]
    pub ready_timeout: DurationText,
    /// The longest wait for a response's headers in this stack's runs,
    /// e.g. `30m`; overrides the scenario's and the default (5m). A server
    /// that queues requests and sends no header before a request's first
    /// token (Ollama serving one request at a time) needs the whole
    /// queue's time here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_byte_timeout: Option<DurationText>,
    /// The per-request timeout in this stack's runs; overrides the
    /// scenario's and the default (10m). At least `first-byte-timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<DurationText>,
    /// Available memory (`MemAvailable`, GiB) the server needs to start,
    /// checked just before the launch: a box short of it fails the stack
    /// at once, naming both numbers and the largest processes, instead of
    /// a server failing minutes into its start (vLLM on unified memory
    /// wants `--gpu-memory-utilization` × the GPU's total free).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_need_gib: Option<f64>,
    /// A known remedy to show with this stack's failures (a failed start,
    /// a failed scenario, a wrong known answer): e.g. the `--set` line
    /// that disables a kernel known to fail on this box.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_hint: Option<String>,
    /// Scrape `/metrics` during runs (off for servers that have none).
    #[serde(default = "yes")]
    pub metrics: bool,
    /// Extra JSON fields merged into every request body.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_body: BTreeMap<String, serde_json::Value>,
    /// The model's `tokenizer.json` (or its folder), relative to the stack
    /// file: sizes prompts exactly on servers without a tokenizer endpoint
    /// (Ollama) instead of calibration requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<String>,
    /// A one-off command that makes the model present (a download into
    /// the cache the launch mounts, e.g. `hf download REPO`), run before
    /// the launch and before `ready-timeout` starts, in the stack file's
    /// folder; `${VAR}`s expanded.
    /// Ollama needs none: a run pulls a missing model through `/api/pull`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fetch: Vec<String>,
    /// Files the launch loads that `fetch` must make present (paths on
    /// this machine, relative to the stack file's folder, `${VAR}`s
    /// expanded), checked after the fetch: a download that fetched
    /// nothing the launch needs (`hf download --include` matching no file
    /// exits 0) fails there, naming the file and what its folder holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fetch_expects: Vec<String>,
    /// How long `fetch` may take, e.g. `2h`.
    #[serde(default = "default_fetch_timeout")]
    pub fetch_timeout: DurationText,
    /// Environment variables that hold secrets besides the known ones
    /// (`HF_TOKEN`, `*_TOKEN`, `*_API_KEY`, …; see `docs/configuration.md`):
    /// their values are hidden wherever a command, an error or a log tail
    /// is shown or kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_env: Vec<String>,
    /// A known-answer request run once the server is ready, before the
    /// benchmark: a stack that answers wrong is marked in the tables (fast
    /// and wrong is not a result).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_answer: Option<KnownAnswer>,
    /// How stackbench starts and stops the server; absent: it is already
    /// running at `base-url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<Launch>,
    /// Model facts for the roofline column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_facts: Option<ModelFacts>,
    /// Published figures to show beside the measured ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
}

/// A duration as people write it (`90s`, `20m`, `1h30m`), checked when
/// read and kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DurationText(String);

impl DurationText {
    /// The duration.
    pub fn get(&self) -> std::time::Duration {
        parse_duration(&self.0).unwrap_or_default()
    }

    /// As written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for DurationText {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, DurationError> {
        parse_duration(s).map(|_| Self(s.to_string()))
    }
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a text is not a duration; each names the text as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not a number with units (`soon`, `5x`) or too large.
    #[error("'{0}' is not a duration like 30s, 5m or 1h30m")]
    Malformed(String),
    /// Zero (`0s`): every duration here bounds a wait.
    #[error("'{0}': a duration must be greater than zero")]
    Zero(String),
}

/// Parses `30s`, `5m`, `1h30m`, `250ms` (a number alone is seconds).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, DurationError> {
    let t = s.trim();
    let d = if let Ok(secs) = t.parse::<u64>() {
        std::time::Duration::from_secs(secs)
    } else {
        parse_units(t).ok_or_else(|| DurationError::Malformed(s.to_string()))?
    };
    if d.is_zero() {
        return Err(DurationError::Zero(s.to_string()));
    }
    Ok(d)
}

fn parse_units(s: &str) -> Option<std::time::Duration> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&n| n > 0)?;
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "ms" => 1e-3,
            "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[u..];
    }
    total
        .is_finite()
        .then(|| std::time::Duration::try_from_secs_f64(total).ok())
        .flatten()
}

/// A greedy (temperature 0) request whose answer (the content, never the
/// reasoning) must hold `expect` as a whole word or match
/// `expect-pattern`; the loader requires exactly one of the two.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct KnownAnswer {
    /// The question, sent as one user message (or the prompt of the
    /// stack's completion API).
    pub prompt: String,
    /// A word, number or phrase the answer must hold whole,
    /// case-insensitively: `391` passes `The answer is 391.`, not `3910`,
    /// `1391` or `391.5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// A regular expression (Rust `regex` syntax; `(?i)` for any case)
    /// the answer must match somewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_pattern: Option<String>,
    /// Output tokens allowed for the answer.
    #[serde(default = "default_known_answer_tokens")]
    pub max_tokens: u32,
}

fn default_known_answer_tokens() -> u32 {
    32
}

fn default_fetch_timeout() -> DurationText {
    DurationText("2h".into())
}

fn default_ready_timeout() -> DurationText {
    DurationText("10m".into())
}
fn yes() -> bool {
    true
}

impl StackConfig {
    /// The Stack column: `label`, else `name`.
    pub fn display(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.name)
    }
}

/// How to launch a stack: exactly one of the three tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Launch {
    /// `docker run` / `podman run`.
    Container(ContainerLaunch),
    /// A local command (a server binary or a start script).
    Process(ProcessLaunch),
    /// A built-in simulated stack, served inside stackbench.
    Simulator(SimulatorLaunch),
}

impl Launch {
    /// Which of the three it is.
    pub fn kind(&self) -> LaunchKind {
        match self {
            Self::Container(_) => LaunchKind::Container,
            Self::Process(_) => LaunchKind::Process,
            Self::Simulator(_) => LaunchKind::Simulator,
        }
    }
}

/// A server in a container, started detached with `--rm` and labelled so
/// that an interrupted suite's leftovers can be found and removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ContainerLaunch {
    /// `docker` or `podman`.
    pub engine: Engine,
    /// Image reference with its tag, e.g. `vllm/vllm-openai:v0.32.0`.
    pub image: String,
    /// Arguments after the image (the server's own flags).
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables set in the container.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Volumes, `HOST:CONTAINER[:OPTIONS]` (e.g. the Hugging Face cache).
    #[serde(default)]
    pub volumes: Vec<String>,
    /// GPU request passed as `--gpus` (docker) or `--device` (podman CDI),
    /// e.g. `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<String>,
    /// `--shm-size`, e.g. `16g`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<String>,
    /// Published ports `HOST:CONTAINER`; the first one's host side is the
    /// default base URL's port.
    #[serde(default)]
    pub ports: Vec<String>,
    /// `--network`, e.g. `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// `--pull` policy: `never`, `missing` (default) or `always`.
    #[serde(default)]
    pub pull: Pull,
    /// Further engine options placed before the image (e.g. `--ipc=host`).
    #[serde(default)]
    pub engine_args: Vec<String>,
}

/// A container engine; both take the same `run` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// Docker.
    Docker,
    /// Podman.
    Podman,
}

impl Engine {
    /// The command.
    pub fn program(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Podman => "podman",
        }
    }
}

/// When the engine pulls the image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pull {
    /// Never: the image must be there.
    Never,
    /// When missing.
    #[default]
    Missing,
    /// Always.
    Always,
}

impl Pull {
    /// The `--pull` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Never => "never",
            Self::Missing => "missing",
            Self::Always => "always",
        }
    }
}

/// A server started as a local process (its own process group, killed with
/// its children at teardown and when stackbench itself dies).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ProcessLaunch {
    /// Program and arguments. `${VAR}` and `${VAR:-default}` are expanded
    /// from the environment.
    pub command: Vec<String>,
    /// Environment variables added for the process.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory, relative to the stack file's folder; default:
    /// the current directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// The port the server listens on (for the default base URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// One of stackbench's built-in simulated stacks (see `stackbench sim`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SimulatorLaunch {
    /// Built-in profile name, e.g. `vllm-nvfp4-mtp1`.
    pub profile: String,
}

/// What the roofline needs to know about the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ModelFacts {
    /// Total parameters, billions.
    pub total_params_b: f64,
    /// Parameters read per token, billions (MoE: the active experts).
    pub active_params_b: f64,
    /// Average bits per weight of the quantized checkpoint.
    pub bits_per_weight: f64,
    /// Tokens per verification step when decoding speculatively (MTP-1: up
    /// to 2); the bound then applies per step, not per token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speculative_tokens: Option<u32>,
}

/// Figures published for this stack, with where and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Reference {
    /// Single-user decode tok/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_user_tok_s: Option<f64>,
    /// Total output tok/s at `concurrency` users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_tok_s: Option<f64>,
    /// Users behind `total_tok_s`.
    #[serde(default = "default_reference_concurrency")]
    pub concurrency: u32,
    /// Where the figures come from (URL or citation).
    pub source: String,
    /// When they were published, `YYYY-MM-DD`.
    pub date: String,
    /// The versions behind the figures (engine build or image, tool), e.g.
    /// `llama.cpp build 6918 (2f68ce7cf)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// How they were measured (tool, prompt and output lengths, repeats),
    /// e.g. `llama-bench tg32`, `llama-benchy 0.3.5 pp1024/tg128`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The figures come from an in-process tool (`llama-bench`,
    /// `llama-batched-bench`): no HTTP server, no streaming, no chat
    /// template. A server run is expected to be somewhat lower; the tables
    /// mark the Published figure so its Diff is read that way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_process: bool,
}

fn default_reference_concurrency() -> u32 {
    32
}

impl ModelFacts {
    /// Bytes of weights read per decoding step.
    pub fn bytes_per_step(&self) -> f64 {
        self.active_params_b * 1e9 * self.bits_per_weight / 8.0
    }

    /// The decode rate memory bandwidth allows at one user: bandwidth /
    /// bytes per step, in steps per second (= tokens per second without
    /// speculative decoding).
    pub fn roofline_steps_per_s(&self, bandwidth_gb_s: f64) -> Option<f64> {
        let bytes = self.bytes_per_step();
        (bytes > 0.0 && bandwidth_gb_s > 0.0).then(|| bandwidth_gb_s * 1e9 / bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_people_write_them() {
        assert_eq!(
            parse_duration("90s"),
            Ok(std::time::Duration::from_secs(90))
        );
        assert_eq!(
            parse_duration("1h30m"),
            Ok(std::time::Duration::from_secs(5400))
        );
        assert_eq!(
            parse_duration("250ms"),
            Ok(std::time::Duration::from_millis(250))
        );
        assert_eq!(parse_duration("45"), Ok(std::time::Duration::from_secs(45)));
        assert_eq!(
            parse_duration("soon"),
            Err(DurationError::Malformed("soon".into()))
        );
        assert_eq!(
            parse_duration("0s").map_err(|e| e.to_string()),
            Err("'0s': a duration must be greater than zero".into())
        );
        assert_eq!(
            parse_duration("5x").map_err(|e| e.to_string()),
            Err("'5x' is not a duration like 30s, 5m or 1h30m".into())
        );
        assert!(parse_duration("5x").is_err());
        // Found by the fuzzer: past what a Duration holds is an error, not
        // a panic.
        assert!(parse_duration("184467440737095516162m").is_err());
    }

    #[test]
    fn roofline_of_a_3b_active_moe_at_4_5_bits_on_gb10() {
        let f = ModelFacts {
            total_params_b: 35.0,
            active_params_b: 3.0,
            bits_per_weight: 4.5,
            speculative_tokens: None,
        };
        // 3e9 × 4.5 / 8 = 1.6875 GB per token; 273 GB/s / that = 161.8/s.
        let bound = f.roofline_steps_per_s(273.0).expect("positive inputs");
        assert!((bound - 161.78).abs() < 0.01, "{bound}");
        assert_eq!(f.roofline_steps_per_s(0.0), None);
    }
}
