//! Tool calls measured on the real servers, through the binary: a request
//! offering one tool with `tool_choice: "required"` (sent with
//! `--extra-body`) makes each server stream a call, and every record must
//! count and time it like content — the first tool-call token timed, the
//! call's tokens equal to the output and to the server's own count, one
//! call.
//!
//! What each server needs to call (see docs/metrics.md, "Tool calls"):
//! * vLLM 0.32 refuses `"required"` without a tool parser (400
//!   `tool_choice="required" requires --tool-call-parser to be set`), so it
//!   runs here with `--enable-auto-tool-choice --tool-call-parser hermes`;
//!   structured output then forces the call, and the dummy weights fill
//!   its arguments until the output budget ends.
//! * llama-server b11434 ignores tools when the chat template renders none
//!   (SmolLM2's does not), so it runs with `tests/fixtures/tools-chatml.jinja`;
//!   and its `"required"` grammar allows text before the call, which
//!   SmolLM2 then writes until the budget ends. An assistant message
//!   opening `<tool_call>` (continued by the server) makes it call at once.
//!   It sends the call's closing markup in its final usage only, so the
//!   per-event sum is below its count: those tokens are the call's.
#![allow(clippy::unwrap_used)]

use crate::common::vllm::Shared;
use crate::common::{self, measured_records, num, run_bin};
use crate::llama_server::start_with;

/// vLLM with a tool parser (the one that reads Hermes-style calls; with
/// `"required"` vLLM's own JSON-array parsing is used whatever it is).
static VLLM_TOOLS: Shared =
    Shared::new(&["--enable-auto-tool-choice", "--tool-call-parser", "hermes"]);

/// One tool, and a call of it required.
const TOOLS: &str = r#""tools": [{"type": "function", "function": {"name": "get_weather", "description": "Get the weather for a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}], "tool_choice": "required""#;

/// Runs `n` requests of `output` tokens with `extra_body`; every measured
/// record must have streamed one call, counted and timed like content.
fn run_calls(url: &str, output: &str, extra_body: &str) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "-c",
        "1",
        "-n",
        "3",
        "--output-tokens",
        output,
        "--seed",
        "3",
    ];
    let mut args = args.to_vec();
    args.extend(["--extra-body", extra_body]);
    run_bin(url, dir.path(), &args).assert_success();
    let recs = measured_records(dir.path());
    assert_eq!(recs.len(), 3, "{recs:#?}");
    for r in &recs {
        assert_eq!(r["status"], "ok", "{r}");
        assert!(num(r, "ttftc_us") >= num(r, "ttft_us"), "{r}");
        assert_eq!(num(r, "tool_calls"), 1, "{r}");
        assert_eq!(num(r, "tool_call_tokens"), num(r, "output_tokens"), "{r}");
        assert_eq!(
            r["count"]["server"], r["output_tokens"],
            "the server's count: {r}"
        );
        assert!(r.get("reasoning_tokens").is_none(), "{r}");
    }
    recs
}

// vLLM names the function after 18 held-back tokens (`[{"name": "…`,
// counted in that first tool-call event), then streams the arguments one
// token a chunk: every token is the call's, counted exactly.
real_test!(vllm; fn vllm_streams_a_required_tool_call_measured_like_content() {
    VLLM_TOOLS.with_url(|url| {
        let recs = run_calls(url, "32", &format!("{{{TOOLS}}}"));
        for r in &recs {
            assert_eq!(num(r, "output_tokens"), 32, "{r}");
            assert_eq!(r["count"]["source"], "exact", "{r}");
            assert_eq!(r["count"]["reconciled"], true, "{r}");
            assert_eq!(num(r, "ttftc_us"), num(r, "ttft_us"), "the call is the first content: {r}");
            assert_eq!(r["finish_reason"], "length", "ignore_eos: the budget cut the call: {r}");
        }
    });
});

// llama-server (its template able to render tools, the call opened by the
// assistant message) streams the call in pieces: the role chunk carries
// the first token, the name comes next; the 2 closing tokens arrive in the
// final usage only and count with the call.
real_test!(llama_server; async fn llama_server_streams_a_required_tool_call_measured_like_content() {
    let template = common::repo().join("crates/cli/tests/fixtures/tools-chatml.jinja");
    let template = template.to_str().unwrap();
    let server = start_with(1, 2048, &["--chat-template-file", template]).await;
    let messages = r#""messages": [{"role": "user", "content": "What is the weather in Paris?"}, {"role": "assistant", "content": "<tool_call>\n"}]"#;
    let recs = run_calls(&server.url, "24", &format!("{{{TOOLS}, {messages}}}"));
    for r in &recs {
        assert_eq!(num(r, "output_tokens"), 24, "{r}");
        assert_eq!(r["count"]["source"], "exact", "{r}");
        assert!(num(r, "ttftc_us") > num(r, "ttft_us"), "the role chunk came first: {r}");
    }
});
