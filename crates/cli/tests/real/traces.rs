//! `--trace` on the real vLLM and llama-server: the shipped Mooncake
//! slice, scaled to this machine (lengths and blocks x1/16: 32-token
//! blocks, prompts cut to 1,024 tokens, outputs to 8, time 20x faster,
//! the first 60 requests), and a trace whose blocks share heavily (five
//! groups sharing 1 to 5 leading blocks, a request every 400 ms), each
//! prompt exactly its recorded length as the server counted it, and the
//! prefix-cache hit share the servers report (vLLM `cached_tokens` in
//! 32-token blocks, llama-server `cache_n`) within the stated tolerance
//! (5 points, `replay.cache.tolerance_pts`) of the share the blocks
//! imply. The tolerance is the one the replay flag uses; it is not a
//! timing assertion, and a busy machine cannot move a hit count.
//!
//! The agentic slice (4 sessions, 18 calls with tool calls and results in
//! their history) replays on all three: every call sent after its parent,
//! every session completed. llama-server takes the tools as offered; vLLM
//! without a tool parser refuses `tools` (HTTP 400 "auto" tool choice
//! requires --enable-auto-tool-choice) and Ollama refuses them for a
//! model whose template has none (HTTP 400 "does not support tools"), so
//! those two replay with `--trace-no-tools`. Tool calls themselves are
//! measured on the real servers in `tool_calls.rs` (the 135M model calls
//! none when not forced).
#![allow(clippy::unwrap_used)]

use std::path::Path;

use serde_json::Value;

use crate::common::{read_run_json, run_bin, sharing_trace};

/// The Mooncake slice as this machine replays it.
const MOONCAKE: [&str; 14] = [
    "--trace",
    "mooncake",
    "--trace-scale",
    "0.0625",
    "--trace-max-input",
    "1024",
    "--trace-max-output",
    "8",
    "--speed",
    "20",
    "-n",
    "60",
    "--warmup-requests",
    "0",
];

/// Replays into `dir` and checks what every server must show: every
/// request sent, every prompt exact as the server counted it. Returns
/// `replay`.
fn replay(url: &str, dir: &Path, args: &[&str]) -> Value {
    let out = run_bin(url, dir, args);
    out.assert_success();
    assert!(
        out.stdout.contains("prefix cache: expected"),
        "{}",
        out.stdout
    );
    let run = read_run_json(dir);
    let r = run["replay"].clone();
    let entries = run["load"]["trace"]["entries"].as_u64().unwrap();
    assert_eq!(r["arrival"]["sent"], entries, "{r}");
    assert_eq!(r["arrival"]["dropped"], 0, "{r}");
    let l = &r["lengths"];
    let exact = l["input_exact"].as_u64().unwrap() + l["input_below_overhead"].as_u64().unwrap();
    assert_eq!(
        exact, entries,
        "every prompt exact as the server counted it: {l}"
    );
    assert_eq!(r["cache"]["source"], "usage", "{r}");
    eprintln!("{}: {}", dir.display(), r["cache"]);
    r
}

/// Expected and achieved hit shares, and the tolerance.
fn shares(r: &Value) -> (f64, f64, f64) {
    let c = &r["cache"];
    let f = |k: &str| c[k].as_f64().unwrap_or_else(|| panic!("{k}: {c}"));
    (f("expected_pct"), f("achieved_pct"), f("tolerance_pts"))
}

fn within_tolerance(r: &Value) {
    let (e, a, tol) = shares(r);
    assert!(
        (a - e).abs() <= tol,
        "expected {e:.2}%, achieved {a:.2}% (tolerance {tol}): {r}"
    );
    assert!(r["shortfalls"].is_null(), "{r}");
}

fn sharing_args(trace: &Path) -> Vec<String> {
    let args = [
        "--trace",
        trace.to_str().unwrap(),
        "--trace-format",
        "mooncake",
        "--trace-scale",
        "0.25",
        "--warmup-requests",
        "0",
    ];
    args.iter().map(|s| s.to_string()).collect()
}

