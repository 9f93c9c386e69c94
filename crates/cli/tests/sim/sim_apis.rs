//! The simulator's other wire formats against the client: llama-server's
//! native `/completion` (exact `tokens` per event, `timings`), its 503
//! "Loading model" during start-up, and in-stream errors on native APIs.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::common::stackbench;
use stackbench_core::kinds::ServerKind;

use crate::common::{bench, median, profile, start, Load};
use stackbench_engine::Bound;
use stackbench_sim::{Fault, FaultKind};
use stackbench_wire::body::Api;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_native_completion_counts_exactly_and_matches_the_server_rate() {
    let sim = start(
        profile(
            "llamacpp",
            10.0,
            150.0,
            "",
            "[mtp]\ndraft-tokens = 2\nacceptance = 0.6",
        ),
        vec![],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut load = Load::new(2, Bound::Requests(6), 50);
    load.api = Api::LlamaNative;
    let (out, records) = bench(ServerKind::Llamacpp, &sim.base_url(), &load, dir.path()).await;
    assert_eq!(out.summary.requests.ok, 6, "{:?}", out.summary.errors);
    for r in &records {
        assert_eq!(r.count.source, stackbench_core::CountSource::Exact);
        assert!(r.count.reconciled);
        assert_eq!(
            r.events, 50,
            "llama-server sends one event per token even in bursts"
        );
        let t = r.server_timings.as_ref().unwrap();
        assert_eq!(t.predicted_n, Some(50));
        assert_eq!(r.finish_reason.as_deref(), Some("limit"));
    }
    // Medians: one request's first event can be a few ms late on a loaded
    // machine, which moves that request's rate by ~2%.
    let client = median(records.iter().map(|r| r.decode_tok_s.unwrap()).collect());
    // Like for like with llama-server's timings: predicted_ms spans the
    // first to the last token, n − 1 intervals.
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
        "client {client} vs server {server}"
    );
}

#[test]
fn llama_server_loading_503_is_waited_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slow.toml");
    std::fs::write(
        &path,
        "flavor = \"llamacpp\"\nstack = \"s\"\nquantization = \"q\"\nmodel = \"m\"\n[latency]\nttft-ms = 2.0\nprefill-tps = 1e9\ndecode-tps = 500.0\nmax-slots = 1\nstartup-ms = 1500.0\n",
    )
    .unwrap();
    let sim = common::spawn_sim(&[std::ffi::OsStr::new("--profile"), path.as_os_str()]);
    let out = stackbench([
        "run",
        "--base-url",
        &sim.url,
        "-n",
        "2",
        "--output-tokens",
        "8",
        "--out",
    ])
    .arg(dir.path().join("run"))
    .run();
    drop(sim);
    let err = &out.stderr;
    out.assert_success();
    assert!(err.contains("Loading model"), "the wait says why: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_stream_errors_on_native_apis_fail_the_request_with_the_server_message() {
    for (flavor, api) in [
        ("ollama", Api::OllamaGenerate),
        ("llamacpp", Api::LlamaNative),
    ] {
        let faults = vec![Fault {
            kind: FaultKind::StreamError,
            every: 2,
        }];
        let sim = start(profile(flavor, 2.0, 500.0, "", ""), faults).await;
        let dir = tempfile::tempdir().unwrap();
        let mut load = Load::new(1, Bound::Requests(4), 10);
        load.api = api;
        let (out, records) =
            bench(flavor.parse().unwrap(), &sim.base_url(), &load, dir.path()).await;
        assert_eq!(out.summary.requests.failed, 2, "{flavor}");
        assert_eq!(out.summary.requests.ok, 2, "{flavor}");
        let e = records.iter().find_map(|r| r.error.as_ref()).unwrap();
        assert_eq!(e.kind.name(), "server_error", "{flavor}");
        assert!(
            e.message.contains("simulated error mid-stream"),
            "{flavor}: {}",
            e.message
        );
    }
}
