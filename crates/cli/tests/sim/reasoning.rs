//! Reasoning, thinking switches and multi-turn conversations through the
//! binary, against the simulator's ground truth: with a reasoning share s
//! of N output tokens, the first round(s × N) are reasoning (delimiters
//! included in the `tags` format) and the first answer token is due
//! exactly that many decode intervals after the first token.
//!
//! Tolerances: the simulator sends every token on an absolute deadline, so
//! the time from first token to first answer token is exact at the
//! server; what varies is when the client is woken for each. A median over
//! four requests stays within 5 ms of the schedule on a loaded 2-core box
//! (the client's wake-up lag there is a few ms at p99); counts are exact.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use crate::common::{measured_records, median, num, read_run_json, run_bin, spawn_sim};

/// 100 tok/s: one decode interval is 10 ms.
const INTERVAL_MS: f64 = 10.0;

/// A 60 % reasoning share over 40 tokens is 24 reasoning tokens, exactly,
/// in every flavor, every way it streams reasoning and every API, and the
/// first answer token comes 24 intervals after the first token.
#[test]
fn a_60_percent_reasoning_share_is_measured_exactly_in_every_flavor() {
    let cases = [
        ("vllm", "field", "chat"),
        ("vllm", "tags", "chat"),
        ("vllm", "close-tag", "chat"),
        ("vllm", "field", "completions"),
        ("llamacpp", "field", "chat"),
        ("llamacpp", "tags", "chat"),
        ("ollama", "field", "chat"),
        ("ollama", "field", "ollama-chat"),
        ("ollama", "field", "ollama-generate"),
        ("ollama", "tags", "ollama-chat"),
    ];
    for (flavor, format, api) in cases {
        let sim = spawn_sim(&[
            "--flavor",
            flavor,
            "--ttft-ms",
            "40",
            "--decode-tps",
            "100",
            "--reasoning-share",
            "0.6",
            "--reasoning-format",
            format,
        ]);
        let dir = tempfile::tempdir().unwrap();
        let args = ["-c", "1", "-n", "4", "--output-tokens", "40", "--api", api];
        run_bin(&sim.url, dir.path(), &args).assert_success();
        let case = format!("{flavor} {format} {api}");
        let recs = measured_records(dir.path());
        assert_eq!(recs.len(), 4, "{case}");
        for r in &recs {
            assert_eq!(num(r, "output_tokens"), 40, "{case}: {r}");
            assert_eq!(num(r, "reasoning_tokens"), 24, "{case}: {r}");
        }
        let lead = median(
            recs.iter()
                .map(|r| (num(r, "ttfat_us") - num(r, "ttft_us")) as f64 / 1000.0)
                .collect(),
        );
        assert!(
            (lead - 24.0 * INTERVAL_MS).abs() < 5.0,
            "{case}: first answer token {lead} ms after the first token, expected 240"
        );
        let run = read_run_json(dir.path());
        let share = run["summary"]["reasoning_share"].as_f64().unwrap();
        assert!((share - 0.6).abs() < 1e-9, "{case}: {share}");
        if (flavor, format) == ("vllm", "field") && api == "chat" {
            // vLLM reports its own count (tags excluded; the simulator
            // streams none in this format).
            assert!(recs.iter().all(|r| r["reasoning_tokens_server"] == 24));
        }
    }
}

/// The request bodies the simulator recorded.
fn bodies(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["body"].clone())
        .collect()
}

