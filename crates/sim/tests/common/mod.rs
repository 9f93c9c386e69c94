//! Helpers of the simulator's own tests: start a profile, send one request
//! and read its stream event by event with each event's arrival time,
//! parsed here with plain serde_json (not the client's parsers).
#![allow(clippy::unwrap_used, dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::Value;
use stackbench_sim::{Profile, SimHandle, SimServer};

/// A profile of `flavor` with `extra` top-level keys: 20 ms TTFT, prefill
/// at `prefill_tps`, 100 tok/s decode (10 ms a token), one token per event.
pub fn profile(flavor: &str, prefill_tps: f64, extra: &str) -> Profile {
    let text = format!(
        "flavor = \"{flavor}\"\nstack = \"t\"\nquantization = \"q\"\nmodel = \"m\"\n{extra}\n\
         [latency]\nttft-ms = 20.0\nprefill-tps = {prefill_tps}\ndecode-tps = 100.0\n\
         max-slots = 64\ntokens-per-event = 1\n"
    );
    Profile::parse(&text, "test").unwrap()
}

/// The decode interval of [`profile`].
pub const TOKEN_S: f64 = 1.0 / 100.0;

/// Starts `server` on a free port.
pub async fn start(server: SimServer) -> SimHandle {
    server
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap()
}

/// One event of a stream and when it arrived.
#[derive(Debug, Clone)]
pub struct Event {
    /// Since the request was sent.
    pub at: Duration,
    pub json: Value,
}

/// A finished request: its status and events (a non-streamed answer is
/// one event).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub events: Vec<Event>,
}

/// Posts `body` to `path` and reads the answer event by event (SSE `data:`
/// lines, or NDJSON lines), stamping each when the bytes completing it
/// arrived.
pub async fn post(base: &str, path: &str, body: &Value) -> Answer {
    let client = reqwest::Client::new();
    let start = Instant::now();
    let mut resp = client
        .post(format!("{base}{path}"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let mut buf: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        let at = start.elapsed();
        buf.extend_from_slice(&chunk);
        while let Some(end) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            let line = String::from_utf8(line).unwrap();
            let line = line.trim();
            let data = line.strip_prefix("data: ").unwrap_or(line);
            if data.is_empty() || data == "[DONE]" {
                continue;
            }
            events.push(Event {
                at,
                json: serde_json::from_str(data).unwrap(),
            });
        }
    }
    let rest = String::from_utf8(buf).unwrap();
    if !rest.trim().is_empty() {
        events.push(Event {
            at: start.elapsed(),
            json: serde_json::from_str(rest.trim()).unwrap(),
        });
    }
    Answer { status, events }
}

/// The reasoning and answer text an event carries, wherever the wire
/// format puts them (chat `delta` or `message`, completions `text`,
/// Ollama `message` / `response` and `thinking`).
pub fn texts(v: &Value) -> (String, String) {
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let reasoning = [
        "/choices/0/delta/reasoning",
        "/choices/0/delta/reasoning_content",
        "/choices/0/message/reasoning",
        "/choices/0/message/reasoning_content",
        "/message/thinking",
        "/thinking",
    ]
    .iter()
    .map(|p| s(p))
    .collect::<String>();
    let content = [
        "/choices/0/delta/content",
        "/choices/0/message/content",
        "/choices/0/text",
        "/message/content",
        "/response",
        "/content",
    ]
    .iter()
    .map(|p| s(p))
    .collect::<String>();
    (reasoning, content)
}

/// The token events of a stream: those with any text.
pub fn token_events(a: &Answer) -> Vec<(Duration, String, String)> {
    a.events
        .iter()
        .filter_map(|e| {
            let (r, c) = texts(&e.json);
            (!r.is_empty() || !c.is_empty()).then_some((e.at, r, c))
        })
        .collect()
}

/// The last value at `pointer` in any event.
pub fn last_at(a: &Answer, pointer: &str) -> Option<Value> {
    a.events
        .iter()
        .rev()
        .find_map(|e| e.json.pointer(pointer).cloned())
}
