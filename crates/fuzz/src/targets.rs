//! The fuzz targets: each takes arbitrary bytes and must not panic; the
//! framing targets also check that how the bytes are split into reads does
//! not change the events (a network may split anywhere). Each target is a
//! plain `fn(&[u8])`: the stable smoke fuzzer (`crate::fuzz`) and the
//! libFuzzer campaign (`fuzz/fuzz_targets/NAME.rs`, one `fuzz_target!`
//! line each) run the same functions, seeds and dictionaries.

use std::path::Path;

use stackbench_wire::chunked::ChunkedDecoder;
use stackbench_wire::head::{parse_head, Head, HeadError};
use stackbench_wire::llama::parse_native_chunk;
use stackbench_wire::ndjson::NdjsonDecoder;
use stackbench_wire::ollama::parse_ollama_chunk;
use stackbench_wire::openai::parse_chunk;
use stackbench_wire::prometheus::{parse_prometheus, total};
use stackbench_wire::{ChunkInfo, SseDecoder, SseEvent, TokenCounter};

/// One target: its name, the function, its seed corpus and dictionary.
pub struct Target {
    /// The name `stackbench-fuzz` takes.
    pub name: &'static str,
    /// What it exercises.
    pub about: &'static str,
    /// The harness: must not panic on any input.
    pub run: fn(&[u8]),
    /// Seed inputs (real captures, shipped configs).
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Tokens the mutator inserts.
    pub dict: &'static [&'static [u8]],
}

/// Every target.
pub fn all() -> Vec<Target> {
    vec![
        Target {
            name: "sse",
            about: "SSE framing: events, comments, error lines, CRLF; split-invariant",
            run: sse,
            seeds: sse_seeds,
            dict: SSE_DICT,
        },
        Target {
            name: "ndjson",
            about: "NDJSON framing (Ollama native); split-invariant",
            run: ndjson,
            seeds: ollama_seeds,
            dict: JSON_DICT,
        },
        Target {
            name: "chunked",
            about: "HTTP/1.1 chunked bodies (the measured streams' framing); split-invariant",
            run: chunked,
            seeds: chunked_seeds,
            dict: CHUNKED_DICT,
        },
        Target {
            name: "openai",
            about: "OpenAI-compatible chunks (vLLM, llama-server, Ollama /v1) through the token counter",
            run: openai,
            seeds: sse_seeds,
            dict: JSON_DICT,
        },
        Target {
            name: "llama",
            about: "llama-server native /completion chunks through the token counter",
            run: llama,
            seeds: sse_seeds,
            dict: JSON_DICT,
        },
        Target {
            name: "ollama",
            about: "Ollama native NDJSON chunks through the token counter",
            run: ollama,
            seeds: ollama_seeds,
            dict: JSON_DICT,
        },
        Target {
            name: "head",
            about: "HTTP/1.1 response heads (the measured exchange); a prefix parses as incomplete or the same",
            run: head,
            seeds: head_seeds,
            dict: HEAD_DICT,
        },
        Target {
            name: "prometheus",
            about: "Prometheus text exposition (vLLM and llama-server /metrics)",
            run: prometheus,
            seeds: prometheus_seeds,
            dict: PROM_DICT,
        },
        Target {
            name: "suite-config",
            about: "suite TOML and the stack TOML it names (input: suite NUL stack)",
            run: suite_config,
            seeds: suite_seeds,
            dict: TOML_DICT,
        },
        Target {
            name: "sim-profile",
            about: "simulator profile TOML",
            run: sim_profile,
            seeds: profile_seeds,
            dict: TOML_DICT,
        },
        trace_target(),
    ]
}

fn trace_target() -> Target {
    Target {
        name: "trace",
        about: "request traces (first byte picks the format: Mooncake, Bailian, Azure CSV, agent spans), then their shaping and expected hits",
        run: trace,
        seeds: trace_seeds,
        dict: JSON_DICT,
    }
}

const SSE_DICT: &[&[u8]] = &[
    b"data: ",
    b"data:",
    b"\n\n",
    b"\r\n",
    b"\n",
    b": ping\n",
    b"error: ",
    b"event: error\n",
    b"[DONE]",
    b"data: [DONE]\n\n",
];

