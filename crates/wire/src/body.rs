//! Request bodies for the OpenAI-compatible endpoints and llama-server's
//! native `/completion`.
//!
//! Sampling is always pinned explicitly (server defaults differ, see
//! server-apis.md §3) and usage is always requested explicitly.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use stackbench_core::Seed;

/// The prompt of one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// Text: a completions prompt, or the one user message of a chat.
    Text(Arc<str>),
    /// A chat conversation: a JSON array of `{"role", "content"}` objects,
    /// sent as it is (so also assistant messages with `tool_calls` and
    /// `content: null`, and `role: "tool"` results); completions get the
    /// text contents joined by newlines.
    Messages(Arc<Value>),
}

/// What one request asks for beyond the run's [`BodyOptions`].
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The prompt.
    pub prompt: Prompt,
    /// Output length for this request; `None`: the run's `max_tokens`.
    pub max_tokens: Option<u32>,
    /// This request's prompt-cache salt, sent as `cache_salt` where the
    /// run's [`BodyOptions::salt_field`] says the server takes one.
    pub salt: Option<Arc<str>>,
    /// Keep the answer text (a conversation resends it next turn).
    pub keep_answer: bool,
    /// The OpenAI `tools` array offered: sent by the chat APIs (OpenAI
    /// chat and Ollama's `/api/chat`); completions cannot carry it.
    pub tools: Option<Arc<Value>>,
    /// The OpenAI `tool_choice` (`"auto"`, `"required"`, `"none"` or a
    /// named function): sent by OpenAI chat only (Ollama's `/api/chat`
    /// has none).
    pub tool_choice: Option<Arc<Value>>,
}

impl Request {
    /// A text prompt with the run's output length.
    pub fn text(prompt: impl Into<Arc<str>>) -> Self {
        Self::new(Prompt::Text(prompt.into()), None)
    }

    /// A request for `prompt` with its own output length (`None`: the
    /// run's).
    pub fn new(prompt: Prompt, max_tokens: Option<u32>) -> Self {
        Self {
            prompt,
            max_tokens,
            salt: None,
            keep_answer: false,
            tools: None,
            tool_choice: None,
        }
    }
}

impl Prompt {
    /// The chat `messages` array.
    fn messages(&self) -> Value {
        match self {
            Self::Text(t) => json!([{ "role": "user", "content": &**t }]),
            Self::Messages(m) => (**m).clone(),
        }
    }

    /// The prompt as one text: a conversation's text contents joined by
    /// newlines (a message without one, such as an assistant's tool calls
    /// with `content: null`, adds nothing).
    pub fn flat(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Self::Text(t) => std::borrow::Cow::Borrowed(&**t),
            Self::Messages(m) => std::borrow::Cow::Owned(
                m.as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x["content"].as_str())
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .unwrap_or_default(),
            ),
        }
    }
}

/// Which endpoint: one definition for the whole workspace, with its path
/// and framing (`stackbench_core::kinds::Api`).
pub use stackbench_core::kinds::Api;

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
    /// Sampling seed (always in the range every server accepts).
    pub seed: Option<Seed>,
    /// Ask for cumulative usage on every chunk (vLLM's
    /// `continuous_usage_stats`) and llama-server's `timings_per_token`, so
    /// that multi-token events are counted exactly. Servers that do not know
    /// them ignore them.
    pub per_event_counts: bool,
    /// Fields the run's switches add to every body (`--thinking`,
    /// `--cache-salt`), in the server's own words (see
    /// [`crate::switches`]); merged before `extra`.
    pub switches: Map<String, Value>,
    /// Send each request's salt as `cache_salt` (vLLM's per-request prompt
    /// cache namespace).
    pub salt_field: bool,
    /// Extra top-level fields merged into the body last (user overrides).
    pub extra: Map<String, Value>,
}

