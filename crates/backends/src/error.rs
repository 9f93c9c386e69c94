//! Why a request failed, with what the user needs to act on it.

use stackbench_core::record::FailureKind;
use stackbench_wire::openai::MalformedChunk;

/// A failed request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No connection could be made or the request could not be sent.
    #[error("cannot reach {url}: {reason}")]
    Connect {
        /// Where we tried to connect.
        url: String,
        /// The transport's reason.
        reason: String,
    },
    /// The HTTP client could not be built (a CA file that does not load,
    /// an API key with characters a header cannot hold): nothing was sent.
    #[error("cannot build the HTTP client: {reason}")]
    Client {
        /// Why.
        reason: String,
    },
    /// The TLS handshake failed: the server's certificate is not trusted
    /// (or names another host). Not retried.
    #[error("TLS handshake with {url} failed: {reason} (trust its CA with --ca-cert PATH, or accept any certificate with --insecure)")]
    Tls {
        /// Where we tried to connect.
        url: String,
        /// The TLS library's reason.
        reason: String,
    },
    /// The request was sent and the server closed the connection before
    /// any response. Not retried: the server may have read it.
    #[error("{url} closed the connection before answering: {reason}")]
    Closed {
        /// Where we sent it.
        url: String,
        /// The transport's reason.
        reason: String,
    },
    /// The response was not the stream we asked for.
    #[error("expected a {expected} stream, got Content-Type '{got}'")]
    ContentType {
        /// What the endpoint streams.
        expected: &'static str,
        /// What the server said it sent.
        got: String,
    },
    /// The server answered with an error status before streaming.
    #[error("HTTP {status}: {message}")]
    HttpStatus {
        /// HTTP status code.
        status: u16,
        /// The server's error message (or the start of its body).
        message: String,
    },
    /// The connection broke while streaming (reset, closed mid-body).
    #[error("stream broke after {events} events: {reason}")]
    Stream {
        /// Content events received before the break.
        events: usize,
        /// The transport's reason.
        reason: String,
    },
    /// One event grew past the client's bound without ending.
    #[error("an event exceeded {limit} bytes without ending (after {events} events)")]
    Oversized {
        /// Content events received before it.
        events: usize,
        /// The bound, bytes.
        limit: usize,
    },
    /// A chunk was not valid JSON of the expected shape.
    #[error(transparent)]
    Malformed(#[from] MalformedChunk),
    /// The server sent an error object inside the stream.
    #[error("server error in stream: {0}")]
    Server(String),
    /// The stream ended without `[DONE]` and without a finish reason.
    #[error("stream ended early (no [DONE], no finish_reason) after {events} events")]
    Truncated {
        /// Content events received.
        events: usize,
    },
    /// The server did not become ready in time.
    #[error("server not ready after {waited:?}; last answer: {last}")]
    NotReady {
        /// How long we waited.
        waited: std::time::Duration,
        /// What the server last said.
        last: String,
    },
    /// The request took longer than the configured timeout.
    #[error("no complete response within {0:?}")]
    Timeout(std::time::Duration),
    /// No response headers within the first-byte timeout.
    #[error("no response headers within {0:?}")]
    NoHeaders(std::time::Duration),
    /// The stream stalled: nothing arrived within the idle timeout.
    #[error("nothing received for {after:?} (after {events} events)")]
    Idle {
        /// The idle timeout.
        after: std::time::Duration,
        /// Content events received before the stall.
        events: usize,
    },
}

impl RequestError {
    /// The failure's class, for records and summaries.
    pub fn kind(&self) -> FailureKind {
        match self {
            Self::Connect { .. } | Self::Client { .. } => FailureKind::Connect,
            Self::Tls { .. } => FailureKind::Tls,
            Self::Closed { .. } => FailureKind::Closed,
            Self::ContentType { .. } => FailureKind::ContentType,
            Self::HttpStatus { .. } => FailureKind::HttpStatus,
            Self::Stream { .. } => FailureKind::Stream,
            Self::Oversized { .. } => FailureKind::Oversized,
            Self::Malformed(_) => FailureKind::MalformedChunk,
            Self::Server(_) => FailureKind::ServerError,
            Self::Truncated { .. } => FailureKind::Truncated,
            Self::Timeout(_) => FailureKind::Timeout,
            Self::NoHeaders(_) => FailureKind::TimeoutFirstByte,
            Self::Idle { .. } => FailureKind::TimeoutIdle,
            Self::NotReady { .. } => FailureKind::NotReady,
        }
    }

    /// The HTTP status, for `HttpStatus`.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::HttpStatus { status, .. } => Some(*status),
            _ => None,
        }
    }
}
