//! Ollama's model management, which no other server has: a model must be
//! present on the server (`/api/show` answers 200) before it can be loaded,
//! it is loaded lazily on first use, and what is loaded where is only told
//! by `/api/ps`. A run makes the model present (pulling it, with progress,
//! when the server lacks it), preloads it so that no measured request pays
//! the load, and records what Ollama says of it.
//!
//! Wire facts from the real Ollama 0.17.4 (`crates/wire/tests/fixtures/ollama-0.17.4`):
//! an unknown model is `404 {"error":"model 'x' not found"}`; `/api/pull`
//! answers 200 and streams NDJSON status objects (`{"status":…,"total":…,
//! "completed":…}`) ending in `{"status":"success"}`, or an `{"error":…}`
//! line (offline: the registry's DNS lookup fails) still under 200.

use std::time::Duration;

use serde_json::{json, Value};

use crate::control::ControlClient;
use crate::error::RequestError;
use crate::transport::{error_chain, http_error, transport_error};

/// How long a pull may take before it is given up.
const PULL_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

/// Why a model could not be made present on an Ollama server.
#[derive(Debug, thiserror::Error)]
pub enum ModelPresenceError {
    /// Asking the server (`/api/show`) failed.
    #[error("could not ask the Ollama server whether it has model '{model}': {source}")]
    Show {
        /// The model asked for.
        model: String,
        /// What went wrong.
        #[source]
        source: RequestError,
    },
    /// The model is not there and pulling it failed.
    #[error("model '{model}' is not on the Ollama server and pulling it failed: {reason} (create it there with `ollama create`, or pull it where the registry is reachable)")]
    Pull {
        /// The model asked for.
        model: String,
        /// The server's words, or the transport failure.
        reason: String,
    },
}

