//! `stackbench compare` through the binary, on simulated runs with a known
//! difference: a 10 % slower decode is a regression (exit 1, a failing
//! JUnit case); the same profile with another seed is not (exit 0); runs of
//! different workloads are refused unless `--allow-mismatch`.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use crate::common::{compare_bin as compare, run_bin, spawn_sim};

/// A c=1 run and a c=4 run of a simulated vLLM decoding at `tps`.
fn runs(tps: &str, dir: &Path, output_tokens: &str) {
    let sim = spawn_sim(&[
        "--profile",
        "vllm-nvfp4",
        "--decode-tps",
        tps,
        "--tokens-per-event",
        "1",
    ]);
    for (c, n) in [("1", "20"), ("4", "40")] {
        let out = run_bin(
            &sim.url,
            &dir.join(format!("c{c}")),
            &[
                "-c",
                c,
                "-n",
                n,
                "--output-tokens",
                output_tokens,
                "--prompt-tokens",
                "16",
                "--stack",
                "sim",
            ],
        );
        out.assert_success();
    }
}

#[test]
fn a_ten_percent_slower_decode_is_a_regression_and_a_reseeded_run_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let (base, same, slow) = (
        dir.path().join("base"),
        dir.path().join("same"),
        dir.path().join("slow"),
    );
    runs("200", &base, "40");
    runs("200", &same, "40");
    runs("180", &slow, "40");

    let junit = dir.path().join("junit.xml");
    let json = dir.path().join("compare.json");
    let (code, md, err) = compare(
        &base,
        &slow,
        &[
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(1), "{md}\n{err}");
    assert!(md.contains("REGRESSED"), "{md}");
    let x = std::fs::read_to_string(&junit).unwrap();
    assert!(
        x.contains("<testcase classname=\"sim.c1\" name=\"decode_tok_s_p50\">\n      <failure"),
        "{x}"
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let c1 = v["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["scenario"] == "c1")
        .unwrap();
    let decode = c1["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "decode_tok_s_p50")
        .unwrap();
    assert_eq!(decode["verdict"], "regressed");
    let change = decode["change"].as_f64().unwrap();
    assert!(
        (change + 10.0).abs() < 1.5,
        "measured change {change}% for a 10% slower decode"
    );
    let [lo, hi] = [
        decode["interval"][0].as_f64().unwrap(),
        decode["interval"][1].as_f64().unwrap(),
    ];
    assert!(lo <= change && change <= hi && hi < -5.0, "{decode}");

    let (code, md, err) = compare(&base, &same, &[]);
    assert_eq!(
        code,
        Some(0),
        "the same profile with another seed: {md}\n{err}"
    );
    assert!(!md.contains("REGRESSED"), "{md}");
}

#[test]
fn different_workloads_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    runs("400", &a, "16");
    runs("400", &b, "24");
    let (code, _, err) = compare(&a, &b, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("output tokens 16 vs 24") && err.contains("--allow-mismatch"),
        "{err}"
    );
    let (code, md, err) = compare(&a, &b, &["--allow-mismatch"]);
    assert!(code == Some(0) || code == Some(1), "{err}");
    assert!(md.contains("workload mismatch"), "{md}");
    let (code, _, err) = compare(&a, &b, &["--threshold", "speed=3"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown metric 'speed'"), "{err}");
}