/// `--thinking off` reaches each stack's own switch (as the simulator,
/// which records every body, was asked), the simulated model stops
/// thinking, and the run says nothing of an ignored switch; a model that
/// never thinks makes `--thinking on` a warning, not a silent run.
#[test]
fn thinking_off_reaches_each_stacks_switch() {
    let cases: [(&str, &str, &str, serde_json::Value); 5] = [
        (
            "vllm",
            "chat",
            "/chat_template_kwargs/enable_thinking",
            false.into(),
        ),
        (
            "llamacpp",
            "chat",
            "/chat_template_kwargs/enable_thinking",
            false.into(),
        ),
        ("ollama", "chat", "/reasoning_effort", "none".into()),
        ("ollama", "ollama-chat", "/think", false.into()),
        ("ollama", "ollama-generate", "/think", false.into()),
    ];
    for (flavor, api, pointer, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("requests-received.jsonl");
        let sim = spawn_sim(&[
            "--flavor",
            flavor,
            "--ttft-ms",
            "10",
            "--decode-tps",
            "500",
            "--reasoning-share",
            "0.5",
            "--record-requests",
            log.to_str().unwrap(),
        ]);
        let out = dir.path().join("run");
        let args = [
            "-c",
            "1",
            "-n",
            "3",
            "--output-tokens",
            "16",
            "--api",
            api,
            "--thinking",
            "off",
        ];
        run_bin(&sim.url, &out, &args).assert_success();
        let measured: Vec<_> = bodies(&log)
            .into_iter()
            .filter(|b| b.pointer(pointer).is_some())
            .collect();
        assert!(
            measured.len() >= 4,
            "{flavor} {api}: warm-up and 3 measured"
        );
        assert!(
            measured.iter().all(|b| b.pointer(pointer) == Some(&want)),
            "{flavor} {api}: {measured:#?}"
        );
        let recs = measured_records(&out);
        assert!(
            recs.iter().all(|r| r.get("reasoning_tokens").is_none()),
            "{recs:#?}"
        );
        let run = read_run_json(&out);
        assert!(!run["warnings"].to_string().contains("--thinking"), "{run}");
    }
    let sim = spawn_sim(&["--flavor", "vllm", "--ttft-ms", "10", "--decode-tps", "500"]);
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "-c",
        "1",
        "-n",
        "2",
        "--output-tokens",
        "8",
        "--thinking",
        "on",
    ];
    run_bin(&sim.url, dir.path(), &args).assert_success();
    let warnings = read_run_json(dir.path())["warnings"].to_string();
    assert!(
        warnings.contains("--thinking on: none of 2 OK requests showed reasoning"),
        "{warnings}"
    );
    let refused = run_bin(
        &sim.url,
        dir.path(),
        &["--api", "completions", "--thinking", "off"],
    );
    assert_eq!(refused.code(), Some(2));
    assert!(
        refused.stderr.contains("needs a chat API"),
        "{}",
        refused.stderr
    );
}

/// A 4-turn conversation against a simulator with a prefix cache: each
/// record carries its session and turn, later turns report the history as
/// cached (whole 16-token blocks on vLLM) and prefill only their new
/// message, so their TTFT stays near the first turn's while the salted
/// run's grows with the history; with `--cache-salt` nothing is cached.
#[test]
fn a_conversation_rides_on_the_simulated_prefix_cache_unless_salted() {
    let sim = spawn_sim(&[
        "--flavor",
        "vllm",
        "--ttft-ms",
        "20",
        "--decode-tps",
        "400",
        "--prefix-cache-tokens",
        "100000",
        "--prompt-tokens-details",
    ]);
    let args = [
        "-c",
        "2",
        "-n",
        "16",
        "--turns",
        "4",
        "--prompt-tokens",
        "200",
        "--output-tokens",
        "16",
        "--warmup-requests",
        "0",
    ];
    let warm_dir = tempfile::tempdir().unwrap();
    run_bin(&sim.url, warm_dir.path(), &args).assert_success();
    let warm = measured_records(warm_dir.path());
    assert_eq!(warm.len(), 16);
    let mut sessions: Vec<u64> = warm.iter().map(|r| num(r, "session")).collect();
    sessions.sort_unstable();
    sessions.dedup();
    assert_eq!(sessions.len(), 4, "4 conversations of 4 turns");
    for r in &warm {
        let cached = num(r, "cached_prompt_tokens");
        if num(r, "turn") > 1 {
            assert!(cached > 0 && cached % 16 == 0, "{r}");
            assert!(
                num(r, "prompt_tokens") - cached <= 200 + 32,
                "only the new message: {r}"
            );
        }
    }
    let salted_dir = tempfile::tempdir().unwrap();
    let mut salted_args = args.to_vec();
    salted_args.push("--cache-salt");
    run_bin(&sim.url, salted_dir.path(), &salted_args).assert_success();
    let salted = measured_records(salted_dir.path());
    assert!(
        salted.iter().all(|r| r["cached_prompt_tokens"] == 0),
        "{salted:#?}"
    );
    assert!(crate::common::turn_ttft_ms(&salted, 4) > 1.5 * crate::common::turn_ttft_ms(&warm, 4));
    let summary = &read_run_json(warm_dir.path())["summary"];
    let share = summary["cache_hit_share"].as_f64().unwrap();
    assert!(share > 0.3, "{summary}");
}

