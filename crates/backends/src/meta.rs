//! Small metadata requests made before a run.

use std::time::Duration;

use stackbench_core::run_file::ModelEntry;

use crate::control::ControlClient;
use crate::error::RequestError;
use crate::transport::{error_chain, http_error};

/// `GET /v1/models`: the ids the server lists (OpenAI `data[].id`). Also the
/// cheapest check that the server is up before a run starts.
pub async fn list_models(client: &ControlClient) -> Result<Vec<String>, RequestError> {
    let resp = client.get_ok("v1/models", Duration::from_secs(30)).await?;
    let v: serde_json::Value = resp.json().await.map_err(|e| RequestError::Stream {
        events: 0,
        reason: format!("/v1/models is not JSON: {}", error_chain(&e)),
    })?;
    Ok(v.get("data")
        .and_then(|d| d.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|m| m.get("id").and_then(|i| i.as_str()).map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// How long to wait for a server that is still starting.
#[derive(Debug, Clone, Copy)]
pub struct ReadyWait {
    /// Give up after this long.
    pub timeout: Duration,
    /// Poll interval.
    pub interval: Duration,
}

/// What the server said while we waited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// `/health` answered 2xx.
    Ready,
    /// The server has no `/health` (Ollama answers 404): assume ready.
    NoHealthEndpoint,
}

/// Waits until `GET /health` answers 2xx. While the connection is refused
/// (vLLM binds only once loaded) or the server answers 503 (llama-server
/// "Loading model"), keeps polling until `wait.timeout`; then fails with the
/// last thing the server said. Every 5 s of waiting, `on_wait` gets a line
/// saying what the server answered (progress for the caller to show; the
/// library prints nothing).
pub async fn wait_ready(
    client: &ControlClient,
    wait: ReadyWait,
    on_wait: &(dyn Fn(&str) + Sync),
) -> Result<Readiness, RequestError> {
    let url = client.url("health")?;
    crate::proxy::refuse_proxy(&url)?;
    let deadline = tokio::time::Instant::now() + wait.timeout;
    let mut waited_reports = Every::new(Duration::from_secs(5));
    loop {
        let last = match client.get_path("health", Duration::from_secs(10)).await {
            Ok(r) if r.status().is_success() => return Ok(Readiness::Ready),
            Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => {
                return Ok(Readiness::NoHealthEndpoint)
            }
            Ok(r) if r.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE => http_error(r).await,
            Ok(r) => return Err(http_error(r).await),
            // A certificate that is not trusted will not become trusted.
            Err(e @ RequestError::Tls { .. }) => return Err(e),
            Err(e) => e,
        };
        if tokio::time::Instant::now() + wait.interval > deadline {
            return Err(RequestError::NotReady {
                waited: wait.timeout,
                last: last.to_string(),
            });
        }
        if waited_reports.tick() {
            on_wait(&format!("waiting for {url} to be ready: {last}"));
        }
        tokio::time::sleep(wait.interval).await;
    }
}

/// True once per `period` (the first call included).
struct Every {
    period: Duration,
    last: Option<tokio::time::Instant>,
}

impl Every {
    fn new(period: Duration) -> Self {
        Self { period, last: None }
    }

    fn tick(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        if self.last.is_some_and(|l| now - l < self.period) {
            return false;
        }
        self.last = Some(now);
        true
    }
}

/// Server metadata for `run.json`: the `Server` header, llama-server's
/// `/props` (`build_info`, `total_slots`, `model_path`, per-slot `n_ctx`),
/// `/v1/models` (ids, vLLM's `max_model_len`, llama-server's `meta`:
/// `n_params`, `size`, `n_vocab`, `n_ctx_train`) and vLLM's `/version`.
/// Whatever a server lacks is left out, and so is an answer not of the
/// shape that server gives (a server that answers every path with 200 has
/// no `/props` and no `/version`).
pub async fn server_metadata(client: &ControlClient) -> stackbench_core::run_file::ServerInfo {
    use crate::signature::{llama_props, version_answer};
    use serde_json::Value;
    use stackbench_core::run_file::ServerInfo;
    let mut out = ServerInfo::default();
    let get = |path: &'static str| async move {
        let resp = client.get_path(path, Duration::from_secs(10)).await.ok()?;
        let server = resp
            .headers()
            .get(reqwest::header::SERVER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let ok = resp.status().is_success();
        let body: Option<Value> = resp.json().await.ok();
        Some((server, ok.then_some(body).flatten()))
    };
    if let Some((server, Some(models))) = get("v1/models").await {
        out.server_header = server;
        out.models = models
            .get("data")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(model_entry).collect())
            .unwrap_or_default();
    }
    if let Some((server, Some(props))) = get("props").await {
        if llama_props(&props, server.as_deref()) {
            out.server_header = out.server_header.or(server);
            out.props = Some(props_summary(&props));
        }
    }
    if let Some((_, Some(v))) = get("version").await {
        out.version = version_answer(&v).map(str::to_string);
    }
    out
}

fn model_entry(m: &serde_json::Value) -> Option<ModelEntry> {
    Some(ModelEntry {
        id: m.get("id")?.as_str()?.to_string(),
        owned_by: m
            .get("owned_by")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        max_model_len: m.get("max_model_len").and_then(serde_json::Value::as_u64),
        meta: m.get("meta").filter(|v| !v.is_null()).cloned(),
    })
}

/// The parts of llama-server's `/props` that describe the setup.
pub fn props_summary(props: &serde_json::Value) -> serde_json::Value {
    let pick = |ptr: &str| {
        props
            .pointer(ptr)
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    };
    serde_json::json!({
        "build_info": pick("/build_info"),
        "total_slots": pick("/total_slots"),
        "model_path": pick("/model_path"),
        "n_ctx_per_slot": pick("/default_generation_settings/n_ctx"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn props_summary_of_a_real_capture() {
        let text = include_str!("../../wire/tests/fixtures/props.json");
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let s = props_summary(&v);
        assert_eq!(s["total_slots"], 2);
        assert_eq!(s["n_ctx_per_slot"], 1024);
        assert_eq!(s["build_info"], "b0-unknown");
        assert_eq!(s["model_path"], "models/SmolLM2-135M-Instruct.Q4_1.gguf");
    }
}