const CHUNKED_DICT: &[&[u8]] = &[
    b"\r\n",
    b"0\r\n\r\n",
    b"1a\r\n",
    b"ffff\r\n",
    b";ext=1",
    b"X-Trailer: 1\r\n",
];

const HEAD_DICT: &[&[u8]] = &[
    b"HTTP/1.1 ",
    b"HTTP/1.0 ",
    b"\r\n",
    b"\r\n\r\n",
    b"200 OK\r\n",
    b"103 Early Hints\r\n",
    b"101 Switching Protocols\r\n",
    b"204 No Content\r\n",
    b"304 Not Modified\r\n",
    b"Content-Length: ",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n",
    b"Transfer-Encoding: chunked, gzip\r\n",
    b"Connection: close\r\n",
    b"Connection: keep-alive, close\r\n",
    b"Content-Type: text/event-stream\r\n",
    b"18446744073709551616",
    b", ",
];

const JSON_DICT: &[&[u8]] = &[
    b"\"choices\"",
    b"\"delta\"",
    b"\"content\"",
    b"\"usage\"",
    b"\"completion_tokens\"",
    b"\"prompt_tokens\"",
    b"\"finish_reason\"",
    b"\"token_ids\"",
    b"\"timings\"",
    b"\"predicted_n\"",
    b"\"tokens\"",
    b"\"stop\"",
    b"\"done\"",
    b"\"eval_count\"",
    b"\"prompt_eval_count\"",
    b"\"error\"",
    b"null",
    b"true",
    b"[]",
    b"{}",
    b"\\u0000",
    b"\\ud800",
];

const PROM_DICT: &[&[u8]] = &[
    b"# HELP ",
    b"# TYPE ",
    b" counter\n",
    b" gauge\n",
    b" histogram\n",
    b"_total",
    b"_bucket{le=\"+Inf\"}",
    b"{model_name=\"m\"}",
    b"vllm:generation_tokens_total",
    b"llamacpp:tokens_predicted_total",
    b" +Inf",
    b" NaN",
    b"\\\"",
];

const TOML_DICT: &[&[u8]] = &[
    b"[[scenario]]\n",
    b"[latency]\n",
    b"stacks = [",
    b"concurrency = [1, 2]\n",
    b"request-rate = ",
    b" = \"",
    b" = 0\n",
    b" = -1\n",
    b" = 1e400\n",
    b" = nan\n",
    b"faults = [\"reset:0\"]\n",
    b"\"\"\"",
];

/// One event, owned, for comparing decodings.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    Data(Vec<u8>),
    Error(Vec<u8>),
}

impl From<SseEvent<'_>> for Event {
    fn from(e: SseEvent<'_>) -> Self {
        match e {
            SseEvent::Data(d) => Self::Data(d.to_vec()),
            SseEvent::Error(d) => Self::Error(d.to_vec()),
        }
    }
}

/// Split points drawn from the input itself (deterministic per input).
fn splits(data: &[u8]) -> Vec<usize> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut cuts = Vec::new();
    let mut at = 0;
    while at < data.len() {
        for b in &data[at..(at + 8).min(data.len())] {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        at += 1 + (h % 61) as usize;
        cuts.push(at.min(data.len()));
    }
    cuts
}

/// The reads a network might deliver: the whole input, or its pieces
/// between `cuts`.
fn reads<'a>(data: &'a [u8], cuts: Option<&'a [usize]>) -> impl Iterator<Item = &'a [u8]> {
    let cuts = cuts.unwrap_or_default();
    let ends = cuts.iter().copied().chain(std::iter::once(data.len()));
    let mut from = 0;
    ends.map(move |to| {
        let piece = &data[from..to];
        from = to;
        piece
    })
}

fn sse_events(data: &[u8], cuts: Option<&[usize]>) -> Vec<Event> {
    let mut d = SseDecoder::new();
    let mut out = Vec::new();
    for piece in reads(data, cuts) {
        d.feed(piece, |e| {
            out.push(e.into());
            true
        });
    }
    d.finish(|e| {
        out.push(e.into());
        true
    });
    out
}

fn ndjson_lines(data: &[u8], cuts: Option<&[usize]>) -> Vec<Vec<u8>> {
    let mut d = NdjsonDecoder::new();
    let mut out = Vec::new();
    for piece in reads(data, cuts) {
        d.feed(piece, |l| {
            out.push(l.to_vec());
            true
        });
    }
    d.finish(|l| {
        out.push(l.to_vec());
        true
    });
    out
}

