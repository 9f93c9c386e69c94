//! `stackbench run`: validate the flags into a run plan, check the server
//! is there, run, and print the summary.

use std::sync::Arc;

use anyhow::bail;
use stackbench_backends::{normalize_base_url, probe, ServerKind};
use stackbench_engine::{Bound, LiveCounters};
use stackbench_runner::{FlavorChoice, RunConfig, RunnerError};
use stackbench_wire::body::Api;

use crate::args::{ApiArg, ProbeArgs, RunArgs, RunFlavorArg};
use crate::progress::Progress;
use crate::shutdown::Shutdown;
use crate::ExitStatus;

pub fn api_key(env: Option<&str>) -> anyhow::Result<Option<String>> {
    let Some(name) = env else { return Ok(None) };
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Ok(Some(v)),
        _ => bail!("--api-key-env {name}: the environment variable {name} is not set or empty"),
    }
}

fn extra_body(s: Option<&str>) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let Some(s) = s else {
        return Ok(Default::default());
    };
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => bail!("--extra-body must be a JSON object, e.g. '{{\"top_p\": 1}}'"),
        Err(e) => bail!("--extra-body is not valid JSON: {e}"),
    }
}

/// The validated run configuration the flags describe.
pub fn run_config(a: &RunArgs) -> anyhow::Result<RunConfig> {
    let mut c = RunConfig::new(a.base_url.clone());
    c.model = a.model.clone();
    c.api = match a.api {
        ApiArg::Chat => Api::Chat,
        ApiArg::Completions => Api::Completions,
        ApiArg::Native => Api::LlamaNative,
        ApiArg::OllamaGenerate => Api::OllamaGenerate,
        ApiArg::OllamaChat => Api::OllamaChat,
    };
    c.flavor = match a.flavor {
        RunFlavorArg::Auto => FlavorChoice::Auto,
        RunFlavorArg::Vllm => FlavorChoice::Fixed(ServerKind::Vllm),
        RunFlavorArg::Llamacpp => FlavorChoice::Fixed(ServerKind::Llamacpp),
        RunFlavorArg::Ollama => FlavorChoice::Fixed(ServerKind::Ollama),
        RunFlavorArg::Openai => FlavorChoice::Fixed(ServerKind::Openai),
    };
    c.api_key = api_key(a.api_key_env.as_deref())?;
    c.extra_body = extra_body(a.extra_body.as_deref())?;
    c.concurrency = a.concurrency;
    c.bound = match (a.num_requests, a.duration) {
        (_, Some(d)) => Bound::Duration(d),
        (Some(0), None) => bail!("--num-requests must be at least 1"),
        (Some(n), None) => Bound::Requests(n),
        (None, None) => Bound::Requests(10 * u64::from(a.concurrency)),
    };
    c.warmup_requests = a.warmup_requests;
    c.prompt_tokens = a.prompt_tokens;
    c.shared_prefix_tokens = a.shared_prefix_tokens;
    c.tokenizer = a.tokenizer.clone();
    c.output_tokens = a.output_tokens;
    c.ignore_eos = !a.no_ignore_eos;
    c.exclude_short = a.exclude_short;
    if !a.temperature.is_finite() || a.temperature < 0.0 {
        bail!("--temperature must be a number >= 0");
    }
    c.temperature = a.temperature;
    c.seed = a.seed;
    c.per_event_counts = !a.no_per_event_counts;
    c.request_timeout = a.request_timeout;
    c.ready_timeout = a.ready_timeout;
    c.metrics_every = (!a.no_metrics).then_some(a.metrics_interval);
    c.stack = a.stack.clone();
    c.quantization = a.quantization.clone();
    c.out = a.out.clone();
    c.label = a.label.clone();
    c.validate()?;
    Ok(c)
}

/// Runs `stackbench run`.
pub async fn execute(a: RunArgs) -> anyhow::Result<ExitStatus> {
    let config = run_config(&a)?;
    let shutdown = Shutdown::listen();
    let live = Arc::new(LiveCounters::default());
    let total = match config.bound {
        Bound::Requests(n) => Some(n),
        Bound::Duration(_) => None,
    };
    let progress = Progress::start(live.clone(), total, "run", a.quiet);
    let result = tokio::select! {
        r = stackbench_runner::execute(config, live, shutdown.soft.clone()) => Some(r),
        () = shutdown.hard.cancelled() => None,
    };
    progress.finish();
    let Some(result) = result else {
        eprintln!("run abandoned; run.json stays marked incomplete");
        return Ok(ExitStatus::Interrupted);
    };
    let (run, out) = match result {
        Err(RunnerError::Interrupted) => return Ok(ExitStatus::Interrupted),
        r => {
            let o = r?;
            (o.file, o.dir.display().to_string())
        }
    };
    println!("{}", stackbench_report::run_summary(&run));
    println!("results: {out}");
    if !run.complete {
        bail!(
            "run stopped early ({}); partial results in {out}",
            run.stopped_early.as_deref().unwrap_or("unknown reason"),
        );
    }
    if let Some(reason) = run.summary.all_failed() {
        bail!("every measured request failed ({reason})");
    }
    Ok(ExitStatus::Success)
}

/// Runs `stackbench probe`.
pub async fn probe_cmd(a: ProbeArgs) -> anyhow::Result<ExitStatus> {
    let root = normalize_base_url(&a.base_url)?;
    let key = api_key(a.api_key_env.as_deref())?;
    let report = probe(&root, key.as_deref()).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitStatus::Success)
}
