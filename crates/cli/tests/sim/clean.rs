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
    // The server had generated nothing before the first level: a cold
    // engine, idle since it started; not so before the second.
    let before = |l: &str| read_run_json(&first.join(l))["hygiene"]["before"].clone();
    let (c1, c2) = (before("c1"), before("c2"));
    assert_eq!(c1["never_served"], true, "{c1}");
    assert!(
        c1["idle_s"].as_f64().unwrap() <= c1["uptime_s"].as_f64().unwrap(),
        "{c1}"
    );
    assert_eq!(c2["never_served"], false, "{c2}");
    assert!(c2.get("idle_s").is_none(), "{c2}");
    assert_eq!(seeds[0], 77, "the first level keeps the seed");
    assert_ne!(seeds[0], seeds[1], "the second level has its own");
    let out = run_bin(&sim.url, &second, &SWEEP);
    out.assert_success();
    for level in ["c1", "c2"] {
        assert_eq!(flags(&second.join(level)), ["cache"], "{level}");
    }
    let marked = |level: &str| {
        out.stdout
            .lines()
            .any(|l| l.starts_with(&format!("| {level} ")) && l.contains('¶'))
    };
    assert!(marked("c1") && marked("c2"), "{}", out.stdout);
    // The gate fails on the flag, and passes it with --allow cache (its
    // exit code also carries the metrics' verdicts, which a busy machine
    // may move: the flag's own JUnit case is what is checked).
    let flag_case = |extra: &[&str]| {
        let junit = dir.path().join("gate.xml");
        let mut args = vec!["--junit", junit.to_str().unwrap()];
        args.extend_from_slice(extra);
        let (code, md, err) = compare_bin(&first, &second, &args);
        assert!(code == Some(0) || code == Some(1), "{md}\n{err}");
        let xml = std::fs::read_to_string(&junit).unwrap();
        let at = xml
            .find("name=\"flag.cache\"")
            .unwrap_or_else(|| panic!("{xml}"));
        let case = xml[at..].split("</testcase>").next().unwrap().to_string();
        (code, case)
    };
    let (code, case) = flag_case(&[]);
    assert_eq!(code, Some(1), "{case}");
    assert!(case.contains("<failure"), "{case}");
    assert!(
        case.contains("an earlier run's prompts were in the cache"),
        "{case}"
    );
    assert!(case.contains("--allow cache"), "{case}");
    let (_, case) = flag_case(&["--allow", "cache"]);
    assert!(!case.contains("<failure"), "{case}");
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
    // A simulator decodes at one rate; 50% absorbs a busy machine's
    // jitter in the client's timing, so three requests are enough.
    let args = [
        "-n",
        "2",
        "--warmup-requests",
        "auto",
        "--warmup-tolerance",
        "50",
        "--output-tokens",
        "16",
    ];
    run_bin(&vllm.url, dir.path(), &args).assert_success();
    let run = read_run_json(dir.path());
    let w = &run["hygiene"]["warmup"];
    assert_eq!(w["mode"], "auto", "{w}");
    assert_eq!(w["steady"], true, "{w}");
    assert_eq!(w["rule"]["tolerance_pct"], 50.0, "{w}");
    let sent = w["requests"].as_u64().unwrap();
    assert!(sent >= 3, "three agreeing rates are needed: {w}");
    assert_eq!(
        w["rates_tok_s"].as_array().unwrap().len() as u64,
        sent,
        "{w}"
    );
    assert_eq!(run["load"]["warmup_requests"], sent);
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

/// A simulated vLLM whose engine is cold: its first `cold` requests (the
/// run's probe first) decode from a fifth of the rate, warming in equal
/// steps.
fn cold_sim(dir: &Path, cold: u32) -> SimProc {
    let profile = dir.join(format!("cold{cold}.toml"));
    let text = format!("flavor = \"vllm\"\nstack = \"vLLM\"\nquantization = \"BF16\"\nmodel = \"m\"\nsource = \"stackbench's clean tests\"\n[latency]\nttft-ms = 5.0\nprefill-tps = 5000.0\ndecode-tps = 200.0\nmax-slots = 4\ntokens-per-event = 1\ncold-requests = {cold}\ncold-factor = 0.2\n");
    std::fs::write(&profile, text).unwrap();
    spawn_sim(&["--profile".as_ref(), profile.as_os_str()])
}

#[test]
fn a_cold_engine_takes_a_longer_auto_warm_up_and_unwarmed_reads_unsteady() {
    let dir = tempfile::tempdir().unwrap();
    // Six cold requests: 13 points a step.
    let sim = cold_sim(dir.path(), 6);
    let auto = [
        "-n",
        "2",
        "--warmup-requests",
        "auto",
        "--warmup-tolerance",
        "20",
        "--output-tokens",
        "24",
    ];
    let mut sent = Vec::new();
    for name in ["cold", "warm"] {
        run_bin(&sim.url, &dir.path().join(name), &auto).assert_success();
        let w = read_run_json(&dir.path().join(name))["hygiene"]["warmup"].clone();
        assert_eq!(w["steady"], true, "{name}: {w}");
        sent.push(w["requests"].as_u64().unwrap());
    }
    // Cold: three consecutive rates are 30% apart or more until the ramp
    // tops out; within 20% only from its last step on. Warm: the first
    // three agree (20% absorbs a busy machine's timing jitter).
    assert!(sent[0] >= 5, "cold: {sent:?}");
    assert_eq!(sent[1], 3, "warm: {sent:?}");
    // A fresh engine that warms over 30 requests, measured without a
    // warm-up: every request of the first third is slower than every one
    // of the last.
    let sim = cold_sim(dir.path(), 30);
    let out = dir.path().join("unwarmed");
    let args = [
        "-n",
        "12",
        "--warmup-requests",
        "0",
        "--output-tokens",
        "24",
    ];
    run_bin(&sim.url, &out, &args).assert_success();
    let h = &read_run_json(&out)["hygiene"];
    assert!(
        h["steadiness"]["change_pct"].as_f64().unwrap() > 15.0,
        "{h}"
    );
    assert_eq!(h["flags"][0]["kind"], "unsteady", "{h}");
}

#[test]
fn a_vllm_without_cached_counts_is_judged_by_its_prefix_cache_counters() {
    let dir = tempfile::tempdir().unwrap();
    // The prefix cache on, per-request counts off (vLLM's default).
    let vllm = spawn_sim(&[
        "--flavor",
        "vllm",
        "--prefix-cache-tokens",
        "1000000",
        "--ttft-ms",
        "5",
        "--decode-tps",
        "400",
    ]);
    let args = ["-c", "2", "-n", "6", "--seed", "9", "--output-tokens", "8"];
    let mut checks = Vec::new();
    for name in ["first", "again"] {
        run_bin(&vllm.url, &dir.path().join(name), &args).assert_success();
        checks.push(read_run_json(&dir.path().join(name))["hygiene"].clone());
    }
    let (first, again) = (&checks[0]["cache_check"], &checks[1]["cache_check"]);
    assert_eq!(first["source"], "metrics", "{first}");
    assert_eq!(first["verdict"], "clean", "{first}");
    assert_eq!(again["verdict"], "cached", "{again}");
    assert!(again["hit_pct"].as_f64().unwrap() > 50.0, "{again}");
    assert_eq!(checks[1]["flags"][0]["kind"], "cache", "{}", checks[1]);
}