/// SSE framing: no panic, and reads split anywhere give the same events.
pub fn sse(data: &[u8]) {
    let whole = sse_events(data, None);
    let split = sse_events(data, Some(&splits(data)));
    assert_eq!(
        whole, split,
        "SSE events depend on how the bytes were split"
    );
}

/// The data and where the body ended (or the error), fed in `cuts`.
fn chunked_body(data: &[u8], cuts: Option<&[usize]>) -> (Vec<u8>, Result<Option<usize>, String>) {
    let mut d = ChunkedDecoder::new();
    let mut out = Vec::new();
    let mut offset = 0;
    for piece in reads(data, cuts) {
        match d.feed(piece, |b| out.extend_from_slice(b)) {
            Ok(Some(end)) => return (out, Ok(Some(offset + end))),
            Ok(None) => offset += piece.len(),
            Err(e) => return (out, Err(e.to_string())),
        }
    }
    (out, Ok(None))
}

/// Chunked bodies: no panic, the data never longer than the input, and
/// reads split anywhere give the same data, end and error.
pub fn chunked(data: &[u8]) {
    let whole = chunked_body(data, None);
    assert!(whole.0.len() <= data.len(), "more data out than bytes in");
    let split = chunked_body(data, Some(&splits(data)));
    // An error can be seen earlier in a split feed, with less data out
    // before it; the outcome must agree.
    match (&whole.1, &split.1) {
        (Err(a), Err(b)) => assert_eq!(a, b, "chunked errors depend on the split"),
        _ => assert_eq!(whole, split, "chunked decoding depends on the split"),
    }
}

/// NDJSON framing: no panic, split-invariant.
pub fn ndjson(data: &[u8]) {
    let whole = ndjson_lines(data, None);
    let split = ndjson_lines(data, Some(&splits(data)));
    assert_eq!(
        whole, split,
        "NDJSON lines depend on how the bytes were split"
    );
}

type Parser = fn(&[u8]) -> Result<ChunkInfo<'_>, stackbench_wire::openai::MalformedChunk>;

/// Parses every payload and runs the token counter over the stream, as
/// the driver does.
fn count(payloads: impl Iterator<Item = Vec<u8>>, parse: Parser) {
    let mut counter = TokenCounter::new();
    for p in payloads {
        if let Ok(info) = parse(&p) {
            let _ = counter.observe(&info);
        }
    }
    let _ = counter.finish();
}

fn sse_payloads(data: &[u8]) -> impl Iterator<Item = Vec<u8>> {
    sse_events(data, None).into_iter().map(|e| match e {
        Event::Data(d) | Event::Error(d) => d,
    })
}

/// OpenAI-compatible chunks: the input as one chunk and as a stream.
pub fn openai(data: &[u8]) {
    let _ = parse_chunk(data);
    count(sse_payloads(data), parse_chunk);
}

/// llama-server native chunks.
pub fn llama(data: &[u8]) {
    let _ = parse_native_chunk(data);
    count(sse_payloads(data), parse_native_chunk);
}

/// Ollama native NDJSON chunks.
pub fn ollama(data: &[u8]) {
    let _ = parse_ollama_chunk(data);
    count(ndjson_lines(data, None).into_iter(), parse_ollama_chunk);
}

/// HTTP/1.1 response heads, as the measured exchange reads them (it asks
/// again with all the bytes so far after every read): no panic; a parsed
/// head is no longer than the input; and every prefix of a complete head
/// parses as incomplete, every longer prefix as the same head.
pub fn head(data: &[u8]) {
    let Ok(Some(whole)) = parse_head(data) else {
        return;
    };
    assert!(whole.len <= data.len(), "a head longer than the input");
    assert!(whole.len > 0, "an empty head");
    let mut cuts = splits(&data[..whole.len]);
    cuts.extend([whole.len - 1, whole.len, data.len()]);
    for cut in cuts {
        let expect: Result<Option<Head>, HeadError> = if cut < whole.len {
            Ok(None)
        } else {
            Ok(Some(whole.clone()))
        };
        assert_eq!(
            parse_head(&data[..cut]),
            expect,
            "the head's first {cut} bytes parse differently"
        );
    }
}

