//! The change-point logic on constructed runs: a planted step is found
//! once, where it is and with its direction; runs are ordered by start
//! (ties by folder); a suite's repeats pool into one point, and the two
//! sides of an upgrade check (same stack name) stay two points.

use serde_json::{json, Value};

use super::*;

/// The fixture run (a suite run of `sim-vllm-nvfp4` at c1), started at
/// `second` past 10:00, with `launch` as given.
fn file(second: u32, launch: Value) -> stackbench_core::run_file::RunFile {
    let mut v: Value = serde_json::from_str(include_str!("../../tests/fixtures/run-v2-sim.json"))
        .unwrap_or_else(|e| panic!("fixture: {e}"));
    v["started_at"] = json!(format!(
        "2026-12-01T10:{:02}:{:02}Z",
        second / 60,
        second % 60
    ));
    v["finished_at"] = json!(format!(
        "2026-12-01T10:{:02}:{:02}Z",
        second / 60,
        second % 60
    ));
    v["launch"] = launch;
    serde_json::from_value(v).unwrap_or_else(|e| panic!("run.json: {e}"))
}

/// Twelve measured records decoding near `rate` tok/s (±1 %, spread
/// evenly so every point has the same shape).
fn records(rate: f64) -> Vec<stackbench_core::RequestRecord> {
    (0..12)
        .map(|i| {
            let d = rate * (0.99 + 0.02 * f64::from(i) / 11.0);
            serde_json::from_value(json!({
                "id": i, "worker": 0, "warmup": false, "status": "ok",
                "start_unix_us": 0, "start_offset_us": 0, "ttft_us": 50_000,
                "e2e_us": 50_000 + (32.0 / d * 1e6) as u64, "stream_end_us": 0,
                "events": 32, "output_tokens": 32,
                "count": {"source": "exact", "counted": 32, "reconciled": true},
                "tpot_us": 1e6 / d, "decode_tok_s": d
            }))
            .unwrap_or_else(|e| panic!("record: {e}"))
        })
        .collect()
}

fn run(dir: &str, second: u32, image: &str, rate: f64) -> RunData {
    let launch =
        json!({"kind": "container", "image": image, "image_id": format!("sha256:{:0>64}", second)});
    RunData {
        dir: dir.into(),
        file: file(second, launch),
        records: records(rate),
    }
}

fn decode_only() -> Options {
    Options {
        metrics: vec![MetricKey::DecodeTokSP50],
        ..Options::default()
    }
}

