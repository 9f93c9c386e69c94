//! `--prompt-tokens` against servers without a tokenizer endpoint: the
//! simulator in Ollama flavor counting prompts with the real SmolLM2
//! tokenizer and chat template (as Ollama reports `prompt_eval_count`)
//! sized by `--tokenizer` on the client, and the simulator in vLLM flavor
//! sized by calibration requests; a target shorter than the template is
//! refused. (The real llama-server's own endpoints are in
//! `llama_server.rs`.)
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::common::stackbench;

use std::path::{Path, PathBuf};

use crate::common::{read_run_json, run_bin, spawn_sim};

fn tokenizer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tokenize/tests/fixtures/smollm2-135m-instruct")
}

fn run(url: &str, api: &str, target: u32, extra: &[&str]) -> (common::Output, tempfile::TempDir) {
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
            out.assert_success();
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
    out.assert_success();
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
    out.assert_code(2);
    let err = &out.stderr;
    assert!(err.contains("--prompt-tokens 6 is too short"), "{err}");
}

/// Suites size prompts the same way: a stack's `tokenizer` (relative to
/// its file) for a server without a tokenizer endpoint, and the suite's
/// `shared-prefix-tokens`, both recorded in `run.json`.
#[test]
fn suites_take_a_stack_tokenizer_and_a_shared_prefix() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(tokenizer(), dir.path().join("tok")).unwrap();
    let port = common::server_proc::free_port();
    let stack = format!(
        "name = \"o\"\nflavor = \"ollama\"\nmetrics = false\ntokenizer = \"tok\"\nready-timeout = \"20s\"\n[launch.process]\ncommand = [\"{BIN}\", \"sim\", \"--flavor\", \"ollama\", \"--decode-tps\", \"500\", \"--tokenizer\", \"{}\", \"--port\", \"{port}\"]\nport = {port}\n",
        tokenizer().display(),
        BIN = common::BIN
    );
    let suite = common::write_suite(
        dir.path(),
        "p",
        &[("o.toml", stack)],
        "[defaults]\nprompt-tokens = 200\noutput-tokens = 4\nwarmup-requests = 0\nshared-prefix-tokens = 50\n[[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 3\n",
    );
    let out_dir = dir.path().join("out");
    let out = stackbench(["suite", "-q", "--out"])
        .arg(&out_dir)
        .arg(&suite)
        .run();
    out.assert_success();
    let run_dir = out_dir.join("o/c1");
    let (counts, sizing) = reported(&run_dir);
    assert!(
        sizing["source"]
            .as_str()
            .unwrap()
            .contains("local tokenizer"),
        "{sizing}"
    );
    assert_eq!(read_run_json(&run_dir)["load"]["shared_prefix_tokens"], 50);
    assert!(counts.iter().all(|&n| n == 200), "{counts:?}");
}
