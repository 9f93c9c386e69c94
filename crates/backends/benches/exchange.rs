//! The measured exchange beside the alternatives, on evidence: the
//! client's CPU time per 1000 tokens when it streams the same paced SSE
//! from a local server, for
//! - `ours`: the real driver (`StreamDriver`, `backends::http1`);
//! - `hyper-in-task`: `hyper::client::conn::http1`, its connection future
//!   polled in the streaming task itself (no spawned connection task),
//!   kept for the next request;
//! - `reqwest`: the previous design (its connections on tasks of their
//!   own, the body through a channel).
//!
//! The alternatives decode SSE, parse each chunk and count its tokens
//! with the same `wire` code the driver uses, and take a timestamp per
//! read; they have no timeouts (the driver keeps its own, so the
//! comparison does not favour it). Each client runs on a current-thread
//! runtime on the main thread; the server runs on other threads, and only
//! the client thread's CPU time is counted (`/proc/thread-self/schedstat`,
//! nanoseconds; Linux). Run with
//! `cargo bench -p stackbench-backends --bench exchange`; the numbers are
//! in `docs/http-client.md`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use stackbench_backends::{normalize_base_url, StreamDriver, StreamTarget};
use stackbench_core::TokenEvent;
use stackbench_wire::body::{request_body, Api, BodyOptions, Request};
use stackbench_wire::openai::parse_chunk;
use stackbench_wire::{SseDecoder, SseEvent, TokenCounter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One load: concurrent streams, requests per stream, tokens per request,
/// and the gap between two events of one stream.
#[derive(Clone, Copy)]
struct Load {
    concurrency: usize,
    requests: usize,
    tokens: usize,
    gap: Duration,
}

fn main() {
    let loads = [
        Load {
            concurrency: 64,
            requests: 2,
            tokens: 128,
            gap: Duration::from_millis(10),
        },
        Load {
            concurrency: 256,
            requests: 2,
            tokens: 64,
            gap: Duration::from_millis(20),
        },
    ];
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("client         c    round  tokens  wall_s  client_cpu_ms  cpu_us_per_1000_tokens");
    let clients = [Client::Ours, Client::HyperInTask, Client::Reqwest];
    for load in loads {
        let addr = server.block_on(serve(load));
        let mut per_client = vec![Vec::new(); clients.len()];
        // Rounds interleave the clients, so that a busy moment of the
        // machine falls on all of them alike.
        for round in 1..=ROUNDS {
            for (i, client) in clients.iter().enumerate() {
                let (wall, cpu_ms, tokens) = measure(*client, addr, load);
                let per_1000 = cpu_ms * 1e6 / tokens as f64;
                println!(
                    "{:<14} {:<4} {round:<6} {tokens:<7} {wall:<7.2} {cpu_ms:<14.1} {per_1000:.0}",
                    client.name(),
                    load.concurrency,
                );
                per_client[i].push(per_1000);
            }
        }
        for (client, mut values) in clients.iter().zip(per_client) {
            values.sort_by(f64::total_cmp);
            println!(
                "median {:<14} c={:<4} {:.0} us per 1000 tokens (range {:.0}-{:.0})",
                client.name(),
                load.concurrency,
                values[values.len() / 2],
                values[0],
                values[values.len() - 1]
            );
        }
    }
}

/// Interleaved rounds per load.
const ROUNDS: usize = 3;

/// One run of `load` with `client` on a fresh current-thread runtime on
/// this thread: wall seconds, this thread's CPU milliseconds, tokens.
fn measure(client: Client, addr: SocketAddr, load: Load) -> (f64, f64, u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let cpu = thread_cpu_ns();
    let tokens = rt.block_on(run(client, addr, load));
    let cpu_ms = (thread_cpu_ns() - cpu) as f64 / 1e6;
    let expected = (load.concurrency * load.requests * load.tokens) as u64;
    assert_eq!(tokens, expected, "{} counted every token", client.name());
    (started.elapsed().as_secs_f64(), cpu_ms, tokens)
}

/// CPU time of the calling thread, nanoseconds.
fn thread_cpu_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").expect("Linux schedstat");
    text.split_whitespace().next().unwrap().parse().unwrap()
}

#[derive(Clone, Copy)]
enum Client {
    Ours,
    HyperInTask,
    Reqwest,
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Self::Ours => "ours",
            Self::HyperInTask => "hyper-in-task",
            Self::Reqwest => "reqwest",
        }
    }
}

fn body_options(load: Load) -> BodyOptions {
    BodyOptions {
        model: "m".into(),
        max_tokens: load.tokens as u32,
        ignore_eos: true,
        temperature: 0.0,
        seed: None,
        per_event_counts: false,
        extra: serde_json::Map::new(),
        switches: serde_json::Map::new(),
        salt_field: false,
    }
}

