//! `--dataset`: the shipped datasets are what `scripts/gen-datasets.py`
//! writes; JSONL and ShareGPT runs against the simulator (counting prompts
//! with the real SmolLM2 tokenizer) send each selected entry with its own
//! output length, honour the filters, and record a selection hash that
//! repeats with the seed and changes without it.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::common::repo;

use std::path::{Path, PathBuf};

use crate::common::{read_run_json, run_bin, spawn_sim, SimProc};

fn tokenizer() -> PathBuf {
    repo().join("crates/tokenize/tests/fixtures/smollm2-135m-instruct")
}

fn dataset(name: &str) -> String {
    repo().join("datasets").join(name).display().to_string()
}

fn records(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("requests.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_shipped_datasets_are_what_the_generator_writes() {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("python3")
        .arg(repo().join("scripts/gen-datasets.py"))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    for name in ["smoke.jsonl", "smoke-sharegpt.json"] {
        assert_eq!(
            std::fs::read(dir.path().join(name)).unwrap(),
            std::fs::read(repo().join("datasets").join(name)).unwrap(),
            "{name}: run scripts/gen-datasets.py and commit the result"
        );
    }
}

fn run(url: &str, file: &str, extra: &[&str]) -> (common::Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let t = tokenizer();
    let mut args = vec![
        "--dataset",
        file,
        "--tokenizer",
        t.to_str().unwrap(),
        "--warmup-requests",
        "0",
        "-c",
        "4",
    ];
    args.extend_from_slice(extra);
    let out = run_bin(url, dir.path(), &args);
    (out, dir)
}

/// A fast simulator that counts prompts with the SmolLM2 tokenizer.
fn sim_with_tokenizer() -> SimProc {
    let t = tokenizer();
    spawn_sim(&[
        "--decode-tps".as_ref(),
        "3000".as_ref(),
        "--tokenizer".as_ref(),
        t.as_os_str(),
    ])
}

#[test]
fn dataset_runs_send_every_entry_with_its_own_length() {
    let sim = sim_with_tokenizer();
    let jsonl = dataset("smoke.jsonl");
    let filtered = [
        "--dataset-sample",
        "12",
        "--dataset-max-prompt-tokens",
        "100",
        "-n",
        "12",
        "--seed",
        "5",
    ];
    let (out, a) = run(&sim.url, &jsonl, &filtered);
    out.assert_success();
    let info = read_run_json(a.path())["load"]["dataset"].clone();
    assert_eq!(
        (info["format"].as_str(), info["selected"].as_u64()),
        (Some("jsonl"), Some(12))
    );
    assert!(info["lengths_counted_by"]
        .as_str()
        .unwrap()
        .contains("local tokenizer"));
    let recs = records(a.path());
    assert_eq!(recs.len(), 12);
    let outputs: u64 = recs
        .iter()
        .map(|r| r["output_tokens"].as_u64().unwrap())
        .sum();
    assert_eq!(
        Some(outputs),
        info["output_tokens_total"].as_u64(),
        "each entry's own output length"
    );
    for r in &recs {
        // The filter counts the prompt text; the server adds the chat
        // template (SmolLM2: about 30 tokens, more with a system message).
        let p = r["prompt_tokens"].as_u64().unwrap();
        assert!(
            p <= 100 + 50,
            "prompt of {p} tokens passed a 100-token filter"
        );
        assert!(!r["short"].as_bool().unwrap_or(false));
    }
    let (_, b) = run(&sim.url, &jsonl, &filtered);
    let mut other_seed = filtered;
    other_seed[7] = "6";
    let (_, c) = run(&sim.url, &jsonl, &other_seed);
    let hash = |d: &Path| read_run_json(d)["load"]["dataset"]["sha256"].clone();
    assert_eq!(hash(a.path()), hash(b.path()));
    assert_ne!(hash(a.path()), hash(c.path()));

    let (out, d) = run(&sim.url, &dataset("smoke-sharegpt.json"), &["-n", "24"]);
    out.assert_success();
    let info = read_run_json(d.path())["load"]["dataset"].clone();
    assert_eq!(
        (
            info["entries"].as_u64(),
            info["skipped"].as_u64(),
            info["selected"].as_u64()
        ),
        (Some(26), Some(2), Some(24))
    );
    let outputs: u64 = records(d.path())
        .iter()
        .map(|r| r["output_tokens"].as_u64().unwrap())
        .sum();
    assert_eq!(Some(outputs), info["output_tokens_total"].as_u64());
    assert_eq!(info["repeated"], false);

    let (out, _e) = run(&sim.url, &jsonl, &["--api", "completions", "-n", "2"]);
    out.assert_code(2);
    assert!(out.stderr.contains("chat messages"));
}

/// `n` JSONL conversations of two user turns each; conversation `i`'s
/// first user message is `conversation i`.
fn conversations(dir: &Path, n: usize) -> String {
    let lines: Vec<String> = (0..n)
        .map(|i| {
            serde_json::json!({
                "messages": [
                    {"role": "user", "content": format!("conversation {i}")},
                    {"role": "assistant", "content": "an answer of theirs"},
                    {"role": "user", "content": format!("conversation {i}, second turn")},
                ],
                "output_tokens": 4,
            })
            .to_string()
        })
        .collect();
    let path = dir.join("conversations.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    path.display().to_string()
}

/// The conversations a simulator that recorded to `log` was sent, by the
/// number in their first user message.
fn conversations_sent(log: &Path) -> std::collections::BTreeSet<u64> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|r| {
            let first = r["body"]["messages"][0]["content"].as_str()?.to_string();
            first.strip_prefix("conversation ")?.parse().ok()
        })
        .collect()
}

