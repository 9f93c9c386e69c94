//! From a [`RunConfig`] to a ready [`Job`]: wait for the server, pick the
//! model, decide what the server is (`server_side`), build the drivers,
//! size the prompts or select the dataset.

use std::sync::Arc;
use std::time::Duration;

use stackbench_backends::{
    list_models, normalize_base_url, wait_ready, ControlClient, ReadyWait, ServerKind,
    ServerTokenizer, StreamDriver, StreamTarget,
};
use stackbench_core::kinds::Recorded;
use stackbench_core::run_file::{LoadConfig, PromptSizing, Target};
use stackbench_core::Seed;
use stackbench_engine::{Bound, PromptGenerator, RunPlan, SessionPlan, DEFAULT_COLD_LOAD_MS};
use stackbench_wire::body::{Api, BodyOptions};

use crate::config::RunConfig;
use crate::dataset::{select, LengthCounter};
use crate::error::RunnerError;
use crate::prompt_size::{approximate, size_prompts, Counter, SizeError};
use crate::results::{default_out, Job};
use crate::server_side::server_side;

/// A fresh seed for a run that was given none.
pub fn random_seed() -> Seed {
    Seed::from_random_bits(rand::random())
}

/// Checks the server is there and builds the job `c` describes; `progress`
/// hears about a wait for the server to become ready.
pub async fn prepare(c: RunConfig, progress: &(dyn Fn(&str) + Sync)) -> Result<Job, RunnerError> {
    c.validate()?;
    // Read whole before the server is touched: a bad line sends nothing.
    let trace = load_trace(&c)?;
    // What the user should know about this run: printed by the caller and
    // kept in run.json (`warnings`).
    let mut warnings: Vec<String> = Vec::new();
    // One control-plane client for everything the run asks the server
    // besides the measured streams.
    let root = normalize_base_url(&c.base_url)?;
    let control = ControlClient::new(&root, c.api_key.as_deref())?;
    await_server(&c, &control, progress).await?;
    // Before anything of ours reaches the server: was it cold?
    let counters_before = crate::hygiene::server_before(&c, &control).await;
    let model = pick_model(&c, &control).await?;
    let side = server_side(&c, &control, &model, progress, &mut warnings).await?;
    let depth = crate::depth_check::check_depth(&c, side.kind, &side.info, &mut warnings)?;
    let seed = c.seed.unwrap_or_else(random_seed);
    let switches = body_switches(&c, side.kind)?;
    warnings.extend(switches.notes.iter().cloned());
    let salt = c.cache_salt.then(random_salt);
    let body = switched(body_options(&c, &model, seed, side.kind), &switches);
    let driver = driver(&c, &root, side.kind, body.clone())?;
    // Salted prompts share nothing with an earlier run's (a server's
    // cache may still hold them).
    let prompt_seed = salt.as_deref().map_or(seed, |s| salted(seed, s));
    let w = workload(
        &c,
        &control,
        side.kind,
        &model,
        body,
        prompt_seed,
        &mut warnings,
    )
    .await?;
    let Workload {
        prompts,
        sizing,
        dataset,
    } = w;
    let label = c.label.clone().unwrap_or_else(|| run_label(&c, &model));
    let hygiene =
        crate::hygiene::before(&c, &control, (side.kind, &model), counters_before, progress)
            .await?;
    let plan = run_plan(
        &c,
        prompts,
        dataset.as_ref(),
        side.cold_load_ms,
        seed,
        salt.as_deref(),
    );
    let plan = with_replay(plan, &c, trace.as_ref(), sizing.as_ref(), seed);
    let prompt_tokens = dataset.as_ref().map_or(c.prompt_tokens, |_| 0);
    let base_load = replay_load(load_config(&c, seed), &plan, trace.map(|t| t.info));
    Ok(Job {
        driver: Arc::new(driver),
        plan,
        target: target(&c, &root, model),
        load: LoadConfig {
            prompt_sizing: sizing,
            prompt_tokens,
            dataset: dataset.map(|d| d.info),
            cold_load_ms: side.cold_load_ms,
            cache_salt: salt,
            switches: switches.fields,
            depth,
            ..base_load
        },
        server: side.info,
        out: c.out.clone().unwrap_or_else(|| default_out(&label)),
        metrics_every: c.metrics_every,
        control,
        context: c.context,
        warnings,
        hygiene,
    })
}

