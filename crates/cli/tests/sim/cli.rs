//! The real binary, end to end: a simulator in one process, `stackbench
//! run` in another, killed or interrupted mid-run, bad input, and the
//! `run.json` contract.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use crate::common::{read_run_json, spawn_sim, spawn_sim_env, stackbench, SimProc, Stackbench};

fn sim(args: &[&str]) -> (SimProc, String) {
    let s = spawn_sim(args);
    let url = s.url.clone();
    (s, url)
}

fn run_cmd(url: &str, out: &Path, extra: &[&str]) -> Stackbench {
    let mut c = stackbench(["run", "--base-url", url, "--out"]);
    c.arg(out)
        .args(["--quiet", "--prompt-tokens", "16"])
        .args(extra);
    c
}

fn wait_for_lines(path: &Path, n: usize) {
    for _ in 0..200 {
        if std::fs::read_to_string(path).is_ok_and(|s| s.lines().count() >= n) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} never reached {n} lines", path.display());
}

#[test]
fn kill_9_mid_run_leaves_requests_jsonl_parseable() {
    let (_sim, url) = sim(&["--decode-tps", "2000", "--ttft-ms", "1"]);
    let dir = tempfile::tempdir().unwrap();
    let mut run = run_cmd(
        &url,
        dir.path(),
        &["-c", "8", "-n", "1000000", "--output-tokens", "8"],
    )
    .spawn();
    let jsonl = dir.path().join("requests.jsonl");
    wait_for_lines(&jsonl, 20);
    run.kill().unwrap(); // SIGKILL
    run.wait().unwrap();
    let text = std::fs::read_to_string(&jsonl).unwrap();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    assert!(lines.len() >= 20);
    for (i, line) in lines.iter().enumerate() {
        let parsed = serde_json::from_str::<serde_json::Value>(line);
        let is_last = i + 1 == lines.len();
        assert!(
            parsed.is_ok() || (is_last && !line.ends_with('\n')),
            "line {i} unparseable: {line}"
        );
    }
    // run.json was written at the start and says the run is not complete.
    let run = read_run_json(dir.path());
    assert_eq!(run["complete"], false);
}

/// The sim's count of requests it finished (its vLLM `/metrics`).
fn served(url: &str) -> u64 {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.0\r\nHost: sim\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    tcp.read_to_string(&mut page).unwrap();
    page.lines()
        .find(|l| l.starts_with("vllm:request_success_total"))
        .and_then(|l| l.rsplit(' ').next())
        .map(|v| v.parse::<f64>().unwrap() as u64)
        .unwrap()
}

/// `kill -9` loses at most the last second: every request the server had
/// finished a second before the kill has its line in `requests.jsonl`
/// (records are written as they finish, not buffered for the end).
#[test]
fn kill_9_loses_at_most_the_last_second_of_records() {
    let (_sim, url) = sim(&["--decode-tps", "2000", "--ttft-ms", "1"]);
    let dir = tempfile::tempdir().unwrap();
    let mut run = run_cmd(
        &url,
        dir.path(),
        &["-c", "4", "-n", "1000000", "--output-tokens", "8"],
    )
    .spawn();
    let jsonl = dir.path().join("requests.jsonl");
    wait_for_lines(&jsonl, 20);
    let finished_before = served(&url);
    std::thread::sleep(Duration::from_secs(1));
    run.kill().unwrap(); // SIGKILL
    run.wait().unwrap();
    let text = std::fs::read_to_string(&jsonl).unwrap();
    let complete_lines = text
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        .count() as u64;
    // The set-up's calibration requests (at most 2) have no record.
    assert!(
        complete_lines + 2 >= finished_before,
        "{complete_lines} records, {finished_before} requests finished a second before the kill"
    );
}

