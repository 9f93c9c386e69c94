//! Decoding of OpenAI-compatible stream chunks (`chat.completion.chunk` and
//! `text_completion`) as vLLM, llama-server and Ollama send them.
//!
//! Only what the harness needs is extracted: how much text a chunk carries
//! (tool calls included: `delta.tool_calls[]`, see [`crate::tools`]),
//! exact token counts where the server gives them (`token_ids`, cumulative
//! `usage` under vLLM's `continuous_usage_stats`, llama-server's cumulative
//! `timings.predicted_n` under `timings_per_token`), the final usage and
//! timings, the finish reason, and error payloads. Unknown keys are ignored,
//! missing optional ones tolerated, strings borrowed from the input.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use stackbench_core::ServerTimings;

use crate::tools::{measure, RawToolCall, ToolCallMarks};

/// Token usage reported by the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// `usage.prompt_tokens`.
    pub prompt_tokens: Option<u64>,
    /// `usage.completion_tokens`.
    pub completion_tokens: Option<u64>,
    /// `usage.prompt_tokens_details.cached_tokens`.
    pub cached_tokens: Option<u64>,
    /// `usage.completion_tokens_details.reasoning_tokens`.
    pub reasoning_tokens: Option<u64>,
}

/// What one chunk says. Strings are borrowed from the payload where it
/// has no escapes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChunkInfo<'a> {
    /// The chunk has at least one choice (usage-only chunks have none).
    pub has_choices: bool,
    /// Bytes of generated text (content, reasoning, completion text, or
    /// tool calls: their names and arguments).
    pub text_bytes: usize,
    /// Bytes of reasoning text in a field of its own (`delta.reasoning`,
    /// `delta.reasoning_content`, Ollama's `thinking`); part of
    /// `text_bytes`.
    pub reasoning_bytes: usize,
    /// Bytes of tool calls (`delta.tool_calls[].function`'s `name` and
    /// `arguments`, Ollama's `message.tool_calls`); part of `text_bytes`.
    pub tool_call_bytes: usize,
    /// Which calls the chunk carried (their indices).
    pub tool_calls: ToolCallMarks,
    /// The answer text: `delta.content`, a completion's `text`, Ollama's
    /// `response` or `message.content` (a `<think>` block included when
    /// the server has no reasoning parser on).
    pub answer: Option<Cow<'a, str>>,
    /// Number of `token_ids` on the choice, when the server sent them.
    pub token_ids: Option<usize>,
    /// `usage`, when present and not null.
    pub usage: Option<Usage>,
    /// `timings` (llama-server), or vLLM's per-request `metrics` (final
    /// usage chunk, with `--enable-per-request-metrics`), when present.
    pub timings: Option<ServerTimings>,
    /// `finish_reason` of the choice, when not null/empty.
    pub finish_reason: Option<String>,
    /// The server's error message when the payload is an error object.
    pub error: Option<String>,
}

/// A chunk that is not valid JSON of the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed chunk ({reason}): {snippet}")]
pub struct MalformedChunk {
    /// What serde said.
    pub reason: String,
    /// The start of the payload, for the record.
    pub snippet: String,
}

#[derive(Deserialize)]
struct RawChunk<'a> {
    #[serde(default, borrow)]
    choices: Option<Vec<RawChoice<'a>>>,
    #[serde(default)]
    usage: Option<RawUsage>,
    #[serde(default)]
    timings: Option<ServerTimings>,
    #[serde(default)]
    metrics: Option<RawVllmMetrics>,
    #[serde(default)]
    error: Option<serde_json::Value>,
    /// Old vLLM flat errors: `{"object":"error","message":...}`.
    #[serde(default, borrow)]
    object: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct RawChoice<'a> {
    #[serde(default, borrow)]
    delta: Option<RawDelta<'a>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    token_ids: Option<SeqLen>,
}

#[derive(Deserialize)]
struct RawDelta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<RawToolCall<'a>>>,
    #[serde(default)]
    token_ids: Option<SeqLen>,
}

/// vLLM's per-request `metrics` (`PerRequestMetrics` in vLLM ≥ 0.3x):
/// engine-core timestamps turned into intervals, on the final usage chunk.
#[derive(Deserialize)]
struct RawVllmMetrics {
    /// Scheduled → first token (vLLM calls it TTFT; it excludes the queue).
    #[serde(default)]
    time_to_first_token_ms: Option<f64>,
    /// First token → last token.
    #[serde(default)]
    generation_time_ms: Option<f64>,
    /// Queued → scheduled.
    #[serde(default)]
    queue_time_ms: Option<f64>,
    #[serde(default)]
    speculative_decoding: Option<RawVllmSpec>,
}

