//! Ollama's model-management answers and request checks, held field for
//! field to the real Ollama 0.17.4 (`crates/wire/tests/fixtures/ollama-0.17.4`,
//! compared by `ollama_native.rs`'s capture test): `/api/version`,
//! `/api/tags`, `/api/ps`, `/api/show`, `/api/pull` (no registry: the
//! simulated model pulls at once, any other fails as an offline pull does),
//! an unknown model's 404 on every API, option types checked as Ollama
//! checks them (a 500), and gin's `application/json; charset=utf-8`.
//! What it leaves out on purpose: `/api/show`'s Modelfile, template,
//! parameters and tensor list.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::error::BadRequest;
use crate::profile::Profile;

/// The version the simulator's Ollama answers as: the release its shapes
/// were checked against.
pub(crate) const VERSION: &str = "0.17.4";

/// A fake but well-formed digest of the simulated model.
const DIGEST: &str = "5e7a5c0ffee5e7a5c0ffee5e7a5c0ffee5e7a5c0ffee5e7a5c0ffee5e7a5c0f";
/// When the simulated model was "created".
const MODIFIED_AT: &str = "2026-01-01T00:00:00.000000000Z";

/// A JSON answer as Ollama's gin router writes it.
pub(crate) fn json_response(status: StatusCode, v: &Value) -> Response {
    let mut r = (status, v.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// A JSON body already written, as Ollama's gin router sends it.
pub(crate) fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// Native APIs' error answer: `{"error": "…"}`.
pub(crate) fn native_error(status: StatusCode, message: &str) -> Response {
    json_response(status, &json!({ "error": message }))
}

/// The 404 for a model the server does not have, in the native shape or
/// (`openai`) the OpenAI layer's.
pub(crate) fn unknown_model(model: &str, openai: bool) -> Response {
    let message = format!("model '{model}' not found");
    if openai {
        let body = json!({"error": {"message": message, "type": "api_error", "param": null, "code": null}});
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    }
    native_error(StatusCode::NOT_FOUND, &message)
}

/// Go's 404 for an unknown path.
pub(crate) fn not_found() -> Response {
    let mut r = (StatusCode::NOT_FOUND, "404 page not found").into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

/// Checks `options` as Ollama does (its `api.Options` fields are Go ints
/// and float32s): `Err` is the 500 message the real server gives.
pub(crate) fn check_options(body: &Value) -> Result<(), BadRequest> {
    let Some(options) = body.get("options").and_then(Value::as_object) else {
        return Ok(());
    };
    for (key, v) in options {
        let integer = matches!(
            key.as_str(),
            "num_predict" | "seed" | "num_ctx" | "top_k" | "num_keep"
        );
        let float = matches!(
            key.as_str(),
            "temperature" | "top_p" | "min_p" | "repeat_penalty"
        );
        if integer && !(v.is_i64() || v.is_u64()) {
            return Err(BadRequest::OptionType {
                key: key.clone(),
                expected: "integer",
            });
        }
        if float && !v.is_number() {
            return Err(BadRequest::OptionType {
                key: key.clone(),
                expected: "float32",
            });
        }
    }
    Ok(())
}

fn details(p: &Profile) -> Value {
    json!({
        "parent_model": "",
        "format": "gguf",
        "family": family(p),
        "families": [family(p)],
        "parameter_size": "35B",
        "quantization_level": p.quantization,
    })
}

fn family(_: &Profile) -> &'static str {
    "qwen3moe"
}

/// `GET /api/version`.
pub(crate) fn version() -> Response {
    json_response(StatusCode::OK, &json!({ "version": VERSION }))
}

/// `GET /api/tags`: the one simulated model.
pub(crate) fn tags(p: &Profile) -> Response {
    let m = &p.model;
    json_response(
        StatusCode::OK,
        &json!({"models": [{
            "name": m, "model": m, "modified_at": MODIFIED_AT, "size": 20_000_000_000_u64,
            "digest": DIGEST, "details": details(p),
        }]}),
    )
}

/// `GET /api/ps`: the model while it is loaded, on the "GPU".
pub(crate) fn ps(p: &Profile, loaded: bool) -> Response {
    let m = &p.model;
    let expires = humantime::format_rfc3339_nanos(
        std::time::SystemTime::now() + std::time::Duration::from_secs(300),
    )
    .to_string();
    let models = if loaded {
        json!([{
            "name": m, "model": m, "size": 24_000_000_000_u64, "digest": DIGEST,
            "details": details(p), "expires_at": expires, "size_vram": 24_000_000_000_u64,
            "context_length": 4096,
        }])
    } else {
        json!([])
    };
    json_response(StatusCode::OK, &json!({ "models": models }))
}

/// `POST /api/show`.
pub(crate) fn show(p: &Profile, body: &[u8]) -> Response {
    match requested_model(body) {
        Some(m) if m == p.model => {}
        Some(m) => return unknown_model(&m, false),
        None => return native_error(StatusCode::BAD_REQUEST, "model is required"),
    }
    let arch = family(p);
    json_response(
        StatusCode::OK,
        &json!({
            "details": details(p),
            "model_info": {
                "general.architecture": arch,
                "general.parameter_count": 35_000_000_000_u64,
                format!("{arch}.context_length"): 262_144,
            },
            "capabilities": capabilities(p),
            "modified_at": MODIFIED_AT,
        }),
    )
}

/// What the model can do: `thinking` too when it reasons.
fn capabilities(p: &Profile) -> Value {
    if p.thinks && p.reasoning_share > 0.0 {
        json!(["completion", "thinking"])
    } else {
        json!(["completion"])
    }
}

/// `POST /api/pull`: 200 and NDJSON status lines; the simulated model is
/// "pulled" at once, any other fails as the real server does offline.
pub(crate) fn pull(p: &Profile, body: &[u8]) -> Response {
    let Some(model) = requested_model(body) else {
        return native_error(StatusCode::BAD_REQUEST, "model is required");
    };
    let mut lines = vec![json!({"status": "pulling manifest"})];
    if model == p.model {
        lines.push(json!({"status": "verifying sha256 digest"}));
        lines.push(json!({"status": "writing manifest"}));
        lines.push(json!({"status": "success"}));
    } else {
        lines.push(json!({"error": format!("pull model manifest: the simulator has no registry to pull '{model}' from")}));
    }
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let mut r = text.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    r
}

/// The `model` (or legacy `name`) of a request body.
pub(crate) fn requested_model(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("model")
        .or_else(|| v.get("name"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked_as_ollama_checks_them() {
        let ok = json!({"options": {"num_predict": 8, "temperature": 0, "seed": 1}});
        assert!(check_options(&ok).is_ok());
        let bad = json!({"options": {"num_predict": "many"}});
        assert_eq!(
            check_options(&bad).unwrap_err().to_string(),
            "option \"num_predict\" must be of type integer"
        );
        let bad = json!({"options": {"temperature": "hot"}});
        assert_eq!(
            check_options(&bad).unwrap_err().to_string(),
            "option \"temperature\" must be of type float32"
        );
    }
}
