//! Parser throughput on real captured streams: SSE (or NDJSON) framing,
//! chunk decoding and token counting, fed one network read per event as a
//! streaming server sends them. The figure to read is events per second on
//! one core (`cargo bench -p stackbench-wire --bench parse`); the client's
//! whole cost per token (HTTP, runtime, kernel) is measured end to end by
//! `scripts/bench-overhead.sh`.

use divan::counter::{BytesCount, ItemsCount};
use divan::Bencher;
use stackbench_wire::llama::parse_native_chunk;
use stackbench_wire::ndjson::NdjsonDecoder;
use stackbench_wire::ollama::parse_ollama_chunk;
use stackbench_wire::openai::{parse_chunk, MalformedChunk};
use stackbench_wire::{ChunkInfo, SseDecoder, SseEvent, TokenCounter};

fn main() {
    divan::main();
}

type Parser = fn(&[u8]) -> Result<ChunkInfo<'_>, MalformedChunk>;

/// A stream split into the reads a client gets: one per event.
struct Stream {
    reads: Vec<Vec<u8>>,
    bytes: usize,
    parse: Parser,
    ndjson: bool,
}

impl Stream {
    fn load(name: &str) -> Self {
        let (file, parse, ndjson): (&str, Parser, bool) = match name {
            "vllm-chat-usage" => ("vllm-0.32-chat-stream-usage.sse", parse_chunk, false),
            "llama-chat" => ("llama-server-v1-chat-stream.sse", parse_chunk, false),
            "llama-chat-timings" => ("v1-chat-stream-timings-per-token.sse", parse_chunk, false),
            "llama-native" => ("native-completion-stream.sse", parse_native_chunk, false),
            "ollama-generate" => {
                return Self::from_bytes(ollama_generate(64), parse_ollama_chunk, true)
            }
            other => panic!("no stream named {other}"),
        };
        let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        Self::from_bytes(bytes, parse, ndjson)
    }

    fn from_bytes(bytes: Vec<u8>, parse: Parser, ndjson: bool) -> Self {
        let sep: &[u8] = if ndjson { b"\n" } else { b"\n\n" };
        let mut reads = Vec::new();
        let mut rest = bytes.as_slice();
        while let Some(i) = rest.windows(sep.len()).position(|w| w == sep) {
            reads.push(rest[..i + sep.len()].to_vec());
            rest = &rest[i + sep.len()..];
        }
        if !rest.is_empty() {
            reads.push(rest.to_vec());
        }
        Self {
            bytes: bytes.len(),
            reads,
            parse,
            ndjson,
        }
    }

    /// Frames, decodes and counts the whole stream; returns the tokens.
    fn count(&self) -> u64 {
        let mut counter = TokenCounter::new();
        let mut on_payload = |data: &[u8]| {
            let data = data.trim_ascii();
            if data != b"[DONE]" {
                if let Ok(info) = (self.parse)(data) {
                    counter.observe(&info);
                }
            }
            true
        };
        if self.ndjson {
            let mut d = NdjsonDecoder::new();
            for r in &self.reads {
                d.feed(r, &mut on_payload);
            }
        } else {
            let mut d = SseDecoder::new();
            for r in &self.reads {
                d.feed(r, |ev| match ev {
                    SseEvent::Data(p) => on_payload(p),
                    SseEvent::Error(_) => false,
                });
            }
        }
        counter.finish().output_tokens
    }
}

/// An Ollama `/api/generate` stream of `n` tokens in the shape
/// `docs/server-apis.md` documents (written here, not copied from a
/// capture: no Ollama runs on the development machine).
fn ollama_generate(n: usize) -> Vec<u8> {
    let mut out = String::new();
    for i in 0..n {
        out += &format!(
            "{{\"model\":\"llama3.2:1b\",\"created_at\":\"2026-01-01T00:00:00.{i:06}Z\",\"response\":\" word\",\"done\":false}}\n"
        );
    }
    out += &format!(
        "{{\"model\":\"llama3.2:1b\",\"created_at\":\"2026-01-01T00:00:01Z\",\"response\":\"\",\"done\":true,\"done_reason\":\"length\",\"context\":[1,2,3],\"total_duration\":1234567890,\"load_duration\":1234567,\"prompt_eval_count\":32,\"prompt_eval_duration\":12345678,\"eval_count\":{n},\"eval_duration\":987654321}}\n"
    );
    out.into_bytes()
}

const STREAMS: &[&str] = &[
    "vllm-chat-usage",
    "llama-chat",
    "llama-chat-timings",
    "llama-native",
    "ollama-generate",
];

/// Events and bytes per second through framing, decoding and counting.
#[divan::bench(args = STREAMS)]
fn stream(bencher: Bencher, name: &str) {
    let s = Stream::load(name);
    assert!(s.count() > 0, "{name}: no tokens counted");
    bencher
        .counter(ItemsCount::new(s.reads.len()))
        .counter(BytesCount::new(s.bytes))
        .bench(|| divan::black_box(&s).count());
}