/// Prometheus text.
pub fn prometheus(data: &[u8]) {
    if let Ok(samples) = parse_prometheus(&String::from_utf8_lossy(data)) {
        for name in [
            "vllm:generation_tokens_total",
            "llamacpp:tokens_predicted_total",
            "vllm:num_requests_running",
        ] {
            let _ = total(&samples, name);
        }
    }
}

/// A suite file and the stack file(s) it names: `suite NUL stack`.
pub fn suite_config(data: &[u8]) {
    let (suite, stack) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let suite = String::from_utf8_lossy(suite).into_owned();
    let stack = String::from_utf8_lossy(stack).into_owned();
    let suite_path = Path::new("/fuzz/suites/suite.toml");
    let reader = |p: &Path| -> std::io::Result<String> {
        Ok(if p == suite_path {
            suite.clone()
        } else {
            stack.clone()
        })
    };
    let _ = stackbench_stacks::load_suite_from(&reader, suite_path, &[], &[]);
}

/// A simulator profile.
pub fn sim_profile(data: &[u8]) {
    let _ = stackbench_sim::Profile::parse(&String::from_utf8_lossy(data), "fuzz.toml");
}

/// A trace of the format the first byte picks; what reads is shaped and
/// its expected hits computed (neither may panic either).
pub fn trace(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let format = stackbench_trace::Format::ALL[usize::from(pick) % 4];
    if let Ok(t) = stackbench_trace::read(format, rest) {
        let shaping = stackbench_trace::shape::Shaping {
            scale: 0.25,
            max_input: Some(1000),
            limit: Some(50),
            ..Default::default()
        };
        let (shaped, _) = shaping.apply(&t);
        let _ = stackbench_trace::cache::expected(&shaped, 16);
    }
}

