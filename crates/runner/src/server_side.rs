//! What a run treats the server as, and the Ollama model management that
//! follows from it: the server kind (named by the user, or identified by
//! the probe on the server's own evidence), the metadata `run.json` keeps,
//! and, for an Ollama, the model made present and preloaded.
//!
//! What the user named is trusted, and its failures end the run. What was
//! only identified may be wrong in ways no probe can rule out, so a
//! preload that fails there is a warning (kept in `run.json`) and the run
//! goes on without it.

use stackbench_backends::{
    ollama_ensure_model, ollama_is_loaded, ollama_metadata, ollama_preload, probe, server_metadata,
    ControlClient, ServerKind,
};
use stackbench_core::kinds::{FlavorChoice, Recorded};
use stackbench_core::run_file::ServerInfo;
use stackbench_engine::DEFAULT_COLD_LOAD_MS;

use crate::config::RunConfig;
use crate::error::RunnerError;

/// The lowest cold-load threshold a preload can set: above the tens of ms
/// (175 ms at most, c=8 on a busy 2-core box) a warm Ollama reports.
const MIN_COLD_LOAD_MS: f64 = 200.0;

/// The server as the run treats it.
pub(crate) struct ServerSide {
    /// Its kind.
    pub kind: ServerKind,
    /// Its metadata for `run.json` (with the probe's report when probed).
    pub info: ServerInfo,
    /// The cold-load threshold a preload measured (Ollama only).
    pub cold_load_ms: Option<f64>,
}

/// Where an Ollama preload's failure leads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Said {
    /// The user named Ollama (its flavor or one of its native APIs): a
    /// failure ends the run.
    ByUser,
    /// Identified from the server's answers: a failure is a warning.
    ByServer,
}

/// Decides the kind, gathers the metadata, and readies an Ollama's model.
pub(crate) async fn server_side(
    c: &RunConfig,
    control: &ControlClient,
    model: &str,
    progress: &(dyn Fn(&str) + Sync),
    warnings: &mut Vec<String>,
) -> Result<ServerSide, RunnerError> {
    let mut info = server_metadata(control).await;
    // An Ollama (its `/api/ps` lists models) gets its model present and
    // loaded before the probe, whose test stream would otherwise pay the
    // load; whether it was loaded already says whether the preload was
    // cold.
    let loaded_before = ollama_is_loaded(control, model).await;
    let named_ollama = c.flavor == FlavorChoice::Fixed(ServerKind::Ollama)
        || c.api.native_to() == Some(ServerKind::Ollama);
    let early = match (named_ollama, loaded_before) {
        (true, _) => Some(Said::ByUser),
        (false, Some(_)) => Some(Said::ByServer),
        (false, None) => None,
    };
    let mut cold_load_ms = None;
    if let Some(said) = early {
        cold_load_ms = ollama_model(control, model, loaded_before, &mut info, progress)
            .await
            .or_else(|e| demote(e, said, warnings))?;
    }
    let kind = decide_kind(c, control, &mut info, warnings).await?;
    info.flavor = Some(Recorded::Known(kind));
    info.simulated = c.context.simulated.clone();
    if kind == ServerKind::Ollama && c.ignore_eos && !c.exclude_short {
        warnings.push("Ollama has no ignore_eos; outputs may stop early (counted as `short`; --exclude-short leaves them out of the statistics)".into());
    }
    if kind == ServerKind::Ollama && early.is_none() {
        let said = match c.flavor {
            FlavorChoice::Fixed(_) => Said::ByUser,
            FlavorChoice::Auto => Said::ByServer,
        };
        cold_load_ms = ollama_model(control, model, None, &mut info, progress)
            .await
            .or_else(|e| demote(e, said, warnings))?;
    }
    Ok(ServerSide {
        kind,
        info,
        cold_load_ms,
    })
}

/// A failed preload: the run's end when the user named Ollama, else a
/// warning and no preload.
fn demote(
    e: RunnerError,
    said: Said,
    warnings: &mut Vec<String>,
) -> Result<Option<f64>, RunnerError> {
    match said {
        Said::ByUser => Err(e),
        Said::ByServer => {
            warnings.push(format!(
                "the server was identified as Ollama, but readying its model failed ({e}); the run goes on without a preload (the first requests may pay the model's load; give --flavor to make this an error)"
            ));
            Ok(None)
        }
    }
}

/// The kind: the probe's with `auto`, else the user's (probed anyway and
/// recorded when `probe_fixed`, a mismatch warned about).
async fn decide_kind(
    c: &RunConfig,
    control: &ControlClient,
    info: &mut ServerInfo,
    warnings: &mut Vec<String>,
) -> Result<ServerKind, RunnerError> {
    Ok(match c.flavor {
        FlavorChoice::Auto => {
            let report = probe(control).await.map_err(RunnerError::Probe)?;
            info.probe = Some(serde_json::to_value(&report)?);
            if report.kind == ServerKind::Openai {
                warnings.push(format!(
                    "the server showed no signature of vLLM, llama-server or Ollama; measured as a generic OpenAI-compatible server (standard fields only): {}",
                    report.evidence.join("; ")
                ));
            }
            report.kind
        }
        FlavorChoice::Fixed(k) if c.probe_fixed => {
            // Suites record what the server is even when the config says
            // it; a mismatch is worth a warning, not a failed stack.
            match probe(control).await {
                Ok(report) => {
                    if report.kind != k {
                        warnings.push(format!(
                            "configured as {k} but the server looks like {} ({})",
                            report.kind,
                            report.evidence.join("; ")
                        ));
                    }
                    info.probe = Some(serde_json::to_value(&report)?);
                }
                Err(e) => warnings.push(format!("probe failed ({e}); using the configured flavor")),
            }
            k
        }
        FlavorChoice::Fixed(k) => k,
    })
}

/// Ollama loads models lazily (its OpenAI layer too): makes `model`
/// present (pulling it, or naming it when that fails), loads it now so that
/// neither warm-up nor measured requests pay for it, and records what the
/// server says of it. Returns the cold-load threshold for the run: half the
/// preload's own load time when the model was not loaded before the run
/// (that preload was a cold load on this box), else
/// [`DEFAULT_COLD_LOAD_MS`].
async fn ollama_model(
    control: &ControlClient,
    model: &str,
    loaded_before: Option<bool>,
    server: &mut ServerInfo,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Option<f64>, RunnerError> {
    let show = ollama_ensure_model(control, model, progress)
        .await
        .map_err(RunnerError::ModelMissing)?;
    let load_ms = ollama_preload(control, model)
        .await
        .map_err(RunnerError::Preload)?;
    server.preload_load_ms = Some(load_ms);
    server.ollama = Some(ollama_metadata(control, model, show).await);
    Ok(Some(if loaded_before == Some(false) {
        (load_ms / 2.0).clamp(MIN_COLD_LOAD_MS, DEFAULT_COLD_LOAD_MS)
    } else {
        DEFAULT_COLD_LOAD_MS
    }))
}
