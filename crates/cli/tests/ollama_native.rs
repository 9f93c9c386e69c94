//! Ollama's native NDJSON APIs against the simulator: exact counts against
//! `eval_count`, our decode rate against the server's, outputs that stop at
//! EOS (Ollama has no `ignore_eos`) reported as short, and cold loads kept
//! out of measured requests.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::{bench, median, profile, start, Load};
use stackbench_engine::Bound;
use stackbench_wire::body::Api;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_generate_and_chat_count_exactly_and_match_the_server_rate() {
    for api in [Api::OllamaGenerate, Api::OllamaChat] {
        let sim = start(profile("ollama", 20.0, 80.0, "", ""), vec![]).await;
        let dir = tempfile::tempdir().unwrap();
        let mut load = Load::new(2, Bound::Requests(6), 48);
        load.api = api;
        let (out, records) = bench(&sim.base_url(), &load, dir.path()).await;
        let s = &out.summary;
        assert_eq!(s.requests.ok, 6, "{api:?}: {:?}", s.errors);
        assert_eq!(s.requests.unreconciled, 0, "{api:?}");
        assert_eq!(s.requests.short, 0, "{api:?}");
        for r in &records {
            let t = r.server_timings.as_ref().unwrap();
            assert_eq!(Some(r.output_tokens), t.predicted_n, "{api:?}: eval_count");
            assert_eq!(r.count.counted, 48);
            assert_eq!(r.finish_reason.as_deref(), Some("length"));
        }
        let client = median(records.iter().map(|r| r.decode_tok_s.unwrap()).collect());
        let server = median(
            records
                .iter()
                .map(|r| {
                    r.server_timings
                        .as_ref()
                        .unwrap()
                        .predicted_per_second
                        .unwrap()
                })
                .collect(),
        );
        assert!(
            (client - server).abs() / server < 0.01,
            "{api:?}: client {client} vs server {server}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_that_stop_at_eos_are_reported_short_and_can_be_excluded() {
    let sim = start(profile("ollama", 5.0, 200.0, "eos-after = 20", ""), vec![]).await;
    for exclude in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut load = Load::new(2, Bound::Requests(4), 40);
        load.api = Api::OllamaGenerate;
        load.exclude_short = exclude;
        let (out, records) = bench(&sim.base_url(), &load, dir.path()).await;
        let s = &out.summary;
        assert_eq!(s.requests.ok, 4);
        assert_eq!(
            s.requests.short, 4,
            "short outputs are counted, not averaged in silently"
        );
        assert!(records.iter().all(|r| r.short && r.output_tokens == 20));
        assert!(records
            .iter()
            .all(|r| r.finish_reason.as_deref() == Some("stop")));
        assert_eq!(
            s.output_tokens, 80,
            "their tokens still count in the totals"
        );
        let expected_samples = if exclude { 0 } else { 4 };
        assert_eq!(
            s.decode_tok_s.count, expected_samples,
            "exclude_short={exclude}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_eos_is_honoured_by_vllm_and_not_by_ollama() {
    for (flavor, short) in [("vllm", 0), ("llamacpp", 0), ("ollama", 3)] {
        let sim = start(profile(flavor, 5.0, 300.0, "eos-after = 10", ""), vec![]).await;
        let dir = tempfile::tempdir().unwrap();
        let (out, _) = bench(
            &sim.base_url(),
            &Load::new(1, Bound::Requests(3), 30),
            dir.path(),
        )
        .await;
        assert_eq!(out.summary.requests.short, short, "{flavor}");
    }
}

#[test]
fn the_binary_preloads_the_model_so_no_measured_request_is_a_cold_load() {
    let dir = tempfile::tempdir().unwrap();
    let profile_path = dir.path().join("cold.toml");
    std::fs::write(
        &profile_path,
        "flavor = \"ollama\"\nstack = \"Ollama\"\nquantization = \"q\"\nmodel = \"m:1\"\n[latency]\nttft-ms = 5.0\nprefill-tps = 1e9\ndecode-tps = 300.0\nmax-slots = 2\nload-ms = 1200.0\n",
    )
    .unwrap();
    let sim = common::spawn_sim(&[std::ffi::OsStr::new("--profile"), profile_path.as_os_str()]);
    let url = sim.url.clone();
    let out_dir = dir.path().join("run");
    let out = Command::new(common::BIN)
        .args([
            "run",
            "--quiet",
            "--base-url",
            url.as_str(),
            "--model",
            "m:1",
            "--api",
            "ollama-chat",
            // No probe: its own tiny request would load the model first.
            "--flavor",
            "ollama",
        ])
        .args([
            "-n",
            "3",
            "--output-tokens",
            "16",
            "--warmup-requests",
            "0",
            "--out",
        ])
        .arg(&out_dir)
        .output()
        .unwrap();
    drop(sim);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = common::read_run_json(&out_dir);
    assert_eq!(run["server"]["preload_load_ms"], 1200.0);
    let o = &run["server"]["ollama"];
    assert!(o["version"].is_string(), "{o}");
    assert!(o["ps"]["size_vram"].as_u64().unwrap() > 0, "{o}");
    assert_eq!(o["show"]["details"]["quantization_level"], "q");
    assert_eq!(run["summary"]["requests"]["cold_loads"], 0);
    assert_eq!(run["summary"]["requests"]["ok"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_load_in_a_measured_request_is_counted() {
    let sim = start(
        profile("ollama", 5.0, 300.0, "load-ms = 1100.0", ""),
        vec![],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut load = Load::new(1, Bound::Requests(2), 8);
    load.api = Api::OllamaGenerate;
    let (out, records) = bench(&sim.base_url(), &load, dir.path()).await;
    assert_eq!(out.summary.requests.cold_loads, 1);
    assert!(
        records[0].ttft_us.unwrap() > 1_100_000,
        "the load lands in TTFT"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_ollama_queue_answers_503_server_busy_and_the_run_records_it() {
    // One slot, one waiting place: of four simultaneous requests, the last
    // ones are refused.
    let mut p = profile("ollama", 50.0, 100.0, "max-queue = 1", "");
    p.latency.max_slots = 1;
    let sim = start(p, vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut load = Load::new(4, Bound::Requests(8), 20);
    load.api = Api::OllamaGenerate;
    let (out, records) = bench(&sim.base_url(), &load, dir.path()).await;
    assert!(out.summary.requests.failed >= 1, "{:?}", out.summary);
    assert!(out.summary.requests.ok >= 2);
    let e = records.iter().find_map(|r| r.error.as_ref()).unwrap();
    assert_eq!(e.status, Some(503));
    assert!(e.message.contains("server busy"), "{}", e.message);
}
