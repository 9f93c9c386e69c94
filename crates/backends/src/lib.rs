//! Drivers: each sends one streaming request to one kind of API, timestamps
//! every network read that completes a content event, counts its tokens via
//! `stackbench-wire`, and returns the reconciled counts or a typed error.
//!
//! [`Driver`] is an enum rather than a trait object: the set of APIs is
//! closed and known, and a `match` keeps the hot path free of boxing.
#![warn(missing_docs)]

mod error;
mod http1;
mod known_answer;
mod meta;
mod metrics;
mod ollama;
mod openai;
mod probe;
mod proxy;
mod signature;
pub mod tls;
mod tokenize;
mod url;

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use stackbench_core::TokenEvent;
use stackbench_wire::CountOutcome;

pub use error::RequestError;
pub use known_answer::{ask_known_answer, known_answer_body, known_answer_reply, KnownAnswerReply};
pub use meta::{list_models, server_metadata, wait_ready, Readiness, ReadyWait};
pub use metrics::{cache_config, meta_client, scrape_metrics, GaugeMaxima, ServerCounters};
pub use ollama::{
    ollama_ensure_model, ollama_is_loaded, ollama_metadata, ollama_preload, ModelPresenceError,
};
pub use openai::{OpenAiDriver, OpenAiTarget, CONNECT_TIMEOUT, MAX_EVENT_BYTES};
pub use probe::{probe, ProbeReport};
pub use proxy::{refuse_proxy, ProxyError};
pub use stackbench_core::kinds::ServerKind;
pub use tokenize::ServerTokenizer;
pub use url::{normalize_base_url, BaseUrlError};

/// A driver for one API of one server.
#[derive(Debug, Clone)]
pub enum Driver {
    /// OpenAI-compatible `/v1/chat/completions` or `/v1/completions`.
    OpenAi(OpenAiDriver),
}

impl Driver {
    /// A driver like this one with its own connection pool, for another
    /// runtime thread: a connection's task runs on the thread that opened
    /// it, so sharing a pool across threads would wake another thread for
    /// every event.
    pub fn with_own_connections(&self) -> Result<Self, String> {
        match self {
            Self::OpenAi(d) => d.with_own_connections().map(Self::OpenAi),
        }
    }

    /// Sends one `request`, pushing one [`TokenEvent`] per content
    /// event into `events` (timed from `start`) and adding its tokens to
    /// `live_tokens` as they arrive.
    pub async fn send(
        &self,
        request: &stackbench_wire::body::Request,
        start: Instant,
        events: &mut Vec<TokenEvent>,
        live_tokens: &AtomicU64,
    ) -> Result<CountOutcome, RequestError> {
        match self {
            Self::OpenAi(d) => d.send(request, start, events, live_tokens).await,
        }
    }
}
