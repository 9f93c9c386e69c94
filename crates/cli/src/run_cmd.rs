//! `stackbench run`: validate the flags into a run plan, check the server
//! is there, run, and print the summary.

use std::sync::Arc;

use anyhow::{bail, Context};
use stackbench_backends::{
    list_models, normalize_base_url, ollama_metadata, ollama_preload, probe, server_metadata,
    wait_ready, Driver, OpenAiDriver, OpenAiTarget, ReadyWait, ServerKind,
};
use stackbench_core::run_file::{LoadConfig, Target};
use stackbench_core::Seed;
use stackbench_engine::{Bound, LiveCounters, PromptGenerator, RunPlan};
use stackbench_wire::body::{Api, BodyOptions};
use tokio_util::sync::CancellationToken;

use crate::args::{ApiArg, ProbeArgs, RunArgs, RunFlavorArg};
use crate::progress::Progress;
use crate::results::{benchmark, default_out, Job};
use crate::ExitStatus;

fn api_key(env: Option<&str>) -> anyhow::Result<Option<String>> {
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

/// A fresh seed for a run that was given none.
pub fn random_seed() -> Seed {
    Seed::from_random_bits(rand::random())
}

/// Waits for Ctrl-C, then cancels `token` (a second Ctrl-C exits at once).
pub fn cancel_on_ctrl_c(token: CancellationToken) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ninterrupted: finishing the records and run.json (Ctrl-C again to abort)");
            token.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
}

