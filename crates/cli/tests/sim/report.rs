//! `stackbench report` through the binary, on a simulated suite of two
//! stacks at two levels: the page is self-contained, holds every chart,
//! and its `.hgrm` files agree with `run.json`; headless Chromium (Debian's
//! `chromium`) opens it with no console message and every chart laid out
//! and drawn. The browser's test is ignored without chromium, and fails
//! without it under `STACKBENCH_REQUIRE_CHROMIUM=1` (the test script sets
//! it; common/tools.rs).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{repo, stackbench};

/// Two simulated stacks side by side at c=1 and c=4.
fn simulated_suite(dir: &Path) -> PathBuf {
    let stacks = repo().join("configs/stacks/sim");
    let suite = dir.join("suite.toml");
    std::fs::write(
        &suite,
        format!(
            "name = \"report-test\"\nparallel = true\nstacks = [\"{0}/vllm-nvfp4-mtp1.toml\", \"{0}/ollama-q4km.toml\"]\n[defaults]\nprompt-tokens = 32\noutput-tokens = 32\nwarmup-requests = 0\n[[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 4\n[[scenario]]\nname = \"c4\"\nconcurrency = 4\nduration = \"4s\"\n",
            stacks.display()
        ),
    )
    .unwrap();
    suite
}

fn attr(body: &str, name: &str) -> Option<u64> {
    let at = body.find(&format!("{name}=\""))? + name.len() + 2;
    body[at..].split('"').next()?.parse().ok()
}

/// Runs the simulated suite into `dir/results` and reports it into
/// `dir/report`; returns the two folders.
fn suite_and_report(dir: &Path) -> (PathBuf, PathBuf) {
    let results = dir.join("results");
    stackbench(["suite", "-q", "--out"])
        .arg(&results)
        .arg(simulated_suite(dir))
        .success();

    let report = dir.join("report");
    let out = stackbench(["report"])
        .arg(&results)
        .arg("--out")
        .arg(&report)
        .success();
    // Across levels: 2 charts; per level: decode histogram, TTFT, ITL,
    // tok/s over time.
    assert!(
        out.stdout.contains("10 charts over 4 runs, 20 .hgrm files"),
        "{out}"
    );
    (results, report)
}

#[test]
fn the_report_is_self_contained_and_its_hgrm_files_agree() {
    let dir = tempfile::tempdir().unwrap();
    let (results, report) = suite_and_report(dir.path());
    let page = report.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    for external in [
        "src=\"http",
        "href=\"http",
        "<link",
        "src=\"//",
        "@import",
        "url(",
    ] {
        assert!(
            !html.contains(external),
            "the page fetches something: {external}"
        );
    }
    assert_eq!(html.matches("<figure>").count(), 10);
    for title in [
        "Throughput vs interactivity",
        "Total output tok/s by concurrency",
        "Per-request decode tok/s, c=4",
        "TTFT by percentile, c=1",
        "ITL by percentile, c=4",
        "Output tok/s over time, c=4",
    ] {
        assert!(html.contains(title), "{title}");
    }
    assert!(
        html.contains("<h3>Single-user decode tok/s"),
        "the tables are there"
    );

    // The .hgrm median of a run's TTFT is the run's p50.
    let run_dir = results.join("sim-vllm-nvfp4-mtp1/c1");
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap()).unwrap();
    let hgrm_dir = std::fs::read_dir(report.join("hgrm"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("vLLM-NVFP4-MTP-1-c1"))
        .unwrap();
    let text = std::fs::read_to_string(hgrm_dir.join("ttft_ms.hgrm")).unwrap();
    assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
    assert!(text.contains("#[Max     ="), "{text}");
    let median = text
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("0.500000000000"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap();
    let p50 = run["summary"]["ttft_ms"]["p50"].as_f64().unwrap();
    assert!(
        (median - p50).abs() < 1e-3,
        "hgrm {median} vs run.json {p50}"
    );
}

#[test]
#[cfg_attr(
    not(has_chromium),
    ignore = "chromium not found; STACKBENCH_REQUIRE_CHROMIUM=1 makes this a failure"
)]
fn every_chart_draws_in_chromium() {
    let browser = require_tool!(chromium).remove(0);
    let dir = tempfile::tempdir().unwrap();
    let (_, report) = suite_and_report(dir.path());
    let page = report.join("report.html");
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let out = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            &url,
        ])
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    let body = dom
        .split("<body")
        .nth(1)
        .and_then(|b| b.split('>').next())
        .unwrap_or("");
    assert_eq!(attr(body, "data-plots"), Some(10), "<body{body}>");
    assert_eq!(
        attr(body, "data-drawn"),
        Some(10),
        "every chart laid out and drawn: <body{body}>"
    );
    assert_eq!(attr(body, "data-errors"), Some(0), "<body{body}>");

    // A screenshot to look at (kept when STACKBENCH_SCREENSHOT names a file).
    let shot = std::env::var("STACKBENCH_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| dir.path().join("report.png"));
    let out = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1100,5200",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium --screenshot: {out:?}");
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "a screenshot with something in it"
    );
}
