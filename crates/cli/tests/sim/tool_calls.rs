//! Tool calls measured through the binary, against the simulator's ground
//! truth: a request offering a tool with `tool_choice: "required"` (sent
//! with `--extra-body`) is answered by one call of the requested length,
//! the whole output. Every flavor's call must be counted and timed like
//! content: `tool_call_tokens` equals the output and the server's count,
//! one call, and the first tool-call token timed — at the first token
//! where the call streams in pieces (vLLM, llama-server), at the last where
//! the server sends it whole once complete (Ollama, both APIs; that one
//! event has no count of its own, so the stream is flagged unreconciled
//! while the server's count still gives the output).
//!
//! Tolerances as in `reasoning.rs`: the simulator sends each token on an
//! absolute deadline; a median over four requests stays within 5 ms of the
//! schedule on a loaded 2-core box. Counts are exact.
#![allow(clippy::unwrap_used)]

use crate::common::{measured_records, median, num, run_bin, spawn_sim};

/// 100 tok/s: one decode interval is 10 ms.
const INTERVAL_MS: f64 = 10.0;
/// Output tokens per request.
const N: u64 = 24;

const EXTRA_BODY: &str = r#"{"tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}], "tool_choice": "required"}"#;

#[test]
fn a_forced_tool_call_is_counted_and_timed_like_content_in_every_flavor() {
    // (flavor, API, finish reason, the call comes whole at the last token)
    let cases = [
        ("vllm", "chat", "tool_calls", false),
        ("llamacpp", "chat", "tool_calls", false),
        ("ollama", "chat", "tool_calls", true),
        ("ollama", "ollama-chat", "stop", true),
    ];
    for (flavor, api, finish, whole) in cases {
        let sim = spawn_sim(&["--flavor", flavor, "--ttft-ms", "40", "--decode-tps", "100"]);
        let n = N.to_string();
        let base = ["-c", "1", "-n", "4", "--output-tokens", &n, "--api", api];
        let dir = tempfile::tempdir().unwrap();
        let args = [&base[..], &["--extra-body", EXTRA_BODY]].concat();
        run_bin(&sim.url, dir.path(), &args).assert_success();
        let case = format!("{flavor} {api}");
        let recs = measured_records(dir.path());
        assert_eq!(recs.len(), 4, "{case}");
        for r in &recs {
            assert_eq!(num(r, "output_tokens"), N, "{case}: {r}");
            assert_eq!(r["count"]["server"], N, "{case}: the server's count: {r}");
            // A whole call is one event: Ollama gives no per-event count,
            // so it counts as one token and the stream is flagged (never
            // adjusted); in pieces every event is counted exactly.
            let reconciled = !whole;
            assert_eq!(r["count"]["reconciled"], reconciled, "{case}: {r}");
            assert_eq!(num(r, "tool_call_tokens"), N, "{case}: {r}");
            assert_eq!(num(r, "tool_calls"), 1, "{case}: {r}");
            assert_eq!(r["finish_reason"], finish, "{case}: {r}");
            assert_eq!(
                num(r, "ttftc_us"),
                num(r, "ttft_us"),
                "{case}: the call is the first content"
            );
            assert!(r.get("reasoning_tokens").is_none(), "{case}: {r}");
        }
        // When the first token came: a plain run's TTFT on the same server.
        let plain = tempfile::tempdir().unwrap();
        run_bin(&sim.url, plain.path(), &base).assert_success();
        let ms = |recs: &[serde_json::Value], key: &str| {
            median(recs.iter().map(|r| num(r, key) as f64 / 1000.0).collect())
        };
        let first = ms(&measured_records(plain.path()), "ttft_us");
        let lead = ms(&recs, "ttftc_us") - first;
        // In pieces the name comes with the first token; whole, the call
        // comes with the last.
        let due = if whole {
            (N - 1) as f64 * INTERVAL_MS
        } else {
            0.0
        };
        assert!(
            (lead - due).abs() < 5.0,
            "{case}: first tool-call token {lead} ms after the first token, due {due}"
        );
    }
}

/// Without tools no record carries the tool-call fields.
#[test]
fn a_plain_run_has_no_tool_call_fields() {
    let sim = spawn_sim(&["--flavor", "vllm", "--decode-tps", "1000"]);
    let dir = tempfile::tempdir().unwrap();
    run_bin(&sim.url, dir.path(), &["-n", "2", "--output-tokens", "8"]).assert_success();
    for r in measured_records(dir.path()) {
        for key in ["ttftc_us", "tool_call_tokens", "tool_calls"] {
            assert!(r.get(key).is_none(), "{key}: {r}");
        }
    }
}