#[derive(Deserialize)]
struct RawVllmSpec {
    #[serde(default)]
    num_draft_tokens: Option<u64>,
    #[serde(default)]
    num_accepted_draft_tokens: Option<u64>,
}

impl RawVllmMetrics {
    fn into_timings(self) -> ServerTimings {
        let spec = self.speculative_decoding;
        ServerTimings {
            queue_ms: self.queue_time_ms,
            prefill_ms: self.time_to_first_token_ms,
            decode_ms: self.generation_time_ms,
            draft_n: spec.as_ref().and_then(|s| s.num_draft_tokens),
            draft_n_accepted: spec.as_ref().and_then(|s| s.num_accepted_draft_tokens),
            ..ServerTimings::default()
        }
    }
}

#[derive(Deserialize)]
struct RawUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<RawPromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<RawCompletionDetails>,
}

#[derive(Deserialize)]
struct RawCompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct RawPromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

/// Length of a JSON array, counted without allocating its elements.
#[derive(Debug, Clone, Copy)]
struct SeqLen(usize);

impl<'de> Deserialize<'de> for SeqLen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SeqLen;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SeqLen, A::Error> {
                let mut n = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(SeqLen(n))
            }
        }
        d.deserialize_seq(V)
    }
}

fn len(s: &Option<Cow<'_, str>>) -> usize {
    s.as_deref().map_or(0, str::len)
}

/// Renders an error payload (`{"message":..}`, a string, or anything else).
pub fn error_message(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(o) => match o.get("message").and_then(|m| m.as_str()) {
            Some(m) => m.to_string(),
            None => v.to_string(),
        },
        other => other.to_string(),
    }
}

