//! [`RunConfig`]: everything one run needs, validated once. Its load comes
//! from [`RunSettings`] (`stackbench run`'s flags, a suite's scenario), the
//! rest from where the run goes (a URL and flags, a stack config).

use std::path::PathBuf;
use std::time::Duration;

use stackbench_core::kinds::FlavorChoice;
use stackbench_core::run_file::{LaunchInfo, SimulatedInfo, SuiteContext};
use stackbench_core::slo::Slo;
use stackbench_core::stack::StackConfig;
use stackbench_core::Seed;
use stackbench_engine::{Bound, OpenLoopPlan};
use stackbench_wire::body::Api;

use crate::error::RunnerError;
use crate::settings::{Naming, RunSettings};

/// What a run records about where it came from, beyond its load: the
/// stack config, the suite and scenario, how the server was launched.
#[derive(Debug, Clone, Default)]
pub struct RunContext {
    /// The stack config (suite runs).
    pub stack: Option<StackConfig>,
    /// Suite, scenario and box figures (suite runs).
    pub suite: Option<SuiteContext>,
    /// How the server was launched.
    pub launch: Option<LaunchInfo>,
    /// Set for built-in simulated stacks.
    pub simulated: Option<SimulatedInfo>,
    /// Sample GPU power through `nvidia-smi` during the measured phase.
    pub sample_power: bool,
}

/// One run: [`RunConfig::new`] (the defaults) says where to send, and
/// [`RunSettings::into_run_config`] adds the load and checks it
/// (`stackbench run` fills the settings from flags, a suite from its
/// scenario); the runner validates it again before the first request.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Server root or `/v1` URL.
    pub base_url: String,
    /// Model to send; `None`: the first the server lists.
    pub model: Option<String>,
    /// The API requests go to.
    pub api: Api,
    /// How the server kind is decided.
    pub flavor: FlavorChoice,
    /// With a fixed flavor, probe anyway and record the report (suites do;
    /// `run --flavor X` skips the probe).
    pub probe_fixed: bool,
    /// Bearer key (never written anywhere).
    pub api_key: Option<String>,
    /// Closed-loop workers (and warm-up workers of an open-loop run).
    pub concurrency: u32,
    /// Runtime threads the workers are spread over (each with its own
    /// connections); 1 is the cheapest client per token.
    pub threads: u32,
    /// Send requests at a rate instead (open loop).
    pub open_loop: Option<OpenLoopPlan>,
    /// Judge requests against these limits (goodput).
    pub slo: Option<Slo>,
    /// When the measured phase ends.
    pub bound: Bound,
    /// Requests sent first and excluded from every statistic; with
    /// `warmup_auto`, the most that may be sent.
    pub warmup_requests: u64,
    /// `--warmup-requests auto`: warm up until the engine is steady.
    pub warmup_auto: Option<stackbench_core::hygiene::AutoWarmup>,
    /// `--reset-cache`: empty the server's prompt cache before the
    /// warm-up (a reset that fails fails the run).
    pub reset_cache: bool,
    /// Prompt length, tokens as the server counts them (template
    /// included).
    pub prompt_tokens: u32,
    /// Send requests from this dataset instead of generated prompts.
    pub dataset: Option<crate::dataset::DatasetSpec>,
    /// `--trace`: replay a trace as the measured phase.
    pub trace: Option<crate::trace::TraceSpec>,
    /// Leading prompt tokens (after the instruction) every request shares.
    pub shared_prefix_tokens: u32,
    /// A local tokenizer.json (with the chat template beside it) to size
    /// prompts with when the server has no tokenizer endpoint.
    pub tokenizer: Option<std::path::PathBuf>,
    /// `max_tokens` per request.
    pub output_tokens: u32,
    /// Send `ignore_eos: true`.
    pub ignore_eos: bool,
    /// Leave requests that stopped early out of the statistics.
    pub exclude_short: bool,
    /// Sampling temperature.
    pub temperature: f64,
    /// Prompt and sampling seed; `None`: a fresh one.
    pub seed: Option<Seed>,
    /// Ask servers that honour them for per-event token counts.
    pub per_event_counts: bool,
    /// Extra JSON fields for every request body.
    pub extra_body: serde_json::Map<String, serde_json::Value>,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Longest wait for a response's headers.
    pub first_byte_timeout: Duration,
    /// Longest gap between two reads of a response body.
    pub idle_timeout: Duration,
    /// End the run early once more than this % of requests failed.
    pub max_error_pct: Option<f64>,
    /// How long to wait for the server to be ready.
    pub ready_timeout: Duration,
    /// `/metrics` scrape interval; `None`: no scrapes.
    pub metrics_every: Option<Duration>,
    /// Stack label for tables.
    pub stack: Option<String>,
    /// Quantization label for tables.
    pub quantization: Option<String>,
    /// Results folder; `None`: `results/<stamp>-<label>`.
    pub out: Option<PathBuf>,
    /// Folder-name label; `None`: `<model>-c<concurrency>`.
    pub label: Option<String>,
    /// `--thinking`: ask the model to think, or not, in each stack's own
    /// words (`default`: send nothing).
    pub thinking: stackbench_core::kinds::Thinking,
    /// `--thinking-budget`: reasoning tokens allowed per request (vLLM and
    /// llama-server).
    pub thinking_budget: Option<u32>,
    /// `--turns`: turns per conversation (1: every request on its own).
    pub turns: u32,
    /// `--think-time`: pause between a conversation's turns.
    pub think_time: Duration,
    /// `--cache-salt`: every request in a prompt-cache namespace of its
    /// own where the server has one, its cache off where it has a switch,
    /// and prompts unlike any earlier run's.
    pub cache_salt: bool,
    /// `--depth`: context tokens before each request's own prompt.
    pub depth: u32,
    /// `--depth-cache`: at a depth, each user's context cached (`true`)
    /// or every request's its own.
    pub depth_cache: bool,
    /// Where the run came from.
    pub context: RunContext,
}

