//! `probe`: which server is behind a URL, and what it honours.
//!
//! Identification uses endpoints only one server has (Ollama's
//! `/api/version`, llama-server's `/props` and `Server: llama.cpp`, vLLM's
//! `/version` and `owned_by: "vllm"`). Capabilities are tested with tiny
//! requests where a request can show them (usage, continuous usage,
//! `/metrics`, `/tokenize`); `ignore_eos` cannot be observed without knowing
//! where the model would stop, so it is reported from the server's
//! documentation and marked so.

use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};
use stackbench_wire::openai::parse_chunk;
use stackbench_wire::{SseDecoder, SseEvent};

use crate::error::RequestError;
use crate::meta::{get_path, list_models};
use crate::openai::{error_chain, http_client};

/// The kind of server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerKind {
    /// vLLM
    Vllm,
    /// llama.cpp's llama-server
    Llamacpp,
    /// Ollama
    Ollama,
    /// Another OpenAI-compatible server
    Openai,
}

/// What a probe found.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    /// The server kind.
    pub kind: ServerKind,
    /// Its version (vLLM `/version`, Ollama `/api/version`, llama-server
    /// `build_info`).
    pub version: Option<String>,
    /// Models listed at `/v1/models`.
    pub models: Vec<String>,
    /// Requests served at once, where visible (llama-server `total_slots`).
    pub parallel_slots: Option<u64>,
    /// Final usage chunk with `stream_options.include_usage` (tested).
    pub include_usage: Option<bool>,
    /// Cumulative usage on every chunk with `continuous_usage_stats` (tested).
    pub continuous_usage: Option<bool>,
    /// Per-chunk `timings` with `timings_per_token` (tested).
    pub timings_per_token: Option<bool>,
    /// `ignore_eos` honoured (from the server's documentation, not tested).
    pub ignore_eos_documented: bool,
    /// `GET /metrics` answers (tested).
    pub metrics: bool,
    /// `POST /tokenize` answers (tested).
    pub tokenize: bool,
}

async fn json_at(
    client: &reqwest::Client,
    root: &reqwest::Url,
    path: &str,
) -> Option<(Option<String>, Value)> {
    let resp = get_path(client, root, path, Duration::from_secs(10))
        .await
        .ok()?;
    let server = resp
        .headers()
        .get(reqwest::header::SERVER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if !resp.status().is_success() {
        return None;
    }
    Some((server, resp.json().await.ok()?))
}

/// Identifies the server at `root` and tests its capabilities.
pub async fn probe(
    root: &reqwest::Url,
    api_key: Option<&str>,
) -> Result<ProbeReport, RequestError> {
    let client = http_client(api_key).map_err(|reason| RequestError::Connect {
        url: root.to_string(),
        reason,
    })?;
    let models = list_models(root, api_key).await?;
    let ollama = json_at(&client, root, "api/version").await;
    let props = json_at(&client, root, "props").await;
    let vllm = json_at(&client, root, "version").await;
    let owned_by = json_at(&client, root, "v1/models")
        .await
        .and_then(|(_, v)| {
            v.pointer("/data/0/owned_by")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let str_at = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    let (kind, version, parallel_slots) = if let Some((_, v)) = &ollama {
        (ServerKind::Ollama, str_at(v, "/version"), None)
    } else if let Some((server, v)) = props
        .as_ref()
        .filter(|(s, v)| s.as_deref() == Some("llama.cpp") || v.get("build_info").is_some())
    {
        let _ = server;
        (
            ServerKind::Llamacpp,
            str_at(v, "/build_info"),
            v.get("total_slots").and_then(Value::as_u64),
        )
    } else if vllm.is_some() || owned_by.as_deref() == Some("vllm") {
        (
            ServerKind::Vllm,
            vllm.and_then(|(_, v)| str_at(&v, "/version")),
            None,
        )
    } else {
        (ServerKind::Openai, None, None)
    };
    let model = models.first().cloned().unwrap_or_default();
    let stream = tiny_stream(&client, root, &model).await;
    let metrics = get_path(&client, root, "metrics", Duration::from_secs(10))
        .await
        .is_ok_and(|r| r.status().is_success());
    let tokenize_body = match kind {
        ServerKind::Llamacpp => json!({"content": "hello world"}),
        _ => json!({"model": model, "prompt": "hello world"}),
    };
    let tokenize = match root.join("tokenize") {
        Ok(url) => client
            .post(url)
            .json(&tokenize_body)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success()),
        Err(_) => false,
    };
    Ok(ProbeReport {
        kind,
        version,
        models,
        parallel_slots,
        include_usage: stream.as_ref().map(|s| s.final_usage),
        continuous_usage: stream.as_ref().map(|s| s.running_usage),
        timings_per_token: stream.as_ref().map(|s| s.running_timings),
        ignore_eos_documented: matches!(kind, ServerKind::Vllm | ServerKind::Llamacpp),
        metrics,
        tokenize,
    })
}

/// What a 4-token streaming chat request showed.
struct StreamFlags {
    final_usage: bool,
    running_usage: bool,
    running_timings: bool,
}

async fn tiny_stream(
    client: &reqwest::Client,
    root: &reqwest::Url,
    model: &str,
) -> Option<StreamFlags> {
    let body = json!({
        "model": model, "stream": true, "max_tokens": 4, "temperature": 0,
        "messages": [{"role": "user", "content": "Say hello."}],
        "stream_options": {"include_usage": true, "continuous_usage_stats": true},
        "timings_per_token": true,
    });
    let mut resp = client
        .post(root.join("v1/chat/completions").ok()?)
        .json(&body)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .map_err(|e| tracing::debug!("probe stream failed: {}", error_chain(&e)))
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let mut flags = StreamFlags {
        final_usage: false,
        running_usage: false,
        running_timings: false,
    };
    let mut dec = SseDecoder::new();
    while let Ok(Some(bytes)) = resp.chunk().await {
        dec.feed(&bytes, |ev| {
            let SseEvent::Data(d) = ev else { return true };
            let Ok(c) = parse_chunk(d) else { return true };
            let content = c.has_choices && c.text_bytes > 0;
            flags.final_usage |= !c.has_choices && c.usage.is_some();
            flags.running_usage |= content
                && c.usage
                    .and_then(|u| u.completion_tokens)
                    .is_some_and(|n| n > 0);
            flags.running_timings |= content && c.timings.is_some();
            true
        });
    }
    Some(flags)
}
