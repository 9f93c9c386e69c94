//! The simulator's tool calls against their ground truth: a forced call of
//! N tokens is the whole output, its arguments a JSON object, streamed in
//! pieces (vLLM, llama-server) or whole on one line (Ollama), counted as N
//! completion tokens, ending as the server ends a call.
#![allow(clippy::unwrap_used)]

mod common;

use common::{last_at, post, profile, start, Answer};
use serde_json::{json, Value};
use stackbench_sim::SimServer;

/// Output tokens per request.
const N: u64 = 12;

fn tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}])
}

fn chat_body(choice: Value, stream: bool) -> Value {
    json!({"model": "m", "messages": [{"role": "user", "content": "weather in Paris"}],
        "max_tokens": N, "stream": stream, "stream_options": {"include_usage": true},
        "tools": tools(), "tool_choice": choice})
}

/// The tool-call entries of every event, in order, wherever the format
/// puts them (`choices[0].delta`, `choices[0].message` or `message`).
fn calls(a: &Answer) -> Vec<Value> {
    a.events
        .iter()
        .flat_map(|e| {
            [
                "/choices/0/delta/tool_calls",
                "/choices/0/message/tool_calls",
                "/message/tool_calls",
            ]
            .iter()
            .filter_map(|p| e.json.pointer(p).and_then(Value::as_array).cloned())
            .flatten()
            .collect::<Vec<_>>()
        })
        .collect()
}

/// The name and the arguments (concatenated pieces, or Ollama's object as
/// text) of the stream's one call, and how many entries carried it.
fn call_of(a: &Answer) -> (String, Value, usize) {
    let entries = calls(a);
    let name = entries
        .iter()
        .find_map(|c| c.pointer("/function/name").and_then(Value::as_str))
        .unwrap()
        .to_string();
    let args: String = entries
        .iter()
        .filter_map(|c| c.pointer("/function/arguments"))
        .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_string))
        .collect();
    (name, serde_json::from_str(&args).unwrap(), entries.len())
}

#[tokio::test]
async fn each_flavor_streams_the_forced_call_in_its_own_shape() {
    let cases = [
        (
            "vllm",
            "/v1/chat/completions",
            json!("required"),
            N as usize,
            "tool_calls",
        ),
        (
            "llamacpp",
            "/v1/chat/completions",
            json!("required"),
            N as usize,
            "tool_calls",
        ),
        (
            "ollama",
            "/v1/chat/completions",
            json!("auto"),
            1,
            "tool_calls",
        ),
        ("ollama", "/api/chat", Value::Null, 1, "stop"),
    ];
    for (flavor, path, choice, entries, finish) in cases {
        let sim = start(SimServer::new(profile(flavor, 1e9, ""))).await;
        let mut body = chat_body(choice, true);
        if path == "/api/chat" {
            body = json!({"model": "m", "messages": body["messages"], "tools": tools(),
                "options": {"num_predict": N}});
        }
        let a = post(&sim.base_url(), path, &body).await;
        let case = format!("{flavor} {path}");
        assert_eq!(a.status, 200, "{case}");
        let (name, args, n) = call_of(&a);
        assert_eq!(name, "get_weather", "{case}");
        assert!(args["query"].is_string(), "{case}: {args}");
        assert_eq!(n, entries, "{case}: one entry per token, or the call whole");
        let text: String = a
            .events
            .iter()
            .filter_map(|e| {
                e.json
                    .pointer("/choices/0/delta/content")
                    .and_then(Value::as_str)
            })
            .collect();
        assert!(
            text.is_empty(),
            "{case}: no text besides the call: {text:?}"
        );
        let reason = last_at(&a, "/choices/0/finish_reason")
            .filter(|r| !r.is_null())
            .or_else(|| last_at(&a, "/done_reason"))
            .unwrap();
        assert_eq!(reason, finish, "{case}");
        let counted =
            last_at(&a, "/usage/completion_tokens").or_else(|| last_at(&a, "/eval_count"));
        // Ollama's native count includes the end-of-generation token.
        let eos = u64::from(path == "/api/chat");
        assert_eq!(counted, Some(json!(N + eos)), "{case}");
    }
}

/// vLLM: a named choice calls that function and finishes `stop`; the
/// first delta names it beside `content: null`, with no arguments yet.
#[tokio::test]
async fn vllm_names_its_call_first_and_refuses_what_vllm_refuses() {
    let sim = start(SimServer::new(profile("vllm", 1e9, ""))).await;
    let named = json!({"type": "function", "function": {"name": "get_weather"}});
    let a = post(
        &sim.base_url(),
        "/v1/chat/completions",
        &chat_body(named, true),
    )
    .await;
    let first = calls(&a).into_iter().next().unwrap();
    assert_eq!(first["function"], json!({"name": "get_weather"}));
    assert!(first["id"].as_str().unwrap().starts_with("chatcmpl-tool-"));
    assert_eq!(last_at(&a, "/choices/0/finish_reason"), Some(json!("stop")));
    let delta = a
        .events
        .iter()
        .find_map(|e| {
            e.json
                .pointer("/choices/0/delta/tool_calls")
                .map(|_| &e.json)
        })
        .unwrap();
    assert_eq!(delta["choices"][0]["delta"]["content"], Value::Null);
    let wrong = json!({"type": "function", "function": {"name": "nope"}});
    let a = post(
        &sim.base_url(),
        "/v1/chat/completions",
        &chat_body(wrong, true),
    )
    .await;
    assert_eq!(a.status, 400);
    let mut no_tools = chat_body(json!("required"), true);
    no_tools.as_object_mut().unwrap().remove("tools");
    let a = post(&sim.base_url(), "/v1/chat/completions", &no_tools).await;
    assert_eq!(a.status, 400);
    // "auto" (no parser decision to simulate) answers with text.
    let a = post(
        &sim.base_url(),
        "/v1/chat/completions",
        &chat_body(json!("auto"), true),
    )
    .await;
    assert!(calls(&a).is_empty());
}

/// A non-streamed answer carries the call in `message.tool_calls`.
#[tokio::test]
async fn a_whole_answer_carries_the_call() {
    let sim = start(SimServer::new(profile("llamacpp", 1e9, ""))).await;
    let a = post(
        &sim.base_url(),
        "/v1/chat/completions",
        &chat_body(json!("required"), false),
    )
    .await;
    let (name, args, _) = call_of(&a);
    assert_eq!((name.as_str(), args.is_object()), ("get_weather", true));
    assert_eq!(last_at(&a, "/choices/0/message/content"), Some(Value::Null));
    assert_eq!(last_at(&a, "/usage/completion_tokens"), Some(json!(N)));
}