#[test]
fn sigterm_stops_like_ctrl_c() {
    let (_sim, url) = sim(&["--decode-tps", "2000", "--ttft-ms", "1"]);
    let dir = tempfile::tempdir().unwrap();
    let mut run = run_cmd(
        &url,
        dir.path(),
        &["-c", "4", "-n", "1000000", "--output-tokens", "2000"],
    )
    .spawn();
    let jsonl = dir.path().join("requests.jsonl");
    // Warm-up done, measured streams in flight (each takes a second).
    wait_for_lines(&jsonl, 1);
    std::thread::sleep(Duration::from_millis(300));
    run.signal("TERM");
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(2));
    let run_json = read_run_json(dir.path());
    assert_eq!(run_json["complete"], false);
    assert_eq!(run_json["stopped_early"], "interrupted");
    let r = &run_json["summary"]["requests"];
    assert_eq!(r["cancelled"], 4, "the four in flight: {r}");
    let cancelled_lines = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"status\":\"cancelled\""))
        .count();
    assert_eq!(cancelled_lines, 4);
}

/// A results folder that cannot be created fails before the run (exit 2);
/// a `requests.jsonl` or `server-metrics.jsonl` that stops taking writes
/// (a full disk: `/dev/full`) stops the run, exit 2, with `run.json`
/// saying why and what was measured.
#[test]
fn unwritable_and_full_results_are_exit_2_and_keep_run_json() {
    let (_sim, url) = sim(&["--decode-tps", "2000", "--ttft-ms", "1"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = run_cmd(&url, &file.join("out"), &["-n", "4"]).run();
    out.assert_code(2);
    let err = &out.stderr;
    assert!(
        err.contains("cannot write") && err.contains("a-file"),
        "{err}"
    );

    // A full requests.jsonl or server-metrics.jsonl stops a 60 s run at
    // once.
    for full in ["requests.jsonl", "server-metrics.jsonl"] {
        let out_dir = dir.path().join(full);
        std::fs::create_dir(&out_dir).unwrap();
        std::os::unix::fs::symlink("/dev/full", out_dir.join(full)).unwrap();
        let started = std::time::Instant::now();
        let out = run_cmd(
            &url,
            &out_dir,
            &[
                "-c",
                "2",
                "--duration",
                "60s",
                "--output-tokens",
                "8",
                "--metrics-interval",
                "100ms",
            ],
        )
        .run();
        let err = &out.stderr;
        assert_eq!(out.code(), Some(2), "{full}: {out}");
        assert!(
            err.contains(full) && err.contains("No space left"),
            "{full}: {err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{full}: the run went on for {:?}",
            started.elapsed()
        );
        let run_json = read_run_json(&out_dir);
        assert_eq!(run_json["complete"], false, "{full}");
        let why = run_json["stopped_early"].as_str().unwrap();
        assert!(
            why.starts_with("error:") && why.contains(full),
            "{full}: {why}"
        );
    }
}

#[test]
fn ctrl_c_writes_an_incomplete_run_json_with_the_partial_summary() {
    let (_sim, url) = sim(&["--decode-tps", "2000", "--ttft-ms", "1"]);
    let dir = tempfile::tempdir().unwrap();
    let mut run = run_cmd(
        &url,
        dir.path(),
        &["-c", "4", "-n", "1000000", "--output-tokens", "8"],
    )
    .spawn();
    let jsonl = dir.path().join("requests.jsonl");
    wait_for_lines(&jsonl, 10);
    run.signal("INT");
    let status = run.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(2),
        "an interrupted run is not a success"
    );
    let run_json = read_run_json(dir.path());
    assert_eq!(run_json["complete"], false);
    assert_eq!(run_json["stopped_early"], "interrupted");
    let ok_lines = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"status\":\"ok\"") && l.contains("\"warmup\":false"))
        .count() as u64;
    assert!(ok_lines > 0);
    assert_eq!(run_json["summary"]["requests"]["ok"], ok_lines);
}