real_test!(vllm; fn vllm_replays_mooncake_with_the_hit_share_its_blocks_imply() {
    crate::vllm::VLLM.with_url(|url| {
        let tmp = tempfile::tempdir().unwrap();
        let r = replay(url, &tmp.path().join("mooncake"), &MOONCAKE);
        assert_eq!(r["cache"]["server_block_tokens"], 32);
        assert!(shares(&r).0 > 0.0);
        within_tolerance(&r);
        let args = sharing_args(&sharing_trace(tmp.path(), 400, 4));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = replay(url, &tmp.path().join("sharing"), &args);
        assert!(shares(&r).0 > 40.0, "{r}");
        within_tolerance(&r);
    });
});

// llama-server keeps a slot's last prompt and, in RAM, a few earlier
// ones; it does not reuse every prefix it ever computed. On the Mooncake
// slice (sharing that is mostly the first block) it reaches the expected
// share; on the heavily sharing trace it falls short (measured: 57.7%
// against 75.6% expected), and the replay says so: flagged `replay`.
real_test!(llama_server; async fn llama_server_replays_mooncake_and_flags_a_cache_that_keeps_less() {
    // One slot of 8,192 tokens: requests run one at a time.
    let server = crate::llama_server::start(1, 8192).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = replay(&server.url, &tmp.path().join("mooncake"), &MOONCAKE);
    assert_eq!(r["cache"]["server_block_tokens"], 1);
    within_tolerance(&r);
    let args = sharing_args(&sharing_trace(tmp.path(), 400, 4));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let dir = tmp.path().join("sharing");
    let r = replay(&server.url, &dir, &args);
    let (e, a, tol) = shares(&r);
    assert!(e > 40.0 && a > 0.0 && a < e - tol, "{r}");
    let shortfalls = r["shortfalls"].to_string();
    assert!(shortfalls.contains("the trace's blocks imply"), "{shortfalls}");
    let run = read_run_json(&dir);
    let flags = run["hygiene"]["flags"].to_string();
    assert!(flags.contains("\"replay\""), "{flags}");
});

/// The agentic slice at 10x, outputs cut to 16 tokens.
const AGENTIC: [&str; 8] = [
    "--trace",
    "agentic",
    "--speed",
    "10",
    "--trace-max-output",
    "16",
    "--warmup-requests",
    "0",
];

/// Replays the agentic slice with `extra` and checks every call was sent
/// and answered, every session completed, and each turn went out after
/// its parent ended.
fn agentic(url: &str, dir: &Path, extra: &[&str]) -> Value {
    let mut args = AGENTIC.to_vec();
    args.extend_from_slice(extra);
    let out = run_bin(url, dir, &args);
    out.assert_success();
    let run = read_run_json(dir);
    let r = run["replay"].clone();
    assert_eq!(r["arrival"]["sent"], 18, "{r}");
    assert_eq!(r["lengths"]["output_exact"], 18, "{r}");
    assert_eq!(r["sessions"]["sessions"], 4, "{r}");
    assert_eq!(r["sessions"]["completed"], 4, "{r}");
    // A turn waits for its parent: behind the trace once the 135M model
    // answers slower than recorded, never ahead of its parent's end.
    assert!(
        r["arrival"]["lag_ms"]["p99"].as_f64().unwrap() < 100.0,
        "{r}"
    );
    r
}

real_test!(llama_server; async fn llama_server_replays_agent_sessions_with_their_tools() {
    let server = crate::llama_server::start(1, 8192).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = agentic(&server.url, tmp.path(), &[]);
    assert_eq!(r["tools"]["requests"], 18, "{r}");
});

real_test!(vllm; fn vllm_replays_agent_sessions_without_tools_it_has_no_parser_for() {
    crate::vllm::VLLM.with_url(|url| {
        let tmp = tempfile::tempdir().unwrap();
        let refused = run_bin(url, &tmp.path().join("tools"), &AGENTIC);
        assert!(refused.stderr.contains("enable-auto-tool-choice"), "{}", refused.stderr);
        let r = agentic(url, &tmp.path().join("no-tools"), &["--trace-no-tools"]);
        assert!(r["tools"].is_null(), "{r}");
    });
});

real_test!(ollama; async fn ollama_replays_agent_sessions_on_its_native_chat_api() {
    let o = crate::ollama::shared().await;
    let tmp = tempfile::tempdir().unwrap();
    let base = ["--model", o.model.as_str(), "--api", "ollama-chat", "--trace-no-tools"];
    // History tool calls carry their arguments as JSON text; Ollama takes
    // them only as objects (the body builder converts them).
    agentic(&o.proc.url, tmp.path(), &base);
});
