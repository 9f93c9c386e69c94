//! `merge`: two halves of a run merge into the whole run's percentiles
//! (a property test over random samples and split points); shards line up
//! by wall-clock start and their totals sum over the shared window;
//! mismatched, single or timeline-less shards are refused.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use stackbench_core::histogram::LatencyHistograms;
use stackbench_core::merge::{merge_shards, MergeError, Shard};
use stackbench_core::run_file::{HostInfo, LoadConfig, RunFile, ServerInfo, Target};
use stackbench_core::summary::{Summary, Totals};
use stackbench_core::{Timeline, TimelineSeries};

/// One request's samples: TTFT µs, ITL µs, E2E µs, decode milli-tok/s.
type Sample = (u64, u64, u64, u64);

fn histograms(samples: &[Sample]) -> LatencyHistograms {
    let mut h = LatencyHistograms::default();
    for &(ttft, itl, e2e, rate) in samples {
        h.ttft_us.record(ttft);
        h.itl_us.record(itl);
        h.tpot_us.record(itl);
        h.event_gap_us.record(itl);
        h.e2e_us.record(e2e);
        h.decode_mtps.record(rate);
        h.e2e_rate_mtps.record(rate / 2);
    }
    h
}

fn totals(samples: &[Sample]) -> Totals {
    let mut t = Totals::default();
    t.requests.ok = samples.len() as u64;
    t.output_tokens = 100 * samples.len() as u64;
    t.decode_tokens = 99 * samples.len() as u64;
    t.decode_us = samples.iter().map(|s| s.1 * 99).sum();
    t
}

fn run(samples: &[Sample], timeline: TimelineSeries, steady: Option<(u64, u64)>) -> RunFile {
    let h = histograms(samples);
    let mut tl = Timeline::default();
    let step = u64::from(timeline.interval_ms) * 1000;
    for (i, t) in timeline.tokens.iter().enumerate() {
        tl.add(i as u64 * step, *t);
    }
    let window = steady.and_then(|(a, b)| tl.rate_in(a, b));
    let mut summary = Summary::build(&h, &totals(samples), 0, 10.0, window);
    if let Some((a, b)) = steady {
        summary.steady_tokens_per_s = tl.per_second_in(a, b);
    }
    RunFile {
        schema_version: 2,
        stackbench_version: "test".into(),
        complete: true,
        stopped_early: None,
        warnings: Vec::new(),
        started_at: "2026-11-27T00:00:00Z".into(),
        finished_at: None,
        command_line: vec![],
        target: Target {
            api: "chat".into(),
            model: "m".into(),
            ..Default::default()
        },
        load: LoadConfig {
            concurrency: 2,
            prompt_tokens: 16,
            output_tokens: 100,
            ..Default::default()
        },
        server: ServerInfo::default(),
        host: HostInfo::default(),
        stack: None,
        suite: None,
        launch: None,
        energy: None,
        summary,
        histograms: h.serialize().unwrap(),
        timeline: Some(timeline),
        merged: None,
        server_metrics: None,
        hygiene: None,
        replay: None,
    }
}

fn series(start_unix_us: u64, tokens: Vec<u32>) -> TimelineSeries {
    TimelineSeries {
        interval_ms: 100,
        run_start_unix_us: start_unix_us,
        tokens,
    }
}

fn shard(name: &str, file: RunFile) -> Shard {
    Shard {
        dir: name.into(),
        file,
        records: vec![],
    }
}

fn sample() -> impl Strategy<Value = Sample> {
    (
        1u64..60_000_000,
        1u64..5_000_000,
        1u64..3_600_000_000,
        1u64..10_000_000_000,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// HDR histograms add exactly, so the merged halves have the whole
    /// run's every percentile, mean, min, max and count.
    #[test]
    fn two_halves_merge_into_the_whole_runs_percentiles(
        samples in prop::collection::vec(sample(), 2..400),
        cut in any::<prop::sample::Index>(),
    ) {
        let k = 1 + cut.index(samples.len() - 1);
        let (a, b) = samples.split_at(k);
        let empty = || series(1_000_000, vec![]);
        let whole = run(&samples, empty(), None);
        let (merged, _) = merge_shards(
            &[shard("a", run(a, empty(), None)), shard("b", run(b, empty(), None))],
            vec![],
        ).unwrap();
        let (m, w) = (&merged.summary, &whole.summary);
        prop_assert_eq!(m.ttft_ms, w.ttft_ms);
        prop_assert_eq!(m.itl_ms, w.itl_ms);
        prop_assert_eq!(m.tpot_ms, w.tpot_ms);
        prop_assert_eq!(m.e2e_ms, w.e2e_ms);
        prop_assert_eq!(m.decode_tok_s, w.decode_tok_s);
        prop_assert_eq!(m.e2e_tok_s, w.e2e_tok_s);
        prop_assert_eq!(&m.requests, &w.requests);
        prop_assert_eq!(m.decode_tok_s_pooled, w.decode_tok_s_pooled);
        prop_assert_eq!(merged.load.concurrency, 4);
    }
}

/// Shard b started 1 s after shard a; each ran 100 tok/s for 10 s with a
/// steady window of 2-8 s of its own: the shared window is 3-8 s of the
/// merged clock, where both ran, and the total is 200 tok/s.
#[test]
fn totals_sum_over_the_window_every_shard_was_steady() {
    let s: [Sample; 1] = [(1000, 1000, 1000, 1000)];
    let a = run(
        &s,
        series(5_000_000, vec![10; 100]),
        Some((2_000_000, 8_000_000)),
    );
    let b = run(
        &s,
        series(6_000_000, vec![10; 100]),
        Some((2_000_000, 8_000_000)),
    );
    let (m, _) = merge_shards(&[shard("a", a), shard("b", b)], vec![]).unwrap();
    let info = m.merged.as_ref().unwrap();
    assert_eq!(info.shared_window_us, Some([3_000_000, 8_000_000]));
    assert_eq!(info.start_spread_ms, 1000.0);
    let w = m.summary.steady_window.unwrap();
    assert_eq!((w.start_us, w.end_us), (3_000_000, 8_000_000));
    assert!((m.summary.output_tok_s - 200.0).abs() < 1e-9, "{w:?}");
    assert_eq!(m.summary.steady_tokens_per_s, vec![200; 5]);
    assert_eq!(m.timeline.as_ref().unwrap().tokens.len(), 110);
}

#[test]
fn mismatched_single_and_timeless_shards_are_refused() {
    let s: [Sample; 1] = [(1000, 1000, 1000, 1000)];
    let a = run(&s, series(0, vec![]), None);
    assert!(matches!(
        merge_shards(&[shard("a", a.clone())], vec![]),
        Err(MergeError::TooFew(1))
    ));
    let mut b = a.clone();
    b.load.output_tokens = 200;
    let e = merge_shards(&[shard("a", a.clone()), shard("b", b)], vec![]).unwrap_err();
    assert!(e.to_string().contains("output_tokens 100 vs 200"), "{e}");
    let mut c = a.clone();
    c.timeline = None;
    assert!(matches!(
        merge_shards(&[shard("a", a), shard("c", c)], vec![]),
        Err(MergeError::NoTimeline(d)) if d == "c"
    ));
}
