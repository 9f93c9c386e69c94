//! `probe`: which server is behind a URL, and what it honours.
//!
//! A kind is named only on positive evidence: its own answer, of its own
//! shape, at an endpoint only it has (see `signature.rs`); a server that
//! answers everything with 200 is none of them, and is measured as a
//! generic OpenAI-compatible server (`openai`). The report says why, one
//! line per check (`evidence`). Capabilities are tested with tiny requests
//! where a request can show them (usage, continuous usage, `/metrics` as a
//! Prometheus page with samples, `/tokenize` with token ids); `ignore_eos`
//! cannot be observed without knowing where the model would stop, so it is
//! reported from the server's documentation and marked so.

use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};
use stackbench_core::kinds::ServerKind;
use stackbench_wire::openai::parse_chunk;
use stackbench_wire::{SseDecoder, SseEvent};

use crate::control::ControlClient;
use crate::error::RequestError;
use crate::meta::list_models;
use crate::signature::{
    glimpse, llama_props, ollama_tags, prometheus_samples, tokenize_answer, version_answer,
};
use crate::transport::error_chain;

/// What a probe found.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    /// The server kind: named only on its own evidence, else `openai`.
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
    /// `GET /metrics` serves a Prometheus page with samples (tested).
    pub metrics: bool,
    /// `POST /tokenize` answers token ids (tested).
    pub tokenize: bool,
    /// Why: what each check found, the kind's signature first when one
    /// was there.
    pub evidence: Vec<String>,
}

/// One `GET`: the status, the `Server` header and the body, or why none.
struct Answer {
    path: &'static str,
    outcome: Result<(u16, Option<String>, String), String>,
}