impl RunConfig {
    /// A run of `base_url` with the defaults of `stackbench run` (its load
    /// [`RunSettings::default`]).
    pub fn new(base_url: impl Into<String>) -> Self {
        let load = RunSettings::default();
        Self {
            base_url: base_url.into(),
            model: None,
            api: Api::Chat,
            flavor: FlavorChoice::Auto,
            probe_fixed: false,
            api_key: None,
            concurrency: load.concurrency,
            threads: 1,
            open_loop: load.open_loop,
            slo: load.slo,
            bound: load.bound,
            warmup_requests: load.warmup_requests,
            warmup_auto: load.warmup_auto,
            reset_cache: load.reset_cache,
            prompt_tokens: load.prompt_tokens,
            shared_prefix_tokens: load.shared_prefix_tokens,
            dataset: load.dataset,
            trace: load.trace,
            tokenizer: None,
            output_tokens: load.output_tokens,
            ignore_eos: true,
            exclude_short: false,
            temperature: load.temperature,
            seed: None,
            per_event_counts: true,
            extra_body: Default::default(),
            request_timeout: load.request_timeout,
            first_byte_timeout: load.first_byte_timeout,
            idle_timeout: load.idle_timeout,
            max_error_pct: load.max_error_pct,
            ready_timeout: Duration::from_secs(60),
            metrics_every: Some(Duration::from_secs(1)),
            stack: None,
            quantization: None,
            out: None,
            label: None,
            thinking: load.thinking,
            thinking_budget: load.thinking_budget,
            turns: load.turns,
            think_time: load.think_time,
            cache_salt: load.cache_salt,
            depth: load.depth,
            depth_cache: load.depth_cache,
            context: RunContext::default(),
        }
    }

    /// Checks the values no server could make sense of, naming settings by
    /// their `stackbench run` flags.
    pub fn validate(&self) -> Result<(), RunnerError> {
        self.validate_as(Naming::Flag)
    }

    /// [`RunConfig::validate`], naming settings as `naming` says: the
    /// load's rules are [`RunSettings::validate`]'s, the rest are the
    /// client's own.
    pub(crate) fn validate_as(&self, naming: Naming) -> Result<(), RunnerError> {
        RunSettings::of(self).validate(naming)?;
        if self.threads == 0 || self.threads > stackbench_engine::MAX_THREADS {
            return Err(RunnerError::Config(format!(
                "threads must be between 1 and {}",
                stackbench_engine::MAX_THREADS
            )));
        }
        if matches!(self.metrics_every, Some(d) if d.is_zero()) {
            return Err(RunnerError::Config(
                "the metrics interval must be greater than zero".into(),
            ));
        }
        Ok(())
    }
}
