//! `run.json`: the versioned description and result of one run.
//!
//! A user-facing contract documented field by field in
//! `docs/results-schema.md`. Bump [`RUN_SCHEMA_VERSION`] when the meaning
//! of a field changes; fields may be added without a bump (readers ignore
//! what they do not know, and new fields are optional).

use serde::{Deserialize, Serialize};

use crate::histogram::SerializedHistograms;
use crate::kinds::{Api, DatasetFormat, LaunchKind, Recorded, ServerKind, Side};
use crate::summary::Summary;

/// Version of the `run.json` format.
///
/// 2: `server` is typed ([`ServerInfo`]; the demo's `simulated: true` became
/// `simulated: {profile, source}`), `host` grew the CPU, memory, kernel and
/// GPUs, and `stack`, `suite`, `launch` and `energy` were added. Version 1
/// files are still read ([`RunFile::from_json`] upgrades them).
///
/// 3: a request cut off by the end of a timed run that had received tokens
/// (`partial`) counts in the TTFT, event-gap and ITL figures, and with no
/// completed request the steady window starts at the last such stream's
/// first token; `launch` grew `box`, `fetch`, `known_answer`,
/// `image_digests` and `model_revision`, `energy` grew `source` and per-GPU state. Version 2
/// files read as they are (their latency figures left cut-off streams out).
pub const RUN_SCHEMA_VERSION: u32 = 3;

/// The oldest `run.json` version [`RunFile::from_json`] reads.
pub const OLDEST_READABLE_SCHEMA: u32 = 1;

/// What was measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// The base URL requests went to (API key never included).
    pub base_url: String,
    /// API used: `chat`, `completions`, `llama-native`, `ollama-generate`
    /// or `ollama-chat`.
    pub api: Recorded<Api>,
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
    /// Closed-loop workers; in an open-loop run, the `--max-concurrency`
    /// cap (0: none).
    pub concurrency: u32,
    /// Runtime threads the client spread its workers over (1 in files
    /// written before `--threads`).
    #[serde(default = "one")]
    pub threads: u32,
    /// Open-loop runs: requests offered per second (absent: closed loop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_rate: Option<f64>,
    /// Open-loop runs: how send times were spread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival: Option<crate::open_loop::Arrival>,
    /// The latency limits goodput was judged against (`--slo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<crate::slo::Slo>,
    /// Measured requests asked for, if the run was bounded by count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_requests: Option<u64>,
    /// Measured duration asked for, s, if bounded by time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    /// Warm-up requests sent before measuring.
    pub warmup_requests: u64,
    /// Prompt length asked for, tokens as the server counts them (chat
    /// template included); `prompt_sizing` says how exactly it was met.
    pub prompt_tokens: u32,
    /// How the prompts were sized (absent in files written before it was
    /// added, whose prompts were approximate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_sizing: Option<PromptSizing>,
    /// Requests came from this dataset instead of generated prompts
    /// (`prompt_tokens` is then 0; `summary.prompt_tokens_dist` has the
    /// lengths the server reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetInfo>,
    /// A run at a context depth (`--depth`): the context before each
    /// request's prompt and how it was treated; absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<crate::depth::DepthLoad>,
    /// A trace replay (`--trace`): which trace, and how it was fitted to
    /// the machine; absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<crate::replay::TraceLoad>,
    /// Leading prompt tokens every request shared (after the instruction),
    /// to measure prefix caching on purpose; 0: none.
    #[serde(default)]
    pub shared_prefix_tokens: u32,
    /// `max_tokens` sent with each request.
    pub output_tokens: u32,
    /// Whether `ignore_eos` was sent.
    pub ignore_eos: bool,
    /// Whether requests that ended early were left out of the statistics.
    #[serde(default)]
    pub exclude_short: bool,
    /// Ollama: a request whose `load_duration` passed this, ms, was marked
    /// a cold load (half the preload's own load when the run found the
    /// model unloaded, else 1,000). Absent for other servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_load_ms: Option<f64>,
    /// Sampling temperature sent.
    pub temperature: f64,
    /// The client's timeouts (absent in files written before they were
    /// recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<TimeoutConfig>,
    /// Seed of the prompt generator (fresh per run unless given), also sent
    /// as the sampling seed. Written in `0..=Seed::MAX` (see
    /// [`crate::Seed`]); read as any `u64`, since files written before that
    /// rule may hold larger values.
    pub seed: u64,
    /// `--thinking`: whether the run asked the model to think (`default`:
    /// nothing was sent; absent in files written before it was added).
    #[serde(default, skip_serializing_if = "is_default")]
    pub thinking: crate::kinds::Thinking,
    /// `--thinking-budget`: reasoning tokens allowed per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<u32>,
    /// Turns per conversation (`--turns`; absent: 1, every request on its
    /// own).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub turns: u32,
    /// Pause between a conversation's turns, s (`--think-time`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub think_time_s: f64,
    /// `--cache-salt`: the run's salt (request `id` was salted
    /// `<salt>-<id>`, and the generated prompts with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_salt: Option<String>,
    /// The fields the run's switches (`--thinking`, `--cache-salt`) added
    /// to every request body, in the server's own words.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub switches: serde_json::Map<String, serde_json::Value>,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// The client's timeouts, s. A request that passes one fails with its
