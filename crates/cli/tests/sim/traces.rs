//! `--trace`: each shipped slice replays offline against the simulator
//! with its fidelity reported; a trace whose blocks share prefixes gets
//! the hit share its blocks imply from the simulated vLLM's prefix cache
//! (16-token blocks, counted with the real SmolLM2 tokenizer); session
//! turns wait for their parent (plus the recorded think time); a bad line
//! fails the run before anything is sent, naming file and line.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{
    read_records, read_run_json, repo, run_bin, sharing_trace, spawn_sim, SimProc,
};

fn tokenizer() -> PathBuf {
    repo().join("crates/tokenize/tests/fixtures/smollm2-135m-instruct")
}

/// A fast simulated vLLM with a prefix cache and per-request cached
/// counts, counting prompts with the real tokenizer.
fn caching_sim() -> SimProc {
    let t = tokenizer();
    spawn_sim(&[
        "--decode-tps".as_ref(),
        "2000".as_ref(),
        "--tokenizer".as_ref(),
        t.as_os_str(),
        "--prefix-cache-tokens".as_ref(),
        "200000".as_ref(),
        "--prompt-tokens-details".as_ref(),
    ])
}

fn replay(url: &str, dir: &Path, trace: &str, extra: &[&str]) -> Value {
    let mut args = vec!["--trace", trace, "--warmup-requests", "0"];
    args.extend_from_slice(extra);
    let out = run_bin(url, dir, &args);
    out.assert_success();
    read_run_json(dir)
}

