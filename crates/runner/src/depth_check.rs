//! A run at a context depth, before it starts: the server's context per
//! request, read from the server itself (llama-server `/props` per-slot
//! `n_ctx`, vLLM's `max_model_len`, Ollama's `num_ctx` sent per request or
//! the context its model was loaded with), and a depth + prompt + output
//! that cannot fit refused with both numbers, so a long-context table
//! never holds a row of truncated or refused requests.

use stackbench_backends::ServerKind;
use stackbench_core::depth::DepthLoad;
use stackbench_core::run_file::ServerInfo;

use crate::config::RunConfig;
use crate::error::RunnerError;

/// The server's context per request, and where it was read.
fn server_context(c: &RunConfig, kind: ServerKind, info: &ServerInfo) -> Option<(u64, String)> {
    match kind {
        ServerKind::Llamacpp => info
            .props
            .as_ref()
            .and_then(|p| p.get("n_ctx_per_slot"))
            .and_then(serde_json::Value::as_u64)
            .map(|n| (n, "llama-server /props: n_ctx per slot".into())),
        ServerKind::Vllm => info
            .models
            .iter()
            .find_map(|m| m.max_model_len)
            .map(|n| (n, "vLLM /v1/models: max_model_len".into())),
        ServerKind::Ollama => ollama_context(c, info),
        _ => None,
    }
}

/// Ollama's context: `num_ctx` sent with each request on its native APIs,
/// else the context its model is loaded with.
fn ollama_context(c: &RunConfig, info: &ServerInfo) -> Option<(u64, String)> {
    let per_request = c
        .extra_body
        .get("num_ctx")
        .and_then(serde_json::Value::as_u64)
        .filter(|_| c.api.ndjson());
    if let Some(n) = per_request {
        return Some((n, "Ollama: num_ctx sent with each request".into()));
    }
    info.ollama
        .as_ref()
        .and_then(|o| o.pointer("/loaded/context_length"))
        .and_then(serde_json::Value::as_u64)
        .map(|n| {
            let from = "Ollama /api/ps: the loaded context (OLLAMA_CONTEXT_LENGTH, or its default)";
            (n, from.into())
        })
}

/// How to give the server more context, by kind.
fn how_to_raise(kind: ServerKind) -> &'static str {
    match kind {
        ServerKind::Llamacpp => {
            "start llama-server with a larger -c (the context is split among its -np slots)"
        }
        ServerKind::Vllm => "start vLLM with a larger --max-model-len",
        ServerKind::Ollama => {
            "send a larger num_ctx with each request (--extra-body '{\"num_ctx\": N}' on --api \
             ollama-chat or ollama-generate; the model reloads once) or start Ollama with \
             OLLAMA_CONTEXT_LENGTH=N"
        }
        _ => "give the server a larger context",
    }
}

/// The depth `run.json` records, after checking that depth + prompt +
/// output fits the server's context; `None` without a depth. A server
/// whose context cannot be read is warned about, not refused.
pub(crate) fn check_depth(
    c: &RunConfig,
    kind: ServerKind,
    info: &ServerInfo,
    warnings: &mut Vec<String>,
) -> Result<Option<DepthLoad>, RunnerError> {
    if c.depth == 0 {
        return Ok(None);
    }
    let context = server_context(c, kind, info);
    let need = u64::from(c.depth) + u64::from(c.prompt_tokens) + u64::from(c.output_tokens);
    match &context {
        Some((n, from)) if need > *n => {
            return Err(RunnerError::Config(format!(
                "--depth {}: depth {} + prompt {} + output {} = {need} tokens is more than the \
                 server's context, {n} tokens per request ({from}); {}, or ask for less",
                c.depth,
                c.depth,
                c.prompt_tokens,
                c.output_tokens,
                how_to_raise(kind)
            )))
        }
        Some(_) => {}
        None => warnings.push(format!(
            "--depth {}: the server's context could not be read; a depth beyond it fails as \
             requests",
            c.depth
        )),
    }
    Ok(Some(DepthLoad {
        tokens: c.depth,
        cached: c.depth_cache,
        server_context: context.as_ref().map(|(n, _)| *n),
        context_from: context.map(|(_, from)| from),
    }))
}
