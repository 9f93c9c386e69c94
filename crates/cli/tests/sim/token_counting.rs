//! Exact token counts when one event carries several tokens, and flagged
//! counts when the server gives no way to count exactly.

use crate::common::{bench, profile, start, Load};
use stackbench_core::kinds::ServerKind;
use stackbench_core::CountSource;
use stackbench_engine::Bound;

fn check_exact(records: &[stackbench_core::RequestRecord], out: &stackbench_engine::RunOutcome) {
    let s = &out.summary;
    assert!(records.iter().all(|r| r.count.source == CountSource::Exact));
    for r in records {
        assert_eq!(Some(r.output_tokens), r.count.server, "request {}", r.id);
        assert_eq!(r.count.counted, r.output_tokens, "request {}", r.id);
        assert!(r.count.reconciled);
    }
    // One ITL sample per token after the first event (which carries one
    // token in the simulator), one gap sample per event after the first.
    let tokens_after_first: u64 = records.iter().map(|r| r.output_tokens - 1).sum();
    let gaps: u64 = records.iter().map(|r| u64::from(r.events) - 1).sum();
    assert_eq!(s.itl_ms.count, tokens_after_first);
    assert_eq!(s.event_gap_ms.count, gaps);
    assert!(
        gaps < tokens_after_first,
        "events must really carry several tokens"
    );
    assert_eq!(s.requests.unreconciled, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtp_bursts_of_two_and_three_tokens_are_counted_exactly_with_continuous_usage() {
    let p = profile(
        "vllm",
        5.0,
        400.0,
        "",
        "[mtp]\ndraft-tokens = 2\nacceptance = 0.7",
    );
    let sim = start(p, vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let (out, records) = bench(
        ServerKind::Vllm,
        &sim.base_url(),
        &Load::new(4, Bound::Requests(16), 60),
        dir.path(),
    )
    .await;
    assert_eq!(out.summary.requests.ok, 16);
    check_exact(&records, &out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_three_token_events_are_counted_exactly_from_token_ids() {
    let sim = start(
        profile("vllm", 5.0, 400.0, "tokens-per-event = 3", ""),
        vec![],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut load = Load::new(2, Bound::Requests(6), 61);
    load.api = stackbench_wire::body::Api::Completions;
    load.per_event_counts = false;
    load.extra
        .insert("return_token_ids".into(), serde_json::Value::Bool(true));
    let (out, records) = bench(ServerKind::Vllm, &sim.base_url(), &load, dir.path()).await;
    assert_eq!(out.summary.requests.ok, 6);
    check_exact(&records, &out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_events_without_per_event_counts_are_flagged_not_fudged() {
    // Ollama's /v1 gives no per-event counts: 2 tokens per chunk can only be
    // counted as 1 per event, which the final usage then contradicts.
    let sim = start(
        profile("ollama", 5.0, 400.0, "tokens-per-event = 2", ""),
        vec![],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (out, records) = bench(
        ServerKind::Ollama,
        &sim.base_url(),
        &Load::new(2, Bound::Requests(4), 40),
        dir.path(),
    )
    .await;
    assert_eq!(out.summary.requests.ok, 4);
    assert_eq!(out.summary.requests.unreconciled, 4);
    assert_eq!(out.summary.requests.estimated_counts, 4);
    for r in &records {
        assert!(!r.count.reconciled);
        assert_eq!(r.count.server, Some(40));
        assert_eq!(r.output_tokens, 40, "the server's final count is used");
        assert_eq!(
            r.count.counted, 21,
            "1 + 20 two-token events counted as one each"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_flavor_and_api_reconciles_one_token_events() {
    for flavor in ["vllm", "llamacpp", "ollama"] {
        for api in [
            stackbench_wire::body::Api::Chat,
            stackbench_wire::body::Api::Completions,
        ] {
            let sim = start(profile(flavor, 2.0, 500.0, "", ""), vec![]).await;
            let dir = tempfile::tempdir().unwrap();
            let mut load = Load::new(2, Bound::Requests(4), 20);
            load.api = api;
            let (out, records) =
                bench(flavor.parse().unwrap(), &sim.base_url(), &load, dir.path()).await;
            let s = &out.summary;
            assert_eq!(s.requests.ok, 4, "{flavor} {api:?}: {:?}", s.errors);
            assert_eq!(s.requests.unreconciled, 0, "{flavor} {api:?}");
            assert!(
                records
                    .iter()
                    .all(|r| r.output_tokens == 20 && r.events == 20),
                "{flavor} {api:?}"
            );
            assert!(
                records
                    .iter()
                    .all(|r| r.finish_reason.as_deref() == Some("length")),
                "{flavor} {api:?}"
            );
        }
    }
}
