//! `run --depth` against the simulated llama-server (its prefix cache on,
//! prefill at 5,000 tok/s so a context's prefill is visible in TTFT):
//! exact prompts at every depth, each user's context sent once and then
//! taken from the cache (never another user's), the uncached depth
//! processing every request whole, the tables' depth rows, and a depth
//! beyond the server's context refused before the run. The real servers'
//! depth runs are in `real/depth.rs`.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use crate::common::{measured_records, read_records, read_run_json, run_bin, spawn_sim, SimProc};

/// A llama-server profile: 4 slots of 4,096 tokens (`/props`), a prefill
/// slow enough that 3,000 tokens take 0.6 s.
const PROFILE: &str = r#"flavor = "llamacpp"
stack = "llama.cpp"
quantization = "Q8_0"
model = "smollm2"
source = "stackbench's depth tests"
[latency]
ttft-ms = 20.0
prefill-tps = 5000.0
decode-tps = 500.0
max-slots = 4
tokens-per-event = 1
"#;

fn sim(dir: &Path) -> SimProc {
    let profile = dir.join("profile.toml");
    std::fs::write(&profile, PROFILE).unwrap();
    spawn_sim(&[
        "--profile".as_ref(),
        profile.as_os_str(),
        "--prefix-cache-tokens".as_ref(),
        "100000".as_ref(),
    ])
}

const LOAD: [&str; 8] = [
    "--prompt-tokens",
    "128",
    "--output-tokens",
    "16",
    "-n",
    "6",
    "--warmup-requests",
    "1",
];

fn num(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn each_user_sends_its_context_once_and_its_requests_take_it_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(dir.path());
    let out = dir.path().join("series");
    let mut args = vec!["-c", "2", "--depth", "0,1024,3000"];
    args.extend(LOAD);
    let done = run_bin(&sim.url, &out, &args);
    done.assert_success();
    // The series prints the depth rows as llama-bench names them.
    for test in ["pp128 @ d1024", "tg16 @ d3000", "ctx_pp tok/s", "| pp128 "] {
        assert!(done.stdout.contains(test), "{test}: {}", done.stdout);
    }
    for depth in [1024u64, 3000] {
        let run = out.join(format!("d{depth}"));
        let load = &read_run_json(&run)["load"];
        assert_eq!(load["depth"]["tokens"], depth, "{load}");
        assert_eq!(load["depth"]["cached"], true);
        assert_eq!(load["depth"]["server_context"], 4096);
        let records = read_records(&run);
        let prefill: Vec<_> = records
            .iter()
            .filter(|r| r["depth_prefill"] == true)
            .collect();
        // One context per user, each new to the server.
        assert_eq!(prefill.len(), 2, "one per user");
        let workers: Vec<u64> = prefill.iter().map(|r| num(&r["worker"])).collect();
        assert!(workers.contains(&0) && workers.contains(&1), "{workers:?}");
        for p in &prefill {
            assert_eq!(p["warmup"], true);
            assert!(num(&p["cached_prompt_tokens"]) < 16, "{p}");
        }
        for r in measured_records(&run) {
            // Exact: the depth and the prompt, as the server counted.
            assert_eq!(num(&r["prompt_tokens"]), depth + 128, "{r}");
            // The user's own context came from the cache, nobody else's
            // (a context is 8 unique words in: another's shares ≤ 10).
            assert!(num(&r["cached_prompt_tokens"]) >= depth, "{r}");
        }
        let summary = &read_run_json(&run)["summary"];
        let ctx = &summary["depth_prefill"];
        assert_eq!((num(&ctx["requests"]), num(&ctx["ok"])), (2, 2), "{ctx}");
        // A context of `depth` tokens at 5,000 tok/s takes depth/5 ms.
        let ttft = ctx["ttft_ms"]["mean"].as_f64().unwrap();
        assert!(ttft >= depth as f64 / 5.0, "ctx_pp TTFT {ttft} ms");
        // The new prompt only: its TTFT does not grow with the depth.
        let pp_ttft = summary["ttft_ms"]["p50"].as_f64().unwrap();
        assert!(pp_ttft < ttft, "pp {pp_ttft} ms vs ctx_pp {ttft} ms");
    }
    assert!(read_run_json(&out.join("d0"))["load"]
        .get("depth")
        .is_none());
}

