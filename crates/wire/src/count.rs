//! Per-event token counting and its reconciliation with the server's final
//! count.
//!
//! A chunk is a *content event* when it carries text or tokens; role-only,
//! empty, usage-only and finish-only chunks are not. Each content event gets
//! an exact count when the server provides one — the length of `token_ids`,
//! or the increase of a cumulative counter (vLLM `continuous_usage_stats`,
//! llama-server `timings_per_token`) — and otherwise counts as one token,
//! marked estimated. At the end the sum is compared with the server's final
//! count (`usage.completion_tokens` or `timings.predicted_n`): equal means
//! reconciled; anything else is flagged, never adjusted silently. A chunk
//! that carries a tool call is a content event like any other, and the
//! output divides into tool calls and text as [`crate::tools`] says.

use stackbench_core::{CountSource, ServerTimings};

use crate::openai::ChunkInfo;
use crate::reasoning::{ReasoningOutcome, ReasoningSplit};
use crate::tools::{ToolCallOutcome, ToolCallSplit};

/// Accumulates counts over one stream.
#[derive(Debug, Default)]
pub struct TokenCounter {
    counted: u64,
    cumulative: u64,
    /// Whether a cumulative counter has come with every content event so
    /// far (`None` before the first). A counter that shows up late (e.g.
    /// on the final chunk only) cannot be split across earlier events.
    tracking: Option<bool>,
    estimated: bool,
    server_count: Option<u64>,
    prompt_tokens: Option<u64>,
    cached_tokens: Option<u64>,
    timings: Option<ServerTimings>,
    finish_reason: Option<String>,
    /// The server's final count includes the end-of-generation token it
    /// sampled but did not send (see [`TokenCounter::counting_stop_token`]).
    stop_token_counted: bool,
    /// Reasoning versus answer.
    reasoning: ReasoningSplit,
    /// `usage.completion_tokens_details.reasoning_tokens`.
    server_reasoning: Option<u64>,
    /// Tool calls versus text.
    tools: ToolCallSplit,
}

/// The counts of a finished stream.
#[derive(Debug, Clone, PartialEq)]
pub struct CountOutcome {
    /// Where the per-event counts came from.
    pub source: CountSource,
    /// Sum of the per-event counts.
    pub counted: u64,
    /// The server's final count, if it sent one.
    pub server: Option<u64>,
    /// `counted == server`.
    pub reconciled: bool,
    /// The server's count when present, else `counted`.
    pub output_tokens: u64,
    /// Prompt tokens the server reported.
    pub prompt_tokens: Option<u64>,
    /// Cached prompt tokens the server reported.
    pub cached_tokens: Option<u64>,
    /// llama-server's final `timings`.
    pub timings: Option<ServerTimings>,
    /// The finish reason.
    pub finish_reason: Option<String>,
    /// How the output divided into reasoning and answer.
    pub reasoning: ReasoningOutcome,
    /// The server's own reasoning count, when it sent one.
    pub server_reasoning_tokens: Option<u64>,
    /// How the output divided into tool calls and text.
    pub tool_calls: ToolCallOutcome,
}

impl TokenCounter {
    /// Creates a counter for a new stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// A counter for a server whose final count includes the
    /// end-of-generation token that ended a stream (`finish_reason` `stop`)
    /// although that token is never sent: Ollama. Its runners count a
    /// sampled token before checking whether it ends generation
    /// (`runner/llamarunner/runner.go` and `runner/ollamarunner/runner.go`
    /// of Ollama 0.17: `seq.numPredicted++` precedes the `TokenIsEog`
    /// check), and `eval_count` (native) and `usage.completion_tokens`
    /// (`/v1`) report `numPredicted`. Seen on the real server: "Yes", "!"
    /// then `done_reason: stop` with `eval_count: 3`. The tokens sent are
    /// then the server's count less one; a stream that ended at its length
    /// limit sent every counted token.
    pub fn counting_stop_token() -> Self {
        Self {
            stop_token_counted: true,
            ..Self::default()
        }
    }

    /// This counter, also keeping the answer text (a conversation's next
    /// turn resends it).
    pub fn keeping_answer(mut self) -> Self {
        self.reasoning = ReasoningSplit::keeping_text();
        self
    }

