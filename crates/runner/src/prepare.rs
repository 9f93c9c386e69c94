//! From a [`RunConfig`] to a ready [`Job`]: wait for the server, pick the
//! model, gather metadata, probe, preload (Ollama), build the driver.

use std::sync::Arc;
use std::time::Duration;

use stackbench_backends::{
    list_models, normalize_base_url, ollama_ensure_model, ollama_is_loaded, ollama_metadata,
    ollama_preload, probe, server_metadata, wait_ready, Driver, OpenAiDriver, OpenAiTarget,
    ReadyWait, ServerKind, ServerTokenizer,
};
use stackbench_core::run_file::{LoadConfig, PromptSizing, Target};
use stackbench_core::Seed;
use stackbench_engine::{Bound, PromptGenerator, RunPlan, DEFAULT_COLD_LOAD_MS};
use stackbench_wire::body::{Api, BodyOptions};

use crate::config::{FlavorChoice, RunConfig};
use crate::dataset::{select, LengthCounter};
use crate::error::RunnerError;
use crate::prompt_size::{approximate, size_prompts, Counter, SizeError};
use crate::results::{default_out, Job};

/// A fresh seed for a run that was given none.
pub fn random_seed() -> Seed {
    Seed::from_random_bits(rand::random())
}

fn kind_name(kind: ServerKind) -> Option<String> {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
}

/// Checks the server is there and builds the job `c` describes; `progress`
/// hears about a wait for the server to become ready.
pub async fn prepare(c: RunConfig, progress: &(dyn Fn(&str) + Sync)) -> Result<Job, RunnerError> {
    c.validate()?;
    // What the user should know about this run: printed by the caller and
    // kept in run.json (`warnings`).
    let mut warnings: Vec<String> = Vec::new();
    let root = normalize_base_url(&c.base_url)?;
    let key = c.api_key.as_deref();
    let wait = ReadyWait {
        timeout: c.ready_timeout,
        interval: Duration::from_millis(500),
    };
    wait_ready(&root, key, wait, progress)
        .await
        .map_err(RunnerError::NotReady)?;
    // Listing the models checks that the API answers before anything runs.
    let model = match (&c.model, list_models(&root, key).await) {
        (Some(m), _) => m.clone(),
        (None, Ok(list)) => list.into_iter().next().ok_or(RunnerError::NoModel)?,
        (None, Err(e)) => return Err(RunnerError::Models(e)),
    };
    let mut server = server_metadata(&root, key).await;
    // An Ollama (it answers `/api/ps`) gets its model present and loaded
    // before the probe, whose test stream would otherwise pay the load;
    // whether it was loaded already says whether the preload was cold.
    let ollama_ps = ollama_is_loaded(&root, key, &model).await;
    let ollama_first = ollama_ps.is_some()
        || c.api.ndjson()
        || matches!(c.flavor, FlavorChoice::Fixed(ServerKind::Ollama));
    let mut cold_load_ms = None;
    if ollama_first {
        let cold = ollama_ready_model(&c, &root, &model, ollama_ps, &mut server, progress).await?;
        cold_load_ms = Some(cold);
    }
    let kind = match c.flavor {
        FlavorChoice::Auto => {
            let report = probe(&root, key).await.map_err(RunnerError::Probe)?;
            server.probe = Some(serde_json::to_value(&report)?);
            report.kind
        }
        FlavorChoice::Fixed(k) if c.probe_fixed => {
            // Suites record what the server is even when the config says
            // it; a mismatch is worth a warning, not a failed stack.
            match probe(&root, key).await {
                Ok(report) => {
                    if report.kind != k {
                        warnings.push(format!(
                            "configured as {} but the server looks like {}",
                            kind_name(k).unwrap_or_default(),
                            kind_name(report.kind).unwrap_or_default()
                        ));
                    }
                    server.probe = Some(serde_json::to_value(&report)?);
                }
                Err(e) => warnings.push(format!("probe failed ({e}); using the configured flavor")),
            }
            k
        }
        FlavorChoice::Fixed(k) => k,
    };
    server.flavor = kind_name(kind);
    server.simulated = c.context.simulated.clone();
    if kind == ServerKind::Ollama && c.ignore_eos && !c.exclude_short {
        warnings.push("Ollama has no ignore_eos; outputs may stop early (counted as `short`; --exclude-short leaves them out of the statistics)".into());
    }
    if kind == ServerKind::Ollama && !ollama_first {
        let cold = ollama_ready_model(&c, &root, &model, None, &mut server, progress).await?;
        cold_load_ms = Some(cold);
    }
    let seed = c.seed.unwrap_or_else(random_seed);
    let body = BodyOptions {
        model: model.clone(),
        max_tokens: c.output_tokens,
        ignore_eos: c.ignore_eos,
        temperature: c.temperature,
        seed: Some(seed),
        // Only servers known to honour them get the per-event count fields.
        per_event_counts: c.per_event_counts
            && matches!(kind, ServerKind::Vllm | ServerKind::Llamacpp),
        extra: c.extra_body.clone(),
    };
    let calibration = OpenAiDriver::new(OpenAiTarget {
        root: root.clone(),
        api: c.api,
        api_key: c.api_key.clone(),
        body: BodyOptions {
            max_tokens: 1,
            ignore_eos: false,
            per_event_counts: false,
            ..body.clone()
        },
        request_timeout: c.request_timeout,
        first_byte_timeout: c.first_byte_timeout,
        idle_timeout: c.idle_timeout,
        reuse_connections: kind != ServerKind::Llamacpp,
        counts_stop_token: kind == ServerKind::Ollama,
    })
    .map_err(RunnerError::Driver)?;
    let driver = OpenAiDriver::new(OpenAiTarget {
        root: root.clone(),
        api: c.api,
        api_key: c.api_key.clone(),
        body,
        request_timeout: c.request_timeout,
        first_byte_timeout: c.first_byte_timeout,
        idle_timeout: c.idle_timeout,
        reuse_connections: kind != ServerKind::Llamacpp,
        counts_stop_token: kind == ServerKind::Ollama,
    })
    .map_err(RunnerError::Driver)?;
    let (prompts, sizing, dataset) = match &c.dataset {
        Some(spec) => {
            let counter = length_counter(
                &c,
                &mut warnings,
                ServerTokenizer::new(&root, key, kind, Api::Completions, &model),
            )?;
            let chat = matches!(c.api, Api::Chat | Api::OllamaChat);
            let selected = select(spec, seed.get(), chat, c.output_tokens, &counter)
                .await
                .map_err(|e| RunnerError::Config(e.to_string()))?;
            (PromptGenerator::approximate(seed, 16), None, Some(selected))
        }
        None => {
            let tokenizer = ServerTokenizer::new(&root, key, kind, c.api, &model);
            let (prompts, sizing) = prompts(
                &c,
                tokenizer,
                Driver::OpenAi(calibration),
                seed,
                &mut warnings,
            )
            .await?;
            let prompts = prompts.prebuild(match c.bound {
                Bound::Requests(n) => Some(n + c.warmup_requests),
                Bound::Duration(_) => None,
            });
            (prompts, Some(sizing), None)
        }
    };
    let label = c.label.clone().unwrap_or_else(|| {
        let level = match &c.open_loop {
            Some(o) => format!("r{}", o.rate),
            None => format!("c{}", c.concurrency),
        };
        format!("{}-{level}", model.rsplit('/').next().unwrap_or(&model))
    });
    Ok(Job {
        driver: Arc::new(Driver::OpenAi(driver)),
        plan: RunPlan {
            concurrency: c.concurrency,
            open_loop: c.open_loop,
            slo: c.slo,
            dataset: dataset.as_ref().map(|d| d.requests.clone()),
            seed: seed.get(),
            max_error_pct: c.max_error_pct,
            bound: c.bound,
            warmup_requests: c.warmup_requests,
            prompts,
            target_output_tokens: c.output_tokens,
            exclude_short: c.exclude_short,
            cold_load_ms: cold_load_ms.unwrap_or(DEFAULT_COLD_LOAD_MS),
        },
        target: Target {
            base_url: root.to_string(),
            api: api_name(c.api),
            model,
            stack: c.stack.clone(),
            quantization: c.quantization.clone(),
        },
        load: LoadConfig {
            prompt_sizing: sizing,
            prompt_tokens: if dataset.is_some() {
                0
            } else {
                c.prompt_tokens
            },
            dataset: dataset.map(|d| d.info),
            cold_load_ms,
            ..load_config(&c, seed)
        },
        server,
        out: c.out.clone().unwrap_or_else(|| default_out(&label)),
        metrics_every: c.metrics_every,
        api_key: c.api_key.clone(),
        context: c.context,
        warnings,
    })
}

