//! [`RunConfig`]: everything one run needs, validated once. `stackbench
//! run` fills it from flags, a suite from a stack config and a scenario.

use std::path::PathBuf;
use std::time::Duration;

use stackbench_core::histogram::MAX_TURNS;
use stackbench_core::kinds::FlavorChoice;
use stackbench_core::run_file::{LaunchInfo, SimulatedInfo, SuiteContext};
use stackbench_core::slo::Slo;
use stackbench_core::stack::StackConfig;
use stackbench_core::Seed;
use stackbench_engine::{Bound, OpenLoopPlan, Schedule};
use stackbench_wire::body::Api;

use crate::error::RunnerError;

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

/// One run: build it with [`RunConfig::new`] (the defaults), set its
/// public fields (`stackbench run` does it from flags, a suite from its
/// scenario), then [`RunConfig::validate`]; the runner validates it again
/// before the first request.
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
    /// Requests sent first and excluded from every statistic.
    pub warmup_requests: u64,
    /// Prompt length, tokens as the server counts them (template
    /// included).
    pub prompt_tokens: u32,
    /// Send requests from this dataset instead of generated prompts.
    pub dataset: Option<crate::dataset::DatasetSpec>,
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
    /// Where the run came from.
    pub context: RunContext,
}

impl RunConfig {
    /// A run of `base_url` with the defaults of `stackbench run`.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            model: None,
            api: Api::Chat,
            flavor: FlavorChoice::Auto,
            probe_fixed: false,
            api_key: None,
            concurrency: 1,
            threads: 1,
            open_loop: None,
            slo: None,
            bound: Bound::Requests(10),
            warmup_requests: 1,
            prompt_tokens: 128,
            shared_prefix_tokens: 0,
            dataset: None,
            tokenizer: None,
            output_tokens: 128,
            ignore_eos: true,
            exclude_short: false,
            temperature: 0.0,
            seed: None,
            per_event_counts: true,
            extra_body: Default::default(),
            request_timeout: Duration::from_secs(600),
            first_byte_timeout: Duration::from_secs(300),
            idle_timeout: Duration::from_secs(300),
            max_error_pct: None,
            ready_timeout: Duration::from_secs(60),
            metrics_every: Some(Duration::from_secs(1)),
            stack: None,
            quantization: None,
            out: None,
            label: None,
            thinking: Default::default(),
            thinking_budget: None,
            turns: 1,
            think_time: Duration::ZERO,
            cache_salt: false,
            context: RunContext::default(),
        }
    }

    /// Checks the values no server could make sense of.
    pub fn validate(&self) -> Result<(), RunnerError> {
        let bad = |m: &str| Err(RunnerError::Config(m.to_string()));
        if self.concurrency == 0 {
            return bad("concurrency must be at least 1");
        }
        if self.threads == 0 || self.threads > stackbench_engine::MAX_THREADS {
            return Err(RunnerError::Config(format!(
                "threads must be between 1 and {}",
                stackbench_engine::MAX_THREADS
            )));
        }
        if matches!(self.bound, Bound::Requests(0)) {
            return bad("the number of requests must be at least 1");
        }
        if matches!(self.bound, Bound::Duration(d) if d.is_zero()) {
            return bad("the duration must be greater than zero");
        }
        if self.output_tokens < 2 {
            return bad("output tokens must be at least 2 (decode rates need two tokens)");
        }
        if self.prompt_tokens == 0 {
            return bad("prompt tokens must be at least 1");
        }
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return bad("temperature must be a number >= 0");
        }
        if self
            .max_error_pct
            .is_some_and(|p| !(p.is_finite() && (0.0..=100.0).contains(&p)))
        {
            return bad("the maximum error rate is a percentage between 0 and 100");
        }
        if self.first_byte_timeout.is_zero()
            || self.idle_timeout.is_zero()
            || self.request_timeout.is_zero()
        {
            return bad("timeouts must be greater than zero");
        }
        if matches!(self.metrics_every, Some(d) if d.is_zero()) {
            return bad("the metrics interval must be greater than zero");
        }
        if self.turns == 0 {
            return bad("turns must be at least 1");
        }
        if self.turns > MAX_TURNS {
            return Err(RunnerError::Config(format!(
                "--turns {} is more than {MAX_TURNS}: each turn keeps its own latency figures",
                self.turns
            )));
        }
        if self.turns > 1 && self.open_loop.is_some() {
            return bad(
                "--turns needs the closed loop (--concurrency): each worker holds one \
                 conversation; an open-loop (--request-rate) run sends independent requests",
            );
        }
        if !self.think_time.is_zero() && self.turns < 2 {
            return bad("--think-time is the pause between turns: it needs --turns 2 or more");
        }
        if let Some(o) = &self.open_loop {
            if o.max_concurrency == Some(0) {
                return bad("max concurrency must be at least 1");
            }
            Schedule::new(o, self.bound, 0).map_err(|e| RunnerError::Config(e.to_string()))?;
        }
        Ok(())
    }
}
