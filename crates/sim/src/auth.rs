//! The bearer key check (`stackbench sim --api-key-env NAME`): with a key
//! set, requests without `Authorization: Bearer <key>` get 401 in the
//! imitated server's own shape, so tests can prove the client sends its
//! key. Where each server checks is its own: vLLM only under `/v1`
//! (answering `{"error":"Unauthorized"}`); llama-server everywhere but its
//! public endpoints (`/health`, `/v1/health`, `/models`, `/v1/models`),
//! also taking `X-Api-Key`, answering an OpenAI-style
//! `authentication_error`; Ollama has no key of its own, so a simulated
//! one stands for Ollama behind an authenticating proxy: every path,
//! answered in its native error shape.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::flavor::Flavor;
use crate::respond::with_server_header;

/// llama-server's endpoints that need no key.
const LLAMA_PUBLIC: &[&str] = &["/health", "/v1/health", "/models", "/v1/models"];

/// The key a simulated server requires, and whose rules it follows.
#[derive(Debug)]
pub(crate) struct ApiKey {
    pub(crate) key: String,
    pub(crate) flavor: Flavor,
}

/// Whether `flavor` checks the key on `path`.
fn guarded(flavor: Flavor, path: &str) -> bool {
    match flavor {
        Flavor::Vllm => path.starts_with("/v1"),
        Flavor::Llamacpp => !LLAMA_PUBLIC.contains(&path),
        Flavor::Ollama => true,
    }
}

/// Whether `headers` carry `key` the way `flavor` accepts it.
fn authorized(flavor: Flavor, headers: &HeaderMap, key: &str) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        == Some(key);
    let x_api_key = flavor == Flavor::Llamacpp
        && headers.get("x-api-key").and_then(|v| v.to_str().ok()) == Some(key);
    bearer || x_api_key
}

/// The 401 `flavor` answers a missing or wrong key with.
fn unauthorized(flavor: Flavor) -> Response {
    let status = StatusCode::UNAUTHORIZED;
    match flavor {
        Flavor::Vllm => (status, axum::Json(json!({"error": "Unauthorized"}))).into_response(),
        Flavor::Llamacpp => with_server_header(
            (
                status,
                axum::Json(json!({"error": {
                    "code": 401,
                    "message": "Invalid API Key",
                    "type": "authentication_error"
                }})),
            )
                .into_response(),
        ),
        Flavor::Ollama => (status, axum::Json(json!({"error": "unauthorized"}))).into_response(),
    }
}

/// The layer: passes requests that need no key or carry it, answers 401
/// to the rest.
pub(crate) async fn check(State(key): State<Arc<ApiKey>>, req: Request, next: Next) -> Response {
    if guarded(key.flavor, req.uri().path()) && !authorized(key.flavor, req.headers(), &key.key) {
        return unauthorized(key.flavor);
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Profile, SimServer};

    #[test]
    fn each_flavor_guards_its_own_paths() {
        assert!(guarded(Flavor::Vllm, "/v1/chat/completions"));
        assert!(!guarded(Flavor::Vllm, "/health"));
        assert!(!guarded(Flavor::Vllm, "/metrics"));
        assert!(guarded(Flavor::Llamacpp, "/v1/completions"));
        assert!(guarded(Flavor::Llamacpp, "/metrics"));
        assert!(!guarded(Flavor::Llamacpp, "/health"));
        assert!(!guarded(Flavor::Llamacpp, "/v1/models"));
        assert!(guarded(Flavor::Ollama, "/api/generate"));
    }

    #[test]
    fn only_the_exact_bearer_key_passes_and_x_api_key_only_on_llama_server() {
        let h = |name: &'static str, v: &str| {
            let mut m = HeaderMap::new();
            m.insert(name, v.parse().expect("a header value"));
            m
        };
        assert!(authorized(
            Flavor::Vllm,
            &h("authorization", "Bearer k1"),
            "k1"
        ));
        assert!(!authorized(
            Flavor::Vllm,
            &h("authorization", "Bearer k2"),
            "k1"
        ));
        assert!(!authorized(Flavor::Vllm, &h("authorization", "k1"), "k1"));
        assert!(!authorized(Flavor::Vllm, &HeaderMap::new(), "k1"));
        assert!(authorized(Flavor::Llamacpp, &h("x-api-key", "k1"), "k1"));
        assert!(!authorized(Flavor::Vllm, &h("x-api-key", "k1"), "k1"));
    }

    async fn post(url: &str, key: Option<&str>) -> (u16, serde_json::Value) {
        let mut r = reqwest::Client::new()
            .post(url)
            .json(&json!({"model": "m", "prompt": "a b", "max_tokens": 2}));
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        let resp = r.send().await.expect("an answer");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or_default())
    }

    #[tokio::test]
    async fn a_server_with_a_key_answers_401_in_its_shape_until_the_key_is_sent() {
        for (profile, shape) in [
            ("vllm-fp8", json!({"error": "Unauthorized"})),
            (
                "llamacpp-mxfp4",
                json!({"error": {"code": 401, "message": "Invalid API Key", "type": "authentication_error"}}),
            ),
        ] {
            let mut p = Profile::load(profile).expect("built-in profile");
            p.latency.startup_ms = 0.0;
            let sim = SimServer::new(p)
                .with_api_key("sk-sim-1".into())
                .bind(([127, 0, 0, 1], 0).into())
                .await
                .expect("bind");
            let url = format!("{}/v1/completions", sim.base_url());
            assert_eq!(post(&url, None).await, (401, shape.clone()), "{profile}");
            assert_eq!(
                post(&url, Some("sk-other")).await,
                (401, shape),
                "{profile}"
            );
            let (status, body) = post(&url, Some("sk-sim-1")).await;
            assert_eq!(status, 200, "{profile}: {body}");
            let health = reqwest::get(format!("{}/health", sim.base_url()))
                .await
                .expect("health");
            assert_eq!(
                health.status().as_u16(),
                200,
                "{profile}: /health needs no key"
            );
            sim.shutdown().await;
        }
        let open = SimServer::new(Profile::load("vllm-fp8").expect("profile"))
            .bind(([127, 0, 0, 1], 0).into())
            .await
            .expect("bind");
        let (status, _) = post(&format!("{}/v1/completions", open.base_url()), None).await;
        assert_eq!(status, 200, "no key set: no check, as before");
        open.shutdown().await;
    }
}
