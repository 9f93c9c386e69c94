//! The suite file's types: what a `configs/suites/*.toml` may say (suite,
//! box facts, scenario defaults, scenarios) and what loading returns (a
//! [`Suite`] with its [`StackEntry`]s). Serde does the per-key checks; the
//! checks across keys live in `check`.

use stackbench_core::hygiene::WarmupSpec;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use stackbench_core::kinds::Side;
use stackbench_core::slo::Slo;
use stackbench_core::stack::{DurationText, StackConfig};

/// A suite file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SuiteConfig {
    /// Suite name (folder names, `run.json`).
    pub name: String,
    /// What the suite is for.
    #[serde(default)]
    pub description: String,
    /// Stack files, relative to the suite file, run in this order.
    pub stacks: Vec<String>,
    /// Run each scenario on every stack at once instead of one stack after
    /// another: only for stacks that do not share a box (simulated stacks,
    /// or servers on separate machines), as stacks on one box would
    /// compete for it. Refused with `[box]` hygiene, which assumes one
    /// stack on the box at a time.
    #[serde(default)]
    pub parallel: bool,
    /// Run every scenario this many times (`--repeat` overrides). Repeats
    /// go in rounds: each round launches every stack in turn (all at once
    /// with `parallel`), runs each scenario once and tears it down, so
    /// drift over time (heat, background load) hits every stack alike and
    /// the spread includes the launch-to-launch variance an upgrade
    /// changes. Runs land in `<stack>/<scenario>/r<K>/`.
    #[serde(default = "default_repeat")]
    pub repeat: u32,
    /// Run the scenarios in an order shuffled by this seed (`--shuffle`
    /// overrides), the same order for every stack and round, so heat and
    /// drift do not line up with depth or load; recorded in `suite.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shuffle: Option<u64>,
    /// Regression thresholds for `stackbench compare`, % by metric key
    /// (`decode_tok_s_p50 = 3`); recorded in `suite.json`, where
    /// `compare` finds them. `--threshold` overrides.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub compare: std::collections::BTreeMap<String, f64>,
    /// Facts about the box under test.
    #[serde(default, rename = "box")]
    pub box_facts: BoxFacts,
    /// Scenario defaults.
    #[serde(default)]
    pub defaults: ScenarioDefaults,
    /// The scenarios, run in this order on each stack.
    #[serde(rename = "scenario")]
    pub scenarios: Vec<Scenario>,
}

/// What the roofline needs to know about the box, and how to keep it
/// fair between stacks (hygiene before each launch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BoxFacts {
    /// Memory bandwidth, GB/s (GB10: 273).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_gb_s: Option<f64>,
    /// Where that figure comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_source: Option<String>,
    /// Before each launch, drop the page cache (`sync; echo 3 >
    /// /proc/sys/vm/drop_caches`, root only; noted when not permitted):
    /// on unified memory (GB10) the previous stack's weights in the page
    /// cache count as used and fail vLLM's start-up memory check.
    #[serde(default)]
    pub drop_page_cache: bool,
    /// Before each launch, wait until available memory (and GPU memory,
    /// where `nvidia-smi` reports it) is back within `memory-tolerance-gib`
    /// of its level before the first stack.
    #[serde(default)]
    pub settle_memory: bool,
    /// How far below the first level memory may stay, GiB.
    #[serde(default = "default_memory_tolerance")]
    pub memory_tolerance_gib: f64,
    /// How long to wait for memory to come back before the stack fails.
    #[serde(default = "default_settle_timeout")]
    pub settle_timeout: stackbench_core::stack::DurationText,
    /// A pause before each launch after the first (heat, clocks), e.g. `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<stackbench_core::stack::DurationText>,
    /// A command run before each launch (`STACKBENCH_STACK` names the
    /// stack); the stack fails when it fails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before_launch: Vec<String>,
    /// Before each launch, wait (up to `settle-timeout`) until every GPU
    /// that reports a temperature is at or below this, °C: a stack that
    /// starts on a box the previous one heated throttles sooner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_start_temp_c: Option<f64>,
}

fn default_memory_tolerance() -> f64 {
    2.0
}

fn default_settle_timeout() -> stackbench_core::stack::DurationText {
    "5m".parse()
        .unwrap_or_else(|_| unreachable!("a valid duration"))
}

