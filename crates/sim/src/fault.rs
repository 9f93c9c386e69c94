//! Fault injection: every n-th request fails in a chosen way, so tests can
//! check that the client records failures and carries on.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// How a request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer HTTP 500 with the flavor's error body before streaming.
    Http500,
    /// Close the connection abruptly after a few tokens.
    Reset,
    /// Send one chunk of truncated JSON after a few tokens, then go on.
    Malformed,
    /// Send the flavor's in-stream error object after a few tokens.
    StreamError,
    /// Answer HTTP 429 (rate limited) with `Retry-After: 1`.
    Http429,
    /// Answer HTTP 503 (overloaded) with `Retry-After: 1`.
    Http503,
    /// End the stream after the last token: no closing chunk, no usage, no
    /// `[DONE]`.
    NoDone,
    /// Send a chunk whose bytes are not UTF-8 after a few tokens.
    InvalidUtf8,
    /// Send one 12 MB data line after a few tokens.
    HugeLine,
    /// Stop sending after a few tokens and hold the connection open.
    Stall,
    /// Never send the response headers; hold the connection open.
    StallHeaders,
    /// Close the connection as soon as it is accepted, before reading a
    /// byte. Counted per connection, not per request; with this fault the
    /// simulator answers `Connection: close` so every request opens one.
    Refuse,
    /// Stream normally but without any token counts: no usage (OpenAI), no
    /// `timings` / `tokens_predicted` (llama-server), no `eval_count` /
    /// `prompt_eval_count` (Ollama).
    NoUsage,
    /// Stream normally under `Content-Type: text/html` (a gateway page).
    WrongContentType,
}

impl FaultKind {
    /// Every kind, by the name `--fault` takes.
    pub const NAMES: &'static [(&'static str, FaultKind)] = &[
        ("http500", FaultKind::Http500),
        ("http429", FaultKind::Http429),
        ("http503", FaultKind::Http503),
        ("reset", FaultKind::Reset),
        ("malformed", FaultKind::Malformed),
        ("stream-error", FaultKind::StreamError),
        ("no-done", FaultKind::NoDone),
        ("invalid-utf8", FaultKind::InvalidUtf8),
        ("huge-line", FaultKind::HugeLine),
        ("stall", FaultKind::Stall),
        ("stall-headers", FaultKind::StallHeaders),
        ("refuse", FaultKind::Refuse),
        ("no-usage", FaultKind::NoUsage),
        ("wrong-content-type", FaultKind::WrongContentType),
    ];

    /// The HTTP status answered instead of a stream, for status faults.
    pub fn status(self) -> Option<u16> {
        match self {
            Self::Http500 => Some(500),
            Self::Http429 => Some(429),
            Self::Http503 => Some(503),
            _ => None,
        }
    }
}

/// A fault applied to every `every`-th request (1-based request counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// What happens.
    pub kind: FaultKind,
    /// Period in requests.
    pub every: u64,
}

/// A `--fault` value that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault '{0}': expected KIND:EVERY with KIND one of {names} and EVERY a positive integer (e.g. reset:10)", names = fault_names())]
pub struct FaultParseError(pub String);

fn fault_names() -> String {
    let names: Vec<&str> = FaultKind::NAMES.iter().map(|(n, _)| *n).collect();
    names.join(", ")
}

impl FromStr for Fault {
    type Err = FaultParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || FaultParseError(s.to_string());
        let (kind, every) = s.split_once(':').ok_or_else(err)?;
        let kind = FaultKind::NAMES
            .iter()
            .find(|(n, _)| *n == kind)
            .map(|(_, k)| *k)
            .ok_or_else(err)?;
        let every: u64 = every.parse().map_err(|_| err())?;
        if every == 0 {
            return Err(err());
        }
        Ok(Self { kind, every })
    }
}

impl<'de> serde::Deserialize<'de> for Fault {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The fault for the `n`-th request (1-based), if any. `refuse` acts on
/// connections (see [`ConnectionGate`]), not here.
pub(crate) fn fault_for(faults: &[Fault], n: u64) -> Option<FaultKind> {
    faults
        .iter()
        .filter(|f| f.kind != FaultKind::Refuse)
        .find(|f| n % f.every == 0)
        .map(|f| f.kind)
}

/// The `refuse` fault: every `every`-th accepted connection is closed
/// before a byte is read.
#[derive(Debug)]
pub(crate) struct ConnectionGate {
    every: Option<u64>,
    accepted: AtomicU64,
}

impl ConnectionGate {
    pub(crate) fn new(faults: &[Fault]) -> Self {
        Self {
            every: faults
                .iter()
                .find(|f| f.kind == FaultKind::Refuse)
                .map(|f| f.every),
            accepted: AtomicU64::new(0),
        }
    }