/// Runs `load` with `client`; returns the tokens counted.
async fn run(client: Client, addr: SocketAddr, load: Load) -> u64 {
    let url = format!("http://{addr}");
    let driver = Arc::new(
        StreamDriver::new(StreamTarget {
            root: normalize_base_url(&url).unwrap(),
            api: Api::Chat,
            api_key: None,
            body: body_options(load),
            request_timeout: Duration::from_secs(60),
            first_byte_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            reuse_connections: true,
            counts_stop_token: false,
        })
        .unwrap(),
    );
    let reqwest = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = Bytes::from(request_body(Api::Chat, &body_options(load), "hi"));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..load.concurrency {
        let (driver, reqwest, body, url) =
            (driver.clone(), reqwest.clone(), body.clone(), url.clone());
        tasks.spawn(async move {
            match client {
                Client::Ours => ours(&driver, load.requests).await,
                Client::HyperInTask => hyper_in_task(addr, &body, load.requests).await,
                Client::Reqwest => via_reqwest(&reqwest, &url, &body, load.requests).await,
            }
        });
    }
    let mut total = 0;
    while let Some(n) = tasks.join_next().await {
        total += n.unwrap();
    }
    total
}

async fn ours(driver: &StreamDriver, requests: usize) -> u64 {
    let live = AtomicU64::new(0);
    let mut total = 0;
    for _ in 0..requests {
        let mut events = Vec::new();
        let out = driver
            .send(&Request::text("hi"), Instant::now(), &mut events, &live)
            .await
            .unwrap();
        total += out.counted;
    }
    total
}

/// What the driver does per read, outside the exchange: SSE framing,
/// chunk parsing, counting, a timestamped event per content event.
struct Counting {
    sse: SseDecoder,
    counter: TokenCounter,
    events: Vec<TokenEvent>,
    start: Instant,
    done: bool,
}

impl Counting {
    fn new() -> Self {
        Self {
            sse: SseDecoder::new(),
            counter: TokenCounter::new(),
            events: Vec::new(),
            start: Instant::now(),
            done: false,
        }
    }

    fn feed(&mut self, data: &[u8]) {
        let at_us = self.start.elapsed().as_micros() as u64;
        let (counter, events, done) = (&mut self.counter, &mut self.events, &mut self.done);
        self.sse.feed(data, |ev| {
            let SseEvent::Data(d) = ev else { return false };
            if d.trim_ascii() == b"[DONE]" {
                *done = true;
                return false;
            }
            let info = parse_chunk(d).unwrap();
            if let Some(tokens) = counter.observe(&info) {
                events.push(TokenEvent { at_us, tokens });
            }
            true
        });
    }

    fn counted(self) -> u64 {
        assert!(self.done, "the stream ended with [DONE]");
        self.counter.finish().counted
    }
}

/// `requests` requests on one `hyper::client::conn::http1` connection whose
/// future is polled here, beside the response body, in this task.
async fn hyper_in_task(addr: SocketAddr, body: &Bytes, requests: usize) -> u64 {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    let mut conn = std::pin::pin!(conn);
    let mut total = 0;
    for _ in 0..requests {
        let request = hyper::Request::post("/v1/chat/completions")
            .header("host", addr.to_string())
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .unwrap();
        let exchange = async {
            let resp = sender.send_request(request).await.unwrap();
            assert_eq!(resp.status(), 200);
            let mut body = resp.into_body();
            let mut counting = Counting::new();
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.unwrap().into_data() {
                    counting.feed(&data);
                }
            }
            counting.counted()
        };
        total += tokio::select! {
            n = exchange => n,
            c = &mut conn => panic!("the connection ended first: {c:?}"),
        };
    }
    total
}

/// `requests` requests through reqwest (hyper's pooled client, a task per
/// connection, the body through a channel).
async fn via_reqwest(client: &reqwest::Client, url: &str, body: &Bytes, requests: usize) -> u64 {
    let mut total = 0;
    for _ in 0..requests {
        let mut resp = client
            .post(format!("{url}/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let mut counting = Counting::new();
        while let Some(data) = resp.chunk().await.unwrap() {
            counting.feed(&data);
        }
        total += counting.counted();
    }
    total
}

/// A local server streaming `load.tokens` one-token chat events per
/// request, one chunk and one write per event, `load.gap` apart, over
/// kept connections.
async fn serve(load: Load) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tcp.set_nodelay(true).unwrap();
            tokio::spawn(stream_to(tcp, load));
        }
    });
    addr
}

async fn stream_to(mut tcp: TcpStream, load: Load) {
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // One request: its head and Content-Length body.
        let request_end = loop {
            if let Some(end) = request_end(&pending) {
                break end;
            }
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
        };
        pending.drain(..request_end);
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
        if tcp.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let mut tick = tokio::time::interval(load.gap);
        for i in 0..=load.tokens {
            tick.tick().await;
            let event = if i < load.tokens {
                format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\" tok{i}\"}}}}]}}\n\n")
            } else {
                format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"length\"}}],\"usage\":{{\"prompt_tokens\":1,\"completion_tokens\":{}}}}}\n\ndata: [DONE]\n\n", load.tokens)
            };
            let mut chunk = format!("{:x}\r\n{event}\r\n", event.len());
            if i == load.tokens {
                chunk.push_str("0\r\n\r\n");
            }
            if tcp.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

/// Where the first complete request in `bytes` ends, if one is there.
fn request_end(bytes: &[u8]) -> Option<usize> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&bytes[..head_end]).ok()?;
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    (bytes.len() >= head_end + length).then_some(head_end + length)
}