/// kind: `timeout_first_byte` (no response headers), `timeout_idle`
/// (nothing received for that long), `timeout` (the whole request).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TimeoutConfig {
    /// Establishing a connection (TCP and TLS).
    pub connect_s: f64,
    /// From sending to the response headers.
    pub first_byte_s: f64,
    /// Between two reads of the response body.
    pub idle_s: f64,
    /// The whole request, send to end of stream.
    pub request_s: f64,
}

/// The dataset a run's requests came from, and how they were chosen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// The file, as given.
    pub path: String,
    /// `sharegpt` (a JSON array of `conversations`) or `jsonl`.
    pub format: Recorded<DatasetFormat>,
    /// SHA-256 (hex) of the selected requests, in the order sent: one
    /// canonical JSON line each (`{"prompt"|"messages", "output_tokens"}`).
    /// Two runs with the same hash sent the same workload.
    pub sha256: String,
    /// Entries read from the file.
    pub entries: u64,
    /// Entries left out: not a usable conversation (ShareGPT without a
    /// human turn and a reply) or outside the length filters.
    pub skipped: u64,
    /// Entries selected, sent in turn (request `id` gets entry `id % n`).
    pub selected: u64,
    /// `--dataset-sample`: how many entries were asked for, drawn in an
    /// order shuffled by the run seed (absent: every entry in file order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<u64>,
    /// Length filters applied, tokens of the prompt text (without the chat
    /// template) and of the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_prompt_tokens: Option<u32>,
    /// See `min_prompt_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_prompt_tokens: Option<u32>,
    /// See `min_prompt_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// What counted the lengths for the filters and ShareGPT output
    /// lengths: a local tokenizer, the server's tokenize endpoint, or an
    /// estimate (4 characters a token) when neither was there.
    pub lengths_counted_by: String,
    /// Σ output tokens asked for by the selected entries.
    pub output_tokens_total: u64,
    /// More requests were sent than there are selected entries, so entries
    /// repeated (a prefix cache may serve the repeats).
    #[serde(default)]
    pub repeated: bool,
}

/// How a run met `load.prompt_tokens`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptSizing {
    /// What counted the tokens: a tokenizer endpoint, the server's
    /// reported counts of calibration requests, or `none` (approximate).
    pub source: String,
    /// Tokens every prompt carries besides its words (chat template,
    /// special tokens, the instruction), as measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overhead_tokens: Option<u32>,
    /// Words per prompt after the instruction.
    pub words: u32,
    /// True when the count was checked to grow by exactly one token per
    /// word, so every prompt has exactly the asked-for length.
    pub exact: bool,
    /// Why not exact, or what else to know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The machine the client ran on (with a launched stack: the box under
/// test too). Whatever could not be found is absent, with the reason in
/// `notes`.
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
    /// CPU model name (`/proc/cpuinfo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_model: Option<String>,
    /// Physical memory, bytes (`/proc/meminfo` MemTotal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Kernel release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// GPUs as `nvidia-smi` reports them (empty without one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<GpuInfo>,
    /// CUDA version the driver supports (`nvidia-smi` banner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda_version: Option<String>,
    /// What could not be captured and why (e.g. `nvidia-smi: not found`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One GPU from `nvidia-smi --query-gpu=… --format=csv`. Fields the GPU
/// reports as `[N/A]` (GB10's unified memory has no dedicated total) are
/// absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuInfo {
    /// Product name, e.g. `NVIDIA GB10`.
    pub name: String,
    /// Driver version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Dedicated memory, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<f64>,
    /// Power limit, W.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_limit_w: Option<f64>,
}