/// Makes `model` present on the Ollama server: nothing to do when
/// `/api/show` knows it; otherwise `/api/pull` with its progress reported
/// through `progress` (at most every 5 s, and each new phase). Returns
/// the `/api/show` answer when the model was there already (for
/// [`ollama_metadata`], which then need not ask again), `None` after a pull.
pub async fn ollama_ensure_model(
    client: &ControlClient,
    model: &str,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Option<Value>, ModelPresenceError> {
    let show_err = |source| ModelPresenceError::Show {
        model: model.to_string(),
        source,
    };
    let show = json!({ "model": model });
    match client
        .post_json("api/show", &show, Duration::from_secs(30))
        .await
    {
        Ok(show) => return Ok(Some(show)),
        Err(RequestError::HttpStatus { status: 404, .. }) => {}
        Err(e) => return Err(show_err(e)),
    }
    progress(&format!(
        "model '{model}' is not on the server; pulling it (/api/pull)"
    ));
    pull(client, model, progress)
        .await
        .map_err(|reason| ModelPresenceError::Pull {
            model: model.to_string(),
            reason,
        })?;
    Ok(None)
}

/// `/api/pull` of `model`, reading its NDJSON progress to the end.
async fn pull(
    client: &ControlClient,
    model: &str,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), String> {
    let url = client.root().join("api/pull").map_err(|e| e.to_string())?;
    let mut resp = client
        .http()
        .post(url.clone())
        .json(&json!({ "model": model, "stream": true }))
        .timeout(PULL_TIMEOUT)
        .send()
        .await
        .map_err(|e| transport_error(&url, &e).to_string())?;
    if !resp.status().is_success() {
        return Err(http_error(resp).await.to_string());
    }
    let mut lines = stackbench_wire::ndjson::NdjsonDecoder::new();
    let mut report = PullReport::default();
    let mut outcome: Result<bool, String> = Ok(false);
    while let Some(bytes) = resp
        .chunk()
        .await
        .map_err(|e| format!("the pull stream broke: {}", error_chain(&e)))?
    {
        lines.feed(&bytes, |line| {
            outcome = report.line(line, progress);
            matches!(outcome, Ok(false))
        });
        if !matches!(outcome, Ok(false)) {
            break;
        }
    }
    match outcome {
        Ok(true) => Ok(()),
        Ok(false) => Err("the pull stream ended without \"success\"".into()),
        Err(e) => Err(e),
    }
}

/// Reads `/api/pull`'s status lines and says what changed.
#[derive(Default)]
struct PullReport {
    status: String,
    last_report: Option<std::time::Instant>,
}

impl PullReport {
    /// `Ok(true)` on success, `Err` on an error line, else `Ok(false)`.
    fn line(&mut self, line: &[u8], progress: &(dyn Fn(&str) + Sync)) -> Result<bool, String> {
        let v: Value = serde_json::from_slice(line)
            .map_err(|e| format!("the pull stream sent a line that is not JSON: {e}"))?;
        if let Some(e) = v.get("error") {
            return Err(e.as_str().map_or_else(|| e.to_string(), str::to_string));
        }
        let status = v.get("status").and_then(Value::as_str).unwrap_or_default();
        if status == "success" {
            progress("pull: success");
            return Ok(true);
        }
        let new_phase = status != self.status;
        let due = self
            .last_report
            .map_or(true, |t| t.elapsed() >= Duration::from_secs(5));
        if new_phase || due {
            let done = |k| v.get(k).and_then(Value::as_u64);
            let line = match (done("completed"), done("total")) {
                (Some(c), Some(t)) if t > 0 => format!(
                    "pull: {status}: {:.0}% of {:.2} GB",
                    c as f64 * 100.0 / t as f64,
                    t as f64 / 1e9
                ),
                _ => format!("pull: {status}"),
            };
            progress(&line);
            self.status = status.to_string();
            self.last_report = Some(std::time::Instant::now());
        }
        Ok(false)
    }
}

/// Whether `model` is loaded now (`/api/ps` lists it); `Ok(None)` when the
/// server would not say (no `/api/ps`, or an answer without Ollama's
/// `models` array: not an Ollama).
pub async fn ollama_is_loaded(client: &ControlClient, model: &str) -> Option<bool> {
    let resp = client
        .get_ok("api/ps", Duration::from_secs(10))
        .await
        .ok()?;
    let v = resp.json::<Value>().await.ok()?;
    v.get("models").and_then(Value::as_array).map(|models| {
        models
            .iter()
            .any(|m| m.get("name").and_then(Value::as_str) == Some(model))
    })
}

/// Loads `model` into an Ollama server (`POST /api/generate` with only the
/// model, as Ollama documents) so that no measured request pays the load.
/// Returns how long the load took, ms: the server's `load_duration` when it
/// says (the simulator does), else the request's own duration as timed
/// here — Ollama 0.17's answer to a load-only request (`done_reason:
/// "load"`) carries no durations.
pub async fn ollama_preload(client: &ControlClient, model: &str) -> Result<f64, RequestError> {
    let started = std::time::Instant::now();
    let load = json!({ "model": model, "stream": false });
    let v = client
        .post_json("api/generate", &load, Duration::from_secs(600))
        .await?;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(v.get("load_duration")
        .and_then(Value::as_f64)
        .map_or(elapsed_ms, |ns| ns / 1e6))
}

/// Ollama's view of `model` for `run.json`: its version, the model as
/// stored (`/api/show`: digest-free details, capabilities, the GGUF's own
/// context length and parameter count) and as loaded (`/api/ps`: bytes in
/// memory, bytes on the GPU, the processor split as `ollama ps` prints it,
/// the context length it was loaded with). Raw `ps` and `show` entries are
/// kept beside the summary. Whatever the server does not say is null.
pub async fn ollama_metadata(
    client: &ControlClient,
    model: &str,
    known_show: Option<Value>,
) -> Value {
    let timeout = Duration::from_secs(10);
    let get_json = |path: &'static str| async move {
        client
            .get_ok(path, timeout)
            .await
            .ok()?
            .json::<Value>()
            .await
            .ok()
    };
    let version = get_json("api/version")
        .await
        .and_then(|v| v.get("version").cloned());
    let ps = get_json("api/ps").await.and_then(|v| {
        v.get("models")?
            .as_array()?
            .iter()
            .find(|m| m.get("name").and_then(Value::as_str) == Some(model))
            .cloned()
    });
    let show = match known_show {
        Some(show) => Some(show),
        None => client
            .post_json("api/show", &json!({ "model": model }), timeout)
            .await
            .ok(),
    };
    summarize(version, ps.as_ref(), show.as_ref())
}

