//! Request bodies for the OpenAI-compatible endpoints.
//!
//! Sampling is always pinned explicitly (server defaults differ, see
//! server-apis.md §3) and usage is always requested explicitly.

use serde_json::{json, Map, Value};

/// Which OpenAI-compatible endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenAiApi {
    /// `POST /v1/chat/completions`
    Chat,
    /// `POST /v1/completions`
    Completions,
}

impl OpenAiApi {
    /// The path below the `/v1` prefix.
    pub fn path(self) -> &'static str {
        match self {
            Self::Chat => "chat/completions",
            Self::Completions => "completions",
        }
    }

    /// The name used in configs and `run.json`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Completions => "completions",
        }
    }
}

/// Everything a request body needs besides the prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyOptions {
    /// Model name.
    pub model: String,
    /// Output length (`max_tokens`).
    pub max_tokens: u32,
    /// Send `ignore_eos: true` (vLLM, llama-server).
    pub ignore_eos: bool,
    /// Sampling temperature.
    pub temperature: f64,
    /// Sampling seed.
    pub seed: Option<u64>,
    /// Ask for cumulative usage on every chunk (vLLM's
    /// `continuous_usage_stats`) and llama-server's `timings_per_token`, so
    /// that multi-token events are counted exactly. Servers that do not know
    /// them ignore them.
    pub per_event_counts: bool,
    /// Extra top-level fields merged into the body last (user overrides).
    pub extra: Map<String, Value>,
}

/// Builds a streaming body for `api` with `prompt`.
pub fn openai_body(api: OpenAiApi, o: &BodyOptions, prompt: &str) -> Vec<u8> {
    let mut body = json!({
        "model": o.model,
        "stream": true,
        "max_tokens": o.max_tokens,
        "temperature": o.temperature,
        "stream_options": {
            "include_usage": true,
            "continuous_usage_stats": o.per_event_counts,
        },
    });
    let Value::Object(map) = &mut body else {
        unreachable!("json! object literal is an object")
    };
    match api {
        OpenAiApi::Chat => {
            map.insert(
                "messages".into(),
                json!([{ "role": "user", "content": prompt }]),
            );
        }
        OpenAiApi::Completions => {
            map.insert("prompt".into(), Value::String(prompt.to_string()));
        }
    }
    if o.ignore_eos {
        map.insert("ignore_eos".into(), Value::Bool(true));
    }
    if let Some(seed) = o.seed {
        map.insert("seed".into(), json!(seed));
    }
    if o.per_event_counts {
        map.insert("timings_per_token".into(), Value::Bool(true));
    }
    for (k, v) in &o.extra {
        map.insert(k.clone(), v.clone());
    }
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> BodyOptions {
        BodyOptions {
            model: "m".into(),
            max_tokens: 64,
            ignore_eos: true,
            temperature: 0.0,
            seed: Some(7),
            per_event_counts: true,
            extra: Map::new(),
        }
    }

    #[test]
    fn chat_body_pins_sampling_and_usage() {
        let v: Value =
            serde_json::from_slice(&openai_body(OpenAiApi::Chat, &opts(), "hi")).unwrap();
        assert_eq!(v["messages"][0]["content"], "hi");
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["stream_options"]["continuous_usage_stats"], true);
        assert_eq!(v["ignore_eos"], true);
        assert_eq!(v["temperature"], 0.0);
        assert_eq!(v["seed"], 7);
        assert_eq!(v["max_tokens"], 64);
    }

    #[test]
    fn extra_fields_override() {
        let mut o = opts();
        o.ignore_eos = false;
        o.extra.insert("max_tokens".into(), json!(5));
        let v: Value =
            serde_json::from_slice(&openai_body(OpenAiApi::Completions, &o, "p")).unwrap();
        assert_eq!(v["prompt"], "p");
        assert_eq!(v["max_tokens"], 5);
        assert!(v.get("ignore_eos").is_none());
    }
}