/// Server metadata gathered before the run; each field present only when
/// the server offered it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// What the run treated the server as: `vllm`, `llamacpp`, `ollama`,
    /// `openai`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flavor: Option<Recorded<ServerKind>>,
    /// vLLM's `/version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The HTTP `Server` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_header: Option<String>,
    /// `/v1/models` entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelEntry>,
    /// llama-server `/props` summary (`build_info`, `total_slots`,
    /// `model_path`, `n_ctx_per_slot`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub props: Option<serde_json::Value>,
    /// The `stackbench probe` report (with flavor `auto`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<serde_json::Value>,
    /// Ollama: the preload before the run, ms (the server's
    /// `load_duration` when it gives one; Ollama 0.17 gives none for a
    /// load-only request, so the request's own duration as the client timed
    /// it). A cold load when the model was not loaded before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preload_load_ms: Option<f64>,
    /// Ollama: `version`, `model` (from `/api/show`: `digest`, `format`,
    /// `family`, `parameter_size`, `quantization`, `capabilities`,
    /// `parameter_count`, `context_length_trained`), `loaded` (from
    /// `/api/ps`: `size_bytes`, `size_vram_bytes`, `processor` as `ollama
    /// ps` words it, `context_length`, `expires_at`), and the raw `ps` entry
    /// and `show` details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ollama: Option<serde_json::Value>,
    /// Set when the server was a built-in simulated stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulated: Option<SimulatedInfo>,
}

/// One `/v1/models` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    /// Model id.
    pub id: String,
    /// `owned_by`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned_by: Option<String>,
    /// vLLM's `max_model_len`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_model_len: Option<u64>,
    /// llama-server's `meta` (`n_params`, `size`, `n_vocab`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<serde_json::Value>,
}

/// A built-in simulated stack.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SimulatedInfo {
    /// Profile name.
    pub profile: String,
    /// Where the profile's calibration figures come from.
    #[serde(default)]
    pub source: String,
}

/// How the server of a suite run was launched.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LaunchInfo {
    /// `container`, `process` or `simulator`.
    pub kind: Recorded<LaunchKind>,
    /// The full command line that started it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command_line: Vec<String>,
    /// Container engine (`docker`, `podman`) and its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// Image reference as configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Image ID (sha256 of the image config; stable, unlike the digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// Container name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The image's registry digests (`RepoDigests`, `name@sha256:…`): the
    /// identity a registry gives; empty for an image built locally.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_digests: Vec<String>,
    /// The model revision the launch pins (vLLM's `--revision`); absent:
    /// whatever the repository's default branch held at download time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_revision: Option<String>,
    /// The box just before the launch (suites with `[box]` hygiene).
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "box")]
    pub box_state: Option<BoxAtLaunch>,
    /// The model fetch run before the launch (the stack's `fetch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch: Option<FetchInfo>,
    /// The known-answer request run once the server was ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_answer: Option<KnownAnswerResult>,
}

/// The box as a launch found it, after the suite's hygiene steps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BoxAtLaunch {
    /// `dropped`, or why the page cache was not dropped (`not permitted:
    /// …`); absent when the suite does not ask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_cache: Option<String>,
    /// `MemAvailable` at the launch, GiB.
    pub mem_available_gib: f64,
    /// `MemAvailable` before the suite's first stack, GiB: the level the
    /// launch waited to get back near.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_mem_available_gib: Option<f64>,
    /// Seconds spent waiting for memory to come back (0: it was there).
    #[serde(default)]
    pub waited_s: f64,
    /// The cooldown slept before this launch, s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_s: Option<f64>,
    /// The `before-launch` hook as run (secrets hidden) and how it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
    /// `[box] max-start-temp-c`: the limit, and the seconds waited for
    /// every GPU to cool below it (absent when the suite does not ask).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heat_wait: Option<HeatWait>,
    /// Each GPU `nvidia-smi` reports, at the launch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<GpuAtLaunch>,
}

/// The wait for the GPUs to cool before a launch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeatWait {
    /// `max-start-temp-c`.
    pub max_c: f64,
    /// Seconds waited (0: cool already).
    pub waited_s: f64,
    /// The hottest GPU when the wait began, °C (absent: no GPU reports a
    /// temperature, and nothing was waited for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hottest_at_start_c: Option<f64>,
}

/// One GPU at a launch; each figure only where the GPU reports it (GB10
/// reports no dedicated memory: its memory is the box's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuAtLaunch {
    /// `nvidia-smi`'s index.
    pub index: u32,
    /// Memory in use, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_used_mib: Option<f64>,
    /// Temperature, °C.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_c: Option<f64>,
}