/// Decodes one `data:` payload (not `[DONE]`).
pub fn parse_chunk(data: &[u8]) -> Result<ChunkInfo<'_>, MalformedChunk> {
    let raw: RawChunk<'_> = serde_json::from_slice(data).map_err(|e| MalformedChunk {
        reason: e.to_string(),
        snippet: String::from_utf8_lossy(&data[..data.len().min(120)]).into_owned(),
    })?;
    let mut info = ChunkInfo::default();
    if let Some(err) = &raw.error {
        info.error = Some(error_message(err));
    } else if raw.object.as_deref() == Some("error") {
        info.error = Some(raw.message.as_deref().unwrap_or("error").to_string());
    }
    if let Some(choice) = raw.choices.and_then(|c| c.into_iter().next()) {
        info.has_choices = true;
        info.text_bytes = len(&choice.text);
        info.answer = choice.text;
        let mut ids = choice.token_ids;
        if let Some(d) = choice.delta {
            info.reasoning_bytes = len(&d.reasoning_content) + len(&d.reasoning);
            if let Some(calls) = &d.tool_calls {
                (info.tool_call_bytes, info.tool_calls) = measure(calls);
            }
            info.text_bytes += len(&d.content) + info.reasoning_bytes + info.tool_call_bytes;
            info.answer = info.answer.or(d.content);
            ids = ids.or(d.token_ids);
        }
        info.token_ids = ids.map(|s| s.0);
        info.finish_reason = choice
            .finish_reason
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(str::to_string);
    }
    info.usage = raw.usage.map(|u| Usage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        cached_tokens: u.prompt_tokens_details.and_then(|d| d.cached_tokens),
        reasoning_tokens: u.completion_tokens_details.and_then(|d| d.reasoning_tokens),
    });
    info.timings = raw
        .timings
        .or_else(|| raw.metrics.map(RawVllmMetrics::into_timings));
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vllm_role_chunk_has_no_text() {
        let c = parse_chunk(br#"{"id":"chatcmpl-9b1","object":"chat.completion.chunk","created":1735000000,"model":"qwen3-8b","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#).unwrap();
        assert!(c.has_choices);
        assert_eq!(c.text_bytes, 0);
        assert_eq!(c.finish_reason, None);
    }

    #[test]
    fn vllm_token_ids_and_finish_on_the_last_token_chunk() {
        let c = parse_chunk(br#"{"choices":[{"index":0,"delta":{"content":"!"},"logprobs":null,"finish_reason":"length","stop_reason":null,"token_ids":[11]}]}"#).unwrap();
        assert_eq!(c.text_bytes, 1);
        assert_eq!(c.token_ids, Some(1));
        assert_eq!(c.finish_reason.as_deref(), Some("length"));
    }

    #[test]
    fn explicit_nulls_are_tolerated() {
        let c = parse_chunk(br#"{"choices":[{"index":0,"text":" hi","finish_reason":null,"token_ids":null}],"usage":null}"#).unwrap();
        assert_eq!(c.text_bytes, 3);
        assert_eq!(c.token_ids, None);
        assert_eq!(c.usage, None);
    }

    #[test]
    fn llama_server_role_chunk_with_null_content() {
        let c = parse_chunk(br#"{"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"object":"chat.completion.chunk"}"#).unwrap();
        assert_eq!(c.text_bytes, 0);
    }

    #[test]
    fn usage_with_cached_tokens_and_timings() {
        let c = parse_chunk(br#"{"choices":[],"usage":{"completion_tokens":2,"prompt_tokens":9,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":4}},"timings":{"cache_n":4,"prompt_n":5,"prompt_ms":30.9,"predicted_n":2,"predicted_ms":37.8,"predicted_per_second":52.9}}"#).unwrap();
        assert!(!c.has_choices);
        let u = c.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.cached_tokens),
            (Some(9), Some(2), Some(4))
        );
        assert_eq!(c.timings.unwrap().predicted_n, Some(2));
    }

    #[test]
    fn vllm_per_request_metrics_become_server_timings() {
        // The final usage chunk of vLLM 0.32 with --enable-per-request-metrics
        // (fields as its PerRequestMetrics model dumps them, nulls excluded).
        let c = parse_chunk(br#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"smol","choices":[],"usage":{"prompt_tokens":92,"total_tokens":220,"completion_tokens":128},"metrics":{"time_to_first_token_ms":21.5,"generation_time_ms":1270.25,"queue_time_ms":0.4,"mean_itl_ms":10.0,"tokens_per_second":99.1,"speculative_decoding":{"num_draft_tokens":30,"num_accepted_draft_tokens":12}}}"#).unwrap();
        let t = c.timings.unwrap();
        assert_eq!(t.decode_ms, Some(1270.25));
        assert_eq!(t.prefill_ms, Some(21.5));
        assert_eq!(t.queue_ms, Some(0.4));
        assert_eq!((t.draft_n, t.draft_n_accepted), (Some(30), Some(12)));
        assert_eq!(t.predicted_n, None, "the count comes from usage");
    }

    #[test]
    fn error_payloads_in_every_known_shape() {
        let nested =
            parse_chunk(br#"{"error":{"code":500,"message":"boom","type":"server_error"}}"#)
                .unwrap();
        assert_eq!(nested.error.as_deref(), Some("boom"));
        let flat = parse_chunk(br#"{"error":"server busy"}"#).unwrap();
        assert_eq!(flat.error.as_deref(), Some("server busy"));
        let old_vllm = parse_chunk(
            br#"{"object":"error","message":"bad","type":"BadRequestError","code":400}"#,
        )
        .unwrap();
        assert_eq!(old_vllm.error.as_deref(), Some("bad"));
    }

    #[test]
    fn reasoning_counts_as_text() {
        let c = parse_chunk(br#"{"choices":[{"delta":{"reasoning":"hmm"}}]}"#).unwrap();
        assert_eq!(c.text_bytes, 3);
    }

    /// vLLM 0.32's tool-call chunks (real capture, `tests/fixtures/`):
    /// `content: null` beside the call; the name, then argument pieces.
    #[test]
    fn tool_call_deltas_are_content() {
        let first = parse_chunk(br#"{"id":"chatcmpl-a","object":"chat.completion.chunk","created":1,"model":"smol","choices":[{"index":0,"delta":{"content":null,"tool_calls":[{"id":"chatcmpl-tool-b","type":"function","index":0,"function":{"name":"get_weather"}}]},"logprobs":null,"finish_reason":null,"token_ids":null}],"usage":{"prompt_tokens":37,"total_tokens":55,"completion_tokens":18,"completion_tokens_details":null}}"#).unwrap();
        assert_eq!((first.text_bytes, first.tool_call_bytes), (11, 11));
        assert_eq!(first.tool_calls.calls(), 1);
        assert_eq!(first.answer, None);
        let piece = parse_chunk(br#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": "}}]},"finish_reason":"tool_calls"}]}"#).unwrap();
        assert_eq!((piece.text_bytes, piece.tool_call_bytes), (9, 9));
        assert_eq!(piece.finish_reason.as_deref(), Some("tool_calls"));
        let none =
            parse_chunk(br#"{"choices":[{"delta":{"content":"a","tool_calls":null}}]}"#).unwrap();
        assert_eq!((none.text_bytes, none.tool_call_bytes), (1, 0));
        assert!(none.tool_calls.is_empty());
    }

    #[test]
    fn malformed_json_is_an_error_with_a_snippet() {
        let e = parse_chunk(br#"{"choices":[{"delta":{"content":"oo"#).unwrap_err();
        assert!(e.snippet.starts_with("{\"choices\""));
    }

    #[test]
    fn escaped_text_is_measured() {
        let c = parse_chunk(br#"{"choices":[{"delta":{"content":"a\nb"}}]}"#).unwrap();
        assert_eq!(c.text_bytes, 3);
    }
}
