//! One line of `requests.jsonl`: everything we know about one request.
//!
//! This is a user-facing contract (see `docs/results-schema.md`): fields are
//! only added, never renamed, and `REQUESTS_SCHEMA_VERSION` changes when the
//! meaning of a field does.

use serde::{Deserialize, Serialize};

/// Version of the `requests.jsonl` line format.
pub const REQUESTS_SCHEMA_VERSION: u32 = 1;

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// The stream ended normally.
    Ok,
    /// The request failed; `error` says why.
    Failed,
    /// The run stopped (duration reached, Ctrl-C) while it was in flight.
    Cancelled,
}

/// Where the per-event token counts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountSource {
    /// Every event's count came from the server (token ids, cumulative usage
    /// or cumulative timings).
    Exact,
    /// At least one event was counted as one token because the server gave
    /// no per-event count.
    Estimated,
}

/// Server-side timings of one request: llama-server's `timings`, or
/// Ollama's final-object counts and durations mapped onto the same fields
/// (`prompt_eval_count` → `prompt_n`, `eval_count` → `predicted_n`,
/// nanosecond durations → ms). All optional because servers differ.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerTimings {
    /// Prompt tokens reused from the server's cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_n: Option<u64>,
    /// Prompt tokens processed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_n: Option<u64>,
    /// Prompt processing time, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_ms: Option<f64>,
    /// Generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_n: Option<u64>,
    /// Generation time, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_ms: Option<f64>,
    /// Generation rate reported by the server, tokens/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_per_second: Option<f64>,
    /// Draft tokens proposed (speculative decoding only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_n: Option<u64>,
    /// Draft tokens accepted (speculative decoding only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_n_accepted: Option<u64>,
    /// Model load time before this request, ms (Ollama `load_duration`;
    /// a large value is a cold load).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_ms: Option<f64>,
    /// Time the request waited for the scheduler, ms (vLLM per-request
    /// `metrics.queue_time_ms`: queued → scheduled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_ms: Option<f64>,
    /// Scheduled → first token, ms (vLLM per-request
    /// `metrics.time_to_first_token_ms`; it excludes the queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_ms: Option<f64>,
    /// First token → last token, ms, on the server's clock (vLLM per-request
    /// `metrics.generation_time_ms`, the same interval as our decode span:
    /// the server's decode rate is (output tokens − 1) / `decode_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_ms: Option<f64>,
    /// Whole request as the server timed it, ms (Ollama `total_duration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_ms: Option<f64>,
}

/// The class of a failed request: what went wrong, in a name scripts can
/// rely on (`docs/results-schema.md` lists them). Counted per class in
/// `summary.failures`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// No connection could be made (refused, unreachable, connect timeout).
    Connect,
    /// The TLS handshake failed (untrusted or mismatched certificate).
    Tls,
    /// The connection was made and the request sent, but the server closed
    /// it before any response (never retried: it may have read the request).
    Closed,
    /// The server answered an error status (`status` says which).
    HttpStatus,
    /// The response was not a stream of the expected type (`Content-Type`).
    ContentType,
    /// The connection broke mid-stream.
    Stream,
    /// One event grew past the client's bound without ending.
    Oversized,
    /// A chunk was not valid JSON (or UTF-8) of the expected shape.
    MalformedChunk,
    /// The server sent an error object inside the stream.
    ServerError,
    /// The stream ended without its end marker or a finish reason.
    Truncated,
    /// The whole request took longer than `--request-timeout`.
    Timeout,
    /// No response headers within `--first-byte-timeout`.
    TimeoutFirstByte,
    /// Nothing arrived for `--idle-timeout` mid-stream.
    TimeoutIdle,
    /// The server was not ready.
    NotReady,
    /// A class this version does not know (read from a newer file).
    #[serde(other)]
    Other,
}

impl FailureKind {
    /// Every class, in declaration order.
    pub const ALL: [FailureKind; 15] = [
        Self::Connect,
        Self::Tls,
        Self::Closed,
        Self::HttpStatus,
        Self::ContentType,
        Self::Stream,
        Self::Oversized,
        Self::MalformedChunk,
        Self::ServerError,
        Self::Truncated,
        Self::Timeout,
        Self::TimeoutFirstByte,
        Self::TimeoutIdle,
        Self::NotReady,
        Self::Other,
    ];