#[test]
fn run_json_holds_the_documented_fields() {
    let (_sim, url) = sim(&[
        "--decode-tps",
        "500",
        "--ttft-ms",
        "5",
        "--flavor",
        "llamacpp",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let out = run_cmd(
        &url,
        dir.path(),
        &[
            "-c",
            "2",
            "-n",
            "6",
            "--output-tokens",
            "16",
            "--api",
            "completions",
        ],
    )
    .success();
    let stdout = &out.stdout;
    assert!(stdout.contains("decode rate (tok/s)"), "{stdout}");
    let v = read_run_json(dir.path());
    assert_eq!(v["schema_version"], 3);
    assert_eq!(v["complete"], true);
    let s = &v["summary"];
    for path in [
        "/requests/ok",
        "/requests/failed",
        "/output_tokens",
        "/output_tok_s",
        "/decode_tok_s/mean",
        "/decode_tok_s/p10",
        "/decode_tok_s/p50",
        "/decode_tok_s/p90",
        "/ttft_ms/p50",
        "/ttft_ms/p90",
        "/ttft_ms/p99",
        "/itl_ms/p50",
        "/itl_ms/p90",
        "/itl_ms/p99",
        "/e2e_ms/p50",
        "/e2e_ms/p99",
    ] {
        assert!(
            s.pointer(path).is_some_and(|x| x.is_number()),
            "summary{path} missing or not a number"
        );
    }
    assert_eq!(s["requests"]["ok"], 6);
    assert_eq!(s["output_tokens"], 96);
    for h in [
        "ttft",
        "itl",
        "event_gap",
        "tpot",
        "e2e",
        "decode_rate",
        "e2e_rate",
    ] {
        assert!(
            v["histograms"][h].as_str().is_some_and(|b| !b.is_empty()),
            "histogram {h}"
        );
    }
    // The llama-server flavor's timings are kept per request.
    let first = std::fs::read_to_string(dir.path().join("requests.jsonl")).unwrap();
    let rec: serde_json::Value = serde_json::from_str(first.lines().last().unwrap()).unwrap();
    assert_eq!(rec["server_timings"]["predicted_n"], 16);
}

#[test]
fn the_api_key_is_sent_and_never_written() {
    // The simulator checks the bearer key: a run that measures anything
    // sent it, and one without it is refused with the server's 401.
    const KEY: &str = "sk-very-secret-123";
    let sim = spawn_sim_env(
        &[
            "--decode-tps",
            "500",
            "--ttft-ms",
            "1",
            "--api-key-env",
            "SB_TEST_KEY",
        ],
        &[("SB_TEST_KEY", KEY)],
    );
    let dir = tempfile::tempdir().unwrap();
    let args = ["-n", "2", "--output-tokens", "4"];
    run_cmd(&sim.url, dir.path(), &args)
        .args(["--api-key-env", "SB_TEST_KEY"])
        .env("SB_TEST_KEY", KEY)
        .success();
    assert_eq!(read_run_json(dir.path())["summary"]["requests"]["ok"], 2);
    for f in ["run.json", "requests.jsonl"] {
        let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
        assert!(!text.contains(KEY), "{f} leaks the key");
    }
    let keyless = tempfile::tempdir().unwrap();
    let refused = run_cmd(&sim.url, keyless.path(), &args).run();
    assert!(
        !refused.status.success(),
        "a run without the key was refused"
    );
    assert!(refused.stderr.contains("401"), "{}", refused.stderr);
}

#[test]
fn bad_input_is_a_clear_error_with_exit_code_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--base-url", "localhost:8000"], "invalid base URL"),
        (
            &[
                "run",
                "--base-url",
                "http://127.0.0.1:9",
                "--model",
                "m",
                "--extra-body",
                "[1]",
            ],
            "JSON object",
        ),
        (
            &[
                "run",
                "--base-url",
                "http://127.0.0.1:9",
                "--api-key-env",
                "SB_SURELY_UNSET_VAR",
            ],
            "not set",
        ),
        (
            &[
                "run",
                "--base-url",
                "http://127.0.0.1:9",
                "--ready-timeout",
                "1s",
            ],
            "not ready",
        ),
        (
            &["sim", "--profile", "no-such-profile"],
            "unknown built-in profile",
        ),
        (&["sim", "--fault", "boom:3"], "invalid fault"),
        (
            &["run", "--base-url", "http://127.0.0.1:9", "--turns", "101"],
            "more than 100",
        ),
        (
            &[
                "run",
                "--base-url",
                "http://127.0.0.1:9",
                "--turns",
                "2",
                "--request-rate",
                "4",
            ],
            "needs the closed loop",
        ),
        (
            &[
                "run",
                "--base-url",
                "http://127.0.0.1:9",
                "--think-time",
                "1s",
            ],
            "--turns",
        ),
        // A seed vLLM would reject (above 2^63 - 1) or llama-server would
        // read as "random" (2^32 - 1) is refused before anything is sent.
        (
            &[
                "run",
                "--base-url",
                "http://127.0.0.1:9",
                "--seed",
                "9223372036854775808",
            ],
            "up to 2147483647",
        ),
        (
            &[
                "run",
                "--base-url",
                "http://127.0.0.1:9",
                "--seed",
                "4294967295",
            ],
            "up to 2147483647",
        ),
    ];
    for (args, needle) in cases {
        let out = stackbench(*args).run();
        let err = &out.stderr;
        out.assert_code(2);
        assert!(
            err.contains(needle),
            "{args:?}: expected '{needle}' in: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    stackbench(["run", "--duration", "soon"])
        .run()
        .assert_code(2);
}

/// Waiting for a server is progress the command shows (the library only
/// reports it), and `-q` keeps it quiet; the refusal is still an error.
/// Regression: a sweep level that no run could make (here an open-loop
/// rate that offers no request in the duration) was refused only when its
/// turn came, after the earlier levels had run; every level is checked
/// before the first, by the rules a single run's flags go through.
#[test]
fn a_bad_sweep_level_is_refused_before_the_first_level_runs() {
    let (_sim, url) = sim(&["--decode-tps", "2000", "--ttft-ms", "1"]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let args = [
        "--output-tokens",
        "4",
        "--request-rate",
        "20,0.01",
        "--duration",
        "1s",
    ];
    let r = run_cmd(&url, &out, &args).run();
    r.assert_code(2);
    assert!(
        r.stderr
            .contains("--request-rate: 0.01 requests/s for 1 s offers no request"),
        "{}",
        r.stderr
    );
    assert!(!out.exists(), "a level ran first: {}", out.display());
}

#[test]
fn waiting_for_a_server_is_shown_unless_quiet() {
    let wait = |quiet: bool| {
        let mut c = stackbench([
            "run",
            "--base-url",
            "http://127.0.0.1:9",
            "--ready-timeout",
            "1s",
        ]);
        if quiet {
            c.arg("-q");
        }
        let out = c.run();
        out.assert_code(2);
        out.stderr
    };
    let shown = "waiting for http://127.0.0.1:9/health to be ready";
    let loud = wait(false);
    assert!(loud.contains(shown), "{loud}");
    let quiet = wait(true);
    assert!(!quiet.contains(shown), "{quiet}");
    assert!(quiet.contains("not ready"), "{quiet}");
}

#[test]
fn help_explains_the_commands() {
    let text = stackbench(["--help"]).success().stdout;
    for cmd in ["run", "sim", "demo", "suite", "table", "probe"] {
        assert!(text.contains(&format!("  {cmd} ")), "{cmd} missing: {text}");
    }
    let text = stackbench(["suite", "--help"]).success().stdout;
    for flag in ["--only", "--dry-run", "--out", "--set", "KEY=VALUE"] {
        assert!(text.contains(flag), "{flag} missing from suite --help");
    }
    let text = stackbench(["run", "--help"]).success().stdout;
    for flag in [
        "--base-url",
        "--concurrency",
        "--num-requests",
        "--duration",
        "--warmup-requests",
        "--api-key-env",
        "--output-tokens",
    ] {
        assert!(text.contains(flag), "{flag} missing from run --help");
    }
}
