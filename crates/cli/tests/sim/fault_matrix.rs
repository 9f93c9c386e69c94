//! The fault matrix, small: every simulator fault kind on every 5th
//! request, c=8 × 40 requests, through the binary. No panic, no hang
//! (a stalled stream ends at the request timeout), every request accounted
//! for (ok + failed + cancelled = sent), and each failure in its class.
//! Stalls end at the idle and first-byte timeouts (2 s here), a stream
//! that trickles past the whole-request timeout at that one. `refuse`,
//! which acts on connections, has its own test.
#![allow(clippy::unwrap_used)]

use crate::common::{read_run_json, run_bin, spawn_sim};

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
    ("wrong-content-type", "content_type", 8),
    // The last content chunk carries the finish reason and vLLM's
    // per-event usage the count: the tokens are all there.
    ("no-done", "", 0),
    // No counts from the server: the requests succeed, counted from the
    // token ids, and are marked unreconciled (no final count to check).
    ("no-usage", "", 0),
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
        out.assert_success();
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
        let by_class = s["failures"].as_object().unwrap();
        if expected > 0 {
            assert_eq!(by_class.len(), 1, "{fault}: {by_class:?}");
            assert_eq!(by_class[kind], expected, "{fault}: {by_class:?}");
        } else {
            assert!(by_class.is_empty(), "{fault}: {by_class:?}");
        }
        if fault == "no-usage" {
            assert_eq!(n("unreconciled"), 8, "{fault}: {r}");
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
    out.assert_success();
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
    assert_eq!(out.status.code(), Some(2), "{}", &out.stderr);
    assert!(out.stderr.contains("max-error-rate"));
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

/// `refuse:5` closes every 5th connection before reading it, and answers
/// `Connection: close` so that every request opens one: about a fifth of
/// the requests fail as `closed` (never retried: the client cannot know the
/// server did not read them), none in another class, and the run goes on.
#[test]
fn refused_connections_fail_as_closed_and_are_not_retried() {
    let sim = spawn_sim(&["--decode-tps", "2000", "--fault", "refuse:5"]);
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "-c",
        "4",
        "-n",
        "40",
        "--output-tokens",
        "16",
        "--prompt-tokens",
        "32",
    ];
    let out = run_bin(&sim.url, dir.path(), &args);
    out.assert_success();
    let s = read_run_json(dir.path())["summary"].clone();
    let r = &s["requests"];
    let n = |k: &str| r[k].as_u64().unwrap();
    assert_eq!(n("ok") + n("failed") + n("cancelled"), 40, "{r}");
    // Every 5th connection; the set-up's probes take some of them, and a
    // refusal hyper sees before writing is retried (it was never sent).
    assert!((4..=10).contains(&n("failed")), "{s}");
    let by_class = s["failures"].as_object().unwrap();
    assert_eq!(by_class.len(), 1, "{by_class:?}");
    assert_eq!(by_class["closed"], n("failed"), "{by_class:?}");
}

/// Faults written in a profile apply on every run of it, as `--fault`
/// does.
#[test]
fn faults_in_a_profile_apply() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("faulty.toml");
    let base = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/sim/vllm-nvfp4.toml"),
    )
    .unwrap();
    std::fs::write(&profile, format!("faults = [\"http503:4\"]\n{base}")).unwrap();
    let sim = spawn_sim(&[
        "--profile",
        profile.to_str().unwrap(),
        "--decode-tps",
        "2000",
    ]);
    let out_dir = dir.path().join("out");
    let args = [
        "-c",
        "2",
        "-n",
        "20",
        "--output-tokens",
        "8",
        "--prompt-tokens",
        "32",
    ];
    let out = run_bin(&sim.url, &out_dir, &args);
    out.assert_success();
    let s = read_run_json(&out_dir)["summary"].clone();
    assert_eq!(s["requests"]["failed"], 5, "{s}");
    assert_eq!(s["failures"]["http_status"], 5, "{s}");
}
