//! What a simulated server reads from a request body: the prompt size, the
//! output length per the flavor's precedence rules, and stream options.

use serde_json::Value;

use crate::error::BadRequest;
use crate::flavor::{Flavor, Route, StreamOpts};
use crate::prefix_cache;
use crate::reasoning;
use crate::tools::{self, ToolCall};

/// Output length when a request gives none and the flavor has no fixed
/// default (stands in for "until the context is full").
const OPEN_ENDED_TOKENS: u64 = 256;

/// A parsed request.
#[derive(Debug, Clone)]
pub(crate) struct SimRequest {
    pub model: String,
    pub stream: bool,
    pub max_tokens: u64,
    pub prompt_tokens: u64,
    pub opts: StreamOpts,
    /// The request asked to ignore end-of-sequence.
    pub ignore_eos: bool,
    /// An Ollama load request: a model and no prompt.
    pub preload: bool,
    /// Ollama `keep_alive: 0`: unload the model once done (with no prompt:
    /// at once).
    pub unload: bool,
    /// The request's thinking switch: `Some(false)` off, `Some(true)` on,
    /// `None` not said (see `reasoning.rs`).
    pub thinking: Option<bool>,
    /// Ollama's `think` as sent (native `think`, or what its OpenAI layer
    /// makes of `reasoning_effort`), for the checks Ollama makes.
    pub ollama_think: Option<reasoning::OllamaThink>,
    /// vLLM's `cache_salt`: only requests with the same salt share cached
    /// prefixes.
    pub cache_salt: Option<String>,
    /// llama-server's `cache_prompt` (default true): false disables reuse
    /// of cached prefixes for this request.
    pub cache_prompt: bool,
    /// The prompt's tokens, filled in by the server when the prefix cache
    /// is on (else empty).
    pub prompt_ids: Vec<u64>,
    /// The tool call the request forces, if any (see `tools.rs`).
    pub tool_call: Option<ToolCall>,
}