#[test]
fn an_uncached_depth_processes_every_request_whole() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(dir.path());
    let out = dir.path().join("off");
    let mut args = vec!["-c", "2", "--depth", "2000", "--depth-cache", "off"];
    args.extend(LOAD);
    run_bin(&sim.url, &out, &args).assert_success();
    let run = read_run_json(&out);
    assert_eq!(run["load"]["depth"]["cached"], false);
    assert!(run["load"]["cache_salt"].is_string(), "kept off the cache");
    assert!(run["summary"].get("depth_prefill").is_none());
    let records = read_records(&out);
    assert!(records.iter().all(|r| r.get("depth_prefill").is_none()));
    for r in measured_records(&out) {
        assert_eq!(num(&r["prompt_tokens"]), 2128, "{r}");
        assert!(num(&r["cached_prompt_tokens"]) < 16, "{r}");
        // 2,128 tokens at 5,000 tok/s: over 400 ms before the first token.
        assert!(num(&r["ttft_us"]) > 400_000, "{r}");
    }
}

#[test]
fn a_depth_beyond_the_servers_context_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(dir.path());
    let out = dir.path().join("too-deep");
    let mut args = vec!["--depth", "4000"];
    args.extend(LOAD);
    let refused = run_bin(&sim.url, &out, &args);
    assert_eq!(refused.code(), Some(2), "{}", refused.stderr);
    for part in [
        "4000 + prompt 128 + output 16 = 4144",
        "4096 tokens",
        "n_ctx per slot",
        "-c",
    ] {
        assert!(refused.stderr.contains(part), "{part}: {}", refused.stderr);
    }
    assert!(!out.join("requests.jsonl").exists());
}

#[test]
fn a_cached_depth_needs_users_and_no_salt() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(dir.path());
    for (extra, says) in [
        (&["--request-rate", "2"][..], "needs users (--concurrency)"),
        (&["--cache-salt"][..], "turn the depth cache off instead"),
        (&["--turns", "2"][..], "--turns > 1 both make the context"),
    ] {
        let mut args = vec!["--depth", "512"];
        args.extend(extra);
        args.extend(LOAD);
        let refused = run_bin(&sim.url, &dir.path().join("x"), &args);
        assert_eq!(refused.code(), Some(2), "{extra:?}: {}", refused.stderr);
        assert!(
            refused.stderr.contains(says),
            "{extra:?}: {}",
            refused.stderr
        );
    }
}

/// A suite scenario with a list of depths expands to one scenario per
/// depth, runs in the order `--shuffle` gives (recorded in `suite.json`),
/// and each run records its depth.
#[test]
fn a_suite_runs_a_depth_list_as_scenarios_in_the_shuffled_order() {
    use crate::common::server_proc::free_port;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let stack = crate::common::sim_stack("sim", port, &dir.path().join("pid"), 2000, "");
    let scenarios = "[defaults]\nprompt-tokens = 64\noutput-tokens = 8\nwarmup-requests = 0\n\
        [[scenario]]\nname = \"pp64\"\nconcurrency = 2\nrequests = 2\ndepth = [0, 256, 512]\n";
    let suite = crate::common::write_suite(dir.path(), "t", &[("sim.toml", stack)], scenarios);
    let out = dir.path().join("out");
    let done = crate::common::stackbench([
        "suite",
        suite.to_str().unwrap(),
        "--quiet",
        "--shuffle",
        "5",
        "--out",
    ])
    .arg(&out)
    .run();
    done.assert_success();
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("suite.json")).unwrap()).unwrap();
    assert_eq!(file["shuffle"], 5, "{file}");
    let order: Vec<&str> = file["scenario_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["pp64-d0", "pp64-d256", "pp64-d512"], "{order:?}");
    for (name, depth) in [("pp64-d256", 256u64), ("pp64-d512", 512)] {
        let run = read_run_json(&out.join("sim").join(name));
        assert_eq!(run["load"]["depth"]["tokens"], depth, "{run}");
        for r in measured_records(&out.join("sim").join(name)) {
            assert_eq!(num(&r["prompt_tokens"]), depth + 64, "{r}");
        }
    }
    assert!(done.stdout.contains("pp64 @ d512"), "{}", done.stdout);
}
