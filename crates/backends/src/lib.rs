//! The client side of a benchmark: [`StreamDriver`] sends the measured
//! streaming requests (five APIs, one driver) over its own HTTP/1.1
//! exchange and times every token event; [`ControlClient`] makes every
//! other request (readiness, models, metadata, probes, `/metrics`,
//! tokenizers, Ollama's model management, the known-answer question),
//! built once per run and passed to the functions here.
#![warn(missing_docs)]

mod control;
mod error;
mod http1;
mod known_answer;
mod meta;
mod metrics;
mod ollama;
mod probe;
mod proxy;
mod reset;
mod signature;
mod stream;
pub mod tls;
mod tokenize;
mod transport;
mod url;

pub use control::{ClientError, ControlClient};
pub use error::RequestError;
pub use known_answer::{
    ask_known_answer, known_answer_body, known_answer_reply, KnownAnswerError, KnownAnswerReply,
};
pub use meta::{list_models, server_metadata, wait_ready, Readiness, ReadyWait};
pub use metrics::{cache_config, scrape_metrics, GaugeMaxima, ServerCounters};
pub use ollama::{
    ollama_ensure_model, ollama_is_loaded, ollama_metadata, ollama_preload, ModelPresenceError,
};
pub use probe::{probe, ProbeReport};
pub use proxy::{refuse_proxy, ProxyError};
pub use reset::{reset_cache, ResetDone, ResetError};
pub use stackbench_core::kinds::ServerKind;
pub use stream::{DriverError, StreamDriver, StreamTarget, MAX_EVENT_BYTES};
pub use tokenize::ServerTokenizer;
pub use transport::CONNECT_TIMEOUT;
pub use url::{normalize_base_url, BaseUrlError};
