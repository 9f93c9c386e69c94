//! `run --depth` on the real llama-server, vLLM and Ollama: at depths 0,
//! 1024 and 4096 every measured request's prompt, as the server counted
//! it, is exactly depth + prompt; with the depth cache on, each user's
//! context is sent once (a prefill the server had no cache for) and its
//! requests take it from the cache (llama-server's `cache_n`, vLLM's
//! `cached_tokens`), never another user's; with it off nothing comes from
//! the cache and the whole prompt is processed, which the servers' own
//! counts show and TTFT pays; and a depth beyond the server's context is
//! refused before the run, naming both numbers.
//!
//! Timing tolerance: the one timing assertion compares an uncached
//! request (depth + prompt processed, 17 times the tokens) with a cached
//! one (the prompt only) and asks only for twice the TTFT, which a busy
//! machine slowing one side cannot reverse.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use serde_json::Value;

use crate::common::{measured_records, median, read_records, read_run_json, run_bin};

/// The load of the depth series: one user, 2 requests of 64 prompt and
/// 8 output tokens at each depth, no warm-up. A 135M model prefills
/// ~100-300 tok/s on this 2-core machine (llama-bench pp512), so depth
/// 4096 costs half a minute or more: the series is kept to what the
/// checks need.
const SERIES: [&str; 10] = [
    "-c",
    "1",
    "-n",
    "2",
    "--prompt-tokens",
    "64",
    "--output-tokens",
    "8",
    "--warmup-requests",
    "0",
];

/// The load of the cache comparison: two users (each its own context), 4
/// requests, at depth 1024.
const USERS: [&str; 12] = [
    "-c",
    "2",
    "-n",
    "4",
    "--prompt-tokens",
    "64",
    "--output-tokens",
    "8",
    "--warmup-requests",
    "0",
    "--depth",
    "1024",
];

