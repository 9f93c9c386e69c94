//! `stackbench upgrade-check`, `calibrate` and the gate's JUnit through the
//! real binary on `stackbench sim` processes (exact schedules, so the
//! verdicts are known): a candidate decoding 10 % slower regresses, exit
//! code 1, with the sides run in alternating rounds in one process; the same
//! config against itself writes thresholds; a metric with too few samples
//! is a skipped case, a stack on one side only appears as one, and a
//! saturated client fails its case unless allowed.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::common::{repo, stackbench};

use std::path::{Path, PathBuf};

use crate::common::server_proc::free_port;

/// A stack file running `stackbench sim` at `tps` tok/s as a process on
/// `port` (its PID file in the system's temp folder, unused here).
fn sim_stack(name: &str, port: u16, tps: u32) -> String {
    common::sim_stack(name, port, &pidfile(port), tps, "--tokens-per-event 1")
}

fn pidfile(port: u16) -> PathBuf {
    std::env::temp_dir().join(format!("stackbench-upgrade-test-{port}.pid"))
}

/// Stack `a`'s command at `tps` tok/s on `port`, as a `--candidate` value.
fn candidate_command(port: u16, tps: u32) -> String {
    let command = common::sim_command(port, &pidfile(port), tps, "--tokens-per-event 1");
    format!("launch.process.command={command}")
}

/// A suite of `stacks` with one c=1 scenario of `requests` requests.
fn suite(dir: &Path, stacks: &[(&str, String)], requests: u32) -> PathBuf {
    let body = format!(
        "[defaults]\noutput-tokens = 16\nprompt-tokens = 64\nwarmup-requests = 0\n[[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = {requests}\n"
    );
    common::write_suite(dir, "t", stacks, &body)
}

fn started_at(run_dir: &Path) -> String {
    common::read_run_json(run_dir)["started_at"]
        .as_str()
        .unwrap()
        .to_string()
}

fn run(args: &[&str]) -> common::Output {
    stackbench(args).current_dir(repo()).run()
}

/// A candidate decoding 10 % slower (360 vs 400 tok/s): the rounds
/// alternate baseline and candidate in one process, each side's runs land
/// in its folder recording its side, and decode tok/s regresses: exit 1,
/// with the Markdown, JSON and JUnit written.
#[test]
fn upgrade_check_alternates_the_sides_and_gates_on_a_slower_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let suite = suite(dir.path(), &[("a.toml", sim_stack("a", port, 400))], 12);
    let out = dir.path().join("check");
    let junit = dir.path().join("gate.xml");
    let slow = candidate_command(port, 360);
    let r = run(&[
        "upgrade-check",
        suite.to_str().unwrap(),
        "--stack",
        "a",
        "--candidate",
        &slow,
        "--repeat",
        "2",
        "-q",
        "--out",
        out.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    r.assert_code(1);
    let md = &r.stdout;
    let decode = md
        .lines()
        .find(|l| l.starts_with("| decode tok/s p50"))
        .unwrap_or_default();
    assert!(decode.contains("REGRESSED"), "{md}");
    assert!(
        md.contains("2 baseline and 2 candidate repeats together"),
        "{md}"
    );
    assert!(r.stderr.contains("gate FAILED: "), "{}", r.stderr);
    let order: Vec<String> = [
        "baseline/a/c1/r1",
        "candidate/a/c1/r1",
        "baseline/a/c1/r2",
        "candidate/a/c1/r2",
    ]
    .iter()
    .map(|p| started_at(&out.join(p)))
    .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "the rounds alternate A B A B");
    let cand = common::read_run_json(&out.join("candidate/a/c1/r2"));
    assert_eq!(cand["suite"]["side"], "candidate");
    assert!(cand["stack"]["launch"]["process"]["command"]
        .to_string()
        .contains("--decode-tps 360 "));
    for f in ["compare.md", "compare.json", "compare.junit.xml"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("name=\"decode_tok_s_p50\">\n      <failure"),
        "{xml}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("compare.json")).unwrap()).unwrap();
    assert_eq!(json["gate"]["failed"], true);
    assert!(json["gate"]["summary"]["regressed"].as_u64().unwrap() >= 1);
}

/// `calibrate` runs the config against itself and writes a `[compare]`
/// table: every metric with enough samples gets a threshold of at least
/// 1, which the suite then accepts as its own.
#[test]
fn calibrate_writes_thresholds_the_suite_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let suite = suite(dir.path(), &[("a.toml", sim_stack("a", port, 400))], 12);
    let out = dir.path().join("aa");
    let r = run(&[
        "calibrate",
        suite.to_str().unwrap(),
        "--stack",
        "a",
        "--repeat",
        "2",
        "-q",
        "--out",
        out.to_str().unwrap(),
    ]);
    r.assert_success();
    let toml = std::fs::read_to_string(out.join("calibration.toml")).unwrap();
    assert!(r.stdout.contains(&toml), "{}", r.stdout);
    let table: toml::Table = toml.parse().unwrap();
    let compare = table["compare"].as_table().unwrap();
    let decode = compare["decode_tok_s_p50"].as_float().unwrap();
    // The simulator's schedule is exact: its A/A spread is the client's
    // own jitter, far below the 5 % default.
    assert!((1.0..5.0).contains(&decode), "{toml}");
    assert!(
        compare.values().all(|v| v.as_float().unwrap() >= 1.0),
        "{toml}"
    );
    // Pasted into the suite, the thresholds load.
    let mut text = std::fs::read_to_string(&suite).unwrap();
    text += &toml[toml.find("\n[compare]\n").unwrap()..];
    std::fs::write(&suite, text).unwrap();
    run(&["suite", suite.to_str().unwrap(), "--dry-run"]).assert_success();
}