/// A stack's model fetch (its `fetch` command), run before the launch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FetchInfo {
    /// The command as run (secrets hidden).
    pub command: Vec<String>,
    /// How long it took, s.
    pub seconds: f64,
    /// The files the stack's `fetch-expects` names, found after the fetch
    /// (paths on the machine that ran it, `${VAR}`s expanded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FetchedFile>,
}

/// A file the launch loads, present after the fetch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FetchedFile {
    /// Its path.
    pub path: String,
    /// Its size, bytes.
    pub bytes: u64,
}

/// The known-answer request of a stack (`[known-answer]`): a greedy
/// answer checked for an expected substring before the benchmark.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KnownAnswerResult {
    /// The prompt.
    pub prompt: String,
    /// The word or number the answer must hold whole (case-insensitive);
    /// empty when the check is `expect_pattern`.
    #[serde(default)]
    pub expect: String,
    /// The regular expression the answer must match, when the check is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_pattern: Option<String>,
    /// What the server answered: its content, reasoning removed (cut to
    /// 500 characters); `error: …` when there was no answer.
    pub answer: String,
    /// Whether the answer passed the check.
    pub passed: bool,
    /// Why it did not pass (no whole-word match, no pattern match, the
    /// reply ended while still reasoning, an error); absent when it passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where a run sat in a suite, and the box figures the tables need.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SuiteContext {
    /// Suite name.
    pub suite: String,
    /// Scenario name.
    pub scenario: String,
    /// The stack file the stack came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_file: Option<String>,
    /// Memory bandwidth of the box, GB/s (roofline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_gb_s: Option<f64>,
    /// Where that figure comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_source: Option<String>,
    /// Repeat number, from 1.
    #[serde(default = "one")]
    pub repeat: u32,
    /// The side of an upgrade check (`baseline`, `candidate`) this run
    /// was, when it was one (`stackbench upgrade-check`, `calibrate`):
    /// part of the run's identity (`crate::identity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side: Option<Recorded<Side>>,
}

fn one() -> u32 {
    1
}

/// GPU energy and state over the measured phase, from NVML (the energy
/// counter when the GPU has one) or `nvidia-smi` samples every 250 ms.
/// Fields added after the first version are optional, so older files read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnergyInfo {
    /// False when no GPU reported power (see `note`).
    pub available: bool,
    /// Why not, or what was missing (e.g. no NVML, so `nvidia-smi`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Samples taken (sampling ticks, each covering every GPU).
    pub samples: u64,
    /// Mean power over the samples, W (all GPUs summed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_power_w: Option<f64>,
    /// Energy over the measured phase, J (all GPUs summed): the energy
    /// counter's delta, or trapezoids over the power samples (see `source`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_j: Option<f64>,
    /// Output tokens per joule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_joule: Option<f64>,
    /// Where `energy_j` comes from: `nvml-energy` (NVML's energy counter
    /// delta), `nvml-power` (NVML power readings integrated),
    /// `nvidia-smi-energy` (`total_energy_consumption` delta),
    /// `power.draw.instant` or `power.draw` (`nvidia-smi` power integrated;
    /// `power.draw` is a one-second average on newer drivers). Absent in
    /// files written before it was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Per GPU: energy, temperature, clocks and throttle reasons over the
    /// phase (empty when no GPU was sampled, and in older files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<GpuPhaseInfo>,
}

/// One GPU over the measured phase. Each figure is present only when the
/// GPU reported it (GB10 reports no memory clock, for instance).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuPhaseInfo {
    /// GPU index as NVML and `nvidia-smi` number it.
    pub index: u32,
    /// Samples of this GPU.
    pub samples: u64,
    /// Energy of this GPU over the phase, J (same source as the total).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_j: Option<f64>,
    /// Mean power of this GPU, W.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_power_w: Option<f64>,
    /// Lowest GPU temperature, °C.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_min_c: Option<f64>,
    /// Highest GPU temperature, °C.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_max_c: Option<f64>,
    /// Mean GPU temperature over the samples, °C.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_mean_c: Option<f64>,
    /// Lowest SM clock, MHz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sm_clock_min_mhz: Option<f64>,
    /// Mean SM clock over the samples, MHz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sm_clock_mean_mhz: Option<f64>,
    /// Mean memory clock over the samples, MHz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_clock_mean_mhz: Option<f64>,
    /// Samples that carried a throttle-reason bitmask (the denominator of
    /// each reason's `share`; absent when the GPU reported none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle_samples: Option<u64>,
    /// Clock event (throttle) reasons seen at least once, in bit order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub throttle_reasons: Vec<ThrottleShare>,
}