/// The run's trace, read and shaped; a trace of recorded chats needs a
/// chat API.
fn load_trace(c: &RunConfig) -> Result<Option<crate::trace::Loaded>, RunnerError> {
    let Some(spec) = &c.trace else {
        return Ok(None);
    };
    let t = spec.load()?;
    if t.has_chats() && !c.api.is_chat() {
        return Err(RunnerError::Config(format!(
            "--trace {}: its requests are recorded chats (messages and tools); use a chat API (--api chat or ollama-chat), not {}",
            spec.source.display(),
            c.api
        )));
    }
    Ok(Some(t))
}

/// `plan` replaying `trace` as its measured phase: an open loop at the
/// trace's times, one request per entry (a time bound may end it first).
fn with_replay(
    mut plan: RunPlan,
    c: &RunConfig,
    trace: Option<&crate::trace::Loaded>,
    sizing: Option<&PromptSizing>,
    seed: Seed,
) -> RunPlan {
    let (Some(t), Some(spec)) = (trace, &c.trace) else {
        return plan;
    };
    let overhead = sizing
        .and_then(|s| s.overhead_tokens)
        .unwrap_or(stackbench_engine::prompt::ASSUMED_OVERHEAD);
    let replay = t.plan(overhead, seed.get(), spec.max_concurrency);
    plan.open_loop = Some(stackbench_engine::OpenLoopPlan {
        rate: replay.offered_rate(),
        arrival: stackbench_core::open_loop::Arrival::Trace,
        max_concurrency: spec.max_concurrency,
    });
    if let Bound::Requests(_) = plan.bound {
        plan.bound = Bound::Requests(t.trace.entries.len() as u64);
    }
    plan.replay = Some(replay);
    plan
}

/// `load` of a replay: its rate, arrival, request count and trace.
fn replay_load(
    mut load: LoadConfig,
    plan: &RunPlan,
    trace: Option<stackbench_core::replay::TraceLoad>,
) -> LoadConfig {
    if let (Some(o), Some(_)) = (&plan.open_loop, &trace) {
        load.request_rate = Some(o.rate);
        load.arrival = Some(o.arrival);
        load.concurrency = o.max_concurrency.unwrap_or(0);
        if let Bound::Requests(n) = plan.bound {
            load.num_requests = Some(n);
        }
    }
    load.trace = trace;
    load
}

/// What `run.json` says was measured.
fn target(c: &RunConfig, root: &reqwest::Url, model: String) -> Target {
    Target {
        base_url: root.to_string(),
        api: Recorded::Known(c.api),
        model,
        stack: c.stack.clone(),
        quantization: c.quantization.clone(),
    }
}

/// Returns once the server answers as ready (or the time allowed for
/// that has passed: an error).
async fn await_server(
    c: &RunConfig,
    control: &ControlClient,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), RunnerError> {
    let wait = ReadyWait {
        timeout: c.ready_timeout,
        interval: Duration::from_millis(500),
    };
    wait_ready(control, wait, progress)
        .await
        .map_err(RunnerError::NotReady)?;
    Ok(())
}

/// The body fields that carry the thinking and cache-salt switches this
/// server `kind` understands (and notes on what it cannot honour).
fn body_switches(
    c: &RunConfig,
    kind: ServerKind,
) -> Result<stackbench_wire::switches::Switches, RunnerError> {
    let asked = stackbench_wire::switches::Asked {
        thinking: c.thinking,
        budget: c.thinking_budget,
        cache_salt: c.cache_salt,
    };
    stackbench_wire::switches::switches(kind, c.api, asked)
        .map_err(|e| RunnerError::Config(e.to_string()))
}

/// What the engine runs: `prompts` (or the `dataset`'s requests) under the
/// configured load, bound and sessions.
fn run_plan(
    c: &RunConfig,
    prompts: PromptGenerator,
    dataset: Option<&crate::dataset::Selected>,
    cold_load_ms: Option<f64>,
    seed: Seed,
    salt: Option<&str>,
) -> RunPlan {
    RunPlan {
        concurrency: c.concurrency,
        open_loop: c.open_loop,
        slo: c.slo,
        dataset: dataset.map(|d| d.requests.clone()),
        seed: seed.get(),
        max_error_pct: c.max_error_pct,
        bound: c.bound,
        warmup_requests: c.warmup_requests,
        warmup_auto: c.warmup_auto,
        prompts,
        target_output_tokens: c.output_tokens,
        exclude_short: c.exclude_short,
        cold_load_ms: cold_load_ms.unwrap_or(DEFAULT_COLD_LOAD_MS),
        sessions: (c.turns > 1).then_some(SessionPlan {
            turns: c.turns,
            think_time: c.think_time,
        }),
        cache_salt: salt.map(Arc::from),
        depth_cached: c.depth > 0 && c.depth_cache,
        replay: None,
    }
}

