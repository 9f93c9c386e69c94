//! A server that answers every GET (and every POST it does not know) with
//! `200 {"status":"ok"}` while serving a real OpenAI chat stream is none of
//! vLLM, llama-server or Ollama: the probe names it `openai` and says why,
//! with `/metrics` and `/tokenize` not available, and a run measures it as
//! a generic server (no Ollama preload). A server that shows Ollama's
//! signature but whose preload fails is measured all the same, with a
//! warning, unless the user named Ollama.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use stackbench_engine::{Bound, LiveCounters};
use stackbench_runner::{execute, FlavorChoice, Notes, RunConfig, RunnerError, ServerKind};
use tokio_util::sync::CancellationToken;

/// How the test server behaves beyond the OpenAI endpoints.
#[derive(Clone, Copy)]
struct Behaviour {
    /// Answer `/api/version` and `/api/ps` as Ollama does, and fail
    /// `/api/generate` (a preload) with 500.
    ollama_signature: bool,
}

fn sse(events: Vec<Value>) -> Response {
    let mut body = String::new();
    for e in events {
        body.push_str(&format!("data: {e}\n\n"));
    }
    body.push_str("data: [DONE]\n\n");
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

/// A chat stream of `max_tokens` one-word tokens, with usage when asked.
fn chat(body: &Value) -> Response {
    let n = body["max_tokens"].as_u64().unwrap_or(16);
    let words: u64 = body["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|x| {
                    x["content"]
                        .as_str()
                        .unwrap_or("")
                        .split_whitespace()
                        .count() as u64
                })
                .sum()
        })
        .unwrap_or(0);
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "tiny",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    for _ in 0..n {
        events.push(chunk(json!({"content": "word "}), Value::Null));
    }
    events.push(chunk(json!({}), json!("length")));
    if body["stream_options"]["include_usage"] == json!(true) {
        events.push(json!({"id": "c1", "object": "chat.completion.chunk", "created": 1,
            "model": "tiny", "choices": [],
            "usage": {"prompt_tokens": words + 3, "completion_tokens": n, "total_tokens": words + 3 + n}}));
    }
    sse(events)
}

async fn answer(behaviour: Behaviour, method: Method, uri: Uri, body: Bytes) -> Response {
    let ok = || (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response();
    let path = uri.path();
    match (method, path) {
        (Method::GET, "/v1/models") => axum::Json(json!({"object": "list",
            "data": [{"id": "tiny", "object": "model", "owned_by": "someone"}]}))
        .into_response(),
        (Method::POST, "/v1/chat/completions") => {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            chat(&v)
        }
        (Method::GET, "/api/version") if behaviour.ollama_signature => {
            axum::Json(json!({"version": "0.17.4"})).into_response()
        }
        (Method::GET, "/api/ps") if behaviour.ollama_signature => {
            axum::Json(json!({"models": []})).into_response()
        }
        (Method::POST, "/api/generate") if behaviour.ollama_signature => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"error": "no runner"})),
        )
            .into_response(),
        _ => ok(),
    }
}

/// Serves the test server on a free port; returns its URL.
async fn serve(behaviour: Behaviour) -> String {
    let app = Router::new().fallback(move |m: Method, u: Uri, b: Bytes| answer(behaviour, m, u, b));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn config(url: &str, dir: &std::path::Path) -> RunConfig {
    let mut c = RunConfig::new(url);
    c.bound = Bound::Requests(8);
    c.concurrency = 2;
    c.warmup_requests = 1;
    c.prompt_tokens = 32;
    c.output_tokens = 16;
    c.ready_timeout = Duration::from_secs(10);
    c.out = Some(dir.to_path_buf());
    c
}

async fn run(c: RunConfig) -> Result<stackbench_runner::RunOutput, RunnerError> {
    let quiet = |_: &str| {};
    execute(
        c,
        Arc::new(LiveCounters::default()),
        CancellationToken::new(),
        Notes {
            progress: &quiet,
            warn: &quiet,
        },
    )
    .await
}

#[tokio::test]
async fn the_probe_names_a_server_that_answers_everything_openai_and_says_why() {
    let url = serve(Behaviour {
        ollama_signature: false,
    })
    .await;
    let root = stackbench_backends::normalize_base_url(&url).unwrap();
    let control = stackbench_backends::ControlClient::new(&root, None).unwrap();
    let report = stackbench_backends::probe(&control).await.unwrap();
    assert_eq!(report.kind, ServerKind::Openai, "{report:?}");
    assert_eq!(report.version, None);
    assert!(!report.metrics, "{report:?}");
    assert!(!report.tokenize, "{report:?}");
    assert_eq!(report.include_usage, Some(true));
    let why = report.evidence.join("\n");
    for seen in [
        "not ollama: GET /api/version: 200 {\"status\":\"ok\"}",
        "not llamacpp: GET /props: 200",
        "not vllm: GET /version: 200",
        "generic OpenAI-compatible",
        "no metrics: GET /metrics: 200 {\"status\":\"ok\"} (not Prometheus text",
        "no tokenize: POST /tokenize: 200",
    ] {
        assert!(why.contains(seen), "{seen} not in:\n{why}");
    }
}

#[tokio::test]
async fn a_run_measures_a_server_that_answers_everything_as_generic() {
    let url = serve(Behaviour {
        ollama_signature: false,
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = run(config(&url, dir.path())).await.unwrap();
    let f = &out.file;
    assert!(f.complete);
    assert_eq!(f.summary.requests.ok, 8);
    assert_eq!(f.summary.requests.failed, 0);
    assert_eq!(f.summary.output_tokens, 8 * 16);
    assert_eq!(f.server.flavor, Some(ServerKind::Openai.into()));
    assert_eq!(f.server.ollama, None, "no Ollama preload");
    assert_eq!(f.server.props, None);
    assert_eq!(f.server.version, None);
    let probe = f.server.probe.as_ref().unwrap();
    assert_eq!(probe["kind"], "openai");
    assert!(probe["evidence"].as_array().unwrap().len() >= 4);
    assert!(
        f.warnings
            .iter()
            .any(|w| w.contains("generic OpenAI-compatible")),
        "{:?}",
        f.warnings
    );
    // The usage counts sized the prompts exactly (3 tokens of template).
    let sizing = f.load.prompt_sizing.as_ref().unwrap();
    assert!(sizing.exact, "{sizing:?}");
}

#[tokio::test]
async fn a_failed_preload_of_an_identified_ollama_is_a_warning_of_a_named_one_an_error() {
    let url = serve(Behaviour {
        ollama_signature: true,
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = run(config(&url, dir.path())).await.unwrap();
    let f = &out.file;
    assert!(f.complete);
    assert_eq!(f.summary.requests.ok, 8);
    assert_eq!(f.server.flavor, Some(ServerKind::Ollama.into()));
    assert!(
        f.warnings
            .iter()
            .any(|w| w.contains("identified as Ollama") && w.contains("no runner")),
        "{:?}",
        f.warnings
    );
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&url, dir.path());
    c.flavor = FlavorChoice::Fixed(ServerKind::Ollama);
    let e = run(c).await.unwrap_err();
    assert!(matches!(e, RunnerError::Preload(_)), "{e}");
}