/// `--thinking-budget` reaches vLLM as `thinking_token_budget` on every
/// request (as the simulator recorded the bodies) and `run.json` keeps it
/// in `load.thinking_budget` and in `load.switches`.
#[test]
fn a_thinking_budget_reaches_vllm_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests-received.jsonl");
    let sim = spawn_sim(&[
        "--flavor",
        "vllm",
        "--ttft-ms",
        "5",
        "--decode-tps",
        "1000",
        "--record-requests",
        log.to_str().unwrap(),
    ]);
    let out = dir.path().join("run");
    let args = ["-c", "1", "-n", "2", "--output-tokens", "8"];
    run_bin(
        &sim.url,
        &out,
        &[&args[..], &["--thinking-budget", "24"]].concat(),
    )
    .assert_success();
    let sent = bodies(&log);
    // The run's requests, not the probe's and the prompt sizing's own.
    let generation: Vec<_> = sent.iter().filter(|b| b["max_tokens"] == 8).collect();
    assert!(generation.len() >= 3, "warm-up and 2 measured: {sent:#?}");
    assert!(
        generation.iter().all(|b| b["thinking_token_budget"] == 24),
        "{generation:#?}"
    );
    let load = &read_run_json(&out)["load"];
    assert_eq!(load["thinking_budget"], 24, "{load}");
    assert_eq!(load["switches"]["thinking_token_budget"], 24, "{load}");
}

/// `--turns 2 --think-time 50ms`: each conversation's second turn is sent
/// at least 50 ms after its first turn's stream ended, and `run.json` says
/// `load.think_time_s` 0.05.
#[test]
fn think_time_pauses_between_a_conversations_turns() {
    let sim = spawn_sim(&["--flavor", "vllm", "--ttft-ms", "5", "--decode-tps", "1000"]);
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "-c",
        "2",
        "-n",
        "4",
        "--turns",
        "2",
        "--think-time",
        "50ms",
        "--prompt-tokens",
        "32",
        "--output-tokens",
        "8",
        "--warmup-requests",
        "0",
    ];
    run_bin(&sim.url, dir.path(), &args).assert_success();
    let load = &read_run_json(dir.path())["load"];
    assert_eq!(
        (load["turns"].as_u64(), load["think_time_s"].as_f64()),
        (Some(2), Some(0.05)),
        "{load}"
    );
    let recs = measured_records(dir.path());
    assert_eq!(recs.len(), 4);
    let second: Vec<_> = recs.iter().filter(|r| num(r, "turn") == 2).collect();
    assert_eq!(second.len(), 2, "{recs:#?}");
    for r in second {
        let first = recs
            .iter()
            .find(|f| f["session"] == r["session"] && num(f, "turn") == 1)
            .unwrap_or_else(|| panic!("no first turn for {r}"));
        let ended = num(first, "start_unix_us") + num(first, "stream_end_us");
        let pause_us = num(r, "start_unix_us") as i64 - ended as i64;
        assert!(
            pause_us >= 50_000,
            "turn 2 sent {pause_us} µs after turn 1 ended: {r}"
        );
    }
}
