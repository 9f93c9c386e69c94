//! The results folder of a run: naming, `run.json` (written at the start
//! marked incomplete, rewritten at the end), and `requests.jsonl`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use stackbench_backends::{ControlClient, StreamDriver};
use stackbench_core::histogram::HistError;
use stackbench_core::run_file::{LoadConfig, RunFile, ServerInfo, Target, RUN_SCHEMA_VERSION};
use stackbench_core::summary::Summary;
use stackbench_core::LatencyHistograms;
use stackbench_engine::{
    run_with_hooks, Lanes, LiveCounters, PhaseHooks, RecordSink, RunOutcome, RunPlan,
};
use tokio_util::sync::CancellationToken;

use crate::config::RunContext;
use crate::error::{io_at, RunnerError};
use crate::power::PowerSampler;
use crate::server_watch::MetricsWatch;

/// Everything one measured run needs.
pub struct Job {
    /// The driver requests go through.
    pub driver: Arc<StreamDriver>,
    /// The load.
    pub plan: RunPlan,
    /// What `run.json` says was measured.
    pub target: Target,
    /// What `run.json` says was applied.
    pub load: LoadConfig,
    /// Server metadata for `run.json`.
    pub server: ServerInfo,
    /// Results folder (created if missing).
    pub out: PathBuf,
    /// Scrape the server's `/metrics` before and after the measured phase
    /// and at this interval during it; `None`: no scrapes.
    pub metrics_every: Option<std::time::Duration>,
    /// The run's control-plane client (the server's root and key), for
    /// the `/metrics` scrapes.
    pub control: ControlClient,
    /// Stack, suite and launch facts for `run.json`; power sampling.
    pub context: RunContext,
    /// What preparing the run found worth a warning (also in `run.json`).
    pub warnings: Vec<String>,
    /// The server's counters before the run and the cache reset done.
    pub hygiene: stackbench_core::hygiene::Hygiene,
}

/// Fewer completed requests than this, with others cut off by the end of
/// the run, and a run's decode rates and E2E rest on too little (and on
/// the fastest requests): the run warns.
pub const FEW_COMPLETED: u64 = 5;

/// The warning of a run that ended with fewer than [`FEW_COMPLETED`]
/// measured requests completed and others still in flight, saying what
/// its figures rest on. A run whose every request completed does not warn,
/// however few it asked for.
pub fn few_completed(s: &stackbench_core::summary::Summary) -> Option<String> {
    let r = &s.requests;
    (r.cancelled > 0 && r.ok < FEW_COMPLETED).then(|| {
        format!(
            "only {} measured requests completed; {} were still in flight when the run ended ({} after their first token, {} before it): decode rates and E2E rest on the completed ones only, TTFT and inter-token latencies also on the {} cut off after their first token (TTFT leaves out those that never got one, whose wait was longer still). Lengthen the run, use a request count, or ask for fewer output tokens.",
            r.ok,
            r.cancelled,
            r.partial,
            r.cancelled - r.partial.min(r.cancelled),
            r.partial
        )
    })
}

/// The warning for a run whose server did not do what `--thinking` asked:
/// reasoning after `off`, none after `on` (vLLM and llama-server drop a
/// template kwarg the template does not use without a word, so the stream
/// is the only witness).
pub fn thinking_ignored(
    thinking: stackbench_core::kinds::Thinking,
    s: &stackbench_core::summary::Summary,
) -> Option<String> {
    use stackbench_core::kinds::Thinking;
    let ok = s.requests.ok;
    match thinking {
        Thinking::Off if s.reasoning_requests > 0 => Some(format!(
            "--thinking off was not honoured: {} of {ok} OK requests reasoned ({} reasoning tokens); \
             the server or its chat template ignores the switch, and the figures include the reasoning",
            s.reasoning_requests, s.reasoning_tokens
        )),
        Thinking::On if ok > 0 && s.reasoning_requests == 0 => Some(format!(
            "--thinking on: none of {ok} OK requests showed reasoning: the model or its chat \
             template ignores the switch, or the server streams no reasoning (no reasoning parser \
             and no <think> text)"
        )),
        _ => None,
    }
}

/// A compact UTC timestamp for folder names: `20261127T003512Z`.
pub fn utc_stamp() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace(['-', ':'], "")
}

/// `label` made safe for a file name: letters, digits, `-`, `_`, `.`.
pub fn safe_name(label: &str) -> String {
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
    safe.trim_matches('-').to_string()
}

