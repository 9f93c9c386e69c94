//! The measured-stream driver: one streaming request to one of five APIs
//! (OpenAI-compatible `/v1/chat/completions` and `/v1/completions`, which
//! vLLM, llama-server and Ollama all serve; llama-server's native
//! `/completion`; Ollama's `/api/generate` and `/api/chat`), which differ
//! only in body, framing (SSE or NDJSON) and chunk shape. It timestamps
//! every network read that completes a content event, counts its tokens
//! via `stackbench-wire`, and returns the reconciled counts or a typed
//! error.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use stackbench_core::TokenEvent;
use stackbench_wire::body::{request_body_for, Api, BodyOptions, Request};
use stackbench_wire::llama::parse_native_chunk;
use stackbench_wire::ndjson::NdjsonDecoder;
use stackbench_wire::ollama::parse_ollama_chunk;
use stackbench_wire::openai::parse_chunk;
use stackbench_wire::{CountOutcome, SseDecoder, SseEvent, TokenCounter};

use crate::error::RequestError;
use crate::transport::{payload_message, status_error};

/// Why a [`StreamDriver`] could not be built: nothing was sent.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The API's path does not join onto the server root.
    #[error("{root} has no URL for {path}: {reason}")]
    Url {
        /// The server root.
        root: String,
        /// The API's path.
        path: &'static str,
        /// The URL parser's reason.
        reason: String,
    },
    /// The endpoint cannot be reached directly: another scheme, a proxy
    /// variable that applies to it, an unusable API key or TLS setup.
    #[error("{url}: {reason}")]
    Endpoint {
        /// The endpoint.
        url: String,
        /// Why.
        reason: String,
    },
}

/// Where and how to send requests.
#[derive(Debug, Clone)]
pub struct StreamTarget {
    /// Server root as returned by [`crate::normalize_base_url`].
    pub root: reqwest::Url,
    /// Endpoint.
    pub api: Api,
    /// Bearer token, if the server needs one. Never logged or written.
    pub api_key: Option<String>,
    /// Body options.
    pub body: BodyOptions,
    /// Upper bound on one request, from send to end of stream.
    pub request_timeout: Duration,
    /// Longest wait from sending to the response headers.
    pub first_byte_timeout: Duration,
    /// Longest gap between two reads of the response body (a stream that
    /// stalls while the connection stays open).
    pub idle_timeout: Duration,
    /// Keep connections open between requests: what
    /// [`ServerKind::reuses_connections`](stackbench_core::kinds::ServerKind::reuses_connections)
    /// says of the server (not llama-server's, which closes the connection
    /// after every streamed response).
    pub reuse_connections: bool,
    /// Count the end-of-generation token that stopped a stream, which the
    /// server counts but never sends: what
    /// [`ServerKind::counts_stop_token`](stackbench_core::kinds::ServerKind::counts_stop_token)
    /// says (Ollama; see [`TokenCounter::counting_stop_token`]).
    pub counts_stop_token: bool,
}

/// Streams requests to one endpoint. Clones share its kept connections;
/// [`StreamDriver::with_own_connections`] makes one with its own.
#[derive(Debug, Clone)]
pub struct StreamDriver {
    endpoint: std::sync::Arc<crate::http1::Endpoint>,
    url: reqwest::Url,
    target: StreamTarget,
}

impl StreamDriver {
    /// Creates a driver; fails only on an unusable API key or TLS setup.
    pub fn new(target: StreamTarget) -> Result<Self, DriverError> {
        let path = target.api.path();
        let url = target.root.join(path).map_err(|e| DriverError::Url {
            root: target.root.to_string(),
            path,
            reason: e.to_string(),
        })?;
        let endpoint =
            crate::http1::Endpoint::new(&url, target.api_key.as_deref(), target.reuse_connections)
                .map_err(|reason| DriverError::Endpoint {
                    url: url.to_string(),
                    reason,
                })?;
        Ok(Self {
            endpoint: std::sync::Arc::new(endpoint),
            url,
            target,
        })
    }

    /// A driver like this one with its own connection pool, for another
    /// runtime thread: a connection's task runs on the thread that opened
    /// it, so sharing a pool across threads would wake another thread for
    /// every event.
    pub fn with_own_connections(&self) -> Result<Self, DriverError> {
        Self::new(self.target.clone())
    }

