//! `stackbench compare` through the binary, on simulated runs with a known
//! difference: a 10 % slower decode is a regression (exit 1, a failing
//! JUnit case); the same profile with another seed is not (exit 0); runs of
//! different workloads (by `core::workload`'s keys, `ignore_eos` alone
//! included) are refused unless `--allow-mismatch`, by `compare`, `table`
//! and `report` alike.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use crate::common::{compare_bin as compare, run_bin, spawn_sim, stackbench};

/// A c=1 run and a c=4 run of a simulated vLLM decoding at `tps`.
fn runs(tps: &str, dir: &Path, output_tokens: &str) {
    runs_with(&[], tps, dir, output_tokens);
}

/// [`runs`] on a simulator given `sim_extra` arguments too.
fn runs_with(sim_extra: &[&str], tps: &str, dir: &Path, output_tokens: &str) {
    let sim_args = ["--profile", "vllm-nvfp4", "--decode-tps", tps];
    let sim = spawn_sim(&[&sim_args[..], &["--tokens-per-event", "1"], sim_extra].concat());
    for (c, n) in [("1", "20"), ("4", "40")] {
        let out = run_bin(
            &sim.url,
            &dir.join(format!("c{c}")),
            &[
                "-c",
                c,
                "-n",
                n,
                "--output-tokens",
                output_tokens,
                "--prompt-tokens",
                "16",
                "--stack",
                "sim",
            ],
        );
        out.assert_success();
    }
}