/// Runs `stackbench run`.
pub async fn execute(a: RunArgs) -> anyhow::Result<ExitStatus> {
    let root = normalize_base_url(&a.base_url)?;
    let key = api_key(a.api_key_env.as_deref())?;
    let extra = extra_body(a.extra_body.as_deref())?;
    if !a.temperature.is_finite() || a.temperature < 0.0 {
        bail!("--temperature must be a number >= 0");
    }
    wait_ready(
        &root,
        key.as_deref(),
        ReadyWait {
            timeout: a.ready_timeout,
            interval: std::time::Duration::from_millis(500),
        },
    )
    .await
    .context("the server is not ready")?;
    // Listing the models checks that the API answers before anything runs.
    let models = list_models(&root, key.as_deref()).await;
    let model = match (&a.model, models) {
        (Some(m), _) => m.clone(),
        (None, Ok(list)) => list
            .into_iter()
            .next()
            .context("the server lists no model at /v1/models; pass --model")?,
        (None, Err(e)) => {
            return Err(e).context("could not ask the server for its model (pass --model to skip)")
        }
    };
    let mut server = server_metadata(&root, key.as_deref()).await;
    let kind = match a.flavor {
        RunFlavorArg::Auto => {
            let report = probe(&root, key.as_deref())
                .await
                .context("probing the server (pass --flavor to skip)")?;
            if let serde_json::Value::Object(m) = &mut server {
                m.insert("probe".into(), serde_json::to_value(&report)?);
            }
            report.kind
        }
        RunFlavorArg::Vllm => ServerKind::Vllm,
        RunFlavorArg::Llamacpp => ServerKind::Llamacpp,
        RunFlavorArg::Ollama => ServerKind::Ollama,
        RunFlavorArg::Openai => ServerKind::Openai,
    };
    if let serde_json::Value::Object(m) = &mut server {
        m.insert("flavor".into(), serde_json::to_value(kind)?);
    }
    if kind == ServerKind::Ollama && !a.no_ignore_eos && !a.exclude_short {
        eprintln!("note: Ollama has no ignore_eos; outputs may stop early (counted as `short`; --exclude-short leaves them out of the statistics)");
    }
    if matches!(a.api, ApiArg::OllamaGenerate | ApiArg::OllamaChat) {
        // Ollama loads models lazily: load it now so that neither warm-up
        // nor measured requests pay for it.
        let load_ms = ollama_preload(&root, key.as_deref(), &model)
            .await
            .context("could not load the model into Ollama")?;
        if let serde_json::Value::Object(m) = &mut server {
            m.insert("preload_load_ms".into(), serde_json::json!(load_ms));
        }
    }
    if kind == ServerKind::Ollama {
        let meta = ollama_metadata(&root, key.as_deref(), &model).await;
        if let serde_json::Value::Object(m) = &mut server {
            m.insert("ollama".into(), meta);
        }
    }
    let seed = a.seed.unwrap_or_else(random_seed);
    let api = match a.api {
        ApiArg::Chat => Api::Chat,
        ApiArg::Completions => Api::Completions,
        ApiArg::Native => Api::LlamaNative,
        ApiArg::OllamaGenerate => Api::OllamaGenerate,
        ApiArg::OllamaChat => Api::OllamaChat,
    };
    let body = BodyOptions {
        model: model.clone(),
        max_tokens: a.output_tokens,
        ignore_eos: !a.no_ignore_eos,
        temperature: a.temperature,
        seed: Some(seed),
        // Only servers known to honour them get the per-event count fields.
        per_event_counts: !a.no_per_event_counts
            && matches!(kind, ServerKind::Vllm | ServerKind::Llamacpp),
        extra,
    };
    let driver = OpenAiDriver::new(OpenAiTarget {
        root: root.clone(),
        api,
        api_key: key.clone(),
        body,
        request_timeout: a.request_timeout,
    })
    .map_err(anyhow::Error::msg)?;
    let bound = match (a.num_requests, a.duration) {
        (_, Some(d)) => Bound::Duration(d),
        (Some(0), None) => bail!("--num-requests must be at least 1"),
        (Some(n), None) => Bound::Requests(n),
        (None, None) => Bound::Requests(10 * u64::from(a.concurrency)),
    };
    let plan = RunPlan {
        concurrency: a.concurrency,
        bound,
        warmup_requests: a.warmup_requests,
        prompts: PromptGenerator::new(seed, a.prompt_tokens),
        target_output_tokens: a.output_tokens,
        exclude_short: a.exclude_short,
    };
    let label = a.label.clone().unwrap_or_else(|| {
        format!(
            "{}-c{}",
            model.rsplit('/').next().unwrap_or(&model),
            a.concurrency
        )
    });
    let out = a.out.clone().unwrap_or_else(|| default_out(&label));
    let job = Job {
        driver: Arc::new(Driver::OpenAi(driver)),
        plan,
        target: Target {
            base_url: root.to_string(),
            api: api.name().into(),
            model,
            stack: a.stack.clone(),
            quantization: a.quantization.clone(),
        },
        load: LoadConfig {
            concurrency: a.concurrency,
            num_requests: match bound {
                Bound::Requests(n) => Some(n),
                Bound::Duration(_) => None,
            },
            duration_s: a.duration.map(|d| d.as_secs_f64()),
            warmup_requests: a.warmup_requests,
            prompt_tokens: a.prompt_tokens,
            output_tokens: a.output_tokens,
            ignore_eos: !a.no_ignore_eos,
            exclude_short: a.exclude_short,
            temperature: a.temperature,
            seed: seed.get(),
        },
        server,
        out: out.clone(),
        metrics_every: (!a.no_metrics).then_some(a.metrics_interval),
        api_key: key.clone(),
    };
    let cancel = CancellationToken::new();
    cancel_on_ctrl_c(cancel.clone());
    let live = Arc::new(LiveCounters::default());
    let total = match bound {
        Bound::Requests(n) => Some(n),
        Bound::Duration(_) => None,
    };
    let progress = Progress::start(live.clone(), total, "run", a.quiet);
    let result = benchmark(job, live, cancel).await;
    progress.finish();
    let run = result?;
    println!("{}", stackbench_report::run_summary(&run));
    println!("results: {}", out.display());
    if !run.complete {
        bail!(
            "run stopped early ({}); partial results in {}",
            run.stopped_early.as_deref().unwrap_or("unknown reason"),
            out.display()
        );
    }
    let r = &run.summary.requests;
    if r.ok == 0 && r.failed > 0 {
        let reason = run
            .summary
            .errors
            .keys()
            .next()
            .cloned()
            .unwrap_or_default();
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