    /// Whether any connection is ever refused.
    pub(crate) fn active(&self) -> bool {
        self.every.is_some()
    }

    /// Counts an accepted connection; true when it is to be closed.
    pub(crate) fn refuse_next(&self) -> bool {
        let n = self.accepted.fetch_add(1, Ordering::Relaxed) + 1;
        self.every.is_some_and(|e| n % e == 0)
    }
}

/// Wraps a listener so that the gate's connections are closed on accept.
pub(crate) struct RefusingListener<L> {
    pub(crate) inner: L,
    pub(crate) gate: Arc<ConnectionGate>,
}

impl<L: axum::serve::Listener> axum::serve::Listener for RefusingListener<L> {
    type Io = L::Io;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (io, addr) = self.inner.accept().await;
            if !self.gate.refuse_next() {
                return (io, addr);
            }
            drop(io);
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The keys that carry token counts in any flavor's chunks.
const COUNT_KEYS: &[&str] = &[
    "usage",
    "timings",
    "tokens_predicted",
    "tokens_evaluated",
    "eval_count",
    "prompt_eval_count",
];

/// The `no-usage` fault: `buf` (SSE events or NDJSON lines) with every
/// token count removed from its JSON objects.
pub(crate) fn strip_counts(buf: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(buf.len());
    for line in buf.split_inclusive(|b| *b == b'\n') {
        let (prefix, rest) = match line.strip_prefix(b"data: ") {
            Some(rest) => (&b"data: "[..], rest),
            None => (&b""[..], line),
        };
        let body = rest.trim_ascii_end();
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(mut m)) => {
                for k in COUNT_KEYS {
                    m.remove(*k);
                }
                out.extend_from_slice(prefix);
                let _ = serde_json::to_writer(&mut out, &m);
                out.extend_from_slice(&rest[body.len()..]);
            }
            _ => out.extend_from_slice(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            "reset:10".parse::<Fault>().unwrap(),
            Fault {
                kind: FaultKind::Reset,
                every: 10
            }
        );
        for (name, kind) in FaultKind::NAMES {
            let f: Fault = format!("{name}:3").parse().unwrap();
            assert_eq!((f.kind, f.every), (*kind, 3));
        }
        assert!("reset:0".parse::<Fault>().is_err());
        assert!("boom:3".parse::<Fault>().is_err());
        assert!("reset".parse::<Fault>().is_err());
    }

    #[test]
    fn strips_counts_from_sse_and_ndjson() {
        let sse = b"data: {\"choices\":[],\"usage\":{\"completion_tokens\":3}}\n\ndata: [DONE]\n\n";
        let out = String::from_utf8(strip_counts(sse)).unwrap();
        assert_eq!(out, "data: {\"choices\":[]}\n\ndata: [DONE]\n\n");
        let nd = b"{\"done\":true,\"eval_count\":3,\"prompt_eval_count\":9,\"eval_duration\":5}\n";
        let out = String::from_utf8(strip_counts(nd)).unwrap();
        assert_eq!(out, "{\"done\":true,\"eval_duration\":5}\n");
    }

    #[test]
    fn refuse_counts_connections_not_requests() {
        let faults = [
            "refuse:3".parse::<Fault>().unwrap(),
            "reset:2".parse::<Fault>().unwrap(),
        ];
        let gate = ConnectionGate::new(&faults);
        let refused: Vec<bool> = (0..6).map(|_| gate.refuse_next()).collect();
        assert_eq!(refused, [false, false, true, false, false, true]);
        assert_eq!(fault_for(&faults, 3), None);
        assert_eq!(fault_for(&faults, 4), Some(FaultKind::Reset));
    }

    #[test]
    fn first_matching_fault_wins() {
        let f = [
            Fault {
                kind: FaultKind::Http500,
                every: 3,
            },
            Fault {
                kind: FaultKind::Reset,
                every: 2,
            },
        ];
        assert_eq!(fault_for(&f, 1), None);
        assert_eq!(fault_for(&f, 2), Some(FaultKind::Reset));
        assert_eq!(fault_for(&f, 6), Some(FaultKind::Http500));
    }
}
