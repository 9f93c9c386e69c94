//! `stackbench probe` names each simulated flavor and reports what it
//! honours truthfully; `run` (flavor auto) records the probe.
#![allow(clippy::unwrap_used)]

use crate::common::{read_run_json, spawn_sim, stackbench, SimProc};

fn sim(flavor: &str) -> SimProc {
    spawn_sim(&["--flavor", flavor, "--decode-tps", "500", "--ttft-ms", "2"])
}

fn probe(url: &str) -> serde_json::Value {
    let out = stackbench(["probe", "--base-url", url]).run();
    out.assert_success();
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn probe_names_each_flavor_and_its_capabilities() {
    // (flavor, continuous usage, timings per token, ignore_eos, metrics, tokenize)
    let cases = [
        ("vllm", true, false, true, true, true),
        ("llamacpp", false, true, true, true, true),
        ("ollama", false, false, false, false, false),
    ];
    for (flavor, continuous, timings, ignore_eos, metrics, tokenize) in cases {
        let s = sim(flavor);
        let p = probe(&format!("{}/v1", s.url));
        assert_eq!(p["kind"], flavor, "{p}");
        assert_eq!(p["include_usage"], true, "{flavor}: {p}");
        assert_eq!(p["continuous_usage"], continuous, "{flavor}: {p}");
        assert_eq!(p["timings_per_token"], timings, "{flavor}: {p}");
        assert_eq!(p["ignore_eos_documented"], ignore_eos, "{flavor}");
        assert_eq!(p["metrics"], metrics, "{flavor}");
        assert_eq!(p["tokenize"], tokenize, "{flavor}");
        assert!(p["version"].is_string(), "{flavor}: {p}");
        assert_eq!(p["models"].as_array().unwrap().len(), 1);
    }
}

#[test]
fn run_with_flavor_auto_records_the_probe() {
    let s = sim("llamacpp");
    let dir = tempfile::tempdir().unwrap();
    let out = stackbench([
        "run",
        "--quiet",
        "--base-url",
        &s.url,
        "-n",
        "2",
        "--output-tokens",
        "8",
        "--out",
    ])
    .arg(dir.path())
    .run();
    out.assert_success();
    let run = read_run_json(dir.path());
    assert_eq!(run["server"]["flavor"], "llamacpp");
    assert_eq!(run["server"]["probe"]["parallel_slots"], 4);
    assert_eq!(run["server"]["props"]["total_slots"], 4);
}