    /// The full endpoint URL.
    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }

    /// Sends one `request`, pushing one [`TokenEvent`] per content event
    /// into `events` (timed from `start`) and adding its tokens to
    /// `live_tokens` as they arrive.
    pub async fn send(
        &self,
        request: &Request,
        start: Instant,
        events: &mut Vec<TokenEvent>,
        live_tokens: &AtomicU64,
    ) -> Result<CountOutcome, RequestError> {
        let body = request_body_for(self.target.api, &self.target.body, request);
        let whole = self.target.request_timeout;
        let deadline = Instant::now() + whole;
        let (mut resp, head_at) = self.open(&body, deadline).await?;
        let mut decoder = Framer::for_api(self.target.api);
        let mut state = self.stream_state(request.keep_answer);
        let idle = self.target.idle_timeout;
        let mut watch = Limits::new(idle, deadline);
        // Every event is stamped with the time of the read that completed
        // it (the first ones may have come with the head).
        let mut at_us = micros(head_at.saturating_duration_since(start));
        loop {
            resp.drain(|data| {
                if !state.stop() {
                    decoder.feed(data, |ev| state.on_event(ev, at_us, events, live_tokens));
                }
            })
            .map_err(|reason| RequestError::Stream {
                events: events.len(),
                reason,
            })?;
            if state.stop() || resp.finished() {
                break;
            }
            if decoder.buffered() > MAX_EVENT_BYTES {
                return Err(RequestError::Oversized {
                    events: events.len(),
                    limit: MAX_EVENT_BYTES,
                });
            }
            let read = tokio::select! {
                biased;
                read = resp.fill() => read,
                () = watch.fired() => match watch.expired() {
                    Some(Expired::Request) => return Err(RequestError::Timeout(whole)),
                    Some(Expired::Idle) => {
                        return Err(RequestError::Idle { after: idle, events: events.len() })
                    }
                    None => continue,
                },
            };
            read.map_err(|e| RequestError::Stream {
                events: events.len(),
                reason: e.to_string(),
            })?;
            let now = Instant::now();
            watch.saw_read(now);
            at_us = micros(now.saturating_duration_since(start));
        }
        if !state.stop() {
            decoder.finish(|ev| state.on_event(ev, at_us, events, live_tokens));
        }
        if let Some(e) = state.error.take() {
            return Err(e);
        }
        let counts = state.counter.finish();
        // OpenAI-compatible streams end with [DONE]; llama-server's native
        // one just closes after its final (stop) event.
        let ended = state.done || counts.finish_reason.is_some();
        if !ended {
            return Err(RequestError::Truncated {
                events: events.len(),
            });
        }
        finish_body(resp, &mut watch).await;
        Ok(counts)
    }
}

impl StreamDriver {
    /// Sends the request and reads the response head within the
    /// first-byte timeout: a success status with the stream's content
    /// type (an error status is read for its message), and when the head
    /// came.
    async fn open(
        &self,
        body: &[u8],
        deadline: Instant,
    ) -> Result<(crate::http1::Response<'_>, Instant), RequestError> {
        let (first_byte, whole) = (self.target.first_byte_timeout, self.target.request_timeout);
        let mut resp = tokio::time::timeout(first_byte.min(whole), self.endpoint.send(body))
            .await
            .map_err(|_| {
                if first_byte <= whole {
                    RequestError::NoHeaders(first_byte)
                } else {
                    RequestError::Timeout(whole)
                }
            })??;
        let head_at = Instant::now();
        if !(200..300).contains(&resp.status) {
            let text = tokio::time::timeout_at(deadline.into(), resp.read_to_end(MAX_ERROR_BODY))
                .await
                .map_err(|_| RequestError::Timeout(whole))?;
            return Err(status_error(resp.status, &text));
        }
        check_content_type(self.target.api, resp.content_type.as_deref())?;
        Ok((resp, head_at))
    }

    /// A fresh stream's state: the API's chunk parser and token counter
    /// (which keeps the answer text when `keep_answer`).
    fn stream_state(&self, keep_answer: bool) -> StreamState {
        let counter = if self.target.counts_stop_token {
            TokenCounter::counting_stop_token()
        } else {
            TokenCounter::new()
        };
        StreamState {
            parse: match self.target.api {
                Api::LlamaNative => parse_native_chunk,
                Api::OllamaGenerate | Api::OllamaChat => parse_ollama_chunk,
                Api::Chat | Api::Completions => parse_chunk,
            },
            counter: if keep_answer {
                counter.keeping_answer()
            } else {
                counter
            },
            done: false,
            error: None,
        }
    }
}

/// Reads what follows `[DONE]` (the body's end) so that the connection can
/// be reused; a server that stalls or breaks there costs the connection,
/// not the request, which has ended.
async fn finish_body(mut resp: crate::http1::Response<'_>, watch: &mut Limits) {
    loop {
        if resp.drain(|_| {}).is_err() {
            return;
        }
        if resp.finished() {
            resp.release();
            return;
        }
        let read = tokio::select! {
            biased;
            read = resp.fill() => read,
            () = watch.fired() => {
                if watch.expired().is_some() {
                    return;
                }
                continue;
            }
        };
        if read.is_err() {
            return;
        }
        watch.saw_read(Instant::now());
    }
}

/// Longest error body kept, bytes.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Splits the response body into payloads: SSE events or NDJSON lines.
enum Framer {
    Sse(SseDecoder),
    Ndjson(NdjsonDecoder),
}