/// Ollama loads models lazily (its OpenAI layer too): makes `model`
/// present (pulling it, or naming it when that fails), loads it now so that
/// neither warm-up nor measured requests pay for it, and records what the
/// server says of it. Returns the cold-load threshold for the run: half the
/// preload's own load time when the model was not loaded before the run
/// (that preload was a cold load on this box), else
/// [`DEFAULT_COLD_LOAD_MS`].
async fn ollama_ready_model(
    c: &RunConfig,
    root: &reqwest::Url,
    model: &str,
    loaded_before: Option<bool>,
    server: &mut stackbench_core::run_file::ServerInfo,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<f64, RunnerError> {
    let key = c.api_key.as_deref();
    let show = ollama_ensure_model(root, key, model, progress)
        .await
        .map_err(RunnerError::ModelMissing)?;
    let load_ms = ollama_preload(root, key, model)
        .await
        .map_err(RunnerError::Preload)?;
    server.preload_load_ms = Some(load_ms);
    server.ollama = Some(ollama_metadata(root, key, model, show).await);
    Ok(if loaded_before == Some(false) {
        (load_ms / 2.0).clamp(MIN_COLD_LOAD_MS, DEFAULT_COLD_LOAD_MS)
    } else {
        DEFAULT_COLD_LOAD_MS
    })
}

/// The lowest cold-load threshold a preload can set: above the tens of ms
/// (175 ms at most, c=8 on a busy 2-core box) a warm Ollama reports.
const MIN_COLD_LOAD_MS: f64 = 200.0;

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
    calibration: Driver,
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

fn api_name(api: Api) -> String {
    api.name().into()
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
    }
}