impl BodyOptions {
    /// Ollama's `options.num_ctx` from `extra` (`{"num_ctx": N}` at the top
    /// level is moved into `options`, where Ollama reads it).
    fn ollama_num_ctx(&self) -> Option<&Value> {
        self.extra.get("num_ctx")
    }
}

/// Builds a streaming body for `api` with a text `prompt`.
pub fn request_body(api: Api, o: &BodyOptions, prompt: &str) -> Vec<u8> {
    request_body_for(api, o, &Request::text(prompt))
}

/// Builds a streaming body for `api` asking what `r` asks.
pub fn request_body_for(api: Api, o: &BodyOptions, r: &Request) -> Vec<u8> {
    let owned;
    let o = match r.max_tokens {
        Some(n) if n != o.max_tokens => {
            owned = BodyOptions {
                max_tokens: n,
                ..o.clone()
            };
            &owned
        }
        _ => o,
    };
    let p = &r.prompt;
    let mut body = match api {
        Api::LlamaNative => native_body(o, &p.flat()),
        Api::OllamaGenerate | Api::OllamaChat => ollama_body(api, o, p),
        Api::Chat | Api::Completions => openai_value(api, o, p),
    };
    if let Value::Object(map) = &mut body {
        insert_tools(api, r, map);
        if let Some(salt) = r.salt.as_deref().filter(|_| o.salt_field) {
            map.insert("cache_salt".into(), Value::String(salt.to_string()));
        }
        for (k, v) in &o.switches {
            map.insert(k.clone(), v.clone());
        }
        for (k, v) in &o.extra {
            if k == "num_ctx" && api.ndjson() {
                continue; // placed in options above
            }
            map.insert(k.clone(), v.clone());
        }
    }
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The request's `tools` and `tool_choice` where `api` takes them: OpenAI
/// chat both, Ollama's `/api/chat` `tools` only (its API has no
/// `tool_choice`: the model decides); completions APIs neither. The run's
/// switches and `--extra-body` are merged after, so they still win.
fn insert_tools(api: Api, r: &Request, map: &mut Map<String, Value>) {
    let choice = match api {
        Api::Chat => r.tool_choice.as_deref(),
        Api::OllamaChat => None,
        Api::Completions | Api::LlamaNative | Api::OllamaGenerate => return,
    };
    if let Some(tools) = r.tools.as_deref() {
        map.insert("tools".into(), tools.clone());
    }
    if let Some(choice) = choice {
        map.insert("tool_choice".into(), choice.clone());
    }
}

/// llama-server `/completion`: `n_predict`, exact `tokens` per event, and
/// no prompt cache unless the user asks (`--extra-body`).
fn native_body(o: &BodyOptions, prompt: &str) -> Value {
    let mut v = json!({
        "prompt": prompt,
        "n_predict": o.max_tokens,
        "stream": true,
        "temperature": o.temperature,
        "cache_prompt": false,
        "return_tokens": true,
        "ignore_eos": o.ignore_eos,
    });
    if let Some(seed) = o.seed {
        v["seed"] = json!(seed.get());
    }
    v
}

/// Ollama `/api/generate` and `/api/chat`: length and sampling go in
/// `options`; there is no `ignore_eos` (unknown options are ignored), so
/// outputs may be shorter than `num_predict`.
/// Ollama's `/api/chat` takes a tool call's `arguments` as a JSON object,
/// not the OpenAI API's JSON text (it answers HTTP 400 "Value looks like
/// object, but can't find closing '}' symbol"): arguments that parse as
/// JSON are sent parsed.
fn ollama_tool_arguments(messages: &mut Value) {
    let calls = messages
        .as_array_mut()
        .into_iter()
        .flatten()
        .filter_map(|m| m.get_mut("tool_calls")?.as_array_mut())
        .flatten();
    for call in calls {
        let Some(args) = call.pointer_mut("/function/arguments") else {
            continue;
        };
        if let Some(parsed) = args.as_str().and_then(|s| serde_json::from_str(s).ok()) {
            *args = parsed;
        }
    }
}

fn ollama_body(api: Api, o: &BodyOptions, prompt: &Prompt) -> Value {
    let mut options = json!({ "num_predict": o.max_tokens, "temperature": o.temperature });
    if let Some(seed) = o.seed {
        options["seed"] = json!(seed.get());
    }
    if let Some(n) = o.ollama_num_ctx() {
        options["num_ctx"] = n.clone();
    }
    let mut v = json!({ "model": o.model, "stream": true, "options": options });
    if api == Api::OllamaChat {
        let mut messages = prompt.messages();
        ollama_tool_arguments(&mut messages);
        v["messages"] = messages;
    } else {
        v["prompt"] = json!(prompt.flat());
    }
    v
}

fn openai_value(api: Api, o: &BodyOptions, prompt: &Prompt) -> Value {
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
        Api::Chat => {
            map.insert("messages".into(), prompt.messages());
        }
        _ => {
            map.insert("prompt".into(), Value::String(prompt.flat().into_owned()));
        }
    }
    if o.ignore_eos {
        map.insert("ignore_eos".into(), Value::Bool(true));
    }
    if let Some(seed) = o.seed {
        map.insert("seed".into(), json!(seed.get()));
    }
    if o.per_event_counts {
        map.insert("timings_per_token".into(), Value::Bool(true));
    }
    body
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
            seed: Some(Seed::new(7).unwrap()),
            per_event_counts: true,
            extra: Map::new(),
            switches: serde_json::Map::new(),
            salt_field: false,
        }
    }

    /// A dataset request: its conversation and its own output length, in
    /// every API's own fields.
    #[test]
    fn a_request_carries_its_messages_and_output_length() {
        let msgs = json!([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]);
        let r = Request::new(Prompt::Messages(Arc::new(msgs.clone())), Some(9));
        let body =
            |api| -> Value { serde_json::from_slice(&request_body_for(api, &opts(), &r)).unwrap() };
        let chat = body(Api::Chat);
        assert_eq!(
            (chat["messages"].clone(), chat["max_tokens"].clone()),
            (msgs.clone(), json!(9))
        );
        let ollama = body(Api::OllamaChat);
        assert_eq!(
            (
                ollama["messages"].clone(),
                ollama["options"]["num_predict"].clone()
            ),
            (msgs, json!(9))
        );
        assert_eq!(body(Api::Completions)["prompt"], "s\nu");
        assert_eq!(body(Api::LlamaNative)["n_predict"], 9);
    }

    /// A request offering tools: chat sends `tools` and `tool_choice`,
    /// Ollama's `/api/chat` `tools` only, completions neither; a
    /// conversation with tool calls (`content: null`) and tool results
    /// goes as it is, and flattens without them.
    #[test]
    fn ollama_chat_gets_tool_call_arguments_as_objects() {
        let msgs = json!([
            {"role": "user", "content": "ls"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "ls", "arguments": "{\"dir\": \"/\"}"}},
                {"id": "c2", "type": "function", "function": {"name": "ls", "arguments": "not json"}}
            ]},
            {"role": "tool", "tool_call_id": "c1", "content": "a b"}
        ]);
        let r = Request::new(Prompt::Messages(Arc::new(msgs.clone())), None);
        let v: Value =
            serde_json::from_slice(&request_body_for(Api::OllamaChat, &opts(), &r)).unwrap();
        let calls = &v["messages"][1]["tool_calls"];
        assert_eq!(calls[0]["function"]["arguments"], json!({"dir": "/"}));
        assert_eq!(
            calls[1]["function"]["arguments"], "not json",
            "left as it was"
        );
        let chat: Value =
            serde_json::from_slice(&request_body_for(Api::Chat, &opts(), &r)).unwrap();
        assert_eq!(chat["messages"], msgs, "the OpenAI API keeps the text");
    }

    #[test]
    fn tools_go_to_chat_bodies_only() {
        let msgs = json!([
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ]);
        let tools =
            json!([{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]);
        let mut r = Request::new(Prompt::Messages(Arc::new(msgs.clone())), None);
        r.tools = Some(Arc::new(tools.clone()));
        r.tool_choice = Some(Arc::new(json!("required")));
        let body =
            |api| -> Value { serde_json::from_slice(&request_body_for(api, &opts(), &r)).unwrap() };
        let chat = body(Api::Chat);
        assert_eq!(chat["tools"], tools);
        assert_eq!(chat["tool_choice"], "required");
        assert_eq!(chat["messages"], msgs);
        let ollama = body(Api::OllamaChat);
        assert_eq!(ollama["tools"], tools);
        assert!(ollama.get("tool_choice").is_none(), "{ollama}");
        for api in [Api::Completions, Api::LlamaNative, Api::OllamaGenerate] {
            let v = body(api);
            assert!(
                v.get("tools").is_none() && v.get("tool_choice").is_none(),
                "{v}"
            );
        }
        assert_eq!(body(Api::Completions)["prompt"], "weather?\nsunny");
        // Without tools, nothing is added (Request::new / Request::text).
        let plain = request_body(Api::Chat, &opts(), "hi");
        let v: Value = serde_json::from_slice(&plain).unwrap();
        assert!(v.get("tools").is_none() && v.get("tool_choice").is_none());
    }

    #[test]
    fn chat_body_pins_sampling_and_usage() {
        let v: Value = serde_json::from_slice(&request_body(Api::Chat, &opts(), "hi")).unwrap();
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
        let v: Value = serde_json::from_slice(&request_body(Api::Completions, &o, "p")).unwrap();
        assert_eq!(v["prompt"], "p");
        assert_eq!(v["max_tokens"], 5);
        assert!(v.get("ignore_eos").is_none());
    }
}