    /// Takes one decoded chunk; returns the tokens it carried when it is a
    /// content event, `None` otherwise.
    pub fn observe(&mut self, c: &ChunkInfo<'_>) -> Option<u32> {
        let mut running: Option<u64> = None;
        if let Some(u) = &c.usage {
            self.prompt_tokens = u.prompt_tokens.or(self.prompt_tokens);
            self.cached_tokens = u.cached_tokens.or(self.cached_tokens);
            self.server_reasoning = u.reasoning_tokens.or(self.server_reasoning);
            if let Some(n) = u.completion_tokens {
                // Ollama's completions put all-zero usage on every chunk:
                // only a usage-only chunk, a finishing chunk or a non-zero
                // running count is a real count.
                if !c.has_choices || c.finish_reason.is_some() || n > 0 {
                    self.server_count = Some(n);
                }
                if c.has_choices && n > 0 {
                    running = Some(n);
                }
            }
        }
        if let Some(t) = &c.timings {
            if c.has_choices {
                running = running.or(t.predicted_n);
            }
            if let Some(p) = t.predicted_n {
                if c.usage.is_none() || self.server_count.is_none() {
                    self.server_count = Some(p);
                }
            }
            self.timings = Some(t.clone());
        }
        if let Some(r) = &c.finish_reason {
            self.finish_reason = Some(r.clone());
        }
        let tracking = self.tracking != Some(false);
        let advanced = running.filter(|n| tracking && *n > self.cumulative);
        let ids = c.token_ids.filter(|n| *n > 0);
        if c.text_bytes == 0 && ids.is_none() && advanced.is_none() {
            return None;
        }
        let tokens = match (ids, advanced) {
            (Some(n), _) => n as u64,
            (None, Some(n)) => n - self.cumulative,
            (None, None) => {
                self.estimated = true;
                1
            }
        };
        self.tracking = Some(tracking && running.is_some());
        if let Some(n) = running {
            self.cumulative = self.cumulative.max(n);
        }
        self.counted += tokens;
        let call = c.tool_call_bytes > 0 || !c.tool_calls.is_empty();
        self.reasoning
            .event(tokens, c.reasoning_bytes, c.answer.as_deref(), call);
        let text = c.text_bytes.saturating_sub(c.tool_call_bytes);
        self.tools
            .event(tokens, c.tool_call_bytes, c.tool_calls, text);
        Some(u32::try_from(tokens).unwrap_or(u32::MAX))
    }

    /// Records a final count from outside the chunk stream (e.g. a native
    /// API's `tokens_predicted` or `eval_count`).
    pub fn set_server_count(&mut self, n: u64) {
        self.server_count = Some(n);
    }

