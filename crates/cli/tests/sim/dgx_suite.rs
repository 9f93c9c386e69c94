//! The shipped DGX Spark suite's scenarios finish, and a run that does not
//! still keeps what it saw. The old `c32` (120 s, 512 output tokens) ended
//! with nothing completed on the slow stacks: a llama.cpp stream at the
//! published ~95 tok/s total over 32 users needs ~170 s per request.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::common::{repo, stackbench};

use stackbench_stacks::load_suite;

/// The simulated DGX stacks (configs/stacks/sim/), calibrated to the
/// published figures.
const SIM_STACKS: [&str; 6] = [
    "vllm-fp8",
    "vllm-nvfp4",
    "vllm-nvfp4-mtp1",
    "llamacpp-nvfp4",
    "llamacpp-mxfp4",
    "ollama-q4km",
];

/// At each stack's published c=32 total, the shipped `c32` completes at
/// least 32 measured requests: by construction when it is a request count
/// (a count-bound run waits for every request), else by arithmetic on its
/// duration.
#[test]
fn dgx_c32_completes_32_requests_per_stack_at_the_published_rates() {
    let suite = load_suite(&repo().join("configs/suites/dgx-spark.toml"), &[], &[]).unwrap();
    let c32 = suite
        .config
        .scenarios
        .iter()
        .find(|s| s.name == "c32")
        .unwrap();
    let output = f64::from(
        c32.output_tokens
            .unwrap_or(suite.config.defaults.output_tokens),
    );
    for s in &suite.stacks {
        let Some(total) = s
            .config
            .reference
            .as_ref()
            .filter(|r| r.concurrency == 32)
            .and_then(|r| r.total_tok_s)
        else {
            continue;
        };
        let completed = match (c32.requests, &c32.duration) {
            (Some(n), _) => n,
            (None, Some(d)) => {
                // Every stream finishes whole requests of `output` tokens at
                // total/32 tok/s each.
                let per_request_s = output / (total / 32.0);
                32 * (d.get().as_secs_f64() / per_request_s).floor() as u64
            }
            (None, None) => 0,
        };
        assert!(
            completed >= 32,
            "{}: {completed} requests complete at {total} tok/s total",
            s.config.name
        );
    }
}

/// The same scenario on the six simulated DGX stacks (profiles calibrated
/// to the published figures), all at once, with 16 output tokens instead of
/// 512 so that it takes well under a minute: every stack completes every measured
/// request, and its total comes from a steady window.
#[test]
fn dgx_c32_completes_on_the_simulated_stacks() {
    let dir = tempfile::tempdir().unwrap();
    let stacks: Vec<String> = SIM_STACKS
        .iter()
        .map(|s| format!("\"{}/configs/stacks/sim/{s}.toml\"", repo().display()))
        .collect();
    let suite = dir.path().join("suite.toml");
    std::fs::write(
        &suite,
        format!(
            "name = \"dgx-sim\"\nparallel = true\nstacks = [{}]\n[[scenario]]\nname = \"c32\"\nconcurrency = 32\nrequests = 64\nprompt-tokens = 1024\noutput-tokens = 16\nwarmup-requests = 32\n",
            stacks.join(", ")
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let run = stackbench([
        "suite",
        suite.to_str().unwrap(),
        "-q",
        "--out",
        out.to_str().unwrap(),
    ])
    .run();
    run.assert_success();
    for stack in SIM_STACKS {
        let r = common::read_run_json(&out.join(format!("sim-{stack}")).join("c32"));
        let s = &r["summary"];
        assert_eq!(s["requests"]["ok"], 64, "{stack}: {}", s["requests"]);
        assert_eq!(s["output_tok_s_source"], "steady_window", "{stack}");
    }
}

/// The old `c32` on the simulated llama.cpp (4 slots, ~95 tok/s total): in
/// 8 s no request of 512 tokens completes. The run still reports TTFT and
/// inter-token latencies of the streams that had started, marks them
/// `partial` in `requests.jsonl`, takes its total from a steady window,
/// warns, and the tables say why the per-request cells are empty.
#[test]
fn a_timed_run_in_which_nothing_completes_keeps_what_it_saw() {
    let sim = common::spawn_sim(&["--profile", "llamacpp-mxfp4"]);
    let dir = tempfile::tempdir().unwrap();
    let out = stackbench(["run", "--base-url", &sim.url, "-c", "32", "-d", "8s"])
        .args([
            "--warmup-requests",
            "0",
            "--prompt-tokens",
            "512",
            "--output-tokens",
            "512",
        ])
        .arg("--out")
        .arg(dir.path())
        .run();
    let stderr = &out.stderr;
    out.assert_success();
    assert!(
        stderr.contains("only 0 measured requests completed"),
        "{stderr}"
    );
    let run = common::read_run_json(dir.path());
    let s = &run["summary"];
    let r = &s["requests"];
    assert_eq!(r["ok"], 0, "{r}");
    assert_eq!(r["cancelled"], 32, "{r}");
    // The profile serves 4 streams at once; the other 28 wait in its queue.
    let partial = r["partial"].as_u64().unwrap();
    assert_eq!(partial, 4, "{r}");
    assert_eq!(s["ttft_ms"]["count"], partial, "{s}");
    assert!(s["itl_ms"]["count"].as_u64().unwrap() > 100, "{s}");
    assert_eq!(s["decode_tok_s"]["count"], 0, "{s}");
    assert_eq!(s["output_tok_s_source"], "steady_window", "{s}");
    let rate = s["output_tok_s"].as_f64().unwrap();
    assert!(
        (80.0..110.0).contains(&rate),
        "total {rate} tok/s, calibrated 95"
    );
    let marked = common::read_records(dir.path())
        .iter()
        .filter(|rec| rec["partial"] == true)
        .count() as u64;
    assert_eq!(marked, partial);
    let table = stackbench(["table"]).arg(dir.path()).run();
    let text = &table.stdout;
    assert!(text.contains("-‡"), "{text}");
    assert!(text.contains("‡ no request completed"), "{text}");
    assert!(text.contains("0 (+4 partial)"), "{text}");
    // `compare` says why it cannot judge the per-request figures.
    let (_, report, _) = common::compare_bin(dir.path(), dir.path(), &[]);
    assert!(
        report.contains("insufficient data: 0 baseline and 0 candidate samples"),
        "{report}"
    );
}