    /// The name used in files and tables (`timeout_idle`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::Closed => "closed",
            Self::HttpStatus => "http_status",
            Self::ContentType => "content_type",
            Self::Stream => "stream",
            Self::Oversized => "oversized",
            Self::MalformedChunk => "malformed_chunk",
            Self::ServerError => "server_error",
            Self::Truncated => "truncated",
            Self::Timeout => "timeout",
            Self::TimeoutFirstByte => "timeout_first_byte",
            Self::TimeoutIdle => "timeout_idle",
            Self::NotReady => "not_ready",
            Self::Other => "other",
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestErrorInfo {
    /// The failure's class.
    pub kind: FailureKind,
    /// Human-readable reason, including the server's message when it sent one.
    pub message: String,
    /// HTTP status, when the server answered with an error status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// Token accounting of one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCount {
    /// Where the per-event counts came from.
    pub source: CountSource,
    /// Sum of the per-event counts.
    pub counted: u64,
    /// The server's own final count of the tokens it sent
    /// (`usage.completion_tokens`, `timings.predicted_n`, `eval_count`),
    /// when it sent one. Ollama counts the end-of-generation token that
    /// stopped a stream without sending it: for its streams that ended
    /// with `stop` this is its count less one (its own figure stays in
    /// `server_timings.predicted_n` on the native APIs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<u64>,
    /// True when `counted == server`; false when they differ or the server
    /// gave no final count (then `output_tokens` is an estimate).
    pub reconciled: bool,
}

/// One line of `requests.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Sequence number of the request in the run (warm-up requests included).
    pub id: u64,
    /// Worker (client stream) that sent it.
    pub worker: u32,
    /// In a merged run, the shard (load machine) it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<u32>,
    /// True for warm-up requests, which no statistic includes.
    pub warmup: bool,
    /// True for a user's context sent alone before a run at a cached
    /// depth (`--depth`): also `warmup`, and summed apart in
    /// `summary.depth_prefill`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub depth_prefill: bool,
    /// How it ended.
    pub status: RequestStatus,
    /// Why it failed, for `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RequestErrorInfo>,
    /// Wall-clock start, µs since the Unix epoch.
    pub start_unix_us: u64,
    /// Start, µs since the run began (warm-up included; `run.json`'s
    /// `summary.measured_start_us` says when measuring began). In an
    /// open-loop run, the *planned* send time: TTFT and E2E count from it,
    /// so a request sent late still counts its wait.
    pub start_offset_us: u64,
    /// Multi-turn runs: the conversation this request belongs to (unique
    /// in the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<u64>,
    /// Multi-turn runs: the turn of the conversation, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<u32>,
    /// Open-loop runs: actual − planned send time, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_lag_us: Option<u64>,
    /// Open-loop runs: the part of the lag spent waiting for a free place
    /// under `--max-concurrency`, µs (absent when it did not wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_wait_us: Option<u64>,
    /// Time to first content event, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_us: Option<u64>,
    /// Time to the first answer token, µs: the first content event with
    /// answer text outside the reasoning (see `docs/metrics.md`). Present
    /// when the stream showed reasoning and then answered; without
    /// reasoning it is `ttft_us`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfat_us: Option<u64>,
    /// Time to the first tool-call token, µs: the first content event that
    /// carried a tool call (its name or arguments), from the start as
    /// `ttft_us`. Present when the stream called a tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttftc_us: Option<u64>,
    /// Last content event − start, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_us: Option<u64>,
    /// End of the response body − start, µs (includes trailing usage/[DONE]).
    pub stream_end_us: u64,
    /// Content events received.
    pub events: u32,
    /// Output tokens: the server's final count when present, else the sum of
    /// the per-event counts.
    pub output_tokens: u64,
    /// How `output_tokens` was established.
    pub count: TokenCount,
    /// Output tokens before the first answer token (the reasoning, its
    /// delimiters included), counted from the stream; present when the
    /// stream showed reasoning. `output_tokens` − this = answer tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// The server's own reasoning count
    /// (`usage.completion_tokens_details.reasoning_tokens`), when it sent
    /// one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens_server: Option<u64>,
    /// Output tokens of the tool calls: those of the events that carried a
    /// call, and the markup the server held back around it (every output
    /// token but those of events that carried text and no call; see
    /// `docs/metrics.md`). Present when the stream called a tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_tokens: Option<u64>,
    /// Distinct tool calls streamed (their indices). Present when the
    /// stream called a tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<u32>,
    /// Prompt tokens as the server reported them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    /// Prompt tokens the server took from its cache, when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_prompt_tokens: Option<u64>,
    /// Time per output token after the first event, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpot_us: Option<f64>,
    /// Decode rate, tokens/s (1e6 / `tpot_us`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_tok_s: Option<f64>,
    /// The server's finish reason (`length`, `stop`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// The server's own timings for this request (llama-server `timings`,
    /// Ollama's final counts and durations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_timings: Option<ServerTimings>,
    /// OK but fewer output tokens than asked for (the server stopped at EOS:
    /// Ollama has no `ignore_eos`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub short: bool,
    /// The server loaded the model for this request (Ollama: its
    /// `load_duration` passed the run's `load.cold_load_ms`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cold_load: bool,
    /// A request still streaming when the run ended (`cancelled`) that had
    /// received tokens: its TTFT, event gaps and ITL are in the latency
    /// figures; its decode rate, TPOT and E2E are not (it never finished).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

#[cfg(test)]
mod failure_kind_tests {
    use super::FailureKind;

    #[test]
    fn names_match_the_serialized_form() {
        for k in FailureKind::ALL {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.name()));
            assert_eq!(serde_json::from_str::<FailureKind>(&json).unwrap(), k);
        }
        // A class from a newer version reads as Other, not as an error.
        assert_eq!(
            serde_json::from_str::<FailureKind>("\"quantum\"").unwrap(),
            FailureKind::Other
        );
    }
}
