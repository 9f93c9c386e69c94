//! `--prompt-tokens` against servers without a tokenizer endpoint: the
//! simulator in Ollama flavor counting prompts with the real SmolLM2
//! tokenizer and chat template (as Ollama reports `prompt_eval_count`)
//! sized by `--tokenizer` on the client, and the simulator in vLLM flavor
//! sized by calibration requests; a target shorter than the template is
//! refused. (The real llama-server's own endpoints are in
//! `llama_server.rs`.)
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{read_run_json, run_bin, spawn_sim};

fn tokenizer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tokenize/tests/fixtures/smollm2-135m-instruct")
}

fn run(
    url: &str,
    api: &str,
    target: u32,
    extra: &[&str],
) -> (std::process::Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let target = target.to_string();
    let mut args = vec!["--api", api, "-c", "2", "-n", "4", "--output-tokens", "4"];
    args.extend(["--prompt-tokens", &target]);
    args.extend_from_slice(extra);
    let out = run_bin(url, dir.path(), &args);
    (out, dir)
}

/// Every record's reported prompt length, and the sizing record.
fn reported(dir: &Path) -> (Vec<u64>, serde_json::Value) {
    let text = std::fs::read_to_string(dir.join("requests.jsonl")).unwrap();
    let counts = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["prompt_tokens"]
                .as_u64()
                .unwrap()
        })
        .collect();
    (counts, read_run_json(dir)["load"]["prompt_sizing"].clone())
}

#[test]
fn a_local_tokenizer_sizes_prompts_exactly_for_ollama() {
    let t = tokenizer();
    let sim = spawn_sim(&[
        "--flavor".as_ref(),
        "ollama".as_ref(),
        "--decode-tps".as_ref(),
        "500".as_ref(),
        "--tokenizer".as_ref(),
        t.as_os_str(),
    ]);
    for api in ["chat", "ollama-chat", "ollama-generate"] {
        for target in [128, 512, 1024] {
            let (out, dir) = run(&sim.url, api, target, &["--tokenizer", t.to_str().unwrap()]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let (counts, sizing) = reported(dir.path());
            assert_eq!(sizing["exact"], true, "{sizing}");
            assert!(
                sizing["source"]
                    .as_str()
                    .unwrap()
                    .contains("local tokenizer"),
                "{sizing}"
            );
            assert_eq!(counts.len(), 5, "warm-up and measured requests");
            for n in counts {
                assert!(
                    n.abs_diff(u64::from(target)) <= 1,
                    "{api}: asked {target}, counted {n}"
                );
            }
        }
    }
}

#[test]
fn calibration_requests_size_prompts_when_nothing_else_can() {
    let sim = spawn_sim(&["--profile", "vllm-nvfp4", "--decode-tps", "500"]);
    let (out, dir) = run(&sim.url, "chat", 200, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (counts, sizing) = reported(dir.path());
    assert_eq!(sizing["exact"], true, "{sizing}");
    assert!(
        sizing["source"].as_str().unwrap().contains("calibration"),
        "{sizing}"
    );
    assert!(counts.iter().all(|&n| n == 200), "{counts:?}");
    let file = read_run_json(dir.path());
    assert_eq!(file["summary"]["prompt_tokens_dist"]["p50"], 200.0);

    let (out, _dir) = run(&sim.url, "chat", 6, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--prompt-tokens 6 is too short"), "{err}");
}
