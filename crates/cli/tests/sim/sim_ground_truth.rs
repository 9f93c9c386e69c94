//! The harness against the simulator's known schedule: decode rate, TTFT
//! and steady-state total throughput must match the configured ground truth.
//!
//! Tolerances: the simulator sends token k at an absolute deadline, so its
//! average rate is exact; what varies is when the client's task is woken.
//! A median over many requests is robust to a loaded machine, and each
//! bound below leaves several times the scatter seen on a busy 2-core box.
//! The TTFT bound assumes an optimized build (the test command runs the
//! suite with `--release`): unoptimized tokio, hyper and serde add about
//! 2 ms to every request on their own.

use crate::common::{bench, profile, start, start_isolated, Load};
use stackbench_core::kinds::ServerKind;
use stackbench_engine::Bound;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_user_median_decode_rate_and_ttft_match_the_configured_model() {
    let url = start_isolated(profile("vllm", 100.0, 100.0, "", ""));
    let dir = tempfile::tempdir().unwrap();
    let mut load = Load::new(1, Bound::Requests(8), 64);
    load.warmup = 1;
    let (out, records) = bench(ServerKind::Vllm, &url, &load, dir.path()).await;
    let s = &out.summary;
    assert_eq!(s.requests.ok, 8, "{:?}", s.errors);
    let decode = s.decode_tok_s.p50.unwrap();
    assert!(
        (decode - 100.0).abs() / 100.0 < 0.01,
        "median decode {decode} tok/s vs 100"
    );
    let ttft = s.ttft_ms.p50.unwrap();
    assert!(
        (ttft - 100.0).abs() < 2.0,
        "median TTFT {ttft} ms vs 100 ms: {:?}",
        records.iter().map(|r| r.ttft_us).collect::<Vec<_>>()
    );
    assert_eq!(records.iter().filter(|r| r.warmup).count(), 1);
    assert!(records
        .iter()
        .all(|r| r.output_tokens == 64 && r.count.reconciled));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c32_steady_state_total_matches_the_simulator_ground_truth() {
    // 32 slots; 100 tok/s alone, 1600 tok/s total at 32 streams = 50 each.
    let sim = start(
        profile(
            "vllm",
            10.0,
            100.0,
            "batch-curve = [[1, 100.0], [32, 1600.0]]",
            "",
        ),
        vec![],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (out_tokens, streams) = (50u32, 32u32);
    let load = Load::new(streams, Bound::Requests(u64::from(streams) * 5), out_tokens);
    let (out, _) = bench(ServerKind::Vllm, &sim.base_url(), &load, dir.path()).await;
    let s = &out.summary;
    assert_eq!(s.requests.ok, 160, "{:?}", s.errors);
    // Ground truth: each stream cycles through TTFT + (n-1) decode intervals
    // and delivers n tokens per cycle.
    let per_stream = 1600.0 / 32.0;
    let cycle_s = 0.010 + f64::from(out_tokens - 1) / per_stream;
    let truth = f64::from(streams) * f64::from(out_tokens) / cycle_s;
    assert_eq!(s.output_tok_s_source, "steady_window");
    let got = s.output_tok_s;
    assert!(
        (got - truth).abs() / truth < 0.02,
        "steady total {got:.1} tok/s vs truth {truth:.1}"
    );
}