/// A clock event (throttle) reason and how often it was active.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThrottleShare {
    /// Reason name: `gpu_idle`, `applications_clocks_setting`,
    /// `sw_power_cap`, `hw_slowdown`, `sync_boost`, `sw_thermal_slowdown`,
    /// `hw_thermal_slowdown`, `hw_power_brake_slowdown`,
    /// `display_clock_setting`, or `unknown_0x…` for a bit NVML added later.
    pub reason: String,
    /// Share of the GPU's throttle samples with this reason active, 0–1.
    pub share: f64,
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
    /// What the run found worth a warning before it began (a probe that
    /// failed, approximate prompt lengths, an Ollama without ignore_eos).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
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
    /// Server metadata gathered before the run.
    #[serde(default)]
    pub server: ServerInfo,
    /// The client machine (and the box under test when stackbench
    /// launched the stack).
    pub host: HostInfo,
    /// The stack configuration, for suite runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<crate::stack::StackConfig>,
    /// Suite, scenario and box figures, for suite runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite: Option<SuiteContext>,
    /// How the server was launched, when stackbench launched it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<LaunchInfo>,
    /// GPU energy over the measured phase (suite runs; `nvidia-smi`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<EnergyInfo>,
    /// Results of the measured phase.
    pub summary: Summary,
    /// The merged histograms of the measured phase.
    pub histograms: SerializedHistograms,
    /// Output tokens over time (absent in files written before it was
    /// added): the report's tok/s-over-time plot, and how `merge` sums
    /// shards over their shared window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<crate::timeline::TimelineSeries>,
    /// Set when this run is the merge of shards from several load
    /// machines (`stackbench merge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<MergeInfo>,
    /// The server's own counters over the measured phase, beside ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_metrics: Option<ServerMetrics>,
    /// Whether the run was clean and warm: the cache reset and its proof,
    /// the cache check, the warm-up, steadiness, the flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hygiene: Option<crate::hygiene::Hygiene>,
    /// A trace replay (`--trace`): how faithfully it followed the trace,
    /// and its sessions' and tool calls' figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<crate::replay::ReplayReport>,
}

/// What `stackbench merge` combined.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MergeInfo {
    /// The shard folders, in order (`requests.jsonl` lines carry their
    /// index as `shard`).
    pub shards: Vec<String>,
    /// The shared window, µs since the merged run's start (the earliest
    /// shard's start): from the latest shard's steady-window start to the
    /// earliest shard's steady-window end. Totals are summed over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_window_us: Option<[u64; 2]>,
    /// The largest gap between shard start times, ms (clock skew between
    /// load machines adds to it unseen: keep them on NTP).
    pub start_spread_ms: f64,
}

/// Why a `run.json` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RunFileError {
    /// Not JSON, or not a `run.json` of a readable version.
    #[error("not a valid run.json: {0}")]
    Invalid(#[from] serde_json::Error),
    /// Written by a newer stackbench.
    #[error("run.json schema_version {found} is newer than this stackbench reads ({RUN_SCHEMA_VERSION}); upgrade stackbench")]
    TooNew {
        /// The file's version.
        found: u64,
    },
    /// No `schema_version`.
    #[error("run.json has no schema_version")]
    NoVersion,
}

impl RunFile {
    /// Reads a `run.json` of any readable version, upgrading older ones.
    pub fn from_json(bytes: &[u8]) -> Result<Self, RunFileError> {
        let mut v: serde_json::Value = serde_json::from_slice(bytes)?;
        let version = v
            .get("schema_version")
            .and_then(serde_json::Value::as_u64)
            .ok_or(RunFileError::NoVersion)?;
        if version > u64::from(RUN_SCHEMA_VERSION) {
            return Err(RunFileError::TooNew { found: version });
        }
        if version < 2 {
            upgrade_v1_server(&mut v);
        }
        Ok(serde_json::from_value(v)?)
    }
}

/// Version 1's `server` was free-form; the demo wrote `simulated: true`
/// beside `profile` and `source`.
fn upgrade_v1_server(v: &mut serde_json::Value) {
    let Some(server) = v.get_mut("server").and_then(|s| s.as_object_mut()) else {
        return;
    };
    if server.get("simulated") == Some(&serde_json::Value::Bool(true)) {
        let text = |v: Option<serde_json::Value>| {
            v.and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        let profile = text(server.remove("profile"));
        let source = text(server.remove("source"));
        server.insert(
            "simulated".into(),
            serde_json::json!({"profile": profile, "source": source}),
        );
    }
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