macro_rules! files {
    ($($path:literal),* $(,)?) => {
        vec![$(include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../", $path)).to_vec()),*]
    };
}

fn sse_seeds() -> Vec<Vec<u8>> {
    let mut seeds = files![
        "crates/wire/tests/fixtures/vllm-0.32-chat-stream-usage.sse",
        "crates/wire/tests/fixtures/llama-server-doc-example.sse",
        "crates/wire/tests/fixtures/llama-server-v1-chat-stream.sse",
        "crates/wire/tests/fixtures/native-completion-stream.sse",
        "crates/wire/tests/fixtures/ollama-v1-doc-example.sse",
        "crates/wire/tests/fixtures/v1-chat-stream-timings-per-token.sse",
        "crates/wire/tests/fixtures/v1-completions-stream.sse",
        "crates/wire/tests/fixtures/vllm-doc-example.sse",
    ];
    // Ollama 0.17.4's OpenAI-compatible streams, recorded (`curl -si`).
    let ollama = files![
        "crates/wire/tests/fixtures/ollama-0.17.4/v1-chat-stream.http",
        "crates/wire/tests/fixtures/ollama-0.17.4/v1-completions-stream.http",
    ];
    seeds.extend(ollama.iter().map(|r| body(r).to_vec()));
    seeds
}

/// The body of a recorded `curl -si` response (after the first blank line).
fn body(response: &[u8]) -> &[u8] {
    response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response, |at| &response[at + 4..])
}

/// Recorded responses (llama-server and Ollama 0.17.4, `curl -si`), cut to
/// their head and the body's first bytes, and written ones for what was
/// not recorded: an interim 103, a chunked body, a close-delimited one.
fn head_seeds() -> Vec<Vec<u8>> {
    let recorded = files![
        "crates/wire/tests/fixtures/error-bad-json.http",
        "crates/wire/tests/fixtures/error-context-exceeded.http",
        "crates/wire/tests/fixtures/ollama-0.17.4/error-bad-option.http",
        "crates/wire/tests/fixtures/ollama-0.17.4/error-pull-offline.http",
        "crates/wire/tests/fixtures/ollama-0.17.4/error-unknown-model-v1-chat.http",
        "crates/wire/tests/fixtures/ollama-0.17.4/generate-stream.http",
        "crates/wire/tests/fixtures/ollama-0.17.4/generate-whole.http",
        "crates/wire/tests/fixtures/ollama-0.17.4/health.http",
        "crates/wire/tests/fixtures/ollama-0.17.4/metrics.http",
        "crates/wire/tests/fixtures/ollama-0.17.4/v1-chat-stream.http",
        "crates/wire/tests/fixtures/ollama-0.17.4/version.http",
    ];
    let mut seeds: Vec<Vec<u8>> = recorded
        .iter()
        .map(|r| r[..(r.len() - body(r).len() + 32).min(r.len())].to_vec())
        .collect();
    seeds.extend([
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n16\r\n".to_vec(),
        b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{}".to_vec(),
        b"HTTP/1.1 200 OK\nContent-Length: 5, 5\nConnection: keep-alive\n\nhello".to_vec(),
    ]);
    seeds
}

/// Chunked bodies as servers send them (written here: one event per
/// chunk, several per chunk, extensions, trailers).
fn chunked_seeds() -> Vec<Vec<u8>> {
    vec![
        b"16\r\ndata: {\"choices\":[]}\n\n\r\n0\r\n\r\n".to_vec(),
        b"5;a=b\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n".to_vec(),
        b"E\ndata: [DONE]\n\n\n0\n\n".to_vec(),
    ]
}

/// Ollama native lines in the shape `docs/server-apis.md` documents
/// (written here), and real ones recorded from Ollama 0.17.4.
fn ollama_seeds() -> Vec<Vec<u8>> {
    let generate = concat!(
        r#"{"model":"m","created_at":"2026-01-01T00:00:00Z","response":"Hi","done":false}"#,
        "\n",
        r#"{"model":"m","created_at":"2026-01-01T00:00:00Z","response":" there","done":false}"#,
        "\n",
        r#"{"model":"m","created_at":"2026-01-01T00:00:00Z","response":"","done":true,"done_reason":"length","total_duration":123456789,"load_duration":1234,"prompt_eval_count":12,"prompt_eval_duration":2345678,"eval_count":2,"eval_duration":3456789}"#,
        "\n"
    );
    let chat = concat!(
        r#"{"model":"m","created_at":"2026-01-01T00:00:00Z","message":{"role":"assistant","content":"Hi"},"done":false}"#,
        "\n",
        r#"{"model":"m","created_at":"2026-01-01T00:00:00Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","eval_count":1,"prompt_eval_count":9}"#,
        "\n",
        r#"{"error":"model 'x' not found"}"#,
        "\n"
    );
    let mut seeds = vec![generate.as_bytes().to_vec(), chat.as_bytes().to_vec()];
    // Ollama 0.17.4's native streams, recorded (`curl -si`).
    let recorded = files![
        "crates/wire/tests/fixtures/ollama-0.17.4/generate-stream.http",
        "crates/wire/tests/fixtures/ollama-0.17.4/generate-stop.http",
        "crates/wire/tests/fixtures/ollama-0.17.4/chat-stream.http",
    ];
    seeds.extend(recorded.iter().map(|r| body(r).to_vec()));
    seeds
}

fn prometheus_seeds() -> Vec<Vec<u8>> {
    files!["crates/wire/tests/fixtures/metrics.prom"]
}

fn suite_seeds() -> Vec<Vec<u8>> {
    let suites = files![
        "configs/suites/demo.toml",
        "configs/suites/dgx-spark.toml",
        "configs/suites/local.toml",
        "configs/suites/upgrade-check.toml",
    ];
    let stacks = files![
        "configs/stacks/sim/vllm-nvfp4.toml",
        "configs/stacks/local/llama-server-podman.toml",
        "configs/stacks/dgx-spark/ollama-q4km.toml",
    ];
    let mut seeds = Vec::new();
    for (i, suite) in suites.iter().enumerate() {
        let mut s = suite.clone();
        s.push(0);
        s.extend_from_slice(&stacks[i % stacks.len()]);
        seeds.push(s);
    }
    seeds
}

fn trace_seeds() -> Vec<Vec<u8>> {
    let files = files![
        "datasets/traces/mooncake.jsonl",
        "datasets/traces/mooncake.jsonl",
        "datasets/traces/azure.csv",
        "datasets/traces/agentic.jsonl",
    ];
    files
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let mut s = vec![i as u8];
            s.extend(f.into_iter().take(4096));
            s
        })
        .collect()
}

fn profile_seeds() -> Vec<Vec<u8>> {
    files![
        "configs/sim/vllm-nvfp4-mtp1.toml",
        "configs/sim/llamacpp-mxfp4.toml",
        "configs/sim/ollama-q4km.toml",
    ]
}