/// Bug: every turn drew its own dataset entry and a conversation's later
/// turns threw theirs away, so `--turns 2 -c 8 -n 32` sent conversations
/// 0–7 and 16–23 and `-c 1` sent 0, 2, 4, …: which conversations a run
/// sent hung on how turns interleaved. Conversation k now takes entry k.
#[test]
fn dataset_conversations_are_the_same_at_any_concurrency_and_none_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let file = conversations(dir.path(), 40);
    let sent = |c: &str| {
        let log = dir.path().join(format!("received-c{c}.jsonl"));
        let sim = spawn_sim(&[
            "--ttft-ms",
            "5",
            "--decode-tps",
            "2000",
            "--record-requests",
            log.to_str().unwrap(),
        ]);
        let out = dir.path().join(format!("run-c{c}"));
        let args = [
            "--dataset",
            &file,
            "--turns",
            "2",
            "-n",
            "32",
            "-c",
            c,
            "--seed",
            "9",
            "--warmup-requests",
            "0",
        ];
        run_bin(&sim.url, &out, &args).assert_success();
        conversations_sent(&log)
    };
    let one = sent("1");
    let eight = sent("8");
    assert_eq!(one, eight, "the same conversations at -c 1 and -c 8");
    assert_eq!(
        one,
        (0..16).collect(),
        "32 turns: conversations 0 to 15, none skipped"
    );
}

/// A tokenizer that knows three words and no unknown token: encoding any
/// other word fails.
fn three_word_tokenizer(dir: &Path) -> PathBuf {
    let t = dir.join("three-words");
    std::fs::create_dir_all(&t).unwrap();
    let json = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": null,
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": {"hello": 0, "there": 1, "friend": 2}, "unk_token": "[UNK]"},
    });
    std::fs::write(t.join("tokenizer.json"), json.to_string()).unwrap();
    t
}

/// Bug: a length the tokenizer could not count fell back to 4 characters
/// a token without a word, while `run.json` named the tokenizer as the
/// counter. The run now stops (exit 2) naming the entry.
#[test]
fn a_dataset_entry_the_tokenizer_cannot_count_stops_the_run_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let tokenizer = three_word_tokenizer(dir.path());
    let file = dir.path().join("sharegpt.json");
    let turn = |from: &str, value: &str| serde_json::json!({"from": from, "value": value});
    let items = serde_json::json!([
        {"conversations": [turn("human", "hello"), turn("gpt", "hello there friend")]},
        {"conversations": [turn("human", "hello"), turn("gpt", "hello zebra crossing")]},
    ]);
    std::fs::write(&file, items.to_string()).unwrap();
    let sim = spawn_sim(&["--decode-tps", "2000"]);
    let out = run_bin(
        &sim.url,
        &dir.path().join("run"),
        &[
            "--dataset",
            file.to_str().unwrap(),
            "--tokenizer",
            tokenizer.to_str().unwrap(),
            "-n",
            "2",
        ],
    );
    out.assert_code(2);
    assert!(
        out.stderr.contains("entry 2") && out.stderr.contains("hello zebra crossing"),
        "{}",
        out.stderr
    );
}

/// `--dataset-min-prompt-tokens` and `--dataset-max-output-tokens` keep
/// only the entries within both, send nothing else, and are recorded in
/// `load.dataset`.
#[test]
fn the_lower_prompt_and_output_filters_are_honoured_and_recorded() {
    let sim = sim_with_tokenizer();
    let filters = [
        "--dataset-min-prompt-tokens",
        "40",
        "--dataset-max-output-tokens",
        "16",
        "-n",
        "8",
    ];
    let (out, d) = run(&sim.url, &dataset("smoke.jsonl"), &filters);
    out.assert_success();
    let info = read_run_json(d.path())["load"]["dataset"].clone();
    assert_eq!(
        (
            info["min_prompt_tokens"].as_u64(),
            info["max_output_tokens"].as_u64()
        ),
        (Some(40), Some(16)),
        "{info}"
    );
    let (entries, skipped) = (info["entries"].as_u64(), info["skipped"].as_u64());
    assert!(skipped > Some(0) && skipped < entries, "{info}");
    let recs = records(d.path());
    assert_eq!(recs.len(), 8);
    for r in &recs {
        // The filter counts the prompt text; the server's count adds the
        // chat template, so it can only be higher.
        assert!(r["prompt_tokens"].as_u64().unwrap() >= 40, "{r}");
        assert!(r["output_tokens"].as_u64().unwrap() <= 16, "{r}");
    }
}
