//! The parsers on real captures and on the documented examples, fed in
//! every chunking from one byte at a time to the whole stream at once.
#![allow(clippy::unwrap_used)]

use stackbench_core::CountSource;
use stackbench_wire::openai::{error_message, parse_chunk};
use stackbench_wire::{CountOutcome, SseDecoder, SseEvent, TokenCounter};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Decodes a stream split into `chunk`-byte reads; returns per-event token
/// counts, whether `[DONE]` was seen, and the counter's outcome.
fn decode(bytes: &[u8], chunk: usize) -> (Vec<u32>, bool, CountOutcome) {
    let mut dec = SseDecoder::new();
    let mut counter = TokenCounter::new();
    let mut events = Vec::new();
    let mut done = false;
    for piece in bytes.chunks(chunk) {
        dec.feed(piece, |ev| {
            let SseEvent::Data(d) = ev else {
                panic!("unexpected error event")
            };
            if d == b"[DONE]" {
                done = true;
                return false;
            }
            if let Some(n) = counter.observe(&parse_chunk(d).unwrap()) {
                events.push(n);
            }
            true
        });
    }
    (events, done, counter.finish())
}

fn all_chunkings(name: &str) -> (Vec<u32>, bool, CountOutcome) {
    let bytes = fixture(name);
    let whole = decode(&bytes, bytes.len());
    for chunk in [1, 2, 7, 64, 1000] {
        assert_eq!(
            decode(&bytes, chunk),
            whole,
            "{name} split every {chunk} bytes"
        );
    }
    whole
}

#[test]
fn llama_server_chat_stream_counts_64_tokens_and_keeps_timings() {
    let (events, done, out) = all_chunkings("llama-server-v1-chat-stream.sse");
    assert!(done);
    assert_eq!(
        events.len(),
        64,
        "role chunk and finish chunk are not content"
    );
    assert!(events.iter().all(|n| *n == 1));
    assert_eq!(out.server, Some(64));
    assert!(out.reconciled);
    assert_eq!(out.finish_reason.as_deref(), Some("length"));
    let t = out.timings.unwrap();
    assert_eq!(t.predicted_n, Some(64));
    assert!(t.predicted_per_second.unwrap() > 0.0);
}

#[test]
fn llama_server_timings_per_token_gives_exact_counts() {
    let (events, _, out) = all_chunkings("v1-chat-stream-timings-per-token.sse");
    assert_eq!(out.source, CountSource::Exact);
    assert!(out.reconciled);
    assert_eq!(
        events.iter().map(|n| u64::from(*n)).sum::<u64>(),
        out.server.unwrap()
    );
}

#[test]
fn llama_server_completions_stream_ends_with_usage_on_the_finish_chunk() {
    let (events, done, out) = all_chunkings("v1-completions-stream.sse");
    assert!(done);
    assert_eq!(events.len(), 12);
    assert_eq!(out.server, Some(12));
    assert_eq!(out.prompt_tokens, Some(4));
    assert!(out.reconciled);
}

#[test]
fn vllm_documented_example_counts_token_ids() {
    let (events, done, out) = all_chunkings("vllm-doc-example.sse");
    assert!(done);
    assert_eq!(events, vec![2, 1]);
    assert_eq!(out.source, CountSource::Exact);
    assert!(out.reconciled);
    assert_eq!(out.finish_reason.as_deref(), Some("length"));
}

#[test]
fn ollama_documented_example_folds_the_role_into_the_first_chunk() {
    let (events, done, out) = all_chunkings("ollama-v1-doc-example.sse");
    assert!(done);
    assert_eq!(events, vec![1]);
    assert_eq!(out.finish_reason.as_deref(), Some("stop"));
    assert!(out.reconciled);
}

#[test]
fn llama_server_error_bodies_yield_their_messages() {
    for (name, needle) in [
        (
            "error-context-exceeded.http",
            "exceeds the available context size",
        ),
        ("error-bad-json.http", "parse error"),
    ] {
        let text = String::from_utf8(fixture(name)).unwrap();
        let body = text
            .split("\r\n\r\n")
            .nth(1)
            .or_else(|| text.split("\n\n").nth(1))
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
        assert!(error_message(&v["error"]).contains(needle), "{name}");
    }
}

