//! The simulator's prefix cache against its ground truth: a second turn
//! that resends the first turn's prompt and answer finds them cached,
//! reports the cached tokens as each real server does, and pays prefill
//! only for the rest; vLLM's `cache_salt`, llama-server's `cache_prompt:
//! false` and a capacity of 0 defeat it. Also `--record-requests`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{last_at, post, profile, start, token_events, Answer};
use serde_json::{json, Value};
use stackbench_sim::SimServer;

/// Prefill rate of these tests: 0.5 ms a prompt token.
const PREFILL_TPS: f64 = 2000.0;

/// The first user message: 200 words, so 3 + 4 + 200 = 207 prompt tokens.
fn long_message() -> String {
    (0..200)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A streamed chat body for `path` with `messages` and `extra` keys.
fn chat(path: &str, messages: &Value, extra: Value) -> Value {
    let mut b = match path {
        "/api/chat" => json!({"model": "m", "messages": messages, "options": {"num_predict": 10}}),
        _ => json!({"model": "m", "messages": messages, "max_tokens": 10, "stream": true,
            "stream_options": {"include_usage": true}}),
    };
    if let (Value::Object(b), Value::Object(extra)) = (&mut b, extra) {
        b.extend(extra);
    }
    b
}

/// Time to the first token event.
fn ttft(a: &Answer) -> Duration {
    token_events(a)[0].0
}

/// The answer text of a stream.
fn answer(a: &Answer) -> String {
    token_events(a).into_iter().map(|e| e.2).collect()
}

/// Two turns of one conversation: turn 1's answer, then turn 2 resending
/// it; `extra2` goes into the second request only.
async fn two_turns(base: &str, path: &str, extra1: Value, extra2: Value) -> (Answer, Answer) {
    let first = json!([{"role": "user", "content": long_message()}]);
    let a1 = post(base, path, &chat(path, &first, extra1)).await;
    assert_eq!(a1.status, 200, "{:?}", a1.events);
    let second = json!([
        {"role": "user", "content": long_message()},
        {"role": "assistant", "content": answer(&a1)},
        {"role": "user", "content": "and then what"},
    ]);
    let a2 = post(base, path, &chat(path, &second, extra2)).await;
    assert_eq!(a2.status, 200, "{:?}", a2.events);
    (a1, a2)
}

/// Turn 1: 207 prompt tokens; its kept sequence: those and the 10 answer
/// words (217); turn 2: 3 + (4 + 200) + (4 + 10) + (4 + 3) = 228 tokens.
const TURN1: u64 = 207;
const KEPT: u64 = 217;
const TURN2: u64 = 228;

/// TTFT of a prompt with `processed` uncached tokens: 20 ms + prefill.
fn expected_ttft(processed: u64) -> f64 {
    0.020 + processed as f64 / PREFILL_TPS
}

/// The client's TTFT is never below the schedule's; above it by the
/// transport and a busy test machine's scheduling (up to ~50 ms seen), so
/// the exact figures are checked on the servers' own timings.
fn assert_ttft(what: &str, a: &Answer, processed: u64) {
    let got = ttft(a).as_secs_f64();
    let want = expected_ttft(processed);
    assert!(
        got >= want - 0.001 && got < want + 0.100,
        "{what}: TTFT {:.1} ms, want {:.1}",
        got * 1e3,
        want * 1e3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vllm_reports_whole_cached_blocks_with_prompt_details_on() {
    let p = profile(
        "vllm",
        PREFILL_TPS,
        "prefix-cache-tokens = 100000\nprompt-tokens-details = true",
    );
    let sim = start(SimServer::new(p)).await;
    let base = sim.base_url();
    let path = "/v1/chat/completions";
    let (a1, a2) = two_turns(&base, path, json!({}), json!({})).await;
    let cached = |a: &Answer| last_at(a, "/usage/prompt_tokens_details/cached_tokens");
    assert_eq!(cached(&a1), Some(json!(0)));
    // 217 common tokens, in whole blocks of 16.
    assert_eq!(cached(&a2), Some(json!(208)));
    assert_eq!(last_at(&a2, "/usage/prompt_tokens"), Some(json!(TURN2)));
    assert_ttft("turn 1", &a1, TURN1);
    assert_ttft("turn 2", &a2, TURN2 - 208);
    assert!(ttft(&a2) < ttft(&a1));
    // The counters agree, in tokens.
    let page = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| {
        page.lines()
            .find(|l| l.starts_with(name) && !l.starts_with('#'))
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_string)
    };
    assert_eq!(
        value("vllm:prefix_cache_queries_total{").as_deref(),
        Some("435")
    );
    assert_eq!(
        value("vllm:prefix_cache_hits_total{").as_deref(),
        Some("208")
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vllm_cache_salt_keeps_requests_apart() {
    let p = profile(
        "vllm",
        PREFILL_TPS,
        "prefix-cache-tokens = 100000\nprompt-tokens-details = true",
    );
    let sim = start(SimServer::new(p)).await;
    let base = sim.base_url();
    let path = "/v1/chat/completions";
    let cached = |a: &Answer| last_at(a, "/usage/prompt_tokens_details/cached_tokens");
    let (_, salted) = two_turns(&base, path, json!({}), json!({"cache_salt": "run-b"})).await;
    assert_eq!(
        cached(&salted),
        Some(json!(0)),
        "another salt shares nothing"
    );
    assert_ttft("salted", &salted, TURN2);
    let (a1, a2) = two_turns(
        &base,
        path,
        json!({"cache_salt": "run-c"}),
        json!({"cache_salt": "run-c"}),
    )
    .await;
    assert_eq!(cached(&a1), Some(json!(0)), "a new salt starts cold");
    assert_eq!(cached(&a2), Some(json!(208)), "the same salt shares");
    let bad = post(
        &base,
        path,
        &chat(
            path,
            &json!([{"role": "user", "content": "x"}]),
            json!({"cache_salt": ""}),
        ),
    )
    .await;
    assert_eq!(bad.status, 400);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vllm_without_prompt_details_reports_no_cached_tokens_but_is_faster() {
    let p = profile("vllm", PREFILL_TPS, "prefix-cache-tokens = 100000");
    let sim = start(SimServer::new(p)).await;
    let (a1, a2) = two_turns(
        &sim.base_url(),
        "/v1/chat/completions",
        json!({}),
        json!({}),
    )
    .await;
    assert_eq!(last_at(&a2, "/usage/prompt_tokens_details"), None);
    assert!(last_at(&a2, "/usage/prompt_tokens").is_some());
    assert!(ttft(&a2) < ttft(&a1));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_server_reports_cache_n_and_prompt_n() {
    let p = profile("llamacpp", PREFILL_TPS, "prefix-cache-tokens = 100000");
    let sim = start(SimServer::new(p)).await;
    let base = sim.base_url();
    let path = "/v1/chat/completions";
    let (a1, a2) = two_turns(&base, path, json!({}), json!({})).await;
    let t = |a: &Answer, k: &str| last_at(a, &format!("/timings/{k}"));
    assert_eq!(
        (t(&a1, "cache_n"), t(&a1, "prompt_n")),
        (Some(json!(0)), Some(json!(TURN1)))
    );
    // Any prefix length: all 217 kept tokens.
    assert_eq!(
        (t(&a2, "cache_n"), t(&a2, "prompt_n")),
        (Some(json!(KEPT)), Some(json!(TURN2 - KEPT)))
    );
    assert_eq!(
        last_at(&a2, "/usage/prompt_tokens_details/cached_tokens"),
        Some(json!(KEPT))
    );
    assert_eq!(last_at(&a2, "/usage/prompt_tokens"), Some(json!(TURN2)));
    assert_ttft("turn 1", &a1, TURN1);
    assert_ttft("turn 2", &a2, TURN2 - KEPT);
    let prompt_ms = |a: &Answer| t(a, "prompt_ms").and_then(|v| v.as_f64()).unwrap();
    assert!((prompt_ms(&a1) - expected_ttft(TURN1) * 1e3).abs() < 1e-6);
    assert!((prompt_ms(&a2) - expected_ttft(TURN2 - KEPT) * 1e3).abs() < 1e-6);
    // cache_prompt: false processes the whole prompt again.
    let (_, cold) = two_turns(&base, path, json!({}), json!({"cache_prompt": false})).await;
    assert_eq!(t(&cold, "cache_n"), Some(json!(0)));
    assert_ttft("cache_prompt false", &cold, TURN2);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_counts_the_whole_prompt_and_prefills_only_the_rest() {
    let p = profile("ollama", PREFILL_TPS, "prefix-cache-tokens = 100000");
    let sim = start(SimServer::new(p)).await;
    let (a1, a2) = two_turns(&sim.base_url(), "/api/chat", json!({}), json!({})).await;
    // Ollama 0.17.4 reports every prompt token in prompt_eval_count, cached
    // or not; only the prefill duration shows the cache.
    assert_eq!(last_at(&a1, "/prompt_eval_count"), Some(json!(TURN1)));
    assert_eq!(last_at(&a2, "/prompt_eval_count"), Some(json!(TURN2)));
    let ns = |a: &Answer| {
        last_at(a, "/prompt_eval_duration")
            .and_then(|v| v.as_u64())
            .unwrap() as f64
            / 1e9
    };
    assert!((ns(&a1) - expected_ttft(TURN1)).abs() < 1e-6, "{}", ns(&a1));
    assert!(
        (ns(&a2) - expected_ttft(TURN2 - KEPT)).abs() < 1e-6,
        "{}",
        ns(&a2)
    );
    assert_ttft("turn 2", &a2, TURN2 - KEPT);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_capacity_means_no_cache() {
    for flavor in ["vllm", "llamacpp"] {
        let p = profile(flavor, PREFILL_TPS, "prompt-tokens-details = true");
        let sim = start(SimServer::new(p)).await;
        let (_, a2) = two_turns(
            &sim.base_url(),
            "/v1/chat/completions",
            json!({}),
            json!({}),
        )
        .await;
        let cached = last_at(&a2, "/usage/prompt_tokens_details/cached_tokens");
        assert_eq!(cached, Some(json!(0)), "{flavor}");
        assert_ttft(flavor, &a2, TURN2);
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_requests_are_the_bodies_received() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let p = profile("vllm", 1e9, "reasoning-share = 0.5");
    let sim = start(SimServer::new(p).with_request_log(&log).unwrap()).await;
    let base = sim.base_url();
    let off = json!({"chat_template_kwargs": {"enable_thinking": false}});
    let b1 = chat(
        "/v1/chat/completions",
        &json!([{"role": "user", "content": "hi"}]),
        off,
    );
    let b2 = json!({"model": "m", "prompt": "hi", "max_tokens": 2});
    assert_eq!(post(&base, "/v1/chat/completions", &b1).await.status, 200);
    assert_eq!(post(&base, "/v1/completions", &b2).await.status, 200);
    // Not a generation endpoint: not recorded.
    reqwest::get(format!("{base}/v1/models")).await.unwrap();
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            json!({"path": "/v1/chat/completions", "body": b1}),
            json!({"path": "/v1/completions", "body": b2}),
        ]
    );
    assert_eq!(
        lines[0].pointer("/body/chat_template_kwargs/enable_thinking"),
        Some(&json!(false))
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_tokenizer_the_cache_keys_on_its_token_ids() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tokenize/tests/fixtures/smollm2-135m-instruct");
    let tokenizer = stackbench_sim::SimTokenizer::load(&dir).unwrap();
    let p = profile("llamacpp", PREFILL_TPS, "prefix-cache-tokens = 100000");
    let sim = start(SimServer::new(p).with_tokenizer(tokenizer)).await;
    let (a1, a2) = two_turns(
        &sim.base_url(),
        "/v1/chat/completions",
        json!({}),
        json!({}),
    )
    .await;
    let n = |a: &Answer, k: &str| last_at(a, k).and_then(|v| v.as_u64()).unwrap();
    let prompt1 = n(&a1, "/usage/prompt_tokens");
    let prompt2 = n(&a2, "/usage/prompt_tokens");
    let cached = n(&a2, "/timings/cache_n");
    assert_eq!(n(&a1, "/timings/cache_n"), 0);
    // Turn 2 finds at least turn 1's whole prompt (the answer's ids may
    // part where the template joins them to what follows).
    assert!(
        cached >= prompt1 && cached < prompt2,
        "cached {cached} of {prompt2}, turn 1 had {prompt1}"
    );
    assert_eq!(n(&a2, "/timings/prompt_n"), prompt2 - cached);
    sim.shutdown().await;
}