/// The word tokens of a body's prompt, as the counts here make them
/// (`prefix_cache.rs`): chat `messages` with their template tokens, else
/// the `prompt` words (a token array as it is; an empty string as one
/// token where the count makes it one: `min_one`).
pub(crate) fn prompt_ids(v: &Value, min_one: bool) -> Vec<u64> {
    if let Some(msgs) = v.get("messages").and_then(Value::as_array) {
        return prefix_cache::chat_ids(msgs);
    }
    match v.get("prompt") {
        Some(Value::String(s)) => {
            let mut ids: Vec<u64> = prefix_cache::word_ids(s).collect();
            if ids.is_empty() && min_one {
                ids.push(0);
            }
            ids
        }
        Some(Value::Array(a)) => a
            .iter()
            .map(|t| {
                t.as_u64()
                    .unwrap_or_else(|| prefix_cache::word_ids(&t.to_string()).sum())
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn chat_prompt_tokens(v: &Value) -> Result<u64, BadRequest> {
    let msgs = v
        .get("messages")
        .and_then(Value::as_array)
        .ok_or(BadRequest::MessagesNotArray)?;
    // Content words plus a few template tokens per message.
    Ok(3 + msgs
        .iter()
        .map(|m| {
            4 + m
                .get("content")
                .and_then(Value::as_str)
                .map_or(0, count_words)
        })
        .sum::<u64>())
}

/// A request body as JSON, parsed once for everything that reads it;
/// `Err` is a 400.
pub(crate) fn json_body(body: &[u8]) -> Result<Value, BadRequest> {
    serde_json::from_slice(body).map_err(BadRequest::Json)
}

/// Reads an Ollama `/api/generate` (`chat = false`) or `/api/chat` body.
/// Streaming is on unless `"stream": false`; `options.num_predict` sets
/// the length; there is no `ignore_eos`.
pub(crate) fn parse_ollama_native(chat: bool, v: &Value) -> Result<SimRequest, BadRequest> {
    let model = v
        .get("model")
        .and_then(Value::as_str)
        .ok_or(BadRequest::NoModel)?
        .to_string();
    let prompt_tokens = if chat {
        v.get("messages")
            .map(|_| chat_prompt_tokens(v))
            .transpose()?
    } else {
        v.get("prompt").and_then(Value::as_str).map(count_words)
    };
    let num_predict = v.pointer("/options/num_predict").and_then(Value::as_i64);
    let think = reasoning::ollama_switch(v)?;
    Ok(SimRequest {
        model,
        stream: v.get("stream").and_then(Value::as_bool).unwrap_or(true),
        max_tokens: match num_predict {
            Some(n) if n > 0 => n as u64,
            _ => OPEN_ENDED_TOKENS,
        },
        prompt_tokens: prompt_tokens.unwrap_or(0),
        opts: StreamOpts::default(),
        ignore_eos: false,
        preload: prompt_tokens.is_none(),
        unload: matches!(v.get("keep_alive"), Some(k) if k.as_f64() == Some(0.0) || k.as_str() == Some("0")),
        thinking: think.as_ref().map(reasoning::OllamaThink::on),
        ollama_think: think,
        cache_salt: None,
        cache_prompt: true,
        prompt_ids: Vec::new(),
        tool_call: if chat { tools::ollama(v) } else { None },
    })
}

fn as_u64(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_i64)
}

/// Words in a text: the simulator's tokenizer.
fn count_words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

/// Reads `v` (a request body) as the flavor would; `Err` is a 400.
pub(crate) fn parse(flavor: Flavor, api: Route, v: &Value) -> Result<SimRequest, BadRequest> {
    let model = v
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let stream = v.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let prompt_tokens = match api {
        Route::Chat => chat_prompt_tokens(v)?,
        Route::Completions => match v.get("prompt") {
            Some(Value::String(s)) => count_words(s).max(1),
            Some(Value::Array(a)) => a.len() as u64,
            _ => return Err(BadRequest::PromptNotString),
        },
    };
    Ok(SimRequest {
        model,
        stream,
        max_tokens: max_tokens(flavor, api, v)?,
        prompt_tokens,
        opts: stream_opts(flavor, stream, v)?,
        // Ollama's OpenAI layer has no ignore_eos.
        ignore_eos: flavor != Flavor::Ollama
            && v.get("ignore_eos")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        preload: false,
        unload: false,
        thinking: match api {
            Route::Chat => thinking_switch(flavor, v)?,
            Route::Completions => None,
        },
        ollama_think: match (flavor, api) {
            (Flavor::Ollama, Route::Chat) => reasoning::ollama_v1_switch(v)?,
            _ => None,
        },
        cache_salt: match flavor {
            Flavor::Vllm => vllm_cache_salt(v)?,
            _ => None,
        },
        cache_prompt: flavor != Flavor::Llamacpp || cache_prompt(v),
        prompt_ids: Vec::new(),
        tool_call: match api {
            Route::Chat => tools::forced(flavor, v)?,
            Route::Completions => None,
        },
    })
}

/// vLLM's `cache_salt`, checked as vLLM 0.32 checks it
/// (`entrypoints/generate/base/protocol.py` `validate_cache_salt`).
fn vllm_cache_salt(v: &Value) -> Result<Option<String>, BadRequest> {
    match v.get("cache_salt") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(salt)) if !salt.is_empty() => {
            let forbidden = |c: char| matches!(c, '@' | '/' | '\\' | '\0');
            if salt.chars().count() > 128 || salt.chars().any(forbidden) {
                return Err(BadRequest::CacheSaltForbidden);
            }
            Ok(Some(salt.clone()))
        }
        Some(_) => Err(BadRequest::CacheSaltEmpty),
    }
}

/// llama-server's `cache_prompt` (default true).
fn cache_prompt(v: &Value) -> bool {
    v.get("cache_prompt")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

/// A chat request's thinking switch as the flavor reads it.
fn thinking_switch(flavor: Flavor, v: &Value) -> Result<Option<bool>, BadRequest> {
    match flavor {
        Flavor::Vllm => reasoning::chat_switch(v, false),
        Flavor::Llamacpp => reasoning::chat_switch(v, true),
        Flavor::Ollama => Ok(reasoning::ollama_v1_switch(v)?.map(|t| t.on())),
    }
}

/// The output length per the flavor's precedence of keys and defaults.
fn max_tokens(flavor: Flavor, api: Route, v: &Value) -> Result<u64, BadRequest> {
    let max = |keys: &[&str]| keys.iter().find_map(|k| as_u64(v.get(*k)));
    let asked = match (flavor, api) {
        (Flavor::Vllm, Route::Chat) => max(&["max_completion_tokens", "max_tokens"]),
        (Flavor::Vllm, Route::Completions) => Some(max(&["max_tokens"]).unwrap_or(16)),
        (Flavor::Llamacpp, _) => max(&["n_predict", "max_completion_tokens", "max_tokens"]),
        // Ollama's /v1 layer maps max_tokens only.
        (Flavor::Ollama, _) => max(&["max_tokens"]),
    };
    match asked {
        Some(n) if n > 0 => Ok(n as u64),
        Some(0) if flavor == Flavor::Vllm => Err(BadRequest::ZeroMaxTokens),
        _ => Ok(OPEN_ENDED_TOKENS),
    }
}

/// The stream options asked for (`stream_options`, llama-server's flags).
fn stream_opts(flavor: Flavor, stream: bool, v: &Value) -> Result<StreamOpts, BadRequest> {
    let so = v.get("stream_options");
    if so.is_some() && !stream && flavor == Flavor::Vllm {
        return Err(BadRequest::StreamOptionsWithoutStream);
    }
    let flag = |key: &str| {
        so.and_then(|o| o.get(key))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let include_usage = flag("include_usage");
    Ok(StreamOpts {
        include_usage,
        // Newest vLLM only honours continuous stats together with usage.
        continuous_usage: flag("continuous_usage_stats") && include_usage,
        timings_per_token: v
            .get("timings_per_token")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        return_token_ids: v
            .get("return_token_ids")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// Reads a llama-server native `/completion` body: `prompt`, `n_predict`
/// (default −1: open-ended), `stream` (default false), `ignore_eos`.
pub(crate) fn parse_llama_native(v: &Value) -> Result<SimRequest, BadRequest> {
    let prompt = match v.get("prompt") {
        Some(Value::String(s)) => count_words(s).max(1),
        Some(Value::Array(a)) => a.len() as u64,
        _ => return Err(BadRequest::NoPrompt),
    };
    Ok(SimRequest {
        model: String::new(),
        stream: v.get("stream").and_then(Value::as_bool).unwrap_or(false),
        max_tokens: match v.get("n_predict").and_then(Value::as_i64) {
            Some(n) if n > 0 => n as u64,
            _ => OPEN_ENDED_TOKENS,
        },
        prompt_tokens: prompt,
        opts: StreamOpts::default(),
        ignore_eos: v
            .get("ignore_eos")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        preload: false,
        unload: false,
        thinking: None,
        ollama_think: None,
        cache_salt: None,
        cache_prompt: cache_prompt(v),
        prompt_ids: Vec::new(),
        tool_call: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`super::parse`] of a body as bytes.
    fn parse(flavor: Flavor, api: Route, body: &[u8]) -> Result<SimRequest, BadRequest> {
        super::parse(flavor, api, &json_body(body)?)
    }

    #[test]
    fn output_length_precedence_per_flavor() {
        let body = br#"{"prompt":"a b c","max_tokens":5,"n_predict":7,"max_completion_tokens":9,"stream":true}"#;
        assert_eq!(
            parse(Flavor::Llamacpp, Route::Completions, body)
                .unwrap()
                .max_tokens,
            7
        );
        assert_eq!(
            parse(Flavor::Vllm, Route::Completions, body)
                .unwrap()
                .max_tokens,
            5
        );
        let chat = br#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":5,"max_completion_tokens":9}"#;
        assert_eq!(
            parse(Flavor::Vllm, Route::Chat, chat).unwrap().max_tokens,
            9
        );
        assert_eq!(
            parse(Flavor::Ollama, Route::Chat, chat).unwrap().max_tokens,
            5
        );
    }

    #[test]
    fn prompt_ids_are_as_many_as_the_prompt_tokens_counted() {
        let bodies: [(&[u8], Route); 5] = [
            (br#"{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"a b  c"},{"role":"assistant","content":[{"type":"text"}]}]}"#, Route::Chat),
            (br#"{"messages":[]}"#, Route::Chat),
            (br#"{"prompt":"one two three"}"#, Route::Completions),
            (br#"{"prompt":""}"#, Route::Completions),
            (br#"{"prompt":[5, 6, 7, 8]}"#, Route::Completions),
        ];
        for (body, api) in bodies {
            let r = parse(Flavor::Llamacpp, api, body).unwrap();
            let ids = prompt_ids(&json_body(body).unwrap(), api == Route::Completions);
            assert_eq!(
                ids.len() as u64,
                r.prompt_tokens,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let native = json_body(br#"{"model":"m","prompt":"x y"}"#).unwrap();
        let r = parse_ollama_native(false, &native).unwrap();
        assert_eq!(prompt_ids(&native, false).len() as u64, r.prompt_tokens);
        let chat =
            json_body(br#"{"model":"m","messages":[{"role":"user","content":"x y"}]}"#).unwrap();
        let r = parse_ollama_native(true, &chat).unwrap();
        assert_eq!(prompt_ids(&chat, false).len() as u64, r.prompt_tokens);
    }

    #[test]
    fn cache_switches_are_read_per_flavor() {
        let body = br#"{"prompt":"x","cache_salt":"s1","cache_prompt":false}"#;
        let v = parse(Flavor::Vllm, Route::Completions, body).unwrap();
        assert_eq!(
            (v.cache_salt.as_deref(), v.cache_prompt),
            (Some("s1"), true)
        );
        let l = parse(Flavor::Llamacpp, Route::Completions, body).unwrap();
        assert_eq!((l.cache_salt.as_deref(), l.cache_prompt), (None, false));
        let n = parse_llama_native(&json_body(br#"{"prompt":"x"}"#).unwrap()).unwrap();
        assert!(n.cache_prompt);
        for bad in [
            &br#"{"prompt":"x","cache_salt":""}"#[..],
            br#"{"prompt":"x","cache_salt":"a/b"}"#,
        ] {
            let e = parse(Flavor::Vllm, Route::Completions, bad).unwrap_err();
            assert!(
                e.to_string().starts_with("Parameter 'cache_salt' must"),
                "{e}"
            );
        }
    }

    #[test]
    fn vllm_completions_default_to_16_tokens() {
        let r = parse(
            Flavor::Vllm,
            Route::Completions,
            br#"{"prompt":"x","stream":true}"#,
        )
        .unwrap();
        assert_eq!(r.max_tokens, 16);
    }

    #[test]
    fn vllm_rejects_stream_options_without_stream() {
        let body = br#"{"prompt":"x","stream_options":{"include_usage":true}}"#;
        assert!(parse(Flavor::Vllm, Route::Completions, body).is_err());
    }

    #[test]
    fn continuous_usage_needs_include_usage() {
        let body =
            br#"{"prompt":"x","stream":true,"stream_options":{"continuous_usage_stats":true}}"#;
        assert!(
            !parse(Flavor::Vllm, Route::Completions, body)
                .unwrap()
                .opts
                .continuous_usage
        );
    }
}