#[test]
fn each_shipped_slice_replays_offline_with_its_fidelity() {
    let sim = caching_sim();
    for (name, extra) in [
        (
            "mooncake",
            &[
                "--speed",
                "20",
                "--trace-scale",
                "0.0625",
                "--trace-max-input",
                "512",
                "--trace-max-output",
                "16",
                "-n",
                "60",
            ][..],
        ),
        (
            "azure",
            &[
                "--speed",
                "10",
                "--trace-max-input",
                "400",
                "--trace-max-output",
                "16",
                "-n",
                "60",
            ][..],
        ),
        (
            "agentic",
            &["--speed", "20", "--trace-max-output", "16"][..],
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let run = replay(&sim.url, dir.path(), name, extra);
        let (load, r) = (&run["load"]["trace"], &run["replay"]);
        assert_eq!(load["source"], format!("embedded:{name}"), "{name}");
        assert_eq!(load["sha256"].as_str().unwrap().len(), 64);
        let entries = load["entries"].as_u64().unwrap();
        assert_eq!(r["arrival"]["sent"], entries, "{name}: {r}");
        assert_eq!(r["arrival"]["dropped"], 0, "{name}");
        assert!(
            r["arrival"]["lag_ms"]["p99"].as_f64().unwrap() < 100.0,
            "{name}: {r}"
        );
        let l = &r["lengths"];
        assert_eq!(l["output_exact"], l["output_checked"], "{name}: {l}");
        if name != "agentic" {
            let exact = l["input_exact"].as_u64().unwrap();
            let short = l["input_below_overhead"].as_u64().unwrap();
            assert_eq!(
                exact + short,
                entries,
                "{name}: every prompt exact but those recorded shorter than the template: {l}"
            );
            assert_eq!(l["input_checked"], entries);
        }
        assert_eq!(run["load"]["arrival"], "trace");
        let records = read_records(dir.path());
        assert_eq!(records.len() as u64, entries);
        assert!(r["shortfalls"].is_null(), "{name}: {r}");
    }
}

#[test]
fn the_achieved_hit_share_is_the_one_the_blocks_imply() {
    let sim = caching_sim();
    let dir = tempfile::tempdir().unwrap();
    let trace = sharing_trace(dir.path(), 250, 8);
    let out = dir.path().join("run");
    let run = replay(
        &sim.url,
        &out,
        trace.to_str().unwrap(),
        &[
            "--trace-format",
            "mooncake",
            "--speed",
            "5",
            "--trace-scale",
            "0.25",
        ],
    );
    let c = &run["replay"]["cache"];
    assert_eq!(c["server_block_tokens"], 16, "{c}");
    assert_eq!(c["source"], "usage");
    let (e, a) = (
        c["expected_pct"].as_f64().unwrap(),
        c["achieved_pct"].as_f64().unwrap(),
    );
    // 16-token blocks under 128-token trace blocks: a shared prefix ends
    // on a server block, so only the template's few tokens differ.
    assert!(e > 40.0, "{c}");
    assert!(
        (a - e).abs() < 2.0,
        "expected {e:.2}%, achieved {a:.2}%: {c}"
    );
    assert_eq!(run["load"]["trace"]["block_tokens"], 128);
    assert!(run["replay"]["shortfalls"].is_null());
}

#[test]
fn session_turns_wait_for_their_parent_and_its_think_time() {
    let sim = caching_sim();
    let dir = tempfile::tempdir().unwrap();
    let run = replay(
        &sim.url,
        dir.path(),
        "agentic",
        &["--speed", "10", "--trace-max-output", "16"],
    );
    let records = read_records(dir.path());
    let first = run["load"]["warmup_requests"].as_u64().unwrap();
    let spans: Vec<Value> = std::fs::read_to_string(repo().join("datasets/traces/agentic.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Entry k (spans by start time) is request first + k.
    let mut order: Vec<usize> = (0..spans.len()).collect();
    order.sort_by_key(|i| spans[*i]["start_time_unix_nano"].as_u64().unwrap());
    let by_span = |trace: &Value, id: &Value| {
        order
            .iter()
            .position(|&i| spans[i]["trace_id"] == *trace && spans[i]["span_id"] == *id)
    };
    let mut children = 0;
    for (k, &i) in order.iter().enumerate() {
        let s = &spans[i];
        let Some(p) = by_span(&s["trace_id"], &s["parent_span_id"]) else {
            continue;
        };
        let rec = |k: usize| {
            records
                .iter()
                .find(|r| r["id"] == first + k as u64)
                .unwrap_or_else(|| {
                    panic!(
                        "no record {k}: {:?}",
                        records.iter().map(|r| r["id"].clone()).collect::<Vec<_>>()
                    )
                })
        };
        let (child, parent) = (rec(k), rec(p));
        let parent_end =
            parent["start_offset_us"].as_u64().unwrap() + parent["stream_end_us"].as_u64().unwrap();
        let think_us = (s["start_time_unix_nano"].as_u64().unwrap()
            - spans[order[p]]["end_time_unix_nano"].as_u64().unwrap())
            / 1000
            / 10;
        let due = child["start_offset_us"].as_u64().unwrap();
        assert!(
            due + 2_000 >= parent_end + think_us,
            "turn {k} due at {due} µs, its parent ended at {parent_end} µs (+{think_us} µs think)"
        );
        assert!(child["session"].is_u64() && child["turn"].as_u64().unwrap() >= 2);
        children += 1;
    }
    assert!(children >= 10, "{children}");
    let s = &run["replay"]["sessions"];
    assert_eq!(s["sessions"], 4, "{s}");
    assert_eq!(s["completed"], 4, "{s}");
    assert!(s["ttft_ms_by_turn"].as_array().unwrap().len() >= 3);
}

#[test]
fn a_bad_trace_line_fails_the_run_before_anything_is_sent() {
    let sim = spawn_sim(&["--decode-tps", "2000"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    let good = r#"{"timestamp": 0, "input_length": 100, "output_length": 4, "hash_ids": [1]}"#;
    std::fs::write(
        &path,
        format!("{good}\n{good}\n{{\"timestamp\": 5, \"input_length\": \"many\"}}\n"),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let out = run_bin(
        &sim.url,
        &out_dir,
        &[
            "--trace",
            path.to_str().unwrap(),
            "--trace-format",
            "mooncake",
        ],
    );
    out.assert_code(2);
    assert!(out.stderr.contains("bad.jsonl:3:"), "{}", out.stderr);
    assert!(!out_dir.join("requests.jsonl").exists(), "nothing was sent");
    let out = run_bin(&sim.url, &out_dir, &["--trace", "nosuch"]);
    out.assert_code(2);
    assert!(
        out.stderr.contains("mooncake, azure, agentic"),
        "{}",
        out.stderr
    );
}

/// A suite scenario takes a trace as a table; `requests` replays its
/// first N, `max-concurrency` caps it, a file is relative to the suite.
#[test]
fn a_suite_scenario_replays_a_trace() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::common::server_proc::free_port();
    let stack = crate::common::sim_stack("sim", port, &dir.path().join("pid"), 2000, "");
    sharing_trace(dir.path(), 100, 4);
    let scenarios = "[defaults]\nwarmup-requests = 0\n\
        [[scenario]]\nname = \"moon\"\nconcurrency = 1\nmax-concurrency = 4\nrequests = 12\n\
        trace = { source = \"mooncake\", speed = 50, window = [10, 72], scale = 0.0625, max-input = 256, max-output = 4 }\n\
        [[scenario]]\nname = \"share\"\nconcurrency = 1\nrequests = 10\n\
        trace = { source = \"sharing.jsonl\", format = \"mooncake\", speed = 4, scale = 0.125 }\n";
    let suite = crate::common::write_suite(dir.path(), "t", &[("sim.toml", stack)], scenarios);
    let out = dir.path().join("out");
    let done = crate::common::stackbench(["suite", suite.to_str().unwrap(), "--quiet", "--out"])
        .arg(&out)
        .run();
    done.assert_success();
    let moon = read_run_json(&out.join("sim").join("moon"));
    assert_eq!(
        moon["load"]["trace"]["source"], "embedded:mooncake",
        "{moon}"
    );
    assert_eq!(moon["load"]["trace"]["entries"], 12);
    assert_eq!(
        moon["load"]["trace"]["window_s"],
        serde_json::json!([10.0, 72.0])
    );
    assert_eq!(moon["load"]["concurrency"], 4, "the cap");
    assert_eq!(moon["replay"]["arrival"]["sent"], 12);
    let share = read_run_json(&out.join("sim").join("share"));
    assert_eq!(share["load"]["trace"]["format"], "mooncake");
    assert_eq!(share["load"]["trace"]["block_tokens"], 64);
    assert_eq!(share["replay"]["arrival"]["sent"], 10, "{share}");
}
