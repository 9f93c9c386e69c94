//! Ollama's native NDJSON APIs against the simulator: exact counts against
//! `eval_count`, our decode rate against the server's, outputs that stop at
//! EOS (Ollama has no `ignore_eos`) reported as short, and cold loads kept
//! out of measured requests.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use crate::common;
use stackbench_core::kinds::ServerKind;

use crate::common::{bench, median, profile, split_capture, stackbench, start, Load};
use stackbench_engine::Bound;
use stackbench_wire::body::Api;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_generate_and_chat_count_exactly_and_match_the_server_rate() {
    for api in [Api::OllamaGenerate, Api::OllamaChat] {
        let sim = start(profile("ollama", 20.0, 80.0, "", ""), vec![]).await;
        let dir = tempfile::tempdir().unwrap();
        let mut load = Load::new(2, Bound::Requests(6), 48);
        load.api = api;
        let (out, records) = bench(ServerKind::Ollama, &sim.base_url(), &load, dir.path()).await;
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
        // Like for like, as for the real Ollama: eval_count tokens over
        // eval_count − 1 decode steps.
        let server = median(
            records
                .iter()
                .map(|r| {
                    let t = r.server_timings.as_ref().unwrap();
                    (t.predicted_n.unwrap() - 1) as f64 / t.predicted_ms.unwrap() * 1000.0
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
        let (out, records) = bench(ServerKind::Ollama, &sim.base_url(), &load, dir.path()).await;
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
            flavor.parse().unwrap(),
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
    let out = stackbench([
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
    .run();
    drop(sim);
    out.assert_success();
    let run = common::read_run_json(&out_dir);
    // The preload as the client timed it: Ollama's answer to a load
    // carries no durations.
    let preload = run["server"]["preload_load_ms"].as_f64().unwrap();
    assert!((1200.0..1400.0).contains(&preload), "{preload}");
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
    let (out, records) = bench(ServerKind::Ollama, &sim.base_url(), &load, dir.path()).await;
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
    let (out, records) = bench(ServerKind::Ollama, &sim.base_url(), &load, dir.path()).await;
    assert!(out.summary.requests.failed >= 1, "{:?}", out.summary);
    assert!(out.summary.requests.ok >= 2);
    let e = records.iter().find_map(|r| r.error.as_ref()).unwrap();
    assert_eq!(e.status, Some(503));
    assert!(e.message.contains("server busy"), "{}", e.message);
}

/// Key paths of a JSON value (`a.b`, `list[].c`): what a client could read.
fn key_paths(v: &serde_json::Value, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(p.clone());
                key_paths(v, &p, out);
            }
        }
        serde_json::Value::Array(a) => {
            if let Some(first) = a.first() {
                key_paths(first, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

/// The JSON objects of a body: one, NDJSON lines or SSE `data:` events
/// (`[DONE]` kept as a string).
fn objects(body: &str) -> Vec<serde_json::Value> {
    body.lines()
        .map(|l| l.strip_prefix("data: ").unwrap_or(l).trim())
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| serde_json::json!(l)))
        .collect()
}

/// Keys the simulator leaves out on purpose, with why.
const UNSIMULATED: &[&str] = &[
    // `/api/show`'s Modelfile text, template, parameters, the GGUF's whole
    // metadata and tensor list: nothing a benchmark reads but the model
    // facts the simulator does give (details, capabilities, architecture,
    // parameter count, context length).
    "modelfile",
    "parameters",
    "template",
    "tensors",
    "tensors[].name",
    "tensors[].shape",
    "tensors[].type",
];

/// The simulator's Ollama flavor answers every request the real Ollama
/// 0.17.4 was recorded answering (crates/wire/tests/fixtures/ollama-0.17.4)
/// with the same status, Content-Type and fields: the first, a middle and
/// the last object of every stream, key for key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_answers_as_the_real_ollama_did_field_for_field() {
    let fx = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../wire/tests/fixtures/ollama-0.17.4");
    let readme = std::fs::read_to_string(fx.join("README.md")).unwrap();
    let real_model = "stackbench-smollm2:135m-instruct-q4_1";
    let sim = start(profile("ollama", 5.0, 500.0, "eos-after = 2", ""), vec![]).await;
    let client = reqwest::Client::new();
    let mut compared = 0;
    let mut diffs = Vec::new();
    macro_rules! check {
        ($a:expr, $b:expr, $($m:tt)*) => {
            if $a != $b {
                diffs.push(format!("{}: {:?} vs {:?}", format!($($m)*), $a, $b));
            }
        };
    }
    for row in readme.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let name = cells[0].trim_start_matches("| ").trim_matches('`');
        let mut req = cells[1].trim_end_matches(" |").splitn(2, "` `");
        let line = req.next().unwrap().trim_matches('`');
        let body = req
            .next()
            .map(|b| b.trim_matches('`').replace(real_model, "test-model"));
        let (method, path) = line.split_once(' ').unwrap();
        // State-dependent exchanges: the unload and what follows it.
        if ["unload.http", "ps-after-unload.http", "generate-cold.http"].contains(&name) {
            continue;
        }
        let url = format!("{}{path}", sim.base_url());
        let r = match (method, body) {
            ("POST", Some(b)) => client
                .post(url)
                .header("content-type", "application/json")
                .body(b),
            _ => client.get(url),
        };
        let resp = r.send().await.unwrap();
        let (status, ct) = (
            resp.status().as_u16(),
            resp.headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default(),
        );
        let sim_body = resp.text().await.unwrap();
        let (real_status, real_ct, real_body) =
            split_capture(&std::fs::read_to_string(fx.join(name)).unwrap());
        if status != real_status {
            diffs.push(format!(
                "{name}: status {status}, real {real_status}: {sim_body}"
            ));
            continue;
        }
        check!(ct, real_ct, "{name}: Content-Type");
        let (real, ours) = (objects(&real_body), objects(&sim_body));
        if real.iter().all(|v| !v.is_object()) {
            check!(sim_body.trim(), real_body.trim(), "{name}: plain body");
            compared += 1;
            continue;
        }
        let pick = |v: &[serde_json::Value]| {
            let n = v.len();
            [0, n / 2, n.saturating_sub(2), n - 1].map(|i| v[i].clone())
        };
        for (which, (a, b)) in ["first", "middle", "before last", "last"]
            .iter()
            .zip(pick(&real).into_iter().zip(pick(&ours)))
        {
            let (mut ka, mut kb) = (Default::default(), Default::default());
            key_paths(&a, "", &mut ka);
            key_paths(&b, "", &mut kb);
            ka.retain(|k: &String| {
                !UNSIMULATED.contains(&k.as_str()) && !k.starts_with("model_info.")
            });
            kb.retain(|k: &String| !k.starts_with("model_info."));
            check!(kb, ka, "{name}, {which} object:\n real {a}\n  sim {b}\n");
            if a.is_string() || b.is_string() {
                check!(a, b, "{name}, {which}");
            }
        }
        compared += 1;
    }
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    assert!(compared >= 18, "only {compared} captures compared");
}

/// Through the binary: an Ollama model that stops at EOS after 5 of the 16
/// tokens asked for marks every record `short`, counts them in
/// `summary.requests.short`, and with `--exclude-short` leaves them out of
/// the decode figures while their tokens still count.
/// Runs `stackbench run` against a simulated Ollama whose profile's
/// `[latency]` table ends with `latency_extra`, with `args` added; returns
/// the temp folder and the run's folder in it.
fn run_on_ollama_profile(latency_extra: &str, args: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let profile_path = dir.path().join("profile.toml");
    let profile = format!(
        "flavor = \"ollama\"\nstack = \"Ollama\"\nquantization = \"q\"\nmodel = \"m:1\"\n[latency]\nttft-ms = 5.0\nprefill-tps = 1e9\ndecode-tps = 500.0\nmax-slots = 2\n{latency_extra}\n"
    );
    std::fs::write(&profile_path, profile).unwrap();
    let sim = common::spawn_sim(&[std::ffi::OsStr::new("--profile"), profile_path.as_os_str()]);
    let out_dir = dir.path().join("run");
    stackbench(["run", "--quiet", "--base-url", sim.url.as_str()])
        .args([
            "--model",
            "m:1",
            "--flavor",
            "ollama",
            "--warmup-requests",
            "0",
        ])
        .args(args)
        .arg("--out")
        .arg(&out_dir)
        .success();
    (dir, out_dir)
}

#[test]
fn the_binary_marks_eos_stops_short_and_excludes_them() {
    let args = ["--api", "ollama-chat", "--exclude-short", "-n", "3"];
    let (_dir, out_dir) = run_on_ollama_profile(
        "eos-after = 5",
        &[&args[..], &["--output-tokens", "16"]].concat(),
    );
    let records = common::measured_records(&out_dir);
    assert_eq!(records.len(), 3);
    for r in &records {
        assert_eq!(
            (&r["short"], &r["output_tokens"]),
            (&true.into(), &5.into()),
            "{r}"
        );
    }
    let run = common::read_run_json(&out_dir);
    assert_eq!(run["load"]["exclude_short"], true);
    let s = &run["summary"];
    assert_eq!(
        (&s["requests"]["ok"], &s["requests"]["short"]),
        (&3.into(), &3.into()),
        "{s}"
    );
    assert_eq!(
        s["decode_tok_s"]["count"], 0,
        "short requests excluded: {s}"
    );
    assert_eq!(s["output_tokens"], 15, "their tokens still count: {s}");
}

/// Through the binary: with `keep_alive: 0` in every body the simulated
/// Ollama unloads the model after each request, so the next one pays a
/// 300 ms load; a request whose `load_duration` passed `load.cold_load_ms`
/// is marked `cold_load` (and only such a one), and
/// `summary.requests.cold_loads` counts them.
#[test]
fn the_binary_marks_requests_that_loaded_the_model_cold() {
    let keep_alive = ["--extra-body", r#"{"keep_alive": 0}"#];
    let args = [
        "--api",
        "ollama-generate",
        "-n",
        "3",
        "--output-tokens",
        "8",
    ];
    let (_dir, out_dir) =
        run_on_ollama_profile("load-ms = 300.0", &[&args[..], &keep_alive].concat());
    let run = common::read_run_json(&out_dir);
    let threshold = run["load"]["cold_load_ms"].as_f64().unwrap();
    let records = common::measured_records(&out_dir);
    let mut cold = 0;
    for r in &records {
        let load_ms = r["server_timings"]["load_ms"].as_f64().unwrap_or(0.0);
        let marked = r.get("cold_load").is_some();
        assert_eq!(marked, load_ms > threshold, "threshold {threshold}: {r}");
        if marked {
            assert_eq!(r["cold_load"], true, "{r}");
            assert!(load_ms >= 300.0, "{r}");
            cold += 1;
        }
    }
    assert!(
        cold >= 2,
        "each request after an unload loads: {records:#?}"
    );
    assert_eq!(
        run["summary"]["requests"]["cold_loads"], cold,
        "{}",
        run["summary"]
    );
}
