//! `run.json`'s closed sets (`target.api`, `server.flavor`, `launch.kind`,
//! `summary.output_tok_s_source`, `load.dataset.format`) are typed, with no
//! change to the format: every run.json this repository keeps (test
//! fixtures and committed results) reads and writes back unchanged, and a
//! name from a newer stackbench is kept as it was.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use stackbench_core::kinds::{Api, LaunchKind, RateSource, Recorded, ServerKind};
use stackbench_core::run_file::RunFile;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            run_files(&p, out);
        } else if p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n == "run.json" || (n.starts_with("run-") && n.ends_with(".json")))
        {
            out.push(p);
        }
    }
}

fn all_run_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in [
        "results",
        "crates/report/tests/fixtures",
        "crates/runner/tests/fixtures",
    ] {
        run_files(&repo().join(d), &mut out);
    }
    out
}

/// Every value of `old` is in `new` at the same place, unchanged.
fn assert_kept(old: &Value, new: &Value, at: &str) {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            for (k, v) in o {
                let there = n.get(k).unwrap_or_else(|| panic!("{at}/{k} was dropped"));
                assert_kept(v, there, &format!("{at}/{k}"));
            }
        }
        _ => assert_eq!(old, new, "{at}"),
    }
}

#[test]
fn every_kept_run_json_round_trips_unchanged() {
    let files = all_run_files();
    assert!(files.len() >= 20, "found only {files:?}");
    let mut v2_or_later = 0;
    for path in &files {
        let text = std::fs::read(path).unwrap();
        let original: Value = serde_json::from_slice(&text).unwrap();
        let file = RunFile::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let again = serde_json::to_value(&file).unwrap();
        // The closed sets are written back exactly as read.
        for ptr in [
            "/target/api",
            "/server/flavor",
            "/launch/kind",
            "/summary/output_tok_s_source",
            "/load/dataset/format",
            "/stack/flavor",
            "/stack/api",
        ] {
            assert_eq!(
                original.pointer(ptr),
                again.pointer(ptr),
                "{} {ptr}",
                path.display()
            );
        }
        // Version 1 files are upgraded as they are read; in later ones
        // every value comes back as it was (fields added since are filled
        // with their defaults).
        if original["schema_version"].as_u64() >= Some(2) {
            v2_or_later += 1;
            assert_kept(&original, &again, &path.display().to_string());
        }
    }
    assert!(v2_or_later >= 10, "{v2_or_later}");
}

#[test]
fn the_kept_files_hold_known_names() {
    for path in all_run_files() {
        let file = RunFile::from_json(&std::fs::read(&path).unwrap()).unwrap();
        assert!(file.target.api.known().is_some(), "{}", path.display());
        assert!(file.summary.output_tok_s_source.known().is_some());
        if let Some(f) = &file.server.flavor {
            assert!(f.known().is_some(), "{}", path.display());
        }
        if let Some(l) = &file.launch {
            assert!(l.kind.known().is_some(), "{}", path.display());
        }
    }
    let demo = repo().join("crates/runner/tests/fixtures/run-v1-demo.json");
    let file = RunFile::from_json(&std::fs::read(demo).unwrap()).unwrap();
    assert_eq!(file.target.api, Api::LlamaNative);
    assert_eq!(file.summary.output_tok_s_source, RateSource::SteadyWindow);
}

#[test]
fn names_from_a_newer_stackbench_read_as_other_and_write_back() {
    let path = repo().join("crates/report/tests/fixtures/run-v2-sim.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["target"]["api"] = "responses".into();
    v["server"]["flavor"] = "sglang".into();
    v["summary"]["output_tok_s_source"] = "ewma".into();
    v["launch"] = serde_json::json!({"kind": "kubernetes"});
    let file = RunFile::from_json(v.to_string().as_bytes()).unwrap();
    assert_eq!(file.target.api, Recorded::Other("responses".into()));
    assert_eq!(
        file.server.flavor,
        Some(Recorded::<ServerKind>::Other("sglang".into()))
    );
    assert_eq!(file.summary.output_tok_s_source, "ewma");
    assert_eq!(
        file.launch.as_ref().map(|l| l.kind.clone()),
        Some(Recorded::<LaunchKind>::Other("kubernetes".into()))
    );
    let again = serde_json::to_value(&file).unwrap();
    assert_eq!(again["target"]["api"], "responses");
    assert_eq!(again["server"]["flavor"], "sglang");
    assert_eq!(again["summary"]["output_tok_s_source"], "ewma");
    assert_eq!(again["launch"]["kind"], "kubernetes");
}