#[test]
fn llama_server_metrics_page_parses_with_its_counters() {
    use stackbench_wire::prometheus::{parse_prometheus, total};
    let text = String::from_utf8(fixture("metrics.prom")).unwrap();
    let s = parse_prometheus(&text).unwrap();
    assert_eq!(total(&s, "llamacpp:tokens_predicted_total"), Some(48.0));
    assert_eq!(
        total(&s, "llamacpp:tokens_predicted_seconds_total"),
        Some(0.503595)
    );
    assert_eq!(total(&s, "llamacpp:prompt_tokens_total"), Some(43.0));
    assert_eq!(total(&s, "llamacpp:requests_processing"), Some(0.0));
    assert_eq!(total(&s, "llamacpp:requests_deferred"), Some(0.0));
}

#[test]
fn llama_server_native_stream_counts_token_ids_exactly() {
    use stackbench_wire::llama::parse_native_chunk;
    let bytes = fixture("native-completion-stream.sse");
    for chunk in [1, 13, bytes.len()] {
        let mut dec = SseDecoder::new();
        let mut counter = TokenCounter::new();
        let mut events = Vec::new();
        for piece in bytes.chunks(chunk) {
            dec.feed(piece, |ev| {
                let SseEvent::Data(d) = ev else {
                    panic!("unexpected error event")
                };
                if let Some(n) = counter.observe(&parse_native_chunk(d).unwrap()) {
                    events.push(n);
                }
                true
            });
        }
        dec.finish(|_| true);
        let out = counter.finish();
        assert_eq!(events, vec![1; 12], "split every {chunk}");
        assert_eq!(out.source, CountSource::Exact);
        assert_eq!(out.server, Some(12));
        assert!(out.reconciled);
        assert_eq!(out.finish_reason.as_deref(), Some("limit"));
        assert_eq!(out.timings.unwrap().predicted_n, Some(12));
    }
}

#[test]
fn llama_server_documented_example_has_the_separate_finish_chunk_and_trailing_timings() {
    let (events, done, out) = all_chunkings("llama-server-doc-example.sse");
    assert!(done);
    assert_eq!(events, vec![1]);
    assert!(out.reconciled);
    assert_eq!(out.finish_reason.as_deref(), Some("length"));
    assert_eq!(out.timings.unwrap().predicted_per_second, Some(52.9));
}