/// Bad input stops before anything is launched: a stack the suite lacks,
/// a candidate key given with its `stack.` prefix, an unknown `--allow`.
#[test]
fn upgrade_check_refuses_bad_input_before_launching() {
    let dir = tempfile::tempdir().unwrap();
    let suite = suite(
        dir.path(),
        &[("a.toml", sim_stack("a", free_port(), 400))],
        3,
    );
    let s = suite.to_str().unwrap();
    let cases: [(&[&str], &str); 3] = [
        (
            &["--stack", "b", "--candidate", "label=x"],
            "no stack named 'b'",
        ),
        (
            &["--stack", "a", "--candidate", "stack.a.label=x"],
            "give the key below the stack",
        ),
        (
            &[
                "--stack",
                "a",
                "--candidate",
                "label=x",
                "--allow",
                "slow",
                "--dry-run",
            ],
            "unknown flag 'slow'",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec!["upgrade-check", s];
        all.extend_from_slice(args);
        let r = run(&all);
        r.assert_code(2);
        assert!(r.stderr.contains(want), "{want}: {}", r.stderr);
    }
}

/// The JUnit of `compare` judges only what it can: with 3 requests a side
/// the per-request metrics are *skipped* cases (5 samples needed), a stack
/// on the baseline side only is a skipped case of its own, and a run
/// whose client reported itself saturated fails its `flag.saturated`
/// case (exit 1) unless `--allow saturated`; `--strict` fails the
/// skipped cases too.
#[test]
fn junit_skips_what_it_cannot_judge_and_fails_on_a_flag() {
    let dir = tempfile::tempdir().unwrap();
    let stacks = [
        ("a.toml", sim_stack("a", free_port(), 400)),
        ("b.toml", sim_stack("b", free_port(), 400)),
    ];
    let suite = suite(dir.path(), &stacks, 3);
    let side = |name: &str, only: &[&str]| {
        let out = dir.path().join(name);
        let mut args = vec!["suite", suite.to_str().unwrap(), "-q", "--out"];
        args.push(out.to_str().unwrap());
        for o in only {
            args.extend(["--only", o]);
        }
        run(&args).assert_success();
        out
    };
    let (base, cand) = (side("base", &[]), side("cand", &["a"]));
    let gate = |extra: &[&str]| {
        let xml = dir.path().join("gate.xml");
        let mut args = vec!["compare", base.to_str().unwrap(), cand.to_str().unwrap()];
        args.extend(["--junit", xml.to_str().unwrap()]);
        args.extend_from_slice(extra);
        let r = run(&args);
        (
            r.code(),
            std::fs::read_to_string(&xml).unwrap_or_default(),
            r,
        )
    };
    // A busy test box can saturate the client for real (its wake-ups
    // late): accepted here, where the skipped cases are the point.
    let (code, xml, r) = gate(&["--allow", "saturated"]);
    assert_eq!(code, Some(0), "{r}");
    assert!(
        xml.contains("name=\"ttft_p50_ms\">\n      <skipped message=\"insufficient data: 3 baseline and 3 candidate samples"),
        "{xml}"
    );
    assert!(
        xml.contains("classname=\"b.c1\" name=\"paired\">\n      <skipped message=\"baseline only"),
        "{xml}"
    );
    assert!(r.stderr.contains("gate passed: "), "{}", r.stderr);
    let (code, xml, _) = gate(&["--allow", "saturated", "--strict"]);
    assert_eq!(code, Some(1), "{xml}");
    assert!(xml.contains("skipped=\"0\""), "{xml}");

    // The candidate's client was saturated (as run.json records it when
    // the client answered its wake-ups late), whatever this box did.
    let run_json = cand.join("a/c1/run.json");
    let mut v = common::read_run_json(&cand.join("a/c1"));
    v["summary"]["client"]["saturated"] = true.into();
    v["summary"]["client"]["reasons"] = serde_json::json!(["event-loop lag p99 40 ms"]);
    std::fs::write(&run_json, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let (code, xml, r) = gate(&[]);
    assert_eq!(code, Some(1), "{r}");
    assert!(
        xml.contains("name=\"flag.saturated\">\n      <failure message=\"the client was saturated in the candidate run"),
        "{xml}"
    );
    let (code, xml, _) = gate(&["--allow", "saturated"]);
    assert_eq!(code, Some(0), "{xml}");
    assert!(xml.contains("allowed by --allow saturated"), "{xml}");
}

/// The rows of the single-user table in `md`: (Stack, tok/s, repeats).
fn single_user_rows(md: &str) -> Vec<(String, f64, String)> {
    md.split("\n## ")
        .find(|s| s.trim_start_matches("## ").starts_with("Single-user"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Stack") && !l.starts_with("| -"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let rate = cells[3].parse().unwrap_or(f64::NAN);
            (cells[1].to_string(), rate, cells[4].to_string())
        })
        .collect()
}

/// Both sides of an upgrade check carry the stack's name, and `table` on
/// the check's folder pooled them as four repeats of one row (38.9 tok/s,
/// "35.7–42.0 (n=4)"). The side is part of a run's identity: one row per
/// side, each pooling that side's two repeats, the candidate's slower.
#[test]
fn table_of_an_upgrade_check_shows_one_row_per_side() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let suite = suite(dir.path(), &[("a.toml", sim_stack("a", port, 400))], 8);
    let out = dir.path().join("check");
    let slow = candidate_command(port, 340);
    let args = ["--stack", "a", "--candidate", &slow, "--repeat", "2", "-q"];
    let r = run(&[
        &["upgrade-check", suite.to_str().unwrap()],
        &args[..],
        &["--out", out.to_str().unwrap()],
    ]
    .concat());
    assert!(matches!(r.code(), Some(0 | 1)), "{}", r.printed());
    let t = run(&["table", out.to_str().unwrap()]);
    t.assert_success();
    let rows = single_user_rows(&t.stdout);
    let names: Vec<(&str, &str)> = rows
        .iter()
        .map(|(s, _, n)| (s.as_str(), n.as_str()))
        .collect();
    assert_eq!(names.len(), 2, "{}", t.stdout);
    assert!(names[0].0.starts_with("a (baseline)"), "{}", t.stdout);
    assert!(names[1].0.starts_with("a (candidate)"), "{}", t.stdout);
    assert!(
        names.iter().all(|(_, n)| n.ends_with("(n=2)")),
        "{}",
        t.stdout
    );
    assert!(
        rows[1].1 < rows[0].1,
        "the candidate is slower: {}",
        t.stdout
    );
}