#[test]
fn a_planted_ten_percent_step_is_the_one_change_point() {
    // Eight sessions, given out of order; the rate steps down 10 % at #5.
    let mut runs: Vec<RunData> = (1..=8)
        .map(|k| {
            let rate = if k >= 5 { 90.0 } else { 100.0 };
            run(&format!("h/{k}"), k * 60, &format!("img:v{k}"), rate)
        })
        .collect();
    runs.reverse();
    let h = history(&runs, &decode_only()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(h.groups.len(), 1);
    let g = &h.groups[0];
    let images: Vec<_> = g
        .points
        .iter()
        .map(|p| p.image.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        images,
        (1..=8).map(|k| format!("img:v{k}")).collect::<Vec<_>>()
    );
    assert_eq!(h.change_points.len(), 1, "{:#?}", h.change_points);
    let c = &h.change_points[0];
    assert_eq!((c.from, c.to, c.verdict), (4, 5, Verdict::Regressed));
    assert!(
        c.before.contains("img:v4") && c.after.contains("img:v5"),
        "{c:?}"
    );
    let pct = c.pct.unwrap_or_default();
    assert!((pct + 10.0).abs() < 1.0, "{pct}");
    // Every point has its own interval around its value.
    for v in &g.metrics[0].values {
        let [lo, hi] = v.interval.unwrap_or_default();
        let x = v.value.unwrap_or_default();
        assert!(lo <= x && x <= hi && hi - lo < 0.05 * x, "{v:?}");
    }
    let md = markdown(&h);
    assert_eq!(
        md.matches(render::CHANGE_MARK).count(),
        2,
        "list + table: {md}"
    );
    // The same step upward is an improvement, at the same place.
    for r in &mut runs {
        for rec in &mut r.records {
            rec.decode_tok_s = rec.decode_tok_s.map(|d| 9000.0 / d);
        }
    }
    let h = history(&runs, &decode_only()).unwrap_or_else(|e| panic!("{e}"));
    let found: Vec<_> = h.change_points.iter().map(|c| (c.to, c.verdict)).collect();
    assert_eq!(found, vec![(5, Verdict::Improved)]);
}

#[test]
fn a_step_below_the_threshold_is_no_change_point() {
    let runs: Vec<RunData> = (1..=4)
        .map(|k| {
            run(
                &format!("h/{k}"),
                k,
                "img",
                if k > 2 { 97.0 } else { 100.0 },
            )
        })
        .collect();
    let h = history(&runs, &decode_only()).unwrap_or_else(|e| panic!("{e}"));
    assert!(h.change_points.is_empty(), "{:#?}", h.change_points);
    let step = h.groups[0].metrics[0].values[2].change.clone();
    assert_eq!(step.map(|s| s.verdict), Some(Verdict::NoChange));
    // A lower threshold makes the 3 % step a change point.
    let mut opts = decode_only();
    opts.thresholds.insert(MetricKey::DecodeTokSP50, 1.0);
    let h = history(&runs, &opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(h.change_points.len(), 1);
}

#[test]
fn repeats_pool_and_two_sides_of_one_folder_are_two_points() {
    let mut runs = Vec::new();
    // An upgrade check: baseline and candidate alternate, same stack name.
    for (k, side, rate) in [
        (1, "baseline", 100.0),
        (1, "candidate", 80.0),
        (2, "baseline", 100.0),
        (2, "candidate", 80.0),
    ] {
        let mut r = run(
            &format!("u/{side}/sim-vllm-nvfp4/c1/r{k}"),
            runs.len() as u32,
            side,
            rate,
        );
        if let Some(s) = r.file.suite.as_mut() {
            s.repeat = k;
        }
        runs.push(r);
    }
    let h = history(&runs, &decode_only()).unwrap_or_else(|e| panic!("{e}"));
    let g = &h.groups[0];
    let folders: Vec<_> = g
        .points
        .iter()
        .map(|p| (p.folder.as_str(), p.dirs.len()))
        .collect();
    assert_eq!(
        folders,
        vec![
            ("u/baseline/sim-vllm-nvfp4/c1", 2),
            ("u/candidate/sim-vllm-nvfp4/c1", 2)
        ]
    );
    assert_eq!(h.change_points.len(), 1);
    assert_eq!(h.change_points[0].verdict, Verdict::Regressed);
}

#[test]
fn runs_started_in_one_second_order_by_first_request_then_folder() {
    let runs = vec![run("h/b", 5, "two", 100.0), run("h/a", 5, "one", 100.0)];
    let images = |runs: &[RunData]| -> Vec<Option<String>> {
        let h = history(runs, &decode_only()).unwrap_or_else(|e| panic!("{e}"));
        h.groups[0].points.iter().map(|p| p.image.clone()).collect()
    };
    // Same second, no request times to tell them apart: by folder.
    assert_eq!(images(&runs), vec![Some("one".into()), Some("two".into())]);
    // The first request of `h/b` was sent first: it is the earlier run.
    let mut timed = runs.clone();
    for (r, t0) in timed.iter_mut().zip([1_000_000u64, 1_500_000]) {
        for (i, rec) in r.records.iter_mut().enumerate() {
            rec.start_unix_us = t0 + i as u64;
        }
    }
    assert_eq!(images(&timed), vec![Some("two".into()), Some("one".into())]);
}

#[test]
fn stacks_filter_by_name_or_label() {
    let runs = vec![run("h/a", 5, "one", 100.0)];
    let only = Options {
        stack: Some("nope".into()),
        ..decode_only()
    };
    let err = history(&runs, &only)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("stacks found: sim-vllm-nvfp4"), "{err}");
    for name in ["vLLM", "sim-vllm-nvfp4"] {
        let by = Options {
            stack: Some(name.into()),
            ..decode_only()
        };
        assert!(history(&runs, &by).is_ok(), "{name}");
    }
}

#[test]
fn a_step_across_a_workload_change_is_not_a_change_point() {
    // The same 10 % step, but from #5 on the runs asked for 64 more output
    // tokens: the numbers moved with the workload, not the image.
    let runs: Vec<RunData> = (1..=8)
        .map(|k| {
            let rate = if k >= 5 { 90.0 } else { 100.0 };
            let mut r = run(&format!("h/{k}"), k * 60, &format!("img:v{k}"), rate);
            if k >= 5 {
                r.file.load.output_tokens += 64;
            }
            r
        })
        .collect();
    let h = history(&runs, &decode_only()).unwrap_or_else(|e| panic!("{e}"));
    assert!(h.change_points.is_empty(), "{:#?}", h.change_points);
    let step = h.groups[0].metrics[0].values[4].change.clone();
    let step = step.unwrap_or_else(|| panic!("#5 has a step"));
    assert_eq!(step.verdict, Verdict::Regressed, "the numbers did move");
    assert_eq!(step.workload_changed.len(), 1);
    let md = markdown(&h);
    assert!(
        md.contains("not judged: the workload changed (output_tokens"),
        "{md}"
    );
}

/// By default a series shows the reasoning metrics only when one of its
/// runs reasoned; a model that starts thinking moves its share (shown,
/// never a change point) and its time to first answer token (a change
/// point, as `compare` would call it).
#[test]
fn reasoning_metrics_show_where_a_run_reasoned() {
    let plain: Vec<RunData> = (1..=2)
        .map(|k| run(&format!("r{k}"), k * 10, "img:1", 100.0))
        .collect();
    let h = history(&plain, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    let keys: Vec<MetricKey> = h.groups[0].metrics.iter().map(|m| m.key).collect();
    assert_eq!(keys, MetricKey::ALL[..8]);

    let mut runs = plain;
    for r in &mut runs[1].records {
        r.reasoning_tokens = Some(16);
        r.ttfat_us = Some(400_000);
    }
    let h = history(&runs, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    let step = |key: MetricKey| {
        h.groups[0]
            .metrics
            .iter()
            .find(|m| m.key == key)
            .and_then(|m| m.values[1].change.clone())
    };
    let share = step(MetricKey::ReasoningSharePct);
    assert_eq!(share.as_ref().map(|s| s.verdict), Some(Verdict::Changed));
    assert_eq!(share.as_ref().and_then(|s| s.pct), Some(50.0));
    assert_eq!(share.map(|s| s.change_point), Some(false));
    let keys: Vec<MetricKey> = h.change_points.iter().map(|c| c.key).collect();
    assert_eq!(keys, [MetricKey::TtfatP50Ms]);
}
