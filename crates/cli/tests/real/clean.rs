//! Clean and warm on the real servers: the same run three times — once,
//! again without a reset (its prompts are now in the server's cache:
//! flagged `cache` by the server's own cached counts), and with
//! `--reset-cache` (the first request reports 0 cached tokens: proven,
//! the flag gone) — on vLLM (`cached_tokens`) and on llama-server
//! (`cache_n`) with `--cache-ram 0`. llama-server as it ships serves the
//! rerun from its RAM prompt cache (caught), which outlives a slot erase
//! (the reset is not proven, and says so). On Ollama, which reports no
//! cached count, what is proven is the unload (gone from `/api/ps`) and
//! the timed reload. A vLLM without dev mode refuses the reset, which
//! fails the run. `--warmup-requests auto` records what it did, and a fresh
//! server is seen as one that had generated nothing.
//!
//! No timing assertions: the checks read token counts the servers report.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use serde_json::Value;

use crate::common::{read_run_json, run_bin};

/// Two users, two requests, no warm-up, one seed: the second run sends
/// exactly the first's prompts, and on llama-server each slot still holds
/// one of them.
const LOAD: [&str; 12] = [
    "-c",
    "2",
    "-n",
    "2",
    "--warmup-requests",
    "0",
    "--prompt-tokens",
    "128",
    "--output-tokens",
    "8",
    "--seed",
    "424242",
];

fn hygiene(dir: &Path) -> Value {
    read_run_json(dir)["hygiene"].clone()
}

