//! The simulator's reasoning streams against their ground truth: of N
//! output tokens the first round(share × N) reason and the rest answer,
//! in each flavor's real field or as `<think>` tags, and the first answer
//! token arrives on the token schedule; thinking switches per flavor.
#![allow(clippy::unwrap_used)]

mod common;

use common::{last_at, post, profile, start, token_events, Answer, TOKEN_S};
use serde_json::{json, Value};
use stackbench_sim::SimServer;

/// Output tokens per request.
const N: u64 = 40;
/// The reasoning share and its tokens: round(0.6 × 40).
const SHARE: f64 = 0.6;
const R: usize = 24;

/// A request body for `path` asking for `n` tokens, with `extra` keys.
fn body(path: &str, n: u64, extra: Value) -> Value {
    let messages = json!([{"role": "user", "content": "why is the sky blue"}]);
    let mut b = match path {
        "/v1/chat/completions" => json!({"model": "m", "messages": messages, "max_tokens": n,
            "stream": true, "stream_options": {"include_usage": true}}),
        "/v1/completions" => json!({"model": "m", "prompt": "why is the sky blue", "max_tokens": n,
            "stream": true, "stream_options": {"include_usage": true}}),
        "/completion" => json!({"prompt": "why is the sky blue", "n_predict": n, "stream": true}),
        "/api/chat" => json!({"model": "m", "messages": messages, "options": {"num_predict": n}}),
        "/api/generate" => {
            json!({"model": "m", "prompt": "why is the sky blue", "options": {"num_predict": n}})
        }
        other => panic!("no body for {other}"),
    };
    if let (Value::Object(b), Value::Object(extra)) = (&mut b, extra) {
        b.extend(extra);
    }
    b
}

/// Whether `path` of a flavor has a reasoning field.
fn has_field(path: &str) -> bool {
    matches!(path, "/v1/chat/completions" | "/api/chat" | "/api/generate")
}

/// The format a stream of `path` gets from a profile's `format`: the
/// profile's where the endpoint has a reasoning field, else `tags`.
fn shape(format: &str, path: &str) -> &'static str {
    match (format, has_field(path)) {
        ("field", true) => "field",
        ("close-tag", true) => "close-tag",
        _ => "tags",
    }
}

/// Checks one stream of N tokens against the ground truth: `r` reasoning
/// tokens (in the field, or text in the content opened by `<think>` in
/// `tags` and closed by `</think>`), N − r answer tokens, and the first
/// answer token r token-intervals after the first token. The counts and
/// order are asserted; the timing is returned (`Err`: how far off), so that
/// a busy test machine's late event can be told from a schedule that is
/// wrong every time (see [`split`]).
fn check_split(what: &str, a: &Answer, r: usize, shape: &str) -> Result<(), String> {
    let in_field = shape == "field";
    assert_eq!(a.status, 200, "{what}: {:?}", a.events);
    let events = token_events(a);
    assert_eq!(events.len() as u64, N, "{what}: one event per token");
    // In a field, reasoning is what the field carries; as tags, the
    // tokens up to the closing tag (checked below).
    let is_reasoning: Vec<bool> = events
        .iter()
        .enumerate()
        .map(|(k, e)| if in_field { !e.1.is_empty() } else { k < r })
        .collect();
    let thinking = is_reasoning.iter().filter(|x| **x).count();
    assert_eq!(thinking, r, "{what}: reasoning tokens");
    assert!(
        is_reasoning[..r].iter().all(|x| *x) && !is_reasoning[r..].iter().any(|x| *x),
        "{what}: reasoning comes first"
    );
    for (k, e) in events.iter().enumerate() {
        if in_field {
            assert!(!e.1.contains("think>") && !e.2.contains("think>"), "{what}");
            assert!(
                e.1.is_empty() != e.2.is_empty(),
                "{what}: one kind per event"
            );
        } else {
            assert!(
                e.1.is_empty(),
                "{what}: no reasoning field without a parser"
            );
            let tag = match k {
                0 if r > 0 && shape == "tags" => Some("<think>"),
                k if r > 0 && k == r - 1 => Some("</think>"),
                _ => None,
            };
            match tag {
                Some(t) => assert_eq!(e.2, t, "{what}: token {k}"),
                None => assert!(!e.2.contains("think>"), "{what}: token {k} {:?}", e.2),
            }
        }
        if k >= r {
            assert!(!e.2.trim().is_empty(), "{what}: answer words are text");
        }
    }
    if r > 0 && r < events.len() {
        // The first answer token is sent on the schedule of every token:
        // token k at the first token's deadline + k intervals. The
        // schedule's origin is the median of (arrival − k intervals), which
        // one late event (a busy test machine) does not move.
        let origin = |k: usize, at: std::time::Duration| at.as_secs_f64() - k as f64 * TOKEN_S;
        let mut origins: Vec<f64> = events
            .iter()
            .enumerate()
            .map(|(k, e)| origin(k, e.0))
            .collect();
        origins.sort_by(f64::total_cmp);
        let median = origins[origins.len() / 2];
        let off = origin(r, events[r].0) - median;
        // Half an interval: a token early or late is a whole one off.
        if off.abs() >= TOKEN_S / 2.0 {
            return Err(format!(
                "{what}: first answer {:.1} ms off token {}'s deadline (offsets around it, ms: {:?})",
                off * 1e3,
                r + 1,
                (r.saturating_sub(3)..(r + 4).min(events.len()))
                    .map(|k| ((origin(k, events[k].0) - median) * 1e4).round() / 10.0)
                    .collect::<Vec<_>>()
            ));
        }
    }
    Ok(())
}

