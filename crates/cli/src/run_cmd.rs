//! `stackbench run`: validate the flags into a run plan, check the server
//! is there, run, and print the summary; with a list of levels or
//! `--find-max-concurrency`, one run per level into one folder (see
//! `stackbench_runner::sweep`).

use stackbench_core::hygiene::AutoWarmup;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use stackbench_backends::{normalize_base_url, probe, ControlClient};
use stackbench_core::open_loop::Arrival;
use stackbench_core::run_file::RunFile;
use stackbench_engine::{Bound, LiveCounters, OpenLoopPlan};
use stackbench_runner::dataset::DatasetSpec;
use stackbench_runner::sweep::{
    write_sweep_file, Level, LevelPlan, LevelResult, ListSweep, MaxSearch, StopRules,
};
use stackbench_runner::trace::TraceSpec;
use stackbench_runner::{Naming, Notes, RunConfig, RunSettings, RunnerError};
use stackbench_trace::shape::Shaping;

use crate::args::{ArrivalArg, DepthCacheArg, ProbeArgs, RunArgs};
use crate::progress::Progress;
use crate::shutdown::Shutdown;
use crate::ExitStatus;

/// The API key `--api-key-env NAME` gives; NAME is marked secret, so its
/// value is hidden wherever a command, an error or a log is shown.
pub fn api_key(env: Option<&str>) -> anyhow::Result<Option<String>> {
    let Some(name) = env else { return Ok(None) };
    stackbench_stacks::mark_secret_env([name]);
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

/// The validated run configuration the flags describe, at the first
/// level; every level of a sweep is checked here, before anything runs.
pub fn run_config(a: &RunArgs) -> anyhow::Result<RunConfig> {
    if !(a.stop_error_pct.is_finite() && a.stop_error_pct >= 0.0) {
        bail!("--stop-error-pct must be a percentage >= 0");
    }
    if !(0.0..=100.0).contains(&a.slo_attainment) {
        bail!("--slo-attainment must be a percentage between 0 and 100");
    }
    if a.max_concurrency.is_some() && a.request_rate.is_empty() && a.trace.is_none() {
        bail!("--max-concurrency caps an open loop: give --request-rate or --trace with it");
    }
    let mut base = target(a)?;
    let levels = levels(a);
    let Some(&first) = levels.first() else {
        bail!("give a level: --concurrency N or --request-rate R");
    };
    for &depth in depths(a).iter().rev() {
        base.depth = depth;
        for &level in &levels {
            at_level(a, &base, level)?;
        }
    }
    at_level(a, &base, first)
}

/// The depths the flags ask for: one (0, none) for a run without.
fn depths(a: &RunArgs) -> Vec<u32> {
    if a.depth.is_empty() {
        vec![0]
    } else {
        a.depth.clone()
    }
}

/// Where the flags send a run and how it is labelled: everything but its
/// load.
fn target(a: &RunArgs) -> anyhow::Result<RunConfig> {
    let mut c = RunConfig::new(a.base_url.clone());
    c.model = a.model.clone();
    c.api = a.api;
    c.flavor = a.flavor;
    c.api_key = api_key(a.api_key_env.as_deref())?;
    c.extra_body = extra_body(a.extra_body.as_deref())?;
    c.threads = a.threads;
    c.tokenizer = a.tokenizer.clone();
    c.ignore_eos = !a.no_ignore_eos;
    c.exclude_short = a.exclude_short;
    c.seed = a.seed;
    c.per_event_counts = !a.no_per_event_counts;
    c.ready_timeout = a.ready_timeout;
    c.metrics_every = (!a.no_metrics).then_some(a.metrics_interval);
    c.stack = a.stack.clone();
    c.quantization = a.quantization.clone();
    c.out = a.out.clone();
    c.label = a.label.clone();
    Ok(c)
}

/// The load the flags ask for at `level`: bounded as they say (by default
/// 10 requests per worker, or 10 seconds' worth of an open-loop rate).
fn settings(a: &RunArgs, level: Level, depth: u32) -> RunSettings {
    let (concurrency, open_loop) = match level {
        Level::Concurrency(n) => (n, None),
        // Warm-up workers of an open-loop run: its cap, else one.
        Level::Rate(rate) => (
            a.max_concurrency.unwrap_or(1),
            Some(OpenLoopPlan {
                rate,
                arrival: match a.arrival {
                    ArrivalArg::Poisson => Arrival::Poisson,
                    ArrivalArg::Constant => Arrival::Constant,
                },
                max_concurrency: a.max_concurrency,
            }),
        ),
    };
    RunSettings {
        concurrency,
        open_loop,
        bound: match (a.num_requests, a.duration, level) {
            (_, Some(d), _) => Bound::Duration(d),
            (Some(n), None, _) => Bound::Requests(n),
            (None, None, Level::Concurrency(n)) => Bound::Requests(10 * u64::from(n)),
            (None, None, Level::Rate(r)) => Bound::Requests((10.0 * r).ceil().max(1.0) as u64),
        },
        warmup_requests: a.warmup_requests.requests(&auto_rule(a)),
        warmup_auto: a.warmup_requests.rule(auto_rule(a)),
        reset_cache: a.reset_cache,
        prompt_tokens: a.prompt_tokens,
        output_tokens: a.output_tokens,
        shared_prefix_tokens: a.shared_prefix_tokens,
        dataset: dataset(a),
        trace: trace(a),
        slo: a.slo,
        thinking: a.thinking,
        thinking_budget: a.thinking_budget,
        turns: a.turns,
        think_time: a.think_time.unwrap_or_default(),
        cache_salt: a.cache_salt,
        depth,
        depth_cache: a.depth_cache == DepthCacheArg::On,
        temperature: a.temperature,
        max_error_pct: a.max_error_rate,
        request_timeout: a.request_timeout,
        first_byte_timeout: a.first_byte_timeout,
        idle_timeout: a.idle_timeout,
    }
}

/// The trace the flags name, with its shaping (`-n` replays the first N
/// requests).
fn trace(a: &RunArgs) -> Option<TraceSpec> {
    a.trace.as_ref().map(|source| TraceSpec {
        source: source.clone(),
        format: a.trace_format,
        shaping: Shaping {
            window_s: a.window,
            speed: a.speed,
            scale: a.trace_scale,
            max_input: a.trace_max_input,
            max_output: a.trace_max_output,
            limit: a.num_requests,
        },
        max_concurrency: a.max_concurrency,
        no_tools: a.trace_no_tools,
    })
}

/// The dataset the flags name, with their selection.
fn dataset(a: &RunArgs) -> Option<DatasetSpec> {
    a.dataset.as_ref().map(|path| DatasetSpec {
        path: path.clone(),
        sample: a.dataset_sample,
        sample_seed: None,
        min_prompt_tokens: a.dataset_min_prompt_tokens,
        max_prompt_tokens: a.dataset_max_prompt_tokens,
        max_output_tokens: a.dataset_max_output_tokens,
        ..Default::default()
    })
}

/// `--warmup-requests auto`'s rule as the flags set it.
fn auto_rule(a: &RunArgs) -> AutoWarmup {
    AutoWarmup {
        tolerance_pct: a.warmup_tolerance,
        max_requests: a.warmup_max,
        ..AutoWarmup::default()
    }
}

/// The levels the flags ask for: one for a single run.
fn levels(a: &RunArgs) -> Vec<Level> {
    if a.request_rate.is_empty() {
        a.concurrency
            .iter()
            .map(|&c| Level::Concurrency(c))
            .collect()
    } else {
        a.request_rate.iter().map(|&r| Level::Rate(r)).collect()
    }
}

/// `base` (where the run goes) with the load the flags ask for at
/// `level`, checked.
fn at_level(a: &RunArgs, base: &RunConfig, level: Level) -> anyhow::Result<RunConfig> {
    Ok(settings(a, level, base.depth).into_run_config(base.clone(), Naming::Flag)?)
}

/// Runs `stackbench run`.
pub async fn execute(a: RunArgs) -> anyhow::Result<ExitStatus> {
    let config = run_config(&a)?;
    let shutdown = Shutdown::listen();
    let depths = depths(&a);
    if depths.len() > 1 {
        return depth_series(&a, config, &depths, &shutdown).await;
    }
    at_depth(&a, config, &shutdown).await
}

/// Each depth in turn into `<out>/d<D>/` (a run, or a sweep of the
/// levels), then the tables of them all.
async fn depth_series(
    a: &RunArgs,
    base: RunConfig,
    depths: &[u32],
    shutdown: &Shutdown,
) -> anyhow::Result<ExitStatus> {
    let dir = base.out.clone().unwrap_or_else(|| {
        let label = a.label.clone().unwrap_or_else(|| "depth".into());
        stackbench_runner::default_out(&label)
    });
    if dir.exists() && std::fs::read_dir(&dir).map_or(true, |mut d| d.next().is_some()) {
        bail!(
            "{} already holds results; choose another --out",
            dir.display()
        );
    }
    for &depth in depths {
        let mut c = base.clone();
        c.depth = depth;
        c.out = Some(dir.join(format!("d{depth}")));
        c.label = None;
        eprintln!("depth {depth}");
        let status = at_depth(a, c, shutdown).await?;
        if status != ExitStatus::Success {
            eprintln!("depths so far in {}", dir.display());
            return Ok(status);
        }
    }
    let runs = stackbench_runner::load_runs(std::slice::from_ref(&dir))?;
    let files: Vec<RunFile> = runs.into_iter().map(|r| r.file).collect();
    println!("{}", stackbench_report::comparison_tables(&files));
    println!("results: {}", dir.display());
    Ok(ExitStatus::Success)
}

/// One depth: a run, or a sweep of the levels.
async fn at_depth(
    a: &RunArgs,
    config: RunConfig,
    shutdown: &Shutdown,
) -> anyhow::Result<ExitStatus> {
    let levels = levels(a);
    if a.find_max_concurrency {
        let mut search = MaxSearch::new(a.slo_attainment, a.stop_error_pct, a.search_max);
        return sweep(a, config, &mut search, shutdown).await;
    }
    if levels.len() > 1 {
        let rules = StopRules {
            error_pct: a.stop_error_pct,
            ttft_p99_ms: a.stop_ttft_p99_ms,
        };
        let mut list = ListSweep::new(levels, rules);
        return sweep(a, config, &mut list, shutdown).await;
    }
    let Some((run, out)) = one_run(config, "run", a.quiet, shutdown).await? else {
        return Ok(ExitStatus::Interrupted);
    };
    println!("{}", stackbench_report::run_summary(&run));
    println!("results: {}", out.display());
    check_complete(&run, &out)?;
    Ok(ExitStatus::Success)
}

/// Fails when a run stopped early or every request failed.
fn check_complete(run: &RunFile, out: &Path) -> anyhow::Result<()> {
    if !run.complete {
        bail!(
            "run stopped early ({}); partial results in {}",
            run.stopped_early.as_deref().unwrap_or("unknown reason"),
            out.display()
        );
    }
    if let Some(reason) = run.summary.all_failed() {
        bail!("every measured request failed ({reason})");
    }
    Ok(())
}

/// One run with a progress display. `None`: interrupted.
async fn one_run(
    config: RunConfig,
    label: &str,
    quiet: bool,
    shutdown: &Shutdown,
) -> anyhow::Result<Option<(RunFile, PathBuf)>> {
    let live = Arc::new(LiveCounters::default());
    let total = match config.bound {
        Bound::Requests(n) => Some(n),
        Bound::Duration(_) => None,
    };
    let progress = Progress::start(live.clone(), total, label, quiet);
    let notes = Notes {
        progress: &|m| {
            if !quiet {
                eprintln!("{m}");
            }
        },
        warn: &|w| eprintln!("warning: {w}"),
    };
    let result = tokio::select! {
        r = stackbench_runner::execute(config, live, shutdown.soft.clone(), notes) => Some(r),
        () = shutdown.hard.cancelled() => None,
    };
    progress.finish();
    let Some(result) = result else {
        eprintln!("run abandoned; run.json stays marked incomplete");
        return Ok(None);
    };
    match result {
        Err(RunnerError::Interrupted) => Ok(None),
        r => {
            let o = r?;
            Ok(Some((o.file, o.dir)))
        }
    }
}

/// Runs the levels `plan` picks, each into `<out>/<level>/`, keeping
/// `sweep.json` up to date after every level, and prints the levels table.
async fn sweep(
    a: &RunArgs,
    base: RunConfig,
    plan: &mut dyn LevelPlan,
    shutdown: &Shutdown,
) -> anyhow::Result<ExitStatus> {
    let dir = base.out.clone().unwrap_or_else(|| {
        let label = a.label.clone().unwrap_or_else(|| "sweep".into());
        stackbench_runner::default_out(&label)
    });
    if dir.join("sweep.json").exists() || dir.join("run.json").exists() {
        bail!(
            "{} already holds results; choose another --out",
            dir.display()
        );
    }
    write_sweep_file(&dir, &plan.file(Vec::new(), false))
        .with_context(|| format!("writing {}", dir.display()))?;
    let mut results = Vec::new();
    let mut runs = Vec::new();
    while let Some(level) = plan.next_level() {
        let mut c = at_level(a, &base, level)?;
        // A given --seed: each level its own prompts (the same seed at
        // every level would serve level 2 from level 1's cache).
        c.seed = c.seed.map(|s| s.nth(runs.len() as u64));
        c.out = Some(dir.join(level.folder()));
        c.label = None;
        eprintln!("level {}", level.folder());
        let Some((run, out)) = one_run(c, &level.folder(), a.quiet, shutdown).await? else {
            eprintln!("sweep interrupted; levels so far in {}", dir.display());
            return Ok(ExitStatus::Interrupted);
        };
        if !run.complete {
            check_complete(&run, &out)?;
        }
        let passed = plan.learn(level, &run.summary);
        results.push(LevelResult::new(level, &run.summary, passed));
        write_sweep_file(&dir, &plan.file(results.clone(), false))?;
        runs.push(run);
    }
    let file = plan.file(results, true);
    write_sweep_file(&dir, &file)?;
    let refs: Vec<&RunFile> = runs.iter().collect();
    println!("{}", stackbench_report::levels_table(&refs));
    if let Some(why) = &file.stopped_early {
        println!("{why}");
    }
    if let (Some(best), Some(slo)) = (file.max_concurrency, &base.slo) {
        match best {
            0 => println!(
                "no concurrency met {slo} for {}% of requests, not even 1",
                a.slo_attainment
            ),
            n => println!(
                "highest concurrency meeting {slo} for {}% of requests: {n}",
                a.slo_attainment
            ),
        }
    }
    println!("results: {}", dir.display());
    Ok(ExitStatus::Success)
}

/// Runs `stackbench probe`.
pub async fn probe_cmd(a: ProbeArgs) -> anyhow::Result<ExitStatus> {
    let root = normalize_base_url(&a.base_url)?;
    let key = api_key(a.api_key_env.as_deref())?;
    let control = ControlClient::new(&root, key.as_deref())?;
    let report = probe(&control).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitStatus::Success)
}
