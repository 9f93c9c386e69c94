//! The Markdown the report writes, byte for byte, for a set of runs that
//! exercises every table, mark and note: repeats, several levels, an
//! open-loop run, a saturated client, a wrong known answer, a run where no
//! request completed, a speculative roofline and published figures. The
//! expected files were written by the renderer before the tables became
//! typed data; set `STACKBENCH_BLESS=1` to rewrite them after a deliberate
//! change (and say why in the commit).
#![allow(clippy::unwrap_used)]

use std::path::Path;

use serde_json::{json, Value};
use stackbench_core::run_file::RunFile;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/run-v2-sim.json")).unwrap()
}

fn run(edit: impl FnOnce(&mut Value)) -> RunFile {
    let mut v = fixture();
    edit(&mut v);
    serde_json::from_value(v).unwrap()
}

fn runs() -> Vec<RunFile> {
    vec![
        run(|v| {
            v["stack"]["model-facts"] = json!({"total-params-b": 35.0, "active-params-b": 3.0, "bits-per-weight": 4.5, "speculative-tokens": 1});
            v["stack"]["reference"] = json!({"single-user-tok-s": 40.0, "total-tok-s": 100.0, "concurrency": 4, "source": "x", "date": "2026"});
        }),
        run(|v| {
            v["suite"]["repeat"] = json!(2);
            v["summary"]["decode_tok_s"]["p50"] = json!(44.5);
        }),
        run(|v| {
            v["stack"]["name"] = json!("sim-ollama-q4km");
            v["stack"]["label"] = json!("Ollama");
            v["target"]["stack"] = json!("Ollama");
            v["target"]["quantization"] = json!("Q4_K_M");
            v["summary"]["client"] = json!({"threads": 1, "wake_lag_ms": {"count": 0}, "probe_interval_ms": 10.0, "saturated": true, "reasons": ["late at p99"]});
            v["launch"]["known_answer"] =
                json!({"prompt": "2+2", "expect": "4", "answer": "5", "passed": false});
        }),
        run(|v| {
            v["suite"]["scenario"] = json!("c4");
            v["load"]["concurrency"] = json!(4);
            v["summary"]["output_tok_s"] = json!(150.25);
        }),
        run(|v| {
            v["stack"]["name"] = json!("sim-ollama-q4km");
            v["stack"]["label"] = json!("Ollama");
            v["target"]["stack"] = json!("Ollama");
            v["target"]["quantization"] = json!("Q4_K_M");
            v["suite"]["scenario"] = json!("c4");
            v["load"]["concurrency"] = json!(4);
            v["summary"]["requests"]["ok"] = json!(0);
            v["summary"]["requests"]["partial"] = json!(3);
            v["summary"]["decode_tok_s"]["p50"] = Value::Null;
        }),
        run(|v| {
            v["suite"] = Value::Null;
            v["stack"] = Value::Null;
            v["target"]["stack"] = json!("adhoc");
            v["load"]["request_rate"] = json!(2.5);
            v["load"]["concurrency"] = json!(8);
        }),
    ]
}

fn check(name: &str, text: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var("STACKBENCH_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, expected, "{name} differs from {}", path.display());
}

#[test]
fn the_comparison_tables_are_unchanged() {
    check("tables.md", &stackbench_report::comparison_tables(&runs()));
}

#[test]
fn the_levels_table_is_unchanged() {
    let runs = runs();
    let refs: Vec<&RunFile> = runs.iter().collect();
    check("levels.md", &stackbench_report::levels_table(&refs));
}

#[test]
fn the_run_summaries_are_unchanged() {
    let text: String = runs()
        .iter()
        .map(stackbench_report::run_summary)
        .collect::<Vec<_>>()
        .join("\n=====\n");
    check("summaries.md", &text);
}
