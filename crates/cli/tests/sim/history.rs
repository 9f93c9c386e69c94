//! `stackbench history` through the binary, on a synthetic history of
//! eight simulated runs whose decode rate steps down 10 % from the fifth
//! on (each run's `launch` rewritten to name an image `sim:v<K>`, as a
//! container launch would record it): exactly one change point, decode
//! tok/s regressed, between `sim:v4` and `sim:v5`, none elsewhere. The
//! run folders are named in the reverse of their time order, so the
//! order can only come from the runs' start times (runs a second apart
//! share `started_at`'s second; the first request's µs tells them apart).
#![allow(clippy::unwrap_used)]

use std::path::Path;

use serde_json::json;

use crate::common::{run_bin, spawn_sim, stackbench};

/// Points in the history, and the first point of the slower decode.
const POINTS: usize = 8;
const STEP_AT: usize = 5;

/// One c=1 run of 10 requests of 40 tokens against `url` into `dir`, its
/// `launch` then set to name the image `sim:v<k>`. Requests of ~200 ms,
/// not ~60: a busy test box delays some tokens by 10 ms or more, which
/// moved a 12-token request's rate by 15 % and hid the step.
fn point(url: &str, dir: &Path, k: usize) {
    run_bin(
        url,
        dir,
        &[
            "-c",
            "1",
            "-n",
            "10",
            "--output-tokens",
            "40",
            "--prompt-tokens",
            "16",
            "--stack",
            "sim",
        ],
    )
    .assert_success();
    let file = dir.join("run.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    v["launch"] = json!({
        "kind": "container",
        "image": format!("localhost/sim:v{k}"),
        "image_id": format!("sha256:{k:0>64}"),
    });
    std::fs::write(&file, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// The history: points 1–4 at 200 tok/s, 5–8 at 180 (two simulators,
/// as an upgrade relaunches the server; a 5 ms first token keeps each run
/// near two seconds).
fn make_history(root: &Path) {
    let args = |tps: &'static str| {
        [
            "--decode-tps",
            tps,
            "--tokens-per-event",
            "1",
            "--ttft-ms",
            "5",
        ]
    };
    let (fast, slow) = (spawn_sim(&args("200")), spawn_sim(&args("180")));
    for k in 1..=POINTS {
        let sim = if k < STEP_AT { &fast } else { &slow };
        point(&sim.url, &root.join(format!("s{}", POINTS + 1 - k)), k);
    }
}

#[test]
fn a_planted_ten_percent_step_is_the_one_change_point() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("history");
    make_history(&root);
    let (json, html) = (dir.path().join("h.json"), dir.path().join("h.html"));
    let out = stackbench(["history", "--metric", "decode_tok_s_p50", "--json"])
        .arg(&json)
        .arg("--html")
        .arg(&html)
        .arg(&root)
        .run();
    out.assert_success();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let g = &v["groups"][0];
    assert_eq!(v["groups"].as_array().unwrap().len(), 1, "{v}");
    let images: Vec<&str> = g["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["image"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (1..=POINTS)
        .map(|k| format!("localhost/sim:v{k}"))
        .collect();
    assert_eq!(images, expected, "points in time order");
    let cps = v["change_points"].as_array().unwrap();
    assert_eq!(cps.len(), 1, "exactly one change point:\n{}", out.stdout);
    let c = &cps[0];
    assert_eq!(c["key"], "decode_tok_s_p50");
    assert_eq!(c["verdict"], "regressed");
    assert_eq!((c["from"].as_u64(), c["to"].as_u64()), (Some(4), Some(5)));
    assert!(
        c["before"].as_str().unwrap().contains("localhost/sim:v4")
            && c["after"].as_str().unwrap().contains("localhost/sim:v5"),
        "{c}"
    );
    let pct = c["pct"].as_f64().unwrap();
    assert!((pct + 10.0).abs() < 2.0, "a 10% step measured as {pct}%");
    // Every point has its interval; only point 5's step is judged a change.
    for (i, p) in g["metrics"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let [lo, hi] = [p["interval"][0].as_f64(), p["interval"][1].as_f64()];
        let x = p["value"].as_f64().unwrap();
        assert!(lo.unwrap() <= x && x <= hi.unwrap(), "{p}");
        let step = p["change"]["change_point"].as_bool();
        assert_eq!(step, (i > 0).then_some(i + 1 == STEP_AT), "{p}");
    }
    assert!(
        out.stdout.contains("from #4 · localhost/sim:v4"),
        "{}",
        out.stdout
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<svg") && page.contains("▼ -"),
        "the chart marks the step"
    );
}

#[test]
fn bad_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = stackbench(["history"]).arg(dir.path()).run();
    assert_eq!(out.code(), Some(2), "{}", out.printed());
    assert!(out.stderr.contains("no run.json found"), "{}", out.stderr);
    let out = stackbench(["history", "--metric", "speed"])
        .arg(dir.path())
        .run();
    assert_eq!(out.code(), Some(2), "{}", out.printed());
    assert!(
        out.stderr.contains("unknown metric 'speed'"),
        "{}",
        out.stderr
    );
}

/// A point with too few samples to judge says why, and a point that ran
/// another workload says which keys changed and is never a change point:
/// three quick runs (6 requests, then 2, then 6 with longer outputs).
#[test]
fn too_few_samples_say_why_and_a_changed_workload_is_named() {
    let sim = spawn_sim(&[
        "--decode-tps",
        "1000",
        "--tokens-per-event",
        "1",
        "--ttft-ms",
        "5",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("history");
    for (k, n, output) in [(1, "6", "16"), (2, "2", "16"), (3, "6", "24")] {
        let args = [
            "-c",
            "1",
            "-n",
            n,
            "--output-tokens",
            output,
            "--prompt-tokens",
            "16",
        ];
        let args = [&args[..], &["--stack", "sim", "--warmup-requests", "0"]].concat();
        run_bin(&sim.url, &root.join(format!("p{k}")), &args).assert_success();
    }
    let json = dir.path().join("h.json");
    stackbench(["history", "--metric", "decode_tok_s_p50", "--json"])
        .arg(&json)
        .arg(&root)
        .success();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let values = v["groups"][0]["metrics"][0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 3, "{v}");
    let few = &values[1]["change"];
    assert_eq!(few["verdict"], "insufficient_data", "{few}");
    assert_eq!(few["why"], "6 samples before, 2 here, 5 needed", "{few}");
    assert!(few.get("workload_changed").is_none(), "{few}");
    let other = &values[2]["change"];
    assert_eq!(
        other["workload_changed"],
        json!([{"key": "output_tokens", "a": "16", "b": "24"}]),
        "{other}"
    );
    assert_eq!(other["change_point"], false, "{other}");
    assert_eq!(v["change_points"], json!([]), "{v}");
}