/// The `run.json` shape of [`ollama_metadata`] from the three answers.
fn summarize(version: Option<Value>, ps: Option<&Value>, show: Option<&Value>) -> Value {
    let at = |v: Option<&Value>, p: &str| v.and_then(|v| v.pointer(p)).cloned();
    let arch = at(show, "/model_info/general.architecture")
        .and_then(|a| a.as_str().map(str::to_string))
        .unwrap_or_default();
    let loaded = ps.map(|p| {
        let size = p.get("size").and_then(Value::as_u64);
        let vram = p.get("size_vram").and_then(Value::as_u64);
        json!({
            "size_bytes": size,
            "size_vram_bytes": vram,
            "processor": size.zip(vram).map(|(s, v)| processor(s, v)),
            "context_length": p.get("context_length"),
            "expires_at": p.get("expires_at"),
        })
    });
    json!({
        "version": version,
        "model": show.map(|_| json!({
            "digest": at(ps, "/digest"),
            "format": at(show, "/details/format"),
            "family": at(show, "/details/family"),
            "parameter_size": at(show, "/details/parameter_size"),
            "quantization": at(show, "/details/quantization_level"),
            "capabilities": at(show, "/capabilities"),
            "parameter_count": at(show, "/model_info/general.parameter_count"),
            "context_length_trained": at(show, &format!("/model_info/{arch}.context_length")),
        })),
        "loaded": loaded,
        "ps": ps,
        "show": show.map(|v| json!({ "details": v.get("details"), "capabilities": v.get("capabilities") })),
    })
}

/// Where the loaded model lives, worded as `ollama ps` words it.
fn processor(size: u64, size_vram: u64) -> String {
    if size_vram == 0 {
        "100% CPU".into()
    } else if size_vram >= size {
        "100% GPU".into()
    } else {
        let cpu = ((size - size_vram) as f64 * 100.0 / size as f64).round() as u64;
        format!("{cpu}%/{}% CPU/GPU", 100 - cpu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(capture: &str) -> Value {
        let (_, body) = capture.split_once("\r\n\r\n").expect("headers, then body");
        serde_json::from_str(body).expect("a JSON body")
    }

    #[test]
    fn metadata_of_the_real_server() {
        let fx = "../wire/tests/fixtures/ollama-0.17.4";
        let ps = body(&std::fs::read_to_string(format!("{fx}/ps.http")).unwrap());
        let show = body(&std::fs::read_to_string(format!("{fx}/show.http")).unwrap());
        let v = summarize(Some(json!("0.17.4")), ps["models"].get(0), Some(&show));
        assert_eq!(v["version"], "0.17.4");
        assert_eq!(v["model"]["quantization"], "Q4_1");
        assert_eq!(v["model"]["family"], "llama");
        assert_eq!(v["model"]["parameter_count"], 134_515_008);
        assert_eq!(v["model"]["context_length_trained"], 8192);
        assert_eq!(v["loaded"]["processor"], "100% CPU");
        assert_eq!(v["loaded"]["context_length"], 2048);
        assert!(v["loaded"]["size_bytes"].as_u64().unwrap() > 100_000_000);
    }

    #[test]
    fn processor_split_as_ollama_ps_words_it() {
        assert_eq!(processor(100, 0), "100% CPU");
        assert_eq!(processor(100, 100), "100% GPU");
        assert_eq!(processor(100, 75), "25%/75% CPU/GPU");
    }

    #[test]
    fn pull_lines_report_progress_and_errors() {
        let seen = std::sync::Mutex::new(Vec::new());
        let note = |s: &str| seen.lock().unwrap().push(s.to_string());
        let mut r = PullReport::default();
        assert_eq!(
            r.line(br#"{"status":"pulling manifest"}"#, &note),
            Ok(false)
        );
        assert_eq!(
            r.line(
                br#"{"status":"pulling abc","total":2000000000,"completed":500000000}"#,
                &note
            ),
            Ok(false)
        );
        assert_eq!(r.line(br#"{"status":"success"}"#, &note), Ok(true));
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen[1], "pull: pulling abc: 25% of 2.00 GB");
        // The real server offline (fixtures/ollama-0.17.4/error-pull-offline.http).
        let err = PullReport::default()
            .line(br#"{"error":"pull model manifest: Get \"https://registry.ollama.ai/v2/library/no-such-model/manifests/1b\": dial tcp: lookup registry.ollama.ai: no such host"}"#, &|_| {})
            .unwrap_err();
        assert!(err.starts_with("pull model manifest"), "{err}");
    }
}
