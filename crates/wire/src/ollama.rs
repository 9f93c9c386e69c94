//! Ollama's native `/api/generate` and `/api/chat` stream objects, mapped
//! onto [`ChunkInfo`].
//!
//! Intermediate objects carry the text (`response`, or `message.content`
//! and `message.thinking`, or whole tool calls in `message.tool_calls`,
//! arguments as an object) and no metrics; the final one has `done: true`,
//! `done_reason`, and the counts and nanosecond durations. Ollama gives no
//! per-event count, so events count one token each and are reconciled
//! against `eval_count`. The last line may be `{"error": "..."}`.

use std::borrow::Cow;

use serde::Deserialize;
use stackbench_core::ServerTimings;

use crate::openai::{error_message, ChunkInfo, MalformedChunk, Usage};
use crate::tools::{measure, RawToolCall};

#[derive(Deserialize)]
struct RawOllama<'a> {
    #[serde(default, borrow)]
    response: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    message: Option<RawMessage<'a>>,
    /// `/api/generate`'s reasoning text (`think: true`).
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default)]
    done: bool,
    #[serde(default, borrow)]
    done_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    prompt_eval_count: Option<u64>,
    #[serde(default)]
    prompt_eval_duration: Option<u64>,
    #[serde(default)]
    eval_count: Option<u64>,
    #[serde(default)]
    eval_duration: Option<u64>,
    #[serde(default)]
    load_duration: Option<u64>,
    #[serde(default)]
    total_duration: Option<u64>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawMessage<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<RawToolCall<'a>>>,
}

/// Decodes one NDJSON line of `/api/generate` or `/api/chat`.
pub fn parse_ollama_chunk(line: &[u8]) -> Result<ChunkInfo<'_>, MalformedChunk> {
    let raw: RawOllama<'_> = serde_json::from_slice(line).map_err(|e| MalformedChunk {
        reason: e.to_string(),
        snippet: String::from_utf8_lossy(&line[..line.len().min(120)]).into_owned(),
    })?;
    let len = |s: &Option<Cow<'_, str>>| s.as_deref().map_or(0, str::len);
    let (content, thinking, calls) = match raw.message {
        Some(m) => (m.content, m.thinking, m.tool_calls),
        None => (None, None, None),
    };
    let (tool_call_bytes, tool_calls) = calls.as_deref().map(measure).unwrap_or_default();
    let thinking = thinking.or(raw.thinking);
    let reasoning_bytes = len(&thinking);
    let text_bytes = len(&raw.response) + len(&content) + reasoning_bytes + tool_call_bytes;
    let timings = raw.done.then(|| ServerTimings {
        prompt_n: raw.prompt_eval_count,
        predicted_n: raw.eval_count,
        prompt_ms: raw.prompt_eval_duration.map(|ns| ns as f64 / 1e6),
        predicted_ms: raw.eval_duration.map(|ns| ns as f64 / 1e6),
        predicted_per_second: raw
            .eval_count
            .zip(raw.eval_duration)
            .filter(|(_, d)| *d > 0)
            .map(|(n, d)| n as f64 * 1e9 / d as f64),
        load_ms: raw.load_duration.map(|ns| ns as f64 / 1e6),
        total_ms: raw.total_duration.map(|ns| ns as f64 / 1e6),
        ..ServerTimings::default()
    });
    Ok(ChunkInfo {
        has_choices: !raw.done,
        text_bytes,
        reasoning_bytes,
        tool_call_bytes,
        tool_calls,
        answer: raw.response.or(content),
        token_ids: None,
        usage: raw.done.then_some(Usage {
            prompt_tokens: raw.prompt_eval_count,
            // Zero fields are omitted by Ollama: a final object without
            // eval_count generated nothing.
            completion_tokens: Some(raw.eval_count.unwrap_or(0)),
            cached_tokens: None,
            reasoning_tokens: None,
        }),
        timings,
        finish_reason: raw.done.then(|| {
            raw.done_reason
                .map_or_else(|| "stop".into(), |r| r.into_owned())
        }),
        error: raw.error.as_ref().map(error_message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TokenCounter;

    #[test]
    fn documented_generate_example() {
        // server-apis.md §2.3 (eval_count adjusted to the two tokens shown).
        let mut c = TokenCounter::new();
        for l in [
            r#"{"model":"llama3.2","created_at":"2025-01-01T10:00:00.1234Z","response":"The","done":false}"#,
            r#"{"model":"llama3.2","created_at":"2025-01-01T10:00:00.1411Z","response":" sky","done":false}"#,
            r#"{"model":"llama3.2","created_at":"2025-01-01T10:00:04.5Z","response":"","done":true,"done_reason":"length","total_duration":4935886791,"load_duration":534986708,"prompt_eval_count":26,"prompt_eval_duration":107345000,"eval_count":2,"eval_duration":4289432000}"#,
        ] {
            c.observe(&parse_ollama_chunk(l.as_bytes()).unwrap());
        }
        let out = c.finish();
        assert!(out.reconciled);
        assert_eq!(out.prompt_tokens, Some(26));
        assert_eq!(out.finish_reason.as_deref(), Some("length"));
        let t = out.timings.unwrap();
        assert_eq!(t.load_ms, Some(534.986708));
        assert!((t.predicted_per_second.unwrap() - 2.0 * 1e9 / 4289432000.0).abs() < 1e-9);
    }

    /// Ollama 0.17's `/api/chat` with tools: the whole call on one line
    /// (arguments an object, `function.index` numbering the calls), then
    /// the final object; the call is one content event.
    #[test]
    fn a_whole_tool_call_on_one_line_is_one_content_event() {
        let mut c = TokenCounter::counting_stop_token();
        let call = parse_ollama_chunk(br#"{"model":"m","created_at":"2026-01-01T00:00:00Z","message":{"role":"assistant","content":"","tool_calls":[{"id":"call_1","function":{"index":0,"name":"get_weather","arguments":{"city":"Paris"}}}]},"done":false}"#).unwrap();
        assert_eq!(call.tool_call_bytes, 11 + 16);
        assert_eq!(call.text_bytes, call.tool_call_bytes);
        assert_eq!(c.observe(&call), Some(1));
        c.observe(&parse_ollama_chunk(br#"{"model":"m","created_at":"2026-01-01T00:00:01Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","eval_count":13}"#).unwrap());
        let out = c.finish();
        assert_eq!(
            out.output_tokens, 12,
            "the stop token is Ollama's, not the call's"
        );
        let t = out.tool_calls;
        assert_eq!(
            (t.first_event, t.tokens, t.calls),
            (Some(0), Some(12), Some(1))
        );
    }

    #[test]
    fn chat_thinking_is_text_and_errors_are_errors() {
        let c = parse_ollama_chunk(
            br#"{"message":{"role":"assistant","content":"","thinking":"Okay"},"done":false}"#,
        )
        .unwrap();
        assert_eq!(c.text_bytes, 4);
        let e = parse_ollama_chunk(br#"{"error":"model \"x\" not found, try pulling it first"}"#)
            .unwrap();
        assert!(e.error.unwrap().contains("not found"));
    }
}