impl Default for BoxFacts {
    fn default() -> Self {
        Self {
            bandwidth_gb_s: None,
            bandwidth_source: None,
            drop_page_cache: false,
            settle_memory: false,
            memory_tolerance_gib: default_memory_tolerance(),
            settle_timeout: default_settle_timeout(),
            cooldown: None,
            before_launch: Vec::new(),
            max_start_temp_c: None,
        }
    }
}

impl BoxFacts {
    /// Whether any hygiene step is asked for.
    pub fn hygiene(&self) -> bool {
        self.drop_page_cache
            || self.settle_memory
            || self.cooldown.is_some()
            || !self.before_launch.is_empty()
            || self.max_start_temp_c.is_some()
    }
}

impl SuiteConfig {
    /// Whether any scenario empties the server's prompt cache
    /// (`reset-cache`, in `[defaults]` or a scenario).
    pub fn resets_cache(&self) -> bool {
        self.scenarios
            .iter()
            .any(|s| s.reset_cache.unwrap_or(self.defaults.reset_cache))
    }
}

/// Values scenarios inherit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ScenarioDefaults {
    /// Approximate prompt length, tokens.
    #[serde(default = "default_prompt_tokens")]
    pub prompt_tokens: u32,
    /// `max_tokens` per request.
    #[serde(default = "default_output_tokens")]
    pub output_tokens: u32,
    /// Warm-up requests before each scenario: a count or `"auto"` (until
    /// the engine is steady; `--warmup-requests auto`).
    #[serde(default = "default_warmup")]
    pub warmup_requests: WarmupSpec,
    /// Empty the server's prompt cache before each scenario's warm-up
    /// (`--reset-cache`).
    #[serde(default)]
    pub reset_cache: bool,
    /// Leading prompt tokens every request shares (`--shared-prefix-tokens`).
    #[serde(default)]
    pub shared_prefix_tokens: u32,
}

impl Default for ScenarioDefaults {
    fn default() -> Self {
        Self {
            prompt_tokens: default_prompt_tokens(),
            output_tokens: default_output_tokens(),
            warmup_requests: default_warmup(),
            reset_cache: false,
            shared_prefix_tokens: 0,
        }
    }
}

fn default_repeat() -> u32 {
    1
}
fn default_prompt_tokens() -> u32 {
    128
}
fn default_output_tokens() -> u32 {
    128
}
fn default_warmup() -> WarmupSpec {
    WarmupSpec::Count(1)
}

/// A scenario's trace: `run --trace` and its shaping flags as one table,
/// e.g. `trace = { source = "mooncake", speed = 20, scale = 0.0625,
/// max-input = 1024 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ScenarioTrace {
    /// A shipped slice's name, or a file relative to the suite file.
    pub source: String,
    /// `--trace-format` (a file's; a shipped slice knows its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<stackbench_trace::Format>,
    /// `--speed` (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
    /// `--window`: `[from, to]` seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<[f64; 2]>,
    /// `--trace-scale` (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// `--trace-max-input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_input: Option<u32>,
    /// `--trace-max-output`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output: Option<u32>,
    /// `--trace-no-tools`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_tools: bool,
}

/// A switch written `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnOff {
    /// On.
    On,
    /// Off.
    Off,
}

/// A value or a list of them (`concurrency = 8` or `[1, 2, 4, 8]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// One value.
    One(T),
    /// A list.
    Many(Vec<T>),
}

impl<T: Copy> OneOrMany<T> {
    /// The values, in order.
    pub fn values(&self) -> Vec<T> {
        match self {
            Self::One(v) => vec![*v],
            Self::Many(v) => v.clone(),
        }
    }
}

