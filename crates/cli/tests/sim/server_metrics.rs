//! The simulator's `/metrics` agree with what it served, and the binary's
//! scrapes turn them into the server-side figures of `run.json`, including
//! the speculative-decoding acceptance of an MTP profile.
#![allow(clippy::unwrap_used)]

use crate::common::{read_run_json, spawn_sim, stackbench};

fn run_against_sim(sim_args: &[&str], run_args: &[&str]) -> serde_json::Value {
    let sim = spawn_sim(sim_args);
    let dir = tempfile::tempdir().unwrap();
    let out = stackbench(["run", "--quiet", "--base-url", &sim.url, "--out"])
        .arg(dir.path())
        .args(run_args)
        .run();
    out.assert_success();
    read_run_json(dir.path())
}

#[test]
fn vllm_mtp_acceptance_from_metrics_matches_the_configured_acceptance() {
    // vllm-nvfp4-mtp1: one draft token per step, accepted with p = 0.8.
    let run = run_against_sim(
        &[
            "--profile",
            "vllm-nvfp4-mtp1",
            "--decode-tps",
            "800",
            "--ttft-ms",
            "5",
        ],
        &[
            "-c",
            "4",
            "-n",
            "48",
            "--output-tokens",
            "128",
            "--prompt-tokens",
            "32",
        ],
    );
    let m = &run["server_metrics"];
    let s = &run["summary"];
    assert_eq!(m["available"], true, "{m}");
    assert_eq!(
        m["tokens"].as_f64(),
        s["output_tokens"].as_f64(),
        "tokens agree exactly"
    );
    assert_eq!(s["requests"]["unreconciled"], 0);
    let rate = m["spec_acceptance_rate"].as_f64().unwrap();
    assert!(
        (rate - 0.8).abs() < 0.02,
        "acceptance {rate} vs configured 0.8"
    );
    let len = m["spec_mean_acceptance_length"].as_f64().unwrap();
    assert!((len - 1.8).abs() < 0.02, "mean acceptance length {len}");
    // Bursts: fewer events than tokens, ITL per token, exact counts.
    assert!(s["event_gap_ms"]["count"].as_u64().unwrap() < s["itl_ms"]["count"].as_u64().unwrap());
    assert_eq!(run["server"]["models"][0]["owned_by"], "vllm");
    // The server's per-stream decode rate (from its decode-phase
    // histogram) against ours: c=4 streams at the 4-stream point of the
    // batch curve.
    let server = m["per_stream_decode_tok_s"].as_f64().unwrap();
    let client = s["decode_tok_s"]["p50"].as_f64().unwrap();
    assert!(
        (client - server).abs() / server < 0.01,
        "client {client} vs server {server}"
    );
    // vLLM's KV-cache configuration and gauges.
    assert_eq!(m["cache_config"]["block_size"], "16", "{m}");
    assert_eq!(m["preemptions"], 0.0);
    assert!(m["max_kv_cache_usage"].is_number());
    assert!(m["max_running"].is_number());
}

#[test]
fn llamacpp_flavor_metrics_give_the_per_stream_decode_rate() {
    let run = run_against_sim(
        &[
            "--flavor",
            "llamacpp",
            "--decode-tps",
            "200",
            "--ttft-ms",
            "5",
            "--max-slots",
            "1",
        ],
        &[
            "-c",
            "1",
            "-n",
            "6",
            "--output-tokens",
            "64",
            "--prompt-tokens",
            "32",
        ],
    );
    let m = &run["server_metrics"];
    assert_eq!(
        m["tokens"].as_f64(),
        run["summary"]["output_tokens"].as_f64()
    );
    let server = m["per_stream_decode_tok_s"].as_f64().unwrap();
    let client = run["summary"]["decode_tok_s"]["p50"].as_f64().unwrap();
    assert!(
        (server - 200.0).abs() / 200.0 < 0.01,
        "server per-stream {server}"
    );
    assert!(
        (client - server).abs() / server < 0.01,
        "client {client} vs server {server}"
    );
    assert!(m.get("spec_acceptance_rate").is_none());
    assert_eq!(run["server"]["server_header"], "llama.cpp");
}

/// A timed run ends with requests in flight: vLLM counts their tokens in
/// `generation_tokens_total` but never observes their decode time, so the
/// per-stream rate must come from the finished requests' token histogram
/// (it read 28% high from the total counter at c=4 over 6 s).
#[test]
fn vllm_per_stream_decode_ignores_requests_cut_off_at_the_end_of_a_timed_run() {
    let run = run_against_sim(
        &[
            "--profile",
            "vllm-nvfp4",
            "--decode-tps",
            "100",
            "--tokens-per-event",
            "1",
        ],
        &[
            "-c",
            "4",
            "--duration",
            "4s",
            "--output-tokens",
            "64",
            "--prompt-tokens",
            "16",
        ],
    );
    assert!(
        run["summary"]["requests"]["cancelled"].as_u64().unwrap() > 0,
        "the run ends with requests in flight"
    );
    let d = run["server_metrics"]["decode_diff_pct"].as_f64().unwrap();
    assert!(d.abs() < 2.0, "client vs server pooled decode: {d:+.2}%");
}

#[test]
fn ollama_has_no_metrics_and_that_is_noted() {
    let run = run_against_sim(
        &[
            "--flavor",
            "ollama",
            "--decode-tps",
            "300",
            "--ttft-ms",
            "5",
        ],
        // The server's own model: like the real Ollama, the simulator
        // answers 404 for any other.
        &["-n", "2", "--output-tokens", "8"],
    );
    assert_eq!(run["server_metrics"]["available"], false);
    assert!(run["server_metrics"]["note"]
        .as_str()
        .unwrap()
        .contains("404"));
}