/// `results/<stamp>-<label>` with the label made safe for a path.
pub fn default_out(label: &str) -> PathBuf {
    PathBuf::from("results").join(format!("{}-{}", utc_stamp(), safe_name(label)))
}

fn write_run_file(dir: &Path, run: &RunFile) -> Result<(), RunnerError> {
    let bytes = serde_json::to_vec_pretty(run)?;
    stackbench_engine::write_atomic(&dir.join("run.json"), &bytes)?;
    Ok(())
}

/// What runs around the measured phase: `/metrics` scrapes and GPU power
/// samples, each optional.
struct Watchers {
    metrics: Option<MetricsWatch>,
    power: Option<PowerSampler>,
}

impl PhaseHooks for Watchers {
    async fn before_measure(&mut self) {
        if let Some(p) = self.power.as_mut() {
            p.start();
        }
        if let Some(m) = self.metrics.as_mut() {
            m.before_measure().await;
        }
    }

    async fn after_measure(&mut self) {
        if let Some(p) = self.power.as_mut() {
            p.stop().await;
        }
        if let Some(m) = self.metrics.as_mut() {
            m.after_measure().await;
        }
    }
}

/// Runs `job`, writing `requests.jsonl` as it goes and `run.json` at the
/// start (incomplete) and the end. Returns the final `run.json`.
pub async fn benchmark(
    job: Job,
    live: Arc<LiveCounters>,
    cancel: CancellationToken,
) -> Result<RunFile, RunnerError> {
    let Job {
        driver,
        plan,
        target,
        load,
        server,
        out,
        metrics_every,
        control,
        context,
        warnings,
        hygiene,
    } = job;
    std::fs::create_dir_all(&out).map_err(io_at(&out))?;
    let lanes = Lanes::new(driver, load.threads)?;
    let sample_power = context.sample_power;
    let mut file = started_file(target, load, server, context, warnings)?;
    file.hygiene = Some(hygiene);
    write_run_file(&out, &file)?;
    let (sink, handle) = RecordSink::create(&out.join("requests.jsonl"))?;
    // The run's own token: the user's cancel, or a watcher that can no
    // longer write (whose error then says why the run stopped).
    let stop = cancel.child_token();
    let metrics = metrics_every
        .map(|every| MetricsWatch::new(&control, &out, every, stop.clone()))
        .transpose()?;
    let power = sample_power.then(PowerSampler::new);
    let mut watch = Watchers { metrics, power };
    let outcome = run_with_hooks(&lanes, &plan, sink, live, stop, &mut watch).await;
    drop(lanes);
    let metrics_write_error = watch
        .metrics
        .as_ref()
        .and_then(MetricsWatch::take_write_error);
    file.server_metrics = watch.metrics.map(|w| w.finish(&outcome.summary));
    file.energy = watch.power.map(|p| p.finish(outcome.summary.output_tokens));
    let written = tokio::task::spawn_blocking(move || handle.finish())
        .await
        .unwrap_or_else(|e| {
            Err(stackbench_engine::SinkError::Io {
                path: PathBuf::from("requests.jsonl"),
                source: std::io::Error::other(e.to_string()),
            })
        });
    let histograms = record_outcome(&mut file, outcome);
    // Anything that could not be written or encoded fails the run (exit 2)
    // after run.json records what was measured.
    let failed: Option<RunnerError> = match (written, metrics_write_error, histograms) {
        (Err(e), _, _) => Some(e.into()),
        (_, Some((path, source)), _) => Some(RunnerError::Io { path, source }),
        (_, None, Err(e)) => Some(e.into()),
        (Ok(_), None, Ok(())) => None,
    };
    if let Some(e) = failed {
        file.complete = false;
        file.stopped_early = Some(format!("error: {e}"));
        write_run_file(&out, &file)?;
        return Err(e);
    }
    judge_hygiene(&mut file, &out, &plan);
    write_run_file(&out, &file)?;
    Ok(file)
}

/// The cache check, steadiness and flags, and a replay's fidelity, from
/// the records just written (a run whose records cannot be read back
/// keeps what it had, with a warning).
fn judge_hygiene(file: &mut RunFile, out: &Path, plan: &RunPlan) {
    match crate::load::load_records(out) {
        Ok(records) => {
            crate::hygiene::judge(file, &records);
            if let Some(r) = &plan.replay {
                crate::replay_judge::judge(file, &records, &r.trace);
            }
        }
        Err(e) => file.warnings.push(format!(
            "the cache, steadiness and replay checks were skipped: {e}"
        )),
    }
}