impl Answer {
    async fn get(client: &ControlClient, path: &'static str) -> Self {
        let outcome = match client.get_path(path, Duration::from_secs(10)).await {
            Err(e) => Err(e.to_string()),
            Ok(resp) => {
                let server = resp
                    .headers()
                    .get(reqwest::header::SERVER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let status = resp.status().as_u16();
                match resp.text().await {
                    Ok(body) => Ok((status, server, body)),
                    Err(e) => Err(format!("the body broke: {}", error_chain(&e))),
                }
            }
        };
        Self { path, outcome }
    }

    /// The JSON body of a 2xx answer.
    fn json(&self) -> Option<Value> {
        match &self.outcome {
            Ok((200..=299, _, body)) => serde_json::from_str(body).ok(),
            _ => None,
        }
    }

    fn server(&self) -> Option<&str> {
        self.outcome
            .as_ref()
            .ok()
            .and_then(|(_, s, _)| s.as_deref())
    }

    /// `GET /path: 200 {"status":"ok"}` — what came back, in a line.
    fn seen(&self) -> String {
        match &self.outcome {
            Ok((status, _, body)) => format!("GET /{}: {status} {}", self.path, glimpse(body)),
            Err(e) => format!("GET /{}: {}", self.path, glimpse(e)),
        }
    }
}

/// The kind the answers show, its version and slots, and the evidence.
struct Identity {
    kind: ServerKind,
    version: Option<String>,
    parallel_slots: Option<u64>,
    evidence: Vec<String>,
}

/// Names the kind whose signature is in the answers, checking Ollama,
/// llama-server and vLLM in turn; none: `openai`, each check saying what
/// it found instead.
fn identify(
    ollama_version: &Answer,
    ollama_tags_answer: &Answer,
    props: &Answer,
    vllm_version: &Answer,
) -> Identity {
    let mut evidence = Vec::new();
    let named = |kind, version: Option<&str>, slots, why: String| Identity {
        kind,
        version: version.map(str::to_string),
        parallel_slots: slots,
        evidence: vec![why],
    };
    let ov = ollama_version.json();
    if let Some(v) = ov.as_ref().and_then(version_answer) {
        return named(
            ServerKind::Ollama,
            Some(v),
            None,
            format!("ollama: GET /api/version answered version {v}"),
        );
    }
    if let Some(n) = ollama_tags_answer.json().as_ref().and_then(ollama_tags) {
        return named(
            ServerKind::Ollama,
            None,
            None,
            format!("ollama: GET /api/tags listed {n} model(s) with Ollama's fields"),
        );
    }
    evidence.push(format!(
        "not ollama: {}; {} (no version number, no models with name, model, digest, size)",
        ollama_version.seen(),
        ollama_tags_answer.seen()
    ));
    if let Some(p) = props.json().filter(|p| llama_props(p, props.server())) {
        let build = p.get("build_info").and_then(Value::as_str);
        return named(
            ServerKind::Llamacpp,
            build,
            p.get("total_slots").and_then(Value::as_u64),
            format!(
                "llamacpp: GET /props answered build_info {}, total_slots {}",
                build.unwrap_or("(none)"),
                p.get("total_slots").unwrap_or(&Value::Null)
            ),
        );
    }
    evidence.push(format!(
        "not llamacpp: {} (no total_slots with default_generation_settings, no build_info under Server: llama.cpp)",
        props.seen()
    ));
    if let Some(v) = vllm_version.json().as_ref().and_then(version_answer) {
        return named(
            ServerKind::Vllm,
            Some(v),
            None,
            format!("vllm: GET /version answered version {v}"),
        );
    }
    evidence.push(format!(
        "not vllm: {} (no version number)",
        vllm_version.seen()
    ));
    evidence.push("so: a generic OpenAI-compatible server (openai): standard fields only".into());
    Identity {
        kind: ServerKind::Openai,
        version: None,
        parallel_slots: None,
        evidence,
    }
}

/// Whether `/metrics` serves a Prometheus page with samples, and what it
/// served.
async fn metrics_check(client: &ControlClient) -> (bool, String) {
    let a = Answer::get(client, "metrics").await;
    match &a.outcome {
        Ok((200..=299, _, body)) => match prometheus_samples(body) {
            Ok(n) => (true, format!("metrics: GET /metrics served {n} samples")),
            Err(why) => (false, format!("no metrics: {} ({why})", a.seen())),
        },
        _ => (false, format!("no metrics: {}", a.seen())),
    }
}

/// Whether `POST /tokenize` answers token ids, and what it answered.
async fn tokenize_check(client: &ControlClient, kind: ServerKind, model: &str) -> (bool, String) {
    let body = match kind {
        ServerKind::Llamacpp => json!({"content": "hello world"}),
        _ => json!({"model": model, "prompt": "hello world"}),
    };
    let Ok(url) = client.root().join("tokenize") else {
        return (false, "no tokenize: no URL".into());
    };
    let resp = client
        .http()
        .post(url)
        .json(&body)
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    let (status, text) = match resp {
        Err(e) => return (false, format!("no tokenize: {}", glimpse(&error_chain(&e)))),
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
    };
    let ids = (200..300)
        .contains(&status)
        .then(|| serde_json::from_str::<Value>(&text).ok())
        .flatten()
        .as_ref()
        .and_then(tokenize_answer);
    match ids {
        Some(n) => (
            true,
            format!("tokenize: POST /tokenize answered {n} token ids"),
        ),
        None => (
            false,
            format!("no tokenize: POST /tokenize: {status} {}", glimpse(&text)),
        ),
    }
}

/// Identifies the server `client` talks to and tests its capabilities.
pub async fn probe(client: &ControlClient) -> Result<ProbeReport, RequestError> {
    let models = list_models(client).await?;
    let id = identify(
        &Answer::get(client, "api/version").await,
        &Answer::get(client, "api/tags").await,
        &Answer::get(client, "props").await,
        &Answer::get(client, "version").await,
    );
    let kind = id.kind;
    let model = models.first().cloned().unwrap_or_default();
    let stream = tiny_stream(client, &model).await;
    let (metrics, metrics_why) = metrics_check(client).await;
    let (tokenize, tokenize_why) = tokenize_check(client, kind, &model).await;
    let mut evidence = id.evidence;
    evidence.extend([metrics_why, tokenize_why]);
    Ok(ProbeReport {
        kind,
        version: id.version,
        models,
        parallel_slots: id.parallel_slots,
        include_usage: stream.as_ref().map(|s| s.final_usage),
        continuous_usage: stream.as_ref().map(|s| s.running_usage),
        timings_per_token: stream.as_ref().map(|s| s.running_timings),
        ignore_eos_documented: matches!(kind, ServerKind::Vllm | ServerKind::Llamacpp),
        metrics,
        tokenize,
        evidence,
    })
}

/// What a 4-token streaming chat request showed.
struct StreamFlags {
    final_usage: bool,
    running_usage: bool,
    running_timings: bool,
}

async fn tiny_stream(client: &ControlClient, model: &str) -> Option<StreamFlags> {
    let body = json!({
        "model": model, "stream": true, "max_tokens": 4, "temperature": 0,
        "messages": [{"role": "user", "content": "Say hello."}],
        "stream_options": {"include_usage": true, "continuous_usage_stats": true},
        "timings_per_token": true,
    });
    let mut resp = client
        .http()
        .post(client.root().join("v1/chat/completions").ok()?)
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