/// The model to send: the configured one, else the first the server
/// lists (listing also checks that the API answers before anything runs).
async fn pick_model(c: &RunConfig, control: &ControlClient) -> Result<String, RunnerError> {
    match (&c.model, list_models(control).await) {
        (Some(m), _) => Ok(m.clone()),
        (None, Ok(list)) => list.into_iter().next().ok_or(RunnerError::NoModel),
        (None, Err(e)) => Err(RunnerError::Models(e)),
    }
}

/// `body` with the fields of the run's switches.
fn switched(body: BodyOptions, switches: &stackbench_wire::switches::Switches) -> BodyOptions {
    BodyOptions {
        switches: switches.fields.clone(),
        salt_field: switches.salt_field,
        ..body
    }
}

/// The request body options of the run.
fn body_options(c: &RunConfig, model: &str, seed: Seed, kind: ServerKind) -> BodyOptions {
    BodyOptions {
        model: model.to_string(),
        max_tokens: c.output_tokens,
        ignore_eos: c.ignore_eos,
        temperature: c.temperature,
        seed: Some(seed),
        per_event_counts: c.per_event_counts && kind.honours_per_event_counts(),
        extra: c.extra_body.clone(),
        switches: serde_json::Map::new(),
        salt_field: false,
    }
}

/// A driver for the run's API sending `body`, allowing for the quirks of
/// a server of `kind`.
fn driver(
    c: &RunConfig,
    root: &reqwest::Url,
    kind: ServerKind,
    body: BodyOptions,
) -> Result<StreamDriver, RunnerError> {
    Ok(StreamDriver::new(StreamTarget {
        root: root.clone(),
        api: c.api,
        api_key: c.api_key.clone(),
        body,
        request_timeout: c.request_timeout,
        first_byte_timeout: c.first_byte_timeout,
        idle_timeout: c.idle_timeout,
        reuse_connections: kind.reuses_connections(),
        counts_stop_token: kind.counts_stop_token(),
    })?)
}

/// What the run sends: prompts sized to the target, or a dataset's
/// selection.
struct Workload {
    prompts: PromptGenerator,
    sizing: Option<PromptSizing>,
    dataset: Option<crate::dataset::Selected>,
}

/// Selects the dataset, or sizes the generated prompts (calibration
/// requests go out with `body` at one output token).
async fn workload(
    c: &RunConfig,
    control: &ControlClient,
    kind: ServerKind,
    model: &str,
    body: BodyOptions,
    seed: Seed,
    warnings: &mut Vec<String>,
) -> Result<Workload, RunnerError> {
    if let Some(spec) = &c.dataset {
        let spec = &crate::dataset::DatasetSpec {
            whole_conversations: c.turns > 1,
            ..spec.clone()
        };
        let endpoint = ServerTokenizer::new(control, kind, Api::Completions, model);
        let counter = length_counter(c, warnings, endpoint)?;
        let selected = select(spec, seed.get(), c.api.is_chat(), c.output_tokens, &counter)
            .await
            .map_err(|e| RunnerError::Config(e.to_string()))?;
        return Ok(Workload {
            prompts: PromptGenerator::approximate(seed, 16),
            sizing: None,
            dataset: Some(selected),
        });
    }
    let kwargs = body.switches.get("chat_template_kwargs").cloned();
    let calibration = driver(
        c,
        control.root(),
        kind,
        BodyOptions {
            max_tokens: 1,
            ignore_eos: false,
            per_event_counts: false,
            ..body
        },
    )?;
    let tokenizer =
        ServerTokenizer::new(control, kind, c.api, model).map(|t| t.with_template_kwargs(kwargs));
    let (prompts, sizing) = prompts(c, tokenizer, calibration, seed, warnings).await?;
    // At a depth, a fresh number per run: its contexts are new to the
    // server even when --seed repeats an earlier run's.
    let prompts = prompts
        .prebuild(match c.bound {
            Bound::Requests(n) => Some(n + c.warmup_requests),
            Bound::Duration(_) => None,
        })
        .at_depth(c.depth, rand::random::<u64>());
    Ok(Workload {
        prompts,
        sizing: Some(sizing),
        dataset: None,
    })
}

/// The folder-name label: `<model>-c<concurrency>` or `<model>-r<rate>`.
fn run_label(c: &RunConfig, model: &str) -> String {
    let level = match &c.open_loop {
        Some(o) => format!("r{}", o.rate),
        None => format!("c{}", c.concurrency),
    };
    format!("{}-{level}", model.rsplit('/').next().unwrap_or(model))
}

