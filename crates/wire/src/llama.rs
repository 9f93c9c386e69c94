//! llama-server's native `/completion` stream, mapped onto [`ChunkInfo`] so
//! the same counter and driver handle it.
//!
//! Partial events carry `content`, the event's token ids in `tokens` and the
//! cumulative `tokens_predicted`; the final event has `stop: true`,
//! `stop_type` (`eos` | `limit` | `word`), `tokens_predicted` and `timings`.
//! The stream closes without `[DONE]`.

use std::borrow::Cow;

use serde::Deserialize;
use stackbench_core::ServerTimings;

use crate::openai::{error_message, ChunkInfo, MalformedChunk, Usage};

#[derive(Deserialize)]
struct RawNative<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default)]
    tokens: Option<Vec<u32>>,
    #[serde(default)]
    stop: bool,
    #[serde(default, borrow)]
    stop_type: Option<Cow<'a, str>>,
    #[serde(default)]
    tokens_predicted: Option<u64>,
    #[serde(default)]
    tokens_evaluated: Option<u64>,
    #[serde(default)]
    timings: Option<ServerTimings>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// Decodes one native `data:` payload.
pub fn parse_native_chunk(data: &[u8]) -> Result<ChunkInfo<'_>, MalformedChunk> {
    let raw: RawNative<'_> = serde_json::from_slice(data).map_err(|e| MalformedChunk {
        reason: e.to_string(),
        snippet: String::from_utf8_lossy(&data[..data.len().min(120)]).into_owned(),
    })?;
    Ok(ChunkInfo {
        // Partial events play the role of a choice: their running count is
        // a per-event counter. The final event only reports the total.
        has_choices: !raw.stop,
        text_bytes: raw.content.as_deref().map_or(0, str::len),
        reasoning_bytes: 0,
        tool_call_bytes: 0,
        tool_calls: Default::default(),
        answer: raw.content,
        token_ids: raw.tokens.as_ref().map(Vec::len),
        usage: raw.tokens_predicted.map(|n| Usage {
            prompt_tokens: raw.tokens_evaluated,
            completion_tokens: Some(n),
            cached_tokens: raw.timings.as_ref().and_then(|t| t.cache_n),
            reasoning_tokens: None,
        }),
        timings: raw.timings,
        finish_reason: raw.stop.then(|| {
            raw.stop_type
                .map_or_else(|| "stop".to_string(), |s| s.into_owned())
        }),
        error: raw.error.as_ref().map(error_message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TokenCounter;

    #[test]
    fn documented_native_example_counts_exactly() {
        let mut c = TokenCounter::new();
        let a = parse_native_chunk(br#"{"index":0,"content":" Paris","tokens":[12366],"stop":false,"id_slot":0,"tokens_predicted":1,"tokens_evaluated":9}"#).unwrap();
        let b = parse_native_chunk(br#"{"index":0,"content":"","tokens":[],"id_slot":0,"stop":true,"model":"qwen3-8b","tokens_predicted":2,"tokens_evaluated":9,"generation_settings":{},"prompt":"","has_new_line":false,"truncated":false,"stop_type":"limit","stopping_word":"","tokens_cached":10,"timings":{"predicted_n":2}}"#).unwrap();
        assert_eq!(c.observe(&a), Some(1));
        assert_eq!(c.observe(&b), None);
        let out = c.finish();
        assert_eq!(out.finish_reason.as_deref(), Some("limit"));
        assert_eq!(out.server, Some(2));
        assert!(!out.reconciled, "one token event seen, two reported");
    }
}