#[cfg(test)]
mod ollama_tests {
    use super::*;

    #[test]
    fn ollama_body_puts_length_sampling_and_num_ctx_in_options() {
        let mut extra = Map::new();
        extra.insert("num_ctx".into(), json!(8192));
        let o = BodyOptions {
            model: "qwen3:32b".into(),
            max_tokens: 64,
            ignore_eos: true,
            temperature: 0.0,
            seed: Some(Seed::new(9).unwrap()),
            per_event_counts: false,
            extra,
            switches: serde_json::Map::new(),
            salt_field: false,
        };
        let v: Value = serde_json::from_slice(&request_body(Api::OllamaChat, &o, "hi")).unwrap();
        assert_eq!(v["options"]["num_predict"], 64);
        assert_eq!(v["options"]["num_ctx"], 8192);
        assert_eq!(v["options"]["seed"], 9);
        assert_eq!(v["messages"][0]["content"], "hi");
        assert!(v.get("num_ctx").is_none());
        assert!(v.get("ignore_eos").is_none(), "Ollama has no ignore_eos");
    }
}

#[cfg(test)]
mod native_tests {
    use super::*;

    #[test]
    fn native_body_uses_n_predict_and_disables_the_prompt_cache() {
        let o = BodyOptions {
            model: "m".into(),
            max_tokens: 32,
            ignore_eos: true,
            temperature: 0.0,
            seed: Some(Seed::new(3).unwrap()),
            per_event_counts: true,
            extra: Map::new(),
            switches: serde_json::Map::new(),
            salt_field: false,
        };
        let v: Value = serde_json::from_slice(&request_body(Api::LlamaNative, &o, "p")).unwrap();
        assert_eq!(v["n_predict"], 32);
        assert_eq!(v["cache_prompt"], false);
        assert_eq!(v["ignore_eos"], true);
        assert_eq!(v["stream"], true);
        assert!(v.get("stream_options").is_none());
    }
}