    /// Ends the stream.
    pub fn finish(self) -> CountOutcome {
        let stopped = self.finish_reason.as_deref() == Some("stop");
        let server_count = match self.server_count {
            Some(n) if self.stop_token_counted && stopped => Some(n.saturating_sub(1)),
            other => other,
        };
        let output_tokens = server_count.unwrap_or(self.counted);
        CountOutcome {
            reasoning: self.reasoning.finish(output_tokens),
            server_reasoning_tokens: self.server_reasoning,
            tool_calls: self.tools.finish(output_tokens),
            source: if self.estimated {
                CountSource::Estimated
            } else {
                CountSource::Exact
            },
            counted: self.counted,
            server: server_count,
            reconciled: server_count == Some(self.counted),
            output_tokens,
            prompt_tokens: self.prompt_tokens,
            cached_tokens: self.cached_tokens,
            timings: self.timings,
            finish_reason: self.finish_reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::parse_chunk;

    fn run(chunks: &[&str]) -> (Vec<u32>, CountOutcome) {
        let mut c = TokenCounter::new();
        let per_event = chunks
            .iter()
            .filter_map(|s| c.observe(&parse_chunk(s.as_bytes()).unwrap()))
            .collect();
        (per_event, c.finish())
    }

    #[test]
    fn one_token_per_chunk_reconciles_with_final_usage() {
        let (ev, out) = run(&[
            r#"{"choices":[{"delta":{"role":"assistant","content":null}}]}"#,
            r#"{"choices":[{"delta":{"content":"a"}}]}"#,
            r#"{"choices":[{"delta":{"content":"b"}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"length"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#,
        ]);
        assert_eq!(ev, vec![1, 1]);
        assert_eq!(out.source, CountSource::Estimated);
        assert!(out.reconciled);
        assert_eq!(out.output_tokens, 2);
        assert_eq!(out.finish_reason.as_deref(), Some("length"));
    }

    #[test]
    fn continuous_usage_gives_exact_multi_token_counts() {
        let (ev, out) = run(&[
            r#"{"choices":[{"delta":{"role":"assistant","content":""}}],"usage":{"prompt_tokens":5,"completion_tokens":0}}"#,
            r#"{"choices":[{"delta":{"content":"ab"}}],"usage":{"prompt_tokens":5,"completion_tokens":1}}"#,
            r#"{"choices":[{"delta":{"content":"cde"}}],"usage":{"prompt_tokens":5,"completion_tokens":4}}"#,
            r#"{"choices":[{"delta":{"content":"f"},"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":6}}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":6}}"#,
        ]);
        assert_eq!(ev, vec![1, 3, 2]);
        assert_eq!(out.source, CountSource::Exact);
        assert!(out.reconciled);
    }

    #[test]
    fn token_ids_are_exact() {
        let (ev, out) = run(&[
            r#"{"choices":[{"delta":{"content":" Hello world"},"token_ids":[22691,1917]}]}"#,
            r#"{"choices":[{"delta":{"content":"!"},"finish_reason":"length","token_ids":[11]}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3}}"#,
        ]);
        assert_eq!(ev, vec![2, 1]);
        assert_eq!(out.source, CountSource::Exact);
        assert!(out.reconciled);
    }

    #[test]
    fn merged_chunks_without_exact_counts_are_flagged() {
        // 2 chunks, 3 tokens: the Ollama /v1 case.
        let (_, out) = run(&[
            r#"{"choices":[{"delta":{"role":"assistant","content":"The sky"}}]}"#,
            r#"{"choices":[{"delta":{"content":" is"}}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":3}}"#,
        ]);
        assert!(!out.reconciled);
        assert_eq!(out.counted, 2);
        assert_eq!(out.output_tokens, 3);
    }

    #[test]
    fn ollama_zero_usage_on_every_chunk_is_not_a_counter() {
        let (ev, out) = run(&[
            r#"{"choices":[{"text":"a","finish_reason":null}],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}"#,
            r#"{"choices":[{"text":"b","finish_reason":null}],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#,
        ]);
        assert_eq!(ev, vec![1, 1]);
        assert!(out.reconciled);
    }

    #[test]
    fn an_ollama_stop_token_is_counted_by_the_server_not_sent() {
        use crate::ollama::parse_ollama_chunk;
        // The real Ollama 0.17.4 (crates/wire/tests/fixtures/ollama-0.17.4/generate-stop.http).
        let lines = [
            r#"{"model":"m","created_at":"2026-12-02T06:50:14.737923237Z","response":"Yes","done":false}"#,
            r#"{"model":"m","created_at":"2026-12-02T06:50:14.777450851Z","response":"!","done":false}"#,
            r#"{"model":"m","created_at":"2026-12-02T06:50:14.929770761Z","response":"","done":true,"done_reason":"stop","prompt_eval_count":36,"eval_count":3,"eval_duration":191299929}"#,
        ];
        let feed = |mut c: TokenCounter| {
            for l in lines {
                c.observe(&parse_ollama_chunk(l.as_bytes()).unwrap());
            }
            c.finish()
        };
        let ollama = feed(TokenCounter::counting_stop_token());
        assert!(ollama.reconciled);
        assert_eq!((ollama.counted, ollama.server), (2, Some(2)));
        assert_eq!(
            ollama.timings.unwrap().predicted_n,
            Some(3),
            "the server's own figure is kept"
        );
        // Without the rule the same stream is (rightly) unreconciled.
        assert!(!feed(TokenCounter::new()).reconciled);
        // At the length limit every counted token was sent.
        let mut c = TokenCounter::counting_stop_token();
        c.observe(&parse_ollama_chunk(br#"{"response":"a","done":false}"#).unwrap());
        c.observe(
            &parse_ollama_chunk(
                br#"{"response":"","done":true,"done_reason":"length","eval_count":1}"#,
            )
            .unwrap(),
        );
        assert_eq!(c.finish().server, Some(1));
    }

    /// vLLM 0.32 with the qwen3 parser and a thinking budget (as the real
    /// server streamed it, research notes): the forced `</think>` makes no
    /// chunk, its three tokens ride on the first answer chunk's count, and
    /// the server's reasoning count leaves them out — as ours does.
    #[test]
    fn reasoning_then_answer_with_the_servers_count() {
        let u = |n: u32, r: u32| {
            format!(
                r#""usage":{{"prompt_tokens":9,"completion_tokens":{n},"completion_tokens_details":{{"reasoning_tokens":{r}}}}}"#
            )
        };
        let chunks = [
            format!(
                r#"{{"choices":[{{"delta":{{"role":"assistant","content":""}}}}],{}}}"#,
                u(0, 0)
            ),
            format!(
                r#"{{"choices":[{{"delta":{{"reasoning":"log"}}}}],{}}}"#,
                u(1, 1)
            ),
            format!(
                r#"{{"choices":[{{"delta":{{"reasoning":" up"}}}}],{}}}"#,
                u(2, 2)
            ),
            format!(
                r#"{{"choices":[{{"delta":{{"content":"Hi"}}}}],{}}}"#,
                u(6, 2)
            ),
            format!(
                r#"{{"choices":[{{"delta":{{"content":"!"}},"finish_reason":"length"}}],{}}}"#,
                u(7, 2)
            ),
            format!(r#"{{"choices":[],{}}}"#, u(7, 2)),
        ];
        let refs: Vec<&str> = chunks.iter().map(String::as_str).collect();
        let (ev, out) = run(&refs);
        assert_eq!(ev, vec![1, 1, 4, 1]);
        assert!(out.reconciled);
        assert_eq!(out.reasoning.reasoning_tokens, Some(2));
        assert_eq!(out.reasoning.first_answer_event, Some(2));
        assert_eq!(out.server_reasoning_tokens, Some(2));
    }

    #[test]
    fn no_final_count_is_unreconciled() {
        let (_, out) = run(&[r#"{"choices":[{"delta":{"content":"a"}}]}"#]);
        assert_eq!(out.server, None);
        assert!(!out.reconciled);
        assert_eq!(out.output_tokens, 1);
    }
}