impl Framer {
    fn for_api(api: Api) -> Self {
        if api.ndjson() {
            Self::Ndjson(NdjsonDecoder::new())
        } else {
            Self::Sse(SseDecoder::new())
        }
    }

    fn feed(&mut self, bytes: &[u8], mut f: impl FnMut(SseEvent<'_>) -> bool) {
        match self {
            Self::Sse(d) => d.feed(bytes, f),
            Self::Ndjson(d) => d.feed(bytes, |line| f(SseEvent::Data(line))),
        }
    }

    fn buffered(&self) -> usize {
        match self {
            Self::Sse(d) => d.buffered(),
            Self::Ndjson(d) => d.buffered(),
        }
    }

    fn finish(&mut self, mut f: impl FnMut(SseEvent<'_>) -> bool) {
        match self {
            Self::Sse(d) => d.finish(f),
            Self::Ndjson(d) => d.finish(|line| f(SseEvent::Data(line))),
        }
    }
}

type ChunkParser =
    fn(&[u8]) -> Result<stackbench_wire::ChunkInfo<'_>, stackbench_wire::openai::MalformedChunk>;

/// Refuses a response whose `Content-Type` is not the stream the endpoint
/// sends (an HTML page from a gateway, a JSON body): parsing it as a
/// stream would count nothing and call it a server fault. A missing header
/// is let through.
fn check_content_type(api: Api, content_type: Option<&str>) -> Result<(), RequestError> {
    let Some(got) = content_type else {
        return Ok(());
    };
    let got = got.to_string();
    let media = got.split(';').next().unwrap_or_default().trim();
    let (expected, accepted): (&'static str, &[&str]) = if api.ndjson() {
        (
            "application/x-ndjson",
            &["application/x-ndjson", "application/json"],
        )
    } else {
        ("text/event-stream", &["text/event-stream"])
    };
    if accepted.iter().any(|a| media.eq_ignore_ascii_case(a)) {
        Ok(())
    } else {
        Err(RequestError::ContentType { expected, got })
    }
}

/// The most bytes one stream event (or NDJSON line) may take: real events
/// are a few hundred bytes; a server that sends more without ending the
/// line is broken, and the client's memory per stream stays bounded.
pub const MAX_EVENT_BYTES: usize = 4 << 20;

/// What one stream has shown so far.
struct StreamState {
    parse: ChunkParser,
    counter: TokenCounter,
    done: bool,
    error: Option<RequestError>,
}

impl StreamState {
    fn stop(&self) -> bool {
        self.done || self.error.is_some()
    }

    /// Handles one SSE event; returns false to stop decoding.
    fn on_event(
        &mut self,
        ev: SseEvent<'_>,
        at_us: u64,
        events: &mut Vec<TokenEvent>,
        live_tokens: &AtomicU64,
    ) -> bool {
        let data = match ev {
            SseEvent::Error(payload) => {
                self.error = Some(RequestError::Server(payload_message(payload)));
                return false;
            }
            SseEvent::Data(d) => d.trim_ascii(),
        };
        if data == b"[DONE]" {
            self.done = true;
            return false;
        }
        match (self.parse)(data) {
            Ok(info) => {
                if let Some(msg) = info.error {
                    self.error = Some(RequestError::Server(msg));
                    return false;
                }
                if let Some(tokens) = self.counter.observe(&info) {
                    events.push(TokenEvent { at_us, tokens });
                    live_tokens.fetch_add(u64::from(tokens), Ordering::Relaxed);
                }
                true
            }
            Err(m) => {
                self.error = Some(RequestError::Malformed(m));
                false
            }
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A stream's two time limits on one timer: the idle timeout (from the
/// last read) and the whole request's deadline. Re-armed only when it
/// fires, not per read: registering and polling a timer for every event
/// was a measurable share of the client's cost per token.
struct Limits {
    idle: Duration,
    deadline: Instant,
    last_read: Instant,
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

/// Which limit a stream passed.
enum Expired {
    Idle,
    Request,
}

impl Limits {
    fn new(idle: Duration, deadline: Instant) -> Self {
        let now = Instant::now();
        Self {
            idle,
            deadline,
            last_read: now,
            timer: Box::pin(tokio::time::sleep_until((now + idle).min(deadline).into())),
        }
    }

    fn saw_read(&mut self, at: Instant) {
        self.last_read = at;
    }

    /// Completes when the timer fires.
    async fn fired(&mut self) {
        self.timer.as_mut().await;
    }

    /// The limit passed, if any; otherwise re-arms the timer for the next
    /// one due.
    fn expired(&mut self) -> Option<Expired> {
        let now = Instant::now();
        if now >= self.deadline {
            return Some(Expired::Request);
        }
        let idle_at = self.last_read + self.idle;
        if now >= idle_at {
            return Some(Expired::Idle);
        }
        self.timer.as_mut().reset(idle_at.min(self.deadline).into());
        None
    }
}