fn flags(h: &Value) -> Vec<String> {
    h["flags"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|x| x["kind"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Runs [`LOAD`] (plus `extra`) into `dir`; its hygiene.
fn run(url: &str, dir: &Path, extra: &[&str]) -> Value {
    let mut args = LOAD.to_vec();
    args.extend_from_slice(extra);
    run_bin(url, dir, &args).assert_success();
    hygiene(dir)
}

/// The three runs on a server that reports cached counts: clean, then
/// flagged `cache`, then reset and proven. Returns the three hygienes.
fn three_runs(url: &str, out: &Path, extra: &[&str]) -> [Value; 3] {
    let first = run(url, &out.join("1-first"), extra);
    assert_eq!(first["cache_check"]["verdict"], "clean", "{first}");
    assert!(flags(&first).is_empty(), "{first}");
    let again = run(url, &out.join("2-again"), extra);
    assert_eq!(again["cache_check"]["verdict"], "cached", "{again}");
    assert_eq!(flags(&again), ["cache"], "{again}");
    let mut reset_args = extra.to_vec();
    reset_args.push("--reset-cache");
    let reset = run(url, &out.join("3-reset"), &reset_args);
    assert_eq!(reset["reset"]["proven"], true, "{reset}");
    assert_eq!(reset["cache_check"]["min_cached"], 0, "{reset}");
    assert_eq!(reset["cache_check"]["verdict"], "clean", "{reset}");
    assert!(flags(&reset).is_empty(), "{reset}");
    eprintln!("three runs: {first}\n{again}\n{reset}");
    [first, again, reset]
}

real_test!(llama_server; async fn llama_server_rerun_is_caught_and_its_slot_erase_proven_without_the_ram_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let saves = tmp.path().join("slots");
    std::fs::create_dir_all(&saves).unwrap();
    let save_path = format!("{}/", saves.display());
    // As it ships (its RAM prompt cache on), with slot actions allowed.
    let server = crate::llama_server::start_with(2, 2048, &["--slot-save-path", &save_path]).await;
    let out = tmp.path().join("ram");
    let first = run(&server.url, &out.join("1-first"), &[]);
    assert_eq!(first["cache_check"]["verdict"], "clean", "{first}");
    let again = run(&server.url, &out.join("2-again"), &[]);
    assert_eq!(flags(&again), ["cache"], "the RAM cache gives the prompts back: {again}");
    // The erase empties the slots, not the RAM cache: not proven, and the
    // flag says what to do.
    let reset = run(&server.url, &out.join("3-reset"), &["--reset-cache"]);
    assert!(reset["reset"]["detail"].as_str().unwrap().contains("erased 2 slots"), "{reset}");
    assert_eq!(reset["reset"]["proven"], false, "{reset}");
    let text = reset["flags"][0]["text"].as_str().unwrap();
    assert!(text.contains("--cache-ram 0"), "{text}");
    eprintln!("llama-server, RAM cache on:\n{first}\n{again}\n{reset}");
    drop(server);
    // Without it the slots are the whole cache: with the flavor given (no
    // probe request to take a slot), each slot still holds one of the
    // first run's prompts when they come again: caught; after the erase
    // the first request takes nothing: proven, the flag gone.
    let args = ["--slot-save-path", save_path.as_str(), "--cache-ram", "0"];
    let server = crate::llama_server::start_with(2, 2048, &args).await;
    let out = tmp.path().join("no-ram");
    let [.., again, reset] = three_runs(&server.url, &out, &["--flavor", "llamacpp"]);
    assert_eq!(again["cache_check"]["max_cached"], 127, "{again}");
    assert!(reset["reset"]["detail"].as_str().unwrap().contains("erased 2 slots"), "{reset}");
    drop(server);
    // Without --slot-save-path, llama-server refuses every slot action.
    let server = crate::llama_server::start(2, 2048).await;
    let refused = run_bin(&server.url, &out.join("4"), &["--reset-cache", "-n", "1"]);
    assert_eq!(refused.code(), Some(2), "{}", refused.stderr);
    assert!(refused.stderr.contains("--slot-save-path"), "{}", refused.stderr);
});

real_test!(vllm; fn vllm_reset_is_proven_by_cached_tokens_and_refused_without_dev_mode() {
    crate::vllm::VLLM.with_url(|url| {
        let tmp = tempfile::tempdir().unwrap();
        let [_, again, reset] = three_runs(url, tmp.path(), &[]);
        // vLLM caches whole 32-token blocks: 96 of the 128 tokens.
        assert_eq!(again["cache_check"]["max_cached"], 96, "{again}");
        assert!(reset["reset"]["detail"].as_str().unwrap().contains("\"success\": true"));
    });
    crate::vllm_spec::VLLM.with_url(|url| {
        let tmp = tempfile::tempdir().unwrap();
        let refused = run_bin(url, tmp.path(), &["--reset-cache", "-n", "1"]);
        assert_eq!(refused.code(), Some(2), "{}", refused.stderr);
        assert!(refused.stderr.contains("HTTP 404"), "{}", refused.stderr);
        assert!(refused.stderr.contains("VLLM_SERVER_DEV_MODE=1"), "{}", refused.stderr);
    });
});

real_test!(ollama; async fn ollama_reset_unloads_and_reloads_and_says_what_it_cannot_prove() {
    let o = crate::ollama::shared().await;
    let tmp = tempfile::tempdir().unwrap();
    let model = ["--model", o.model.as_str(), "--api", "ollama-chat"];
    run(&o.proc.url, &tmp.path().join("1"), &model);
    let again = run(&o.proc.url, &tmp.path().join("2"), &model);
    // Ollama reports no cached count: nothing to judge, nothing flagged.
    assert_eq!(again["cache_check"]["verdict"], "unknown", "{again}");
    assert!(flags(&again).is_empty(), "{again}");
    let mut args = model.to_vec();
    args.push("--reset-cache");
    let reset = run(&o.proc.url, &tmp.path().join("3"), &args);
    let r = &reset["reset"];
    assert!(r["how"].as_str().unwrap().starts_with("ollama unload"), "{r}");
    assert!(r["detail"].as_str().unwrap().contains("gone from /api/ps"), "{r}");
    assert!(r["cold_load_ms"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r.get("proven").is_none(), "no count to prove it with: {r}");
});

real_test!(llama_server; async fn warmup_auto_records_what_it_did_on_a_cold_and_a_warm_server() {
    let server = crate::llama_server::start(1, 2048).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for name in ["cold", "warm"] {
        let dir = tmp.path().join(name);
        let args = ["-n", "2", "--warmup-requests", "auto", "--output-tokens", "32"];
        run_bin(&server.url, &dir, &args).assert_success();
        let h = hygiene(&dir);
        let w = &h["warmup"];
        assert_eq!(w["mode"], "auto", "{h}");
        let sent = w["requests"].as_u64().unwrap();
        assert_eq!(read_run_json(&dir)["load"]["warmup_requests"], sent);
        assert!(sent >= 3 || w["steady"] == false, "{h}");
        assert_eq!(
            h["before"]["never_served"],
            name == "cold",
            "a fresh server had generated nothing: {h}"
        );
        seen.push(format!("{name}: {sent} requests in {:.1} s, steady {}", w["seconds"].as_f64().unwrap(), w["steady"]));
    }
    eprintln!("warm-up auto: {}", seen.join("; "));
});
