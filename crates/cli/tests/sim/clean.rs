//! Clean and warm against the simulator (its prefix cache on, cached
//! counts reported as each server reports them): a sweep given a seed
//! sends each level its own prompts (clean), the same sweep again is
//! served from the cache and flagged `cache` at every level (tables mark
//! it `¶`), and `compare` fails on the flag unless `--allow cache`;
//! `--reset-cache` on each flavor (refused by a vLLM without dev mode,
//! proven by the first requests' counts after it); `--warmup-requests
//! auto`. The real servers' sequences are in `real/clean.rs`.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use serde_json::Value;

use crate::common::{compare_bin, read_run_json, run_bin, spawn_sim, spawn_sim_env, SimProc};

/// A simulated `flavor` with a prefix cache and (vLLM) cached counts in
/// its usage; `extra` more flags.
fn sim(flavor: &str, extra: &[&str]) -> SimProc {
    let mut args = vec![
        "--flavor",
        flavor,
        "--prefix-cache-tokens",
        "1000000",
        "--prompt-tokens-details",
        "--ttft-ms",
        "5",
        "--decode-tps",
        "400",
    ];
    args.extend_from_slice(extra);
    spawn_sim(&args)
}

const SWEEP: [&str; 10] = [
    "-c",
    "1,2",
    "-n",
    "4",
    "--seed",
    "77",
    "--prompt-tokens",
    "96",
    "--output-tokens",
    "8",
];

fn flags(dir: &Path) -> Vec<String> {
    let run = read_run_json(dir);
    run["hygiene"]["flags"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|x| x["kind"].as_str().unwrap().into())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_second_sweep_is_flagged_at_every_level_and_fails_the_gate_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim("vllm", &[]);
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    let out = run_bin(&sim.url, &first, &SWEEP);
    out.assert_success();
    for level in ["c1", "c2"] {
        // Each level its own prompts: the first sweep is clean throughout.
        assert!(flags(&first.join(level)).is_empty(), "{level}");
        let h = &read_run_json(&first.join(level))["hygiene"];
        assert_eq!(h["cache_check"]["verdict"], "clean", "{level}: {h}");
    }
    let seeds: Vec<Value> = ["c1", "c2"]
        .map(|l| read_run_json(&first.join(l))["load"]["seed"].clone())
        .to_vec();
    assert_eq!(seeds[0], 77, "the first level keeps the seed");
    assert_ne!(seeds[0], seeds[1], "the second level has its own");
    let out = run_bin(&sim.url, &second, &SWEEP);
    out.assert_success();
    for level in ["c1", "c2"] {
        assert_eq!(flags(&second.join(level)), ["cache"], "{level}");
    }
    assert!(
        out.stdout.contains("c1¶") && out.stdout.contains("c2¶"),
        "{}",
        out.stdout
    );
    let junit = dir.path().join("gate.xml");
    let junit_arg = ["--junit", junit.to_str().unwrap()];
    let (code, md, err) = compare_bin(&first, &second, &junit_arg);
    assert_eq!(code, Some(1), "{md}\n{err}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("an earlier run's prompts were in the cache"),
        "{xml}"
    );
    assert!(xml.contains("--allow cache"), "{xml}");
    let (code, md, err) = compare_bin(&first, &second, &["--allow", "cache"]);
    assert_eq!(code, Some(0), "{md}\n{err}");
    assert!(md.contains("allowed"), "{md}");
}

/// The same small run twice on `url`, the second with `--reset-cache`;
/// the second's hygiene.
fn again_with_reset(url: &str, dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["-c", "2", "-n", "4", "--seed", "5", "--output-tokens", "8"];
    args.extend_from_slice(extra);
    run_bin(url, &dir.join("1"), &args).assert_success();
    args.push("--reset-cache");
    run_bin(url, &dir.join("2"), &args).assert_success();
    read_run_json(&dir.join("2"))["hygiene"].clone()
}

#[test]
fn a_reset_on_each_flavor_is_done_its_way_and_proven_where_counts_tell() {
    let dir = tempfile::tempdir().unwrap();
    let vllm = sim("vllm", &["--dev-mode"]);
    let h = again_with_reset(&vllm.url, &dir.path().join("vllm"), &[]);
    assert_eq!(h["reset"]["proven"], true, "{h}");
    assert_eq!(h["cache_check"]["min_cached"], 0, "{h}");
    assert!(h.get("flags").is_none(), "{h}");
    // VLLM_SERVER_DEV_MODE=1 is how the simulator, like vLLM, is told.
    let env_vllm = spawn_sim_env(&["--flavor", "vllm"], &[("VLLM_SERVER_DEV_MODE", "1")]);
    let d = dir.path().join("env");
    run_bin(&env_vllm.url, &d, &["-n", "1", "--reset-cache"]).assert_success();
    let llama = sim("llamacpp", &[]);
    let h = again_with_reset(&llama.url, &dir.path().join("llama"), &[]);
    assert!(
        h["reset"]["how"]
            .as_str()
            .unwrap()
            .starts_with("llama-server"),
        "{h}"
    );
    assert_eq!(h["reset"]["proven"], true, "{h}");
    let ollama = sim("ollama", &[]);
    let h = again_with_reset(
        &ollama.url,
        &dir.path().join("ollama"),
        &["--api", "ollama-chat"],
    );
    assert!(h["reset"]["cold_load_ms"].as_f64().is_some(), "{h}");
    assert!(h["reset"].get("proven").is_none(), "{h}");
}

#[test]
fn a_vllm_without_dev_mode_refuses_the_reset_and_the_run_fails() {
    let dir = tempfile::tempdir().unwrap();
    let vllm = sim("vllm", &[]);
    let out = run_bin(&vllm.url, dir.path(), &["-n", "1", "--reset-cache"]);
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("HTTP 404"), "{}", out.stderr);
    assert!(
        out.stderr.contains("VLLM_SERVER_DEV_MODE=1"),
        "{}",
        out.stderr
    );
    assert!(
        !dir.path().join("run.json").exists(),
        "nothing was measured"
    );
}

#[test]
fn warmup_auto_warms_until_rates_agree_and_records_them() {
    let dir = tempfile::tempdir().unwrap();
    let vllm = sim("vllm", &[]);
    let args = [
        "-n",
        "2",
        "--warmup-requests",
        "auto",
        "--output-tokens",
        "16",
    ];
    run_bin(&vllm.url, dir.path(), &args).assert_success();
    let run = read_run_json(dir.path());
    let w = &run["hygiene"]["warmup"];
    assert_eq!(w["mode"], "auto", "{w}");
    assert_eq!(w["steady"], true, "a simulator decodes at one rate: {w}");
    assert_eq!(w["requests"], 3, "three agreeing rates are enough: {w}");
    assert_eq!(w["rates_tok_s"].as_array().unwrap().len(), 3, "{w}");
    assert_eq!(run["load"]["warmup_requests"], 3);
    assert_eq!(run["summary"]["requests"]["ok"], 2);
    let bad = run_bin(
        &vllm.url,
        &dir.path().join("x"),
        &["--warmup-requests", "some"],
    );
    assert_eq!(bad.code(), Some(2), "{}", bad.stderr);
    assert!(
        bad.stderr
            .contains("neither a number of warm-up requests nor 'auto'"),
        "{}",
        bad.stderr
    );
}
