//! A server that serves one request at a time (Ollama with a model family
//! it forces to one slot) under 32 users: the stack's and the scenario's
//! timeouts reach the client (a queued request gets no header before its
//! first token, so a short first-byte wait fails the back of the queue,
//! a long one completes every request), a timeout that could never apply
//! is refused when the suite loads, and the tables mark the row a queue.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use crate::common;
use crate::common::server_proc::free_port;
use crate::common::{stackbench, BIN};

/// A stack running the simulated one-slot Ollama (`ollama-q4km`, 1000
/// tok/s) as a process on a free port, with `keys` added.
fn one_slot_stack(name: &str, keys: &str) -> String {
    let port = free_port();
    format!(
        r#"name = "{name}"
flavor = "ollama"
quantization = "Q4_K_M"
model = "qwen3.6:35b-a3b-q4_K_M"
ready-timeout = "20s"
metrics = false
{keys}
[launch.process]
command = ["{BIN}", "sim", "--profile", "ollama-q4km", "--decode-tps", "1000", "--ttft-ms", "20", "--port", "{port}"]
port = {port}
"#
    )
}

/// 32 users, 32 requests of 32 tokens: each takes ~0.1 s in the one
/// slot, so the last waits ~3 s for its first byte (longer on a busy
/// machine, which only lengthens the queue).
const C32: &str = r#"[defaults]
prompt-tokens = 64
output-tokens = 32
warmup-requests = 0
[[scenario]]
name = "c32"
concurrency = 32
requests = 32
first-byte-timeout = "60s"
request-timeout = "90s"
"#;

fn run_json(out: &Path, stack: &str) -> serde_json::Value {
    let text = std::fs::read(out.join(stack).join("c32").join("run.json")).unwrap();
    serde_json::from_slice(&text).unwrap()
}

#[test]
fn a_one_slot_queue_completes_with_its_timeouts_and_is_marked_a_queue() {
    let dir = tempfile::tempdir().unwrap();
    // The stack's first-byte wait overrides the scenario's 60 s.
    let short = one_slot_stack("short-wait", "first-byte-timeout = \"1s\"");
    // The stack's request timeout overrides the scenario's 90 s.
    let long = one_slot_stack("long-wait", "request-timeout = \"120s\"");
    let suite = common::write_suite(
        dir.path(),
        "queue",
        &[("short.toml", short), ("long.toml", long)],
        C32,
    );
    let out = dir.path().join("out");
    stackbench(["suite"])
        .arg(&suite)
        .arg("--out")
        .arg(&out)
        .run()
        .assert_success();

    let short = run_json(&out, "short-wait");
    assert_eq!(short["load"]["timeouts"]["first_byte_s"], 1.0);
    assert_eq!(short["load"]["timeouts"]["request_s"], 90.0);
    let failed = short["summary"]["failures"]["timeout_first_byte"].as_u64();
    assert!(
        failed.is_some_and(|n| n > 0),
        "the back of the queue waits over 1 s for its first byte: {}",
        short["summary"]
    );

    let long = run_json(&out, "long-wait");
    assert_eq!(long["load"]["timeouts"]["first_byte_s"], 60.0);
    assert_eq!(long["load"]["timeouts"]["request_s"], 120.0);
    assert_eq!(long["summary"]["requests"]["ok"], 32, "{}", long["summary"]);
    assert_eq!(long["summary"]["requests"]["failed"], 0);

    let table = stackbench(["table"]).arg(&out).run();
    table.assert_success();
    let row = table
        .stdout
        .lines()
        .find(|l| l.starts_with("| long-wait") && l.contains('§'))
        .unwrap_or_else(|| panic!("no c=32 row of long-wait marked §:\n{}", table.stdout));
    // One stream at a time: its decode time over the run's wall time is
    // at most 1 (the prefill between streams makes it less).
    let at_once = row
        .split('|')
        .map(str::trim)
        .find_map(|c| c.parse::<f64>().ok().filter(|x| *x <= 1.0));
    assert!(at_once.is_some_and(|x| x > 0.2), "{row}");
    assert!(
        table.stdout.contains("a queue, not concurrent streams"),
        "{}",
        table.stdout
    );
}

#[test]
fn a_first_byte_wait_longer_than_the_request_timeout_is_refused_when_the_suite_loads() {
    let dir = tempfile::tempdir().unwrap();
    // The stack raises the header wait above the default request timeout.
    let stack = one_slot_stack("forgot", "first-byte-timeout = \"30m\"");
    let scenario = "[[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 1\n";
    let suite = common::write_suite(dir.path(), "t", &[("s.toml", stack)], scenario);
    let out = stackbench(["suite"]).arg(&suite).arg("--dry-run").run();
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("s.toml"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("first-byte-timeout (30m) is longer than request-timeout (10m)"),
        "{}",
        out.stderr
    );

    // A scenario that does the same is refused at its key.
    let stack = one_slot_stack("ok", "");
    let scenario = "[[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 1\nfirst-byte-timeout = \"20m\"\n";
    let suite = common::write_suite(dir.path(), "t", &[("s.toml", stack)], scenario);
    let out = stackbench(["suite"]).arg(&suite).arg("--dry-run").run();
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("scenario[0].first-byte-timeout"),
        "{}",
        out.stderr
    );

    // A short request timeout alone bounds the default header wait: fine.
    let stack = one_slot_stack("short", "");
    let scenario =
        "[[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 1\nrequest-timeout = \"2m\"\n";
    let suite = common::write_suite(dir.path(), "t", &[("s.toml", stack)], scenario);
    let out = stackbench(["suite"]).arg(&suite).arg("--dry-run").run();
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("timeouts: request 2m"),
        "{}",
        out.stdout
    );
}