#[test]
fn documented_error_bodies_of_every_server_yield_their_messages() {
    // server-apis.md §6: vLLM nested and flat (old), llama-server, Ollama
    // native and /v1, auth errors.
    for (body, needle) in [
        (
            r#"{"error":{"message":"The model `x` does not exist.","type":"NotFoundError","param":null,"code":404}}"#,
            "does not exist",
        ),
        (
            r#"{"object":"error","message":"This model's maximum context length is 4096 tokens.","type":"BadRequestError","param":"input_tokens","code":400}"#,
            "maximum context length",
        ),
        (
            r#"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#,
            "Loading model",
        ),
        (
            r#"{"error":"server busy, please try again.  maximum pending requests exceeded"}"#,
            "server busy",
        ),
        (
            r#"{"error":{"message":"model \"x\" not found, try pulling it first","type":"not_found_error","param":null,"code":null}}"#,
            "not found",
        ),
        (r#"{"error":"Unauthorized"}"#, "Unauthorized"),
    ] {
        let c = parse_chunk(body.as_bytes()).unwrap();
        assert!(
            c.error.as_deref().unwrap_or_default().contains(needle),
            "{body}"
        );
    }
}

/// The body of a `curl -si` capture (after the blank line).
fn http_body(name: &str) -> Vec<u8> {
    let bytes = fixture(name);
    let at = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers end");
    bytes[at + 4..].to_vec()
}

/// A real Ollama NDJSON stream through the NDJSON framer in every
/// chunking, counted as for Ollama (its final count includes an unsent
/// stop token).
fn ollama_native(name: &str) -> (Vec<u32>, CountOutcome) {
    use stackbench_wire::ndjson::NdjsonDecoder;
    use stackbench_wire::ollama::parse_ollama_chunk;
    let bytes = http_body(name);
    let decode = |chunk: usize| {
        let mut dec = NdjsonDecoder::new();
        let mut counter = TokenCounter::counting_stop_token();
        let mut events = Vec::new();
        for piece in bytes.chunks(chunk) {
            dec.feed(piece, |line| {
                if let Some(n) = counter.observe(&parse_ollama_chunk(line).unwrap()) {
                    events.push(n);
                }
                true
            });
        }
        (events, counter.finish())
    };
    let whole = decode(bytes.len());
    for chunk in [1, 7, 64] {
        assert_eq!(decode(chunk), whole, "{name} split every {chunk} bytes");
    }
    whole
}

#[test]
fn real_ollama_native_streams_reconcile_with_eval_count() {
    for name in [
        "generate-stream.http",
        "chat-stream.http",
        "generate-cold.http",
    ] {
        let (events, out) = ollama_native(&format!("ollama-0.17.4/{name}"));
        assert_eq!(events, vec![1; 12], "{name}");
        assert!(out.reconciled, "{name}");
        assert_eq!(out.finish_reason.as_deref(), Some("length"), "{name}");
        let t = out.timings.unwrap();
        assert_eq!(t.predicted_n, Some(12), "{name}");
        assert!(
            t.prompt_n.unwrap() > 30,
            "{name}: the template's tokens are counted"
        );
    }
    // Stopped at EOS: two tokens sent, eval_count 3.
    let (events, out) = ollama_native("ollama-0.17.4/generate-stop.http");
    assert_eq!(events, vec![1, 1]);
    assert_eq!(
        (out.server, out.timings.unwrap().predicted_n),
        (Some(2), Some(3))
    );
    assert!(out.reconciled);
}

#[test]
fn real_ollama_openai_streams_reconcile_with_their_final_usage() {
    for name in ["v1-chat-stream.http", "v1-completions-stream.http"] {
        let body = http_body(&format!("ollama-0.17.4/{name}"));
        let whole = decode(&body, body.len());
        for chunk in [1, 7, 64] {
            assert_eq!(
                decode(&body, chunk),
                whole,
                "{name} split every {chunk} bytes"
            );
        }
        let (events, done, out) = whole;
        assert!(done, "{name}: [DONE]");
        assert_eq!(events, vec![1; 12], "{name}");
        assert_eq!(out.server, Some(12), "{name}");
        assert!(out.reconciled, "{name}");
        assert_eq!(out.finish_reason.as_deref(), Some("length"), "{name}");
    }
}

#[test]
fn real_ollama_error_bodies_yield_their_messages() {
    for (name, status, text) in [
        (
            "error-unknown-model-generate.http",
            "404",
            "model 'no-such-model:1b' not found",
        ),
        (
            "error-unknown-model-v1-chat.http",
            "404",
            "model 'no-such-model:1b' not found",
        ),
        (
            "error-bad-option.http",
            "500",
            "option \"num_predict\" must be of type integer",
        ),
        ("error-bad-json.http", "400", "unexpected EOF"),
    ] {
        let raw = fixture(&format!("ollama-0.17.4/{name}"));
        assert!(
            raw.starts_with(format!("HTTP/1.1 {status}").as_bytes()),
            "{name}"
        );
        let v: serde_json::Value =
            serde_json::from_slice(&http_body(&format!("ollama-0.17.4/{name}"))).unwrap();
        assert_eq!(error_message(&v["error"]), text, "{name}");
    }
}

/// The real vLLM 0.32 (`--enable-auto-tool-choice --tool-call-parser
/// hermes`, dummy weights) with `tool_choice: "required"`: the call's name
/// comes after 18 held-back tokens, its arguments follow one token each,
/// every event counted exactly by continuous usage; all 32 tokens are the
/// call's, and the first tool-call event is the first content event.
#[test]
fn vllm_tool_call_stream_counts_every_token_as_the_calls() {
    let (events, done, out) = all_chunkings("vllm-0.32-chat-tool-call.sse");
    assert!(done);
    assert_eq!(events, [18, 8, 1, 1, 1, 1, 1, 1]);
    assert_eq!(out.source, CountSource::Exact);
    assert!(out.reconciled);
    assert_eq!(out.output_tokens, 32);
    assert_eq!(out.finish_reason.as_deref(), Some("length"));
    let t = out.tool_calls;
    assert_eq!(
        (t.first_event, t.tokens, t.calls),
        (Some(0), Some(32), Some(1))
    );
    assert_eq!(out.reasoning.reasoning_tokens, None);
}

/// The real llama-server b11434 (SmolLM2 with `tools-chatml.jinja`, an
/// assistant prefill opening the `<tool_call>`, `timings_per_token`): the
/// role chunk carries the first (held) token, the name comes with 8 tokens,
/// and the last 2 tokens (the closing markup) are in the final usage only.
/// They count with the call, which is all 24 tokens.
#[test]
fn llama_server_tool_call_stream_counts_held_tokens_with_the_call() {
    let (events, done, out) = all_chunkings("llama-server-chat-tool-call.sse");
    assert!(done);
    assert_eq!(events, [1, 8, 6, 1, 1, 1, 1, 1, 2]);
    assert_eq!(out.source, CountSource::Exact);
    assert_eq!((out.counted, out.server), (22, Some(24)));
    assert!(!out.reconciled, "the tail was never sent");
    let t = out.tool_calls;
    assert_eq!(
        (t.first_event, t.tokens, t.calls),
        (Some(1), Some(24), Some(1))
    );
}