/// The `run.json` of a run about to start: marked incomplete, with what
/// preparing it found worth a warning.
fn started_file(
    target: Target,
    load: LoadConfig,
    server: ServerInfo,
    context: RunContext,
    warnings: Vec<String>,
) -> Result<RunFile, RunnerError> {
    Ok(RunFile {
        schema_version: RUN_SCHEMA_VERSION,
        stackbench_version: env!("CARGO_PKG_VERSION").into(),
        complete: false,
        stopped_early: None,
        warnings,
        started_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        finished_at: None,
        command_line: std::env::args().collect(),
        target,
        load,
        server,
        host: crate::host::capture(),
        stack: context.stack,
        suite: context.suite,
        launch: context.launch,
        energy: None,
        summary: Summary::default(),
        histograms: LatencyHistograms::default().serialize()?,
        timeline: None,
        merged: None,
        server_metrics: None,
        hygiene: None,
        replay: None,
    })
}

/// Puts what the measured phase produced into `file`: its summary,
/// histograms and timeline, the engine's warnings (a worker that panicked)
/// and the run's own, and whether it completed. The error is that of
/// histograms that could not be encoded (the file keeps empty ones).
fn record_outcome(file: &mut RunFile, outcome: RunOutcome) -> Result<(), HistError> {
    if let Some(w) = outcome.warmup.as_ref().filter(|w| w.mode == "auto") {
        file.load.warmup_requests = w.requests;
    }
    if let Some(h) = file.hygiene.as_mut() {
        h.warmup = outcome.warmup.clone();
    }
    if let Some(d) = &mut file.load.dataset {
        let r = &outcome.summary.requests;
        let sent = file.load.warmup_requests + r.ok + r.failed + r.cancelled;
        d.repeated = sent > d.selected;
    }
    file.summary = outcome.summary;
    file.warnings.extend(outcome.warnings);
    file.warnings.extend(few_completed(&file.summary));
    file.warnings
        .extend(thinking_ignored(file.load.thinking, &file.summary));
    let histograms = outcome.histograms.serialize();
    if let Ok(h) = &histograms {
        file.histograms = h.clone();
    }
    file.timeline = Some(outcome.timeline);
    file.finished_at = Some(humantime::format_rfc3339_seconds(SystemTime::now()).to_string());
    file.complete = !outcome.interrupted && outcome.stopped_early.is_none();
    if outcome.interrupted {
        file.stopped_early = Some("interrupted".into());
    } else if let Some(why) = outcome.stopped_early {
        file.stopped_early = Some(why);
    }
    histograms.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started() -> RunFile {
        let warnings = vec!["from preparing the run".to_string()];
        let context = RunContext::default();
        let file = started_file(
            Target::default(),
            LoadConfig::default(),
            ServerInfo::default(),
            context,
            warnings,
        );
        file.unwrap()
    }

    fn outcome(warnings: &[&str]) -> RunOutcome {
        let mut summary = Summary::default();
        summary.requests.ok = 7;
        RunOutcome {
            histograms: LatencyHistograms::default(),
            summary,
            interrupted: false,
            stopped_early: None,
            timeline: Default::default(),
            warnings: warnings.iter().map(|w| w.to_string()).collect(),
            warmup: None,
        }
    }

    #[test]
    fn the_engines_warnings_are_written_after_the_preparation_ones() {
        let mut file = started();
        assert!(!file.complete);
        let panicked = "worker 1 panicked: boom (request 4, which it was sending, is missing)";
        record_outcome(&mut file, outcome(&[panicked])).unwrap();
        assert_eq!(file.warnings, ["from preparing the run", panicked]);
        assert_eq!(file.summary.requests.ok, 7);
        assert!(file.complete && file.stopped_early.is_none());
        assert!(file.finished_at.is_some() && file.timeline.is_some());
    }

    #[test]
    fn an_interrupted_or_stopped_run_is_incomplete_and_says_why() {
        let mut file = started();
        let mut o = outcome(&[]);
        o.interrupted = true;
        o.stopped_early = Some("more than 5% of requests failed".into());
        record_outcome(&mut file, o).unwrap();
        assert!(!file.complete);
        assert_eq!(file.stopped_early.as_deref(), Some("interrupted"));
        let mut file = started();
        let mut o = outcome(&[]);
        o.stopped_early = Some("more than 5% of requests failed".into());
        record_outcome(&mut file, o).unwrap();
        assert!(!file.complete);
        assert_eq!(
            file.stopped_early.as_deref(),
            Some("more than 5% of requests failed")
        );
        assert_eq!(file.warnings, ["from preparing the run"]);
    }
}