#[test]
fn a_ten_percent_slower_decode_is_a_regression_and_a_reseeded_run_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let (base, same, slow) = (
        dir.path().join("base"),
        dir.path().join("same"),
        dir.path().join("slow"),
    );
    runs("200", &base, "40");
    runs("200", &same, "40");
    runs("180", &slow, "40");

    let junit = dir.path().join("junit.xml");
    let json = dir.path().join("compare.json");
    let (code, md, err) = compare(
        &base,
        &slow,
        &[
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(1), "{md}\n{err}");
    assert!(md.contains("REGRESSED"), "{md}");
    let x = std::fs::read_to_string(&junit).unwrap();
    assert!(
        x.contains("<testcase classname=\"sim.c1\" name=\"decode_tok_s_p50\">\n      <failure"),
        "{x}"
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let c1 = v["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["scenario"] == "c1")
        .unwrap();
    let decode = c1["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "decode_tok_s_p50")
        .unwrap();
    assert_eq!(decode["verdict"], "regressed");
    let change = decode["change"].as_f64().unwrap();
    assert!(
        (change + 10.0).abs() < 1.5,
        "measured change {change}% for a 10% slower decode"
    );
    let [lo, hi] = [
        decode["interval"][0].as_f64().unwrap(),
        decode["interval"][1].as_f64().unwrap(),
    ];
    assert!(lo <= change && change <= hi && hi < -5.0, "{decode}");

    // A busy test box can saturate the client for real (a flag, which
    // fails the gate): the statistics are the point here.
    let (code, md, err) = compare(&base, &same, &["--allow", "saturated"]);
    assert_eq!(
        code,
        Some(0),
        "the same profile with another seed: {md}\n{err}"
    );
    assert!(!md.contains("REGRESSED"), "{md}");
}

/// A candidate whose server breaks every 5th request (20 % failed, above
/// the 5 % the gate allows) is flagged `errors` in each pair, and the
/// JSON names the flag and says why: the gate fails (exit 1).
#[test]
fn a_candidate_with_failed_requests_is_flagged_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (base, bad) = (dir.path().join("base"), dir.path().join("bad"));
    runs("200", &base, "16");
    runs_with(&["--fault", "reset:5"], "200", &bad, "16");
    let json = dir.path().join("compare.json");
    let args = ["--allow", "saturated", "--json", json.to_str().unwrap()];
    let (code, md, err) = compare(&base, &bad, &args);
    assert_eq!(code, Some(1), "{md}\n{err}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    for pair in v["pairs"].as_array().unwrap() {
        let flags = pair["flags"].as_array().unwrap();
        assert!(
            flags.iter().any(|f| f["kind"] == "errors"
                && f["text"]
                    .as_str()
                    .unwrap()
                    .contains("of the candidate's requests failed")),
            "{pair}"
        );
    }
}

#[test]
fn different_workloads_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    runs("400", &a, "16");
    runs("400", &b, "24");
    let (code, _, err) = compare(&a, &b, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("output_tokens 16 vs 24") && err.contains("--allow-mismatch"),
        "{err}"
    );
    let (code, md, err) = compare(&a, &b, &["--allow-mismatch"]);
    assert!(code == Some(0) || code == Some(1), "{err}");
    assert!(md.contains("workload mismatch"), "{md}");
    let (code, _, err) = compare(&a, &b, &["--threshold", "speed=3"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown metric 'speed'"), "{err}");
}

/// The case: two runs that differ only in whether `ignore_eos` was
/// sent (which requests end early, so which are counted) are not the same
/// workload. `compare` refuses them (exit 2) naming the key, and with
/// `--allow-mismatch` compares them and lists it; `table` pools them as
/// repeats of one row, so it refuses them too, and lists it when allowed;
/// so does `report`.
#[test]
fn runs_differing_only_in_ignore_eos_are_refused_and_named_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("eos"), dir.path().join("no-eos"));
    let sim = spawn_sim(&["--profile", "vllm-nvfp4", "--decode-tps", "400"]);
    for (out, extra) in [(&a, None), (&b, Some("--no-ignore-eos"))] {
        let mut args = vec!["-n", "20", "--output-tokens", "16", "--prompt-tokens", "16"];
        args.extend(["--stack", "sim", "--seed", "7"]);
        args.extend(extra);
        run_bin(&sim.url, out, &args).assert_success();
    }
    let (code, md, err) = compare(&a, &b, &[]);
    assert_eq!(code, Some(2), "{md}\n{err}");
    assert!(
        err.contains(
            "sim/c1: the workloads differ (ignore_eos true vs false); pass --allow-mismatch"
        ),
        "{err}"
    );
    let (json, junit) = (dir.path().join("compare.json"), dir.path().join("c.xml"));
    let (code, md, err) = compare(
        &a,
        &b,
        &[
            "--allow-mismatch",
            "--json",
            json.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    assert!(code == Some(0) || code == Some(1), "{md}\n{err}");
    assert!(
        md.contains(
            "- **workload mismatch** (compared with --allow-mismatch): ignore_eos true vs false\n"
        ),
        "{md}"
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(
        v["pairs"][0]["mismatches"],
        serde_json::json!([{"key": "ignore_eos", "a": "true", "b": "false"}])
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("name=\"workload\">\n      <system-out>compared with --allow-mismatch although the workloads differ: ignore_eos true vs false"),
        "{xml}"
    );

    let table = stackbench(["table"]).arg(&a).arg(&b).run();
    assert_eq!(table.code(), Some(2), "{table}");
    assert!(
        table
            .stderr
            .contains("(pooled into one row): ignore_eos true vs false")
            && table.stderr.contains("pass --allow-mismatch"),
        "{table}"
    );
    let table = stackbench(["table", "--allow-mismatch"])
        .arg(&a)
        .arg(&b)
        .run();
    table.assert_success();
    assert!(
        table.stdout.contains("Workload differences:")
            && table
                .stdout
                .contains("(pooled into one row): ignore_eos true vs false"),
        "{table}"
    );
    // `report` alike: refused, then listed on the page and on stderr.
    let page = dir.path().join("report");
    let report = stackbench(["report"])
        .arg(&a)
        .arg(&b)
        .arg("--out")
        .arg(&page)
        .run();
    assert_eq!(report.code(), Some(2), "{report}");
    assert!(!page.exists(), "a refused report writes nothing");
    let report = stackbench(["report", "--allow-mismatch"])
        .arg(&a)
        .arg(&b)
        .arg("--out")
        .arg(&page)
        .run();
    report.assert_success();
    assert!(
        report.stderr.contains("ran different workloads:"),
        "{report}"
    );
    let html = std::fs::read_to_string(page.join("report.html")).unwrap();
    assert!(
        html.contains("(pooled into one row): ignore_eos true vs false</p>"),
        "{html}"
    );
}

/// A scenario only one side ran is listed in `unmatched` with its side,
/// stack, scenario and folder, is a skipped `paired` case (exit 0), and
/// fails the gate with `--strict`.
#[test]
fn a_scenario_one_side_lacks_is_unmatched_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let sim = spawn_sim(&["--profile", "vllm-nvfp4", "--decode-tps", "1000"]);
    let (base, cand) = (dir.path().join("base"), dir.path().join("cand"));
    let quick = ["-n", "5", "--output-tokens", "8", "--prompt-tokens", "16"];
    for (folder, c) in [(&base, "1"), (&base, "2"), (&cand, "1")] {
        let args = [&quick[..], &["-c", c, "--stack", "sim"]].concat();
        run_bin(&sim.url, &folder.join(format!("c{c}")), &args).assert_success();
    }
    let json = dir.path().join("compare.json");
    // A busy test box can flag the client (saturated, disagree): the
    // pairing is the point here.
    let allow = ["--allow", "saturated", "--allow", "disagree"];
    let extra = [&allow[..], &["--json", json.to_str().unwrap()]].concat();
    let (code, md, err) = compare(&base, &cand, &extra);
    assert_eq!(code, Some(0), "{md}\n{err}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let unmatched = v["unmatched"].as_array().unwrap();
    assert_eq!(unmatched.len(), 1, "{v}");
    let u = &unmatched[0];
    assert_eq!(
        (&u["side"], &u["stack"], &u["scenario"]),
        (&"baseline".into(), &"sim".into(), &"c2".into()),
        "{u}"
    );
    let shown = u["dir"].as_str().unwrap();
    assert!(Path::new(shown).ends_with("base/c2"), "{u}");
    assert_eq!(v["pairs"].as_array().unwrap().len(), 1, "{v}");
    let skipped = v["gate"]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["class"] == "sim.c2")
        .unwrap();
    assert_eq!(
        (&skipped["name"], &skipped["outcome"]),
        (&"paired".into(), &"skipped".into()),
        "{skipped}"
    );
    let (code, md, err) = compare(&base, &cand, &[&allow[..], &["--strict"]].concat());
    assert_eq!(
        code,
        Some(1),
        "--strict fails on a skipped case: {md}\n{err}"
    );
}
