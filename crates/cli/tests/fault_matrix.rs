//! The fault matrix, small: every simulator fault kind on every 5th
//! request, c=8 × 40 requests, through the binary. No panic, no hang
//! (a stalled stream ends at the request timeout), every request accounted
//! for (ok + failed + cancelled = sent), and each failure in its class.
//! Stalls end at the idle and first-byte timeouts (2 s here), a stream
//! that trickles past the whole-request timeout at that one.
#![allow(clippy::unwrap_used)]

mod common;

use common::{read_run_json, run_bin, spawn_sim};

/// `(fault, error kind of its failures, failures expected)`.
const MATRIX: &[(&str, &str, u64)] = &[
    ("http500", "http_status", 8),
    ("http429", "http_status", 8),
    ("http503", "http_status", 8),
    ("reset", "stream", 8),
    ("malformed", "malformed_chunk", 8),
    ("stream-error", "server_error", 8),
    ("invalid-utf8", "malformed_chunk", 8),
    ("huge-line", "oversized", 8),
    ("stall", "timeout_idle", 8),
    ("stall-headers", "timeout_first_byte", 8),
    // The last content chunk carries the finish reason and vLLM's
    // per-event usage the count: the tokens are all there.
    ("no-done", "", 0),
];

#[test]
fn every_fault_is_counted_in_its_class_and_nothing_is_lost() {
    for &(fault, kind, expected) in MATRIX {
        let spec = format!("{fault}:5");
        let sim = spawn_sim(&["--decode-tps", "2000", "--fault", &spec]);
        let dir = tempfile::tempdir().unwrap();
        let args = [
            "-c",
            "8",
            "-n",
            "40",
            "--output-tokens",
            "16",
            "--prompt-tokens",
            "32",
            "--first-byte-timeout",
            "2s",
            "--idle-timeout",
            "2s",
            "--request-timeout",
            "30s",
        ];
        let started = std::time::Instant::now();
        let out = run_bin(&sim.url, dir.path(), &args);
        assert!(
            out.status.success(),
            "{fault}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            started.elapsed().as_secs() < 60,
            "{fault}: took {:?}",
            started.elapsed()
        );
        let s = read_run_json(dir.path())["summary"].clone();
        let r = &s["requests"];
        let n = |k: &str| r[k].as_u64().unwrap();
        assert_eq!(n("ok") + n("failed") + n("cancelled"), 40, "{fault}: {r}");
        assert_eq!(n("failed"), expected, "{fault}: {s}");
        let lines = std::fs::read_to_string(dir.path().join("requests.jsonl")).unwrap();
        let failed: Vec<serde_json::Value> = lines
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|rec| rec["status"] == "failed" && rec["warmup"] == false)
            .collect();
        assert_eq!(failed.len() as u64, expected, "{fault}");
        for rec in &failed {
            assert_eq!(rec["error"]["kind"], kind, "{fault}: {rec}");
        }
        if let Some(status) = fault.strip_prefix("http") {
            let code: u64 = status.parse().unwrap();
            assert!(
                failed.iter().all(|rec| rec["error"]["status"] == code),
                "{fault}"
            );
        }
    }
}

/// A stream that stalls is cut by the whole-request timeout when that is
/// the shortest, and `run.json` records the timeouts applied.
#[test]
fn the_whole_request_timeout_bounds_a_stalled_stream() {
    let sim = spawn_sim(&["--decode-tps", "2000", "--fault", "stall:2"]);
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "-c",
        "2",
        "-n",
        "4",
        "--output-tokens",
        "16",
        "--prompt-tokens",
        "32",
        "--request-timeout",
        "2s",
    ];
    let out = run_bin(&sim.url, dir.path(), &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = read_run_json(dir.path());
    assert_eq!(
        run["summary"]["requests"]["failed"], 2,
        "{}",
        run["summary"]
    );
    let t = &run["load"]["timeouts"];
    assert_eq!(
        (t["request_s"].as_f64(), t["idle_s"].as_f64()),
        (Some(2.0), Some(300.0))
    );
    let text = std::fs::read_to_string(dir.path().join("requests.jsonl")).unwrap();
    let kinds: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["status"] == "failed" && r["warmup"] == false)
        .map(|r| r["error"]["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["timeout", "timeout"]);
}

/// A server failing half its requests, with `--max-error-rate 20`: the run
/// ends early but cleanly: exit 2, `run.json` incomplete with the reason,
/// every request sent accounted for, far fewer sent than asked.
#[test]
fn a_clearly_broken_server_ends_the_run_early_and_cleanly() {
    let sim = spawn_sim(&["--decode-tps", "500", "--fault", "http500:2"]);
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "-c",
        "4",
        "-n",
        "400",
        "--output-tokens",
        "16",
        "--prompt-tokens",
        "32",
        "--max-error-rate",
        "20",
    ];
    let out = run_bin(&sim.url, dir.path(), &args);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("max-error-rate"));
    let run = read_run_json(dir.path());
    assert_eq!(run["complete"], false);
    assert!(
        run["stopped_early"].as_str().unwrap().contains("failed"),
        "{}",
        run["stopped_early"]
    );
    let r = &run["summary"]["requests"];
    let n = |k: &str| r[k].as_u64().unwrap();
    let records = std::fs::read_to_string(dir.path().join("requests.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"warmup\":false"))
        .count() as u64;
    assert_eq!(n("ok") + n("failed") + n("cancelled"), records);
    assert!(records < 100, "{records} requests: the run went on");
}
