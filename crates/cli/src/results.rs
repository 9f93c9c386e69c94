//! The results folder of a run: naming, `run.json` (written at the start
//! marked incomplete, rewritten at the end), and `requests.jsonl`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context;
use stackbench_backends::Driver;
use stackbench_core::run_file::{HostInfo, LoadConfig, RunFile, Target, RUN_SCHEMA_VERSION};
use stackbench_core::summary::Summary;
use stackbench_core::LatencyHistograms;
use stackbench_engine::{run, run_with_hooks, LiveCounters, RecordSink, RunPlan};

use crate::server_watch::MetricsWatch;
use tokio_util::sync::CancellationToken;

/// Everything one measured run needs.
pub struct Job {
    /// The driver requests go through.
    pub driver: Arc<Driver>,
    /// The load.
    pub plan: RunPlan,
    /// What `run.json` says was measured.
    pub target: Target,
    /// What `run.json` says was applied.
    pub load: LoadConfig,
    /// Server metadata for `run.json`.
    pub server: serde_json::Value,
    /// Results folder (created if missing).
    pub out: PathBuf,
    /// Scrape the server's `/metrics` before and after the measured phase
    /// and at this interval during it; `None`: no scrapes.
    pub metrics_every: Option<std::time::Duration>,
    /// API key for metadata and scrapes.
    pub api_key: Option<String>,
}

/// A compact UTC timestamp for folder names: `20261127T003512Z`.
pub fn utc_stamp() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace(['-', ':'], "")
}

/// `results/<stamp>-<label>` with the label made safe for a path.
pub fn default_out(label: &str) -> PathBuf {
    let safe: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    PathBuf::from("results").join(format!("{}-{}", utc_stamp(), safe.trim_matches('-')))
}

fn host_info() -> HostInfo {
    let hostname = std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into());
    HostInfo {
        hostname,
        os: std::env::consts::OS.into(),
        arch: std::env::consts::ARCH.into(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

fn write_run_file(dir: &Path, run: &RunFile) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec_pretty(run).context("serializing run.json")?;
    stackbench_engine::write_atomic(&dir.join("run.json"), &bytes)?;
    Ok(())
}

/// Runs `job`, writing `requests.jsonl` as it goes and `run.json` at the
/// start (incomplete) and the end. Returns the final `run.json`.
pub async fn benchmark(
    job: Job,
    live: Arc<LiveCounters>,
    cancel: CancellationToken,
) -> anyhow::Result<RunFile> {
    std::fs::create_dir_all(&job.out)
        .with_context(|| format!("cannot create results folder {}", job.out.display()))?;
    let mut file = RunFile {
        schema_version: RUN_SCHEMA_VERSION,
        stackbench_version: env!("CARGO_PKG_VERSION").into(),
        complete: false,
        stopped_early: None,
        started_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        finished_at: None,
        command_line: std::env::args().collect(),
        target: job.target,
        load: job.load,
        server: job.server,
        host: host_info(),
        summary: Summary::default(),
        histograms: LatencyHistograms::default().serialize(),
        server_metrics: None,
    };
    write_run_file(&job.out, &file)?;
    let (sink, handle) = RecordSink::create(&job.out.join("requests.jsonl"))?;
    let root = stackbench_backends::normalize_base_url(&file.target.base_url)?;
    let mut watch = job
        .metrics_every
        .map(|every| MetricsWatch::new(&root, job.api_key.as_deref(), &job.out, every))
        .transpose()?;
    let outcome = match watch.as_mut() {
        Some(w) => run_with_hooks(job.driver, &job.plan, sink, live, cancel, w).await,
        None => run(job.driver, &job.plan, sink, live, cancel).await,
    };
    file.server_metrics = watch.map(|w| w.finish(&outcome.summary));
    let written = tokio::task::spawn_blocking(move || handle.finish()).await?;
    file.summary = outcome.summary;
    file.histograms = outcome.histograms.serialize();
    file.finished_at = Some(humantime::format_rfc3339_seconds(SystemTime::now()).to_string());
    file.complete = !outcome.interrupted;
    if outcome.interrupted {
        file.stopped_early = Some("interrupted".into());
    }
    if let Err(e) = written {
        file.complete = false;
        file.stopped_early = Some(format!("error: {e}"));
        write_run_file(&job.out, &file)?;
        return Err(e.into());
    }
    write_run_file(&job.out, &file)?;
    Ok(file)
}