fn count(r: &Value, key: &str) -> u64 {
    r[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing: {r}"))
}

/// Runs depths 0, 1024 and 4096 into `out` (one folder each) with `extra`
/// and checks what every server must show: exact prompts, one context per
/// user sent first. Returns each depth's folder.
fn depth_series(url: &str, out: &Path, extra: &[&str]) -> Vec<(u64, std::path::PathBuf)> {
    let mut args = vec!["--depth", "0,1024,4096"];
    args.extend(SERIES);
    args.extend_from_slice(extra);
    let done = run_bin(url, out, &args);
    done.assert_success();
    assert!(done.stdout.contains("pp64 @ d4096"), "{}", done.stdout);
    let mut dirs = Vec::new();
    for depth in [0u64, 1024, 4096] {
        let dir = out.join(format!("d{depth}"));
        let run = read_run_json(&dir);
        assert_eq!(run["load"]["prompt_sizing"]["exact"], true, "{run}");
        for r in measured_records(&dir) {
            assert_eq!(count(&r, "prompt_tokens"), depth + 64, "d{depth}: {r}");
        }
        let prefills: Vec<Value> = read_records(&dir)
            .into_iter()
            .filter(|r| r["depth_prefill"] == true)
            .collect();
        let users = usize::from(depth > 0);
        assert_eq!(prefills.len(), users, "d{depth}: one context per user");
        for p in &prefills {
            assert_eq!(p["status"], "ok", "{p}");
            // The context alone: the depth and the instruction.
            assert!(count(p, "prompt_tokens") > depth, "{p}");
        }
        dirs.push((depth, dir));
    }
    dirs
}

/// Checks, from the server's cached counts, that at a cached depth each
/// context was new to the server when sent and then served its user's
/// requests from the cache (at least `depth` less one cache block).
fn cached_from_the_users_context(dirs: &[(u64, std::path::PathBuf)], block: u64) {
    for (depth, dir) in dirs.iter().filter(|(d, _)| *d > 0) {
        for p in read_records(dir)
            .into_iter()
            .filter(|r| r["depth_prefill"] == true)
        {
            // Another user's context shares the template and instruction.
            assert!(count(&p, "cached_prompt_tokens") < 32, "{p}");
        }
        for r in measured_records(dir) {
            assert!(
                count(&r, "cached_prompt_tokens") + block >= *depth,
                "d{depth}: {r}"
            );
        }
        let ctx = &read_run_json(dir)["summary"]["depth_prefill"];
        assert_eq!(ctx["ok"], ctx["requests"], "{ctx}");
        assert_eq!(ctx["depth_tokens"], *depth);
    }
}

/// Median TTFT, ms, of `dir`'s measured requests.
fn ttft_ms(dir: &Path) -> f64 {
    let ttfts = measured_records(dir)
        .iter()
        .map(|r| count(r, "ttft_us") as f64 / 1000.0)
        .collect();
    median(ttfts)
}

/// Two users at depth 1024, cached against uncached on one server:
/// cached, each user's context is its own (sent once, new to the server)
/// and serves its requests; uncached, the server takes (almost) nothing
/// from its cache and every request pays the whole prefill. `block`: the
/// server's cache granule. Returns the TTFTs (cached, uncached).
fn cached_against_uncached(url: &str, out: &Path, extra: &[&str], block: u64) -> (f64, f64) {
    let mut ttft = Vec::new();
    for cache in ["on", "off"] {
        let dir = out.join(cache);
        let mut args = vec!["--depth-cache", cache];
        args.extend(USERS);
        args.extend_from_slice(extra);
        run_bin(url, &dir, &args).assert_success();
        let run = read_run_json(&dir);
        assert_eq!(run["load"]["depth"]["cached"], cache == "on", "{run}");
        if cache == "on" {
            let prefills = read_records(&dir)
                .into_iter()
                .filter(|r| r["depth_prefill"] == true)
                .count();
            assert_eq!(prefills, 2, "one context per user");
            cached_from_the_users_context(&[(1024, dir.clone())], block);
        } else {
            for r in measured_records(&dir) {
                assert!(count(&r, "cached_prompt_tokens") < 32, "{r}");
                assert_eq!(count(&r, "prompt_tokens"), 1024 + 64, "{r}");
            }
        }
        ttft.push(ttft_ms(&dir));
    }
    assert!(
        ttft[1] > 2.0 * ttft[0],
        "uncached TTFT {} ms vs cached {} ms",
        ttft[1],
        ttft[0]
    );
    (ttft[0], ttft[1])
}

real_test!(llama_server; async fn llama_server_counts_depth_exactly_and_serves_each_users_context_from_its_cache() {
    // Two slots of 8,192 tokens: one per user.
    let server = crate::llama_server::start(2, 8192).await;
    let tmp = tempfile::tempdir().unwrap();
    let dirs = depth_series(&server.url, &tmp.path().join("series"), &[]);
    let run = read_run_json(&dirs[2].1);
    assert_eq!(run["load"]["depth"]["server_context"], 8192, "{run}");
    cached_from_the_users_context(&dirs, 0);
    cached_against_uncached(&server.url, &tmp.path().join("cache"), &[], 0);
    // 9,000 + 128 + 16 tokens do not fit a slot of 8,192.
    let refused = run_bin(
        &server.url,
        &tmp.path().join("too-deep"),
        &["--depth", "9000", "--prompt-tokens", "128", "--output-tokens", "16"],
    );
    assert_eq!(refused.code(), Some(2), "{}", refused.stderr);
    for part in ["9000 + prompt 128 + output 16 = 9144", "8192 tokens", "n_ctx per slot"] {
        assert!(refused.stderr.contains(part), "{part}: {}", refused.stderr);
    }
});

real_test!(vllm; fn vllm_counts_depth_exactly_and_serves_each_users_context_from_its_cache() {
    crate::vllm::VLLM.with_url(|url| {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = depth_series(url, &tmp.path().join("series"), &[]);
        let run = read_run_json(&dirs[1].1);
        assert_eq!(run["load"]["depth"]["server_context"], 8192, "{run}");
        // vLLM caches whole 32-token blocks.
        cached_from_the_users_context(&dirs, 32);
        cached_against_uncached(url, &tmp.path().join("cache"), &[], 32);
        let refused = run_bin(url, &tmp.path().join("too-deep"), &["--depth", "8100"]);
        assert_eq!(refused.code(), Some(2), "{}", refused.stderr);
        assert!(refused.stderr.contains("8192 tokens"), "{}", refused.stderr);
        assert!(refused.stderr.contains("max_model_len"), "{}", refused.stderr);
    });
});

real_test!(ollama; async fn ollama_counts_depth_exactly_with_num_ctx_raised_per_request() {
    let o = crate::ollama::shared().await;
    let tmp = tempfile::tempdir().unwrap();
    let base = ["--model", o.model.as_str(), "--api", "ollama-chat"];
    // Loaded with 2,048 tokens (OLLAMA_CONTEXT_LENGTH): depth 4096 is
    // refused until num_ctx raises it.
    let mut args = base.to_vec();
    args.extend(["--depth", "4096", "--prompt-tokens", "128"]);
    let refused = run_bin(&o.proc.url, &tmp.path().join("too-deep"), &args);
    assert_eq!(refused.code(), Some(2), "{}", refused.stderr);
    for part in ["2048 tokens", "OLLAMA_CONTEXT_LENGTH", "num_ctx"] {
        assert!(refused.stderr.contains(part), "{part}: {}", refused.stderr);
    }
    let mut extra = base.to_vec();
    extra.extend(["--extra-body", r#"{"num_ctx": 8192}"#]);
    let dirs = depth_series(&o.proc.url, &tmp.path().join("series"), &extra);
    let depth = &read_run_json(&dirs[2].1)["load"]["depth"];
    assert_eq!(depth["server_context"], 8192, "{depth}");
    assert!(
        depth["context_from"].as_str().unwrap().contains("num_ctx"),
        "{depth}"
    );
});