/// One load level, or a list of levels that the loader expands into one
/// scenario per level (`<name>-c<N>` / `<name>-r<R>`), run in order.
/// Suites run every level on every stack (no early stop, unlike `run`'s
/// sweeps) so that stacks compare at the same levels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Scenario {
    /// Name (folder name): e.g. `c1`, `c32`.
    pub name: String,
    /// Closed-loop users, or a list of them (give this or `request-rate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<OneOrMany<u32>>,
    /// Open loop: requests per second, or a list of rates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_rate: Option<OneOrMany<f64>>,
    /// Open loop: `poisson` (default) or `constant`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival: Option<stackbench_core::open_loop::Arrival>,
    /// Open loop: at most this many requests in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    /// Latency limits for goodput, written as `run --slo` takes them
    /// (`"ttft_ms=500,tpot_ms=50"`) and read when the suite loads.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "slo_text")]
    pub slo: Option<Slo>,
    /// Requests from this dataset file (relative to the suite file), as
    /// `run --dataset` takes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// Draw this many dataset entries, shuffled by a seed of the suite and
    /// scenario names: the same entries for every stack and repeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_sample: Option<u64>,
    /// Measured requests (or give `duration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// Measured duration, e.g. `60s` (or give `requests`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<DurationText>,
    /// Overrides the suite default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u32>,
    /// Overrides the suite default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u32>,
    /// Overrides the suite default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_requests: Option<WarmupSpec>,
    /// Overrides the suite default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_prefix_tokens: Option<u32>,
    /// `--thinking` of `stackbench run`: `on`, `off` or `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<stackbench_core::kinds::Thinking>,
    /// `--thinking-budget`: reasoning tokens a request may spend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<u32>,
    /// `--turns`: turns per conversation (closed loop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turns: Option<u32>,
    /// `--think-time`: pause between a conversation's turns, e.g. `2s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think_time: Option<DurationText>,
    /// `--cache-salt`: keep requests off the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_salt: Option<bool>,
    /// `--reset-cache`: empty the server's prompt cache before the
    /// warm-up (overrides the suite default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_cache: Option<bool>,
    /// `--depth`: context tokens before each request's prompt, or a list
    /// of depths that the loader expands into one scenario per depth
    /// (`<name>-d<D>`, then `-c<N>` for a list of levels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<OneOrMany<u32>>,
    /// `--depth-cache`: `on` (each user's context cached after its first
    /// send, the default) or `off` (every request's context its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth_cache: Option<OnOff>,
    /// `--trace`: replay a trace as the measured phase (`requests` then
    /// replays its first N requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<ScenarioTrace>,
    /// `--first-byte-timeout`: the longest wait for a response's headers
    /// (a stack's own value overrides it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_byte_timeout: Option<DurationText>,
    /// `--request-timeout`: the per-request timeout (a stack's own value
    /// overrides it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<DurationText>,
}

/// A scenario's `slo` as the text `run --slo` takes, read into a [`Slo`]
/// (a mistake is a serde error, placed at the key) and written back as
/// that text.
mod slo_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use stackbench_core::slo::Slo;

    pub(super) fn serialize<S: Serializer>(slo: &Option<Slo>, s: S) -> Result<S::Ok, S::Error> {
        match slo {
            Some(slo) => s.collect_str(slo),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Slo>, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map(Some).map_err(serde::de::Error::custom)
    }
}

/// One stack of a loaded suite.
#[derive(Debug, Clone, PartialEq)]
pub struct StackEntry {
    /// The file it came from.
    pub file: PathBuf,
    /// The config, overrides applied.
    pub config: StackConfig,
    /// The side of an upgrade check (`baseline`, `candidate`) this entry
    /// is, when it is one: its files go under `<out>/<side>/<stack>/`
    /// and its runs and outcome record the side.
    pub side: Option<Side>,
}

impl StackEntry {
    /// Its folder within the suite folder: `<stack>` or `<side>/<stack>`.
    pub fn folder(&self) -> PathBuf {
        let stack = PathBuf::from(stackbench_runner::safe_name(&self.config.name));
        match self.side {
            Some(side) => PathBuf::from(side.name()).join(stack),
            None => stack,
        }
    }
}

/// A suite, read and checked, with its stacks.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    /// The suite file.
    pub file: PathBuf,
    /// The suite config, overrides applied.
    pub config: SuiteConfig,
    /// Its stacks, in order (filtered by `--only`).
    pub stacks: Vec<StackEntry>,
}

impl Scenario {
    /// Closed-loop users of an expanded scenario (its first level); for an
    /// open-loop one, its cap (0: none).
    pub fn users(&self) -> u32 {
        match (&self.concurrency, self.max_concurrency) {
            (Some(c), _) => c.values().first().copied().unwrap_or(1),
            (None, cap) => cap.unwrap_or(0),
        }
    }

    /// The depth of an expanded scenario (its first; 0: none).
    pub fn depth_tokens(&self) -> u32 {
        self.depth
            .as_ref()
            .and_then(|d| d.values().first().copied())
            .unwrap_or(0)
    }

    /// Requests per second of an expanded open-loop scenario.
    pub fn rate(&self) -> Option<f64> {
        self.request_rate
            .as_ref()
            .and_then(|r| r.values().first().copied())
    }
}