/// Sends `body` to `path` and checks the answer with [`check_split`]: the
/// counts every time; the timing on one of three tries (a schedule that is
/// off fails all three, one late event on a loaded machine does not).
async fn split(what: &str, base: &str, path: &str, body: &Value, r: usize, shape: &str) -> Answer {
    let mut misses = Vec::new();
    for _ in 0..3 {
        let a = post(base, path, body).await;
        match check_split(what, &a, r, shape) {
            Ok(()) => return a,
            Err(miss) => misses.push(miss),
        }
    }
    panic!("{misses:#?}");
}

async fn check_flavor(flavor: &str, paths: &[&str]) {
    for format in ["field", "tags", "close-tag"] {
        let p = profile(
            flavor,
            1e9,
            &format!("reasoning-share = {SHARE}\nreasoning-format = \"{format}\""),
        );
        let sim = start(SimServer::new(p)).await;
        for path in paths {
            let what = format!("{flavor} {path} {format}");
            let b = body(path, N, json!({}));
            let a = split(&what, &sim.base_url(), path, &b, R, shape(format, path)).await;
            let in_field = shape(format, path) == "field";
            let completion = last_at(&a, "/usage/completion_tokens")
                .or_else(|| last_at(&a, "/eval_count"))
                .or_else(|| last_at(&a, "/timings/predicted_n"));
            assert_eq!(completion, Some(json!(N)), "{what}: output tokens");
            let server_count = last_at(&a, "/usage/completion_tokens_details/reasoning_tokens");
            let reports = flavor == "vllm" && in_field;
            assert_eq!(
                server_count,
                reports.then(|| json!(R)),
                "{what}: vLLM reports reasoning tokens with its parser, nobody else"
            );
        }
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vllm_reasoning_splits_exactly_in_every_format() {
    check_flavor("vllm", &["/v1/chat/completions", "/v1/completions"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_server_reasoning_splits_exactly_in_every_format() {
    check_flavor(
        "llamacpp",
        &["/v1/chat/completions", "/v1/completions", "/completion"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_reasoning_splits_exactly_in_every_format() {
    check_flavor(
        "ollama",
        &[
            "/v1/chat/completions",
            "/v1/completions",
            "/api/chat",
            "/api/generate",
        ],
    )
    .await;
}

/// (first token index, tokens, reasoning?, arrival) of each token event of
/// a vLLM stream with `token_ids`; no event mixes reasoning and answer.
fn burst_events(a: &Answer) -> Vec<(usize, usize, bool, std::time::Duration)> {
    let mut k = 0;
    let mut events = Vec::new();
    for e in &a.events {
        let Some(ids) = e
            .json
            .pointer("/choices/0/token_ids")
            .and_then(Value::as_array)
        else {
            continue;
        };
        if ids.is_empty() {
            continue;
        }
        let (reasoning, content) = common::texts(&e.json);
        assert!(reasoning.is_empty() != content.is_empty(), "{:?}", e.json);
        events.push((k, ids.len(), !reasoning.is_empty(), e.at));
        k += ids.len();
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_stop_at_the_reasoning_and_the_first_answer_token_is_alone() {
    let text = "flavor = \"vllm\"\nstack = \"t\"\nquantization = \"q\"\nmodel = \"m\"\n\
                reasoning-share = 0.55\n[latency]\nttft-ms = 20.0\nprefill-tps = 1e9\n\
                decode-tps = 100.0\nmax-slots = 8\ntokens-per-event = 4\n";
    let p = stackbench_sim::Profile::parse(text, "t").unwrap();
    let sim = start(SimServer::new(p)).await;
    let b = body("/v1/chat/completions", N, json!({"return_token_ids": true}));
    let r = 22; // round(0.55 × 40)
    let mut gaps = Vec::new();
    // The counts every time; the timing on one of three tries (see `split`).
    for _ in 0..3 {
        let a = post(&sim.base_url(), "/v1/chat/completions", &b).await;
        let events = burst_events(&a);
        assert_eq!(events.iter().map(|e| e.1).sum::<usize>() as u64, N);
        let reasoned: usize = events.iter().filter(|e| e.2).map(|e| e.1).sum();
        assert_eq!(reasoned, r);
        let first_answer = events.iter().position(|e| !e.2).unwrap();
        assert_eq!((events[first_answer].0, events[first_answer].1), (r, 1));
        // Against the first token: r intervals later.
        let gap = (events[first_answer].3 - events[0].3).as_secs_f64();
        if (gap - r as f64 * TOKEN_S).abs() < TOKEN_S / 2.0 {
            gaps.clear();
            break;
        }
        gaps.push(gap * 1e3);
    }
    assert!(
        gaps.is_empty(),
        "first answer ms after the first token: {gaps:?}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_names_are_each_servers_own() {
    let cases = [
        ("vllm", "/v1/chat/completions", "/choices/0/delta/reasoning"),
        (
            "llamacpp",
            "/v1/chat/completions",
            "/choices/0/delta/reasoning_content",
        ),
        (
            "ollama",
            "/v1/chat/completions",
            "/choices/0/delta/reasoning",
        ),
        ("ollama", "/api/chat", "/message/thinking"),
        ("ollama", "/api/generate", "/thinking"),
    ];
    for (flavor, path, pointer) in cases {
        let sim = start(SimServer::new(profile(
            flavor,
            1e9,
            "reasoning-share = 0.5",
        )))
        .await;
        let a = post(&sim.base_url(), path, &body(path, 4, json!({}))).await;
        let first = a
            .events
            .iter()
            .find_map(|e| e.json.pointer(pointer).and_then(Value::as_str))
            .map(str::to_string);
        assert_eq!(first.as_deref(), Some(" let"), "{flavor} {path}");
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_streamed_answers_keep_reasoning_apart() {
    let sim = start(SimServer::new(profile(
        "vllm",
        1e9,
        "reasoning-share = 0.5",
    )))
    .await;
    let mut b = body("/v1/chat/completions", 10, json!({"stream": false}));
    b.as_object_mut().unwrap().remove("stream_options");
    let a = post(&sim.base_url(), "/v1/chat/completions", &b).await;
    let v = &a.events[0].json;
    let reasoning = v["choices"][0]["message"]["reasoning"].as_str().unwrap();
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(reasoning.split_whitespace().count(), 5, "{reasoning:?}");
    assert!(content.starts_with(" the"), "{content:?}");
    assert_eq!(
        v["usage"]["completion_tokens_details"]["reasoning_tokens"],
        5
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_thinking_off_leaves_no_reasoning() {
    let cases = [
        (
            "vllm",
            "/v1/chat/completions",
            json!({"chat_template_kwargs": {"enable_thinking": false}}),
        ),
        (
            "vllm",
            "/v1/chat/completions",
            json!({"reasoning_effort": "none"}),
        ),
        (
            "llamacpp",
            "/v1/chat/completions",
            json!({"chat_template_kwargs": {"enable_thinking": false}}),
        ),
        ("ollama", "/api/chat", json!({"think": false})),
        ("ollama", "/api/generate", json!({"think": false})),
        (
            "ollama",
            "/v1/chat/completions",
            json!({"reasoning_effort": "none"}),
        ),
    ];
    for (flavor, path, switch) in cases {
        for format in ["field", "tags", "close-tag"] {
            let extra = format!("reasoning-share = {SHARE}\nreasoning-format = \"{format}\"");
            let sim = start(SimServer::new(profile(flavor, 1e9, &extra))).await;
            let what = format!("{flavor} {path} {format} {switch}");
            let b = body(path, N, switch.clone());
            split(&what, &sim.base_url(), path, &b, 0, shape(format, path)).await;
            // The same request saying on, or nothing, thinks.
            let on = match &switch {
                Value::Object(m) if m.contains_key("chat_template_kwargs") => {
                    json!({"chat_template_kwargs": {"enable_thinking": true}})
                }
                Value::Object(m) if m.contains_key("think") => json!({"think": true}),
                // Ollama's OpenAI layer: on is saying nothing (a level is
                // for gpt-oss only).
                _ => json!({}),
            };
            let b = body(path, N, on);
            let what = format!("{what} on");
            split(&what, &sim.base_url(), path, &b, R, shape(format, path)).await;
            sim.shutdown().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_refuses_to_think_with_a_model_that_cannot() {
    let sim = start(SimServer::new(profile(
        "ollama",
        1e9,
        "reasoning-share = 0.6\nthinks = false",
    )))
    .await;
    let base = sim.base_url();
    let a = post(
        &base,
        "/api/chat",
        &body("/api/chat", 8, json!({"think": true})),
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.events[0].json,
        json!({"error": "\"m\" does not support thinking"})
    );
    // A level is refused first: only gpt-oss models take one.
    let v1 = body(
        "/v1/chat/completions",
        8,
        json!({"reasoning_effort": "high"}),
    );
    let a = post(&base, "/v1/chat/completions", &v1).await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.events[0].json["error"],
        json!({"message": "think value \"high\" is not supported for this model",
            "type": "api_error", "param": null, "code": null})
    );
    // Not asking, or asking not to, is served, without reasoning.
    for switch in [json!({}), json!({"think": false})] {
        let a = post(&base, "/api/chat", &body("/api/chat", 8, switch)).await;
        assert_eq!(a.status, 200);
        assert!(token_events(&a).iter().all(|e| e.1.is_empty()));
    }
    sim.shutdown().await;
}
