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

/// A 3-turn conversation run of a reasoning model on a server that
/// reports its prompt cache, with `--thinking on` and a cache salt.
fn conversation() -> RunFile {
    let dist = |p50: f64| json!({"count": 4, "mean": p50, "min": p50, "p10": p50, "p50": p50, "p90": p50 * 1.2, "p99": p50 * 1.2, "max": p50 * 1.2});
    run(|v| {
        v["load"]["concurrency"] = json!(2);
        v["load"]["turns"] = json!(3);
        v["load"]["think_time_s"] = json!(0.5);
        v["load"]["thinking"] = json!("on");
        v["load"]["cache_salt"] = json!("5f0c2a9e81d4b736");
        v["load"]["switches"] = json!({"chat_template_kwargs": {"enable_thinking": true}});
        let s = &mut v["summary"];
        s["ttfat_ms"] = dist(410.0);
        s["reasoning_tokens"] = json!(691);
        s["reasoning_requests"] = json!(12);
        s["ok_output_tokens"] = json!(1152);
        s["reasoning_share"] = json!(0.6);
        s["cached_prompt_tokens"] = json!(2048);
        s["cache_reported_prompt_tokens"] = json!(4608);
        s["cache_hit_share"] = json!(2048.0 / 4608.0);
        s["turns"] = json!([
            {"turn": 1, "requests": 4, "prompt_tokens": 512, "cached_prompt_tokens": 0, "cache_reported_prompt_tokens": 512, "cache_hit_share": 0.0, "ttft_ms": dist(70.0), "prefill_tok_s": dist(1830.0)},
            {"turn": 2, "requests": 4, "prompt_tokens": 1536, "cached_prompt_tokens": 768, "cache_reported_prompt_tokens": 1536, "cache_hit_share": 0.5, "ttft_ms": dist(48.0), "prefill_tok_s": dist(4000.0)},
            {"turn": 3, "requests": 4, "prompt_tokens": 2560, "cached_prompt_tokens": 1280, "cache_reported_prompt_tokens": 2560, "cache_hit_share": 0.5, "ttft_ms": dist(71.0), "prefill_tok_s": dist(4507.0)}
        ]);
    })
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

#[test]
fn a_conversation_of_a_reasoning_model_reads_as_before() {
    check(
        "summary-conversation.md",
        &stackbench_report::run_summary(&conversation()),
    );
}

#[test]
fn the_tables_of_reasoning_runs_with_a_prompt_cache_read_as_before() {
    let vllm = conversation();
    let mut ollama = conversation();
    if let Some(s) = ollama.stack.as_mut() {
        s.name = "sim-ollama-q4km".into();
        s.label = Some("Ollama".into());
    }
    ollama.target.quantization = Some("Q4_K_M".into());
    ollama.summary.cache_hit_share = None;
    ollama.summary.cache_reported_prompt_tokens = 0;
    ollama.summary.reasoning_share = Some(0.55);
    check(
        "tables-conversation.md",
        &stackbench_report::comparison_tables(&[vllm, ollama]),
    );
}
