//! `stackbench merge` through the binary: two load processes drive one
//! simulated server at c=2 each at the same time (two "load machines"),
//! and their merge matches a single c=4 run of the same server: counts and
//! histograms add up, records keep their shard, and the total rate over
//! the shared window is the c=4 total.
#![allow(clippy::unwrap_used)]

use crate::common::stackbench;

use std::path::Path;

use crate::common::{run_bin, spawn_sim};

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn run_args(c: &str) -> Vec<String> {
    [
        "-c",
        c,
        "--duration",
        "6s",
        "--output-tokens",
        "64",
        "--prompt-tokens",
        "16",
        "--stack",
        "sim",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn two_concurrent_shards_merge_into_the_single_run_they_add_up_to() {
    let sim = spawn_sim(&[
        "--profile",
        "vllm-nvfp4",
        "--decode-tps",
        "100",
        "--tokens-per-event",
        "1",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let (a, b, whole, merged) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("whole"),
        dir.path().join("merged"),
    );
    let shards: Vec<_> = [&a, &b]
        .iter()
        .map(|out| {
            stackbench(["run", "--quiet", "--base-url", &sim.url, "--out"])
                .arg(out)
                .args(run_args("2"))
                .spawn()
        })
        .collect();
    for mut s in shards {
        assert!(s.wait().unwrap().success());
    }
    let args = run_args("4");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_bin(&sim.url, &whole, &args).assert_success();

    let out = stackbench(["merge"])
        .arg(&a)
        .arg(&b)
        .arg("--out")
        .arg(&merged)
        .run();
    let stdout = &out.stdout;
    out.assert_success();
    assert!(stdout.contains("merged 2 shards"), "{stdout}");

    let (ra, rb, m, w) = (
        json(&a.join("run.json")),
        json(&b.join("run.json")),
        json(&merged.join("run.json")),
        json(&whole.join("run.json")),
    );
    let ok = |v: &serde_json::Value| v["summary"]["requests"]["ok"].as_u64().unwrap();
    assert_eq!(ok(&m), ok(&ra) + ok(&rb));
    assert_eq!(
        m["summary"]["ttft_ms"]["count"].as_u64().unwrap(),
        ra["summary"]["ttft_ms"]["count"].as_u64().unwrap()
            + rb["summary"]["ttft_ms"]["count"].as_u64().unwrap()
    );
    assert_eq!(m["load"]["concurrency"], 4);
    assert_eq!(m["merged"]["shards"].as_array().unwrap().len(), 2);
    assert!(m["merged"]["start_spread_ms"].as_f64().unwrap() < 2000.0);

    let lines = std::fs::read_to_string(merged.join("requests.jsonl")).unwrap();
    let shard_of: Vec<u64> = lines
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["shard"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let count = |f: &Path| {
        std::fs::read_to_string(f.join("requests.jsonl"))
            .unwrap()
            .lines()
            .count()
    };
    assert_eq!(shard_of.len(), count(&a) + count(&b));
    assert_eq!(shard_of.iter().filter(|&&s| s == 1).count(), count(&b));

    // The simulator serves four streams at 100 tok/s each whether they come
    // from one client or two; 10% absorbs the TTFT gaps between requests
    // and scheduling on a busy two-core machine.
    let (mt, wt) = (
        m["summary"]["output_tok_s"].as_f64().unwrap(),
        w["summary"]["output_tok_s"].as_f64().unwrap(),
    );
    assert_eq!(m["summary"]["output_tok_s_source"], "steady_window");
    assert!(
        (mt - wt).abs() / wt < 0.10,
        "merged total {mt:.1} tok/s vs one c=4 client {wt:.1} tok/s"
    );
    let p50 = |v: &serde_json::Value| v["summary"]["decode_tok_s"]["p50"].as_f64().unwrap();
    assert!((p50(&m) - p50(&w)).abs() / p50(&w) < 0.05);

    let again = stackbench(["merge"])
        .arg(&a)
        .arg(&b)
        .arg("--out")
        .arg(&merged)
        .run();
    assert_eq!(
        again.status.code(),
        Some(2),
        "an existing run is not overwritten"
    );
}