/// What counts dataset lengths: `--tokenizer`, else the server's endpoint,
/// else an estimate (with a warning when filters depend on it).
fn length_counter(
    c: &RunConfig,
    warnings: &mut Vec<String>,
    endpoint: Option<ServerTokenizer>,
) -> Result<LengthCounter, RunnerError> {
    if let Some(path) = &c.tokenizer {
        let local = stackbench_tokenize::LocalTokenizer::load(path)
            .map_err(|e| RunnerError::Config(format!("--tokenizer: {e}")))?;
        let counter = Counter::Local(Box::new(local), Api::Completions);
        return Ok(LengthCounter::Exact(Box::new(counter)));
    }
    Ok(match endpoint {
        Some(t) => LengthCounter::Exact(Box::new(Counter::Endpoint(t))),
        None => {
            warnings.push("no tokenizer (server endpoint or --tokenizer): dataset lengths for filters and ShareGPT outputs are estimated at 4 characters a token".into());
            LengthCounter::Estimate
        }
    })
}

/// The run's prompts, sized by the server's tokenizer endpoint, else by
/// calibration requests, else approximately (with a warning).
async fn prompts(
    c: &RunConfig,
    tokenizer: Option<ServerTokenizer>,
    calibration: StreamDriver,
    seed: Seed,
    warnings: &mut Vec<String>,
) -> Result<(PromptGenerator, PromptSizing), RunnerError> {
    let mut counters = Vec::new();
    counters.extend(tokenizer.map(Counter::Endpoint));
    if let Some(path) = &c.tokenizer {
        let local = stackbench_tokenize::LocalTokenizer::load(path)
            .map_err(|e| RunnerError::Config(format!("--tokenizer: {e}")))?;
        counters.push(Counter::Local(Box::new(local), c.api));
    }
    counters.push(Counter::Requests(Box::new(calibration)));
    let mut failures = Vec::new();
    for counter in &counters {
        match size_prompts(counter, c.prompt_tokens, c.shared_prefix_tokens, seed).await {
            Ok(done) => return Ok(done),
            Err(SizeError::Invalid(e)) => return Err(e),
            Err(SizeError::Count(why)) => failures.push(why),
        }
    }
    let why = format!("no prompt token count ({})", failures.join("; "));
    warnings.push(format!("{why}; prompt lengths are approximate"));
    Ok(approximate(c.prompt_tokens, seed, &why))
}

fn load_config(c: &RunConfig, seed: Seed) -> LoadConfig {
    LoadConfig {
        concurrency: match &c.open_loop {
            Some(o) => o.max_concurrency.unwrap_or(0),
            None => c.concurrency,
        },
        threads: c.threads,
        cold_load_ms: None,
        request_rate: c.open_loop.map(|o| o.rate),
        arrival: c.open_loop.map(|o| o.arrival),
        slo: c.slo,
        num_requests: match c.bound {
            Bound::Requests(n) => Some(n),
            Bound::Duration(_) => None,
        },
        duration_s: match c.bound {
            Bound::Duration(d) => Some(d.as_secs_f64()),
            Bound::Requests(_) => None,
        },
        warmup_requests: c.warmup_requests,
        prompt_tokens: c.prompt_tokens,
        prompt_sizing: None,
        shared_prefix_tokens: c.shared_prefix_tokens,
        dataset: None,
        output_tokens: c.output_tokens,
        ignore_eos: c.ignore_eos,
        exclude_short: c.exclude_short,
        temperature: c.temperature,
        timeouts: Some(stackbench_core::run_file::TimeoutConfig {
            connect_s: stackbench_backends::CONNECT_TIMEOUT.as_secs_f64(),
            first_byte_s: c.first_byte_timeout.as_secs_f64(),
            idle_s: c.idle_timeout.as_secs_f64(),
            request_s: c.request_timeout.as_secs_f64(),
        }),
        seed: seed.get(),
        thinking: c.thinking,
        thinking_budget: c.thinking_budget,
        turns: c.turns,
        think_time_s: c.think_time.as_secs_f64(),
        cache_salt: None,
        switches: Default::default(),
        depth: None,
        trace: None,
    }
}

/// A fresh salt for `--cache-salt`: 16 hex digits (vLLM takes up to 128
/// characters without `@ / \` or NUL).
fn random_salt() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The prompt seed of a salted run: the run's seed mixed with the salt
/// (FNV-1a), so that its prompts are unlike any earlier run's.
fn salted(seed: Seed, salt: &str) -> Seed {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in salt.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    Seed::from_random_bits((seed.get() ^ h ^ (h >> 32)) as u32)
}
