//! A simulated LLM server for tests and dry runs.
//!
//! It speaks the OpenAI-compatible streaming wire formats of vLLM,
//! llama-server and Ollama with each one's documented quirks
//! (`docs/server-apis.md` in the shared docs), and emits tokens on a known
//! schedule: token `k` of a stream is sent at an absolute deadline, so the
//! average rate is exact whatever the timer jitter. That schedule is the
//! ground truth the client's measurements are tested against.
//!
//! Its wire types are written here, separately from the client's parsers in
//! `stackbench-wire`, so that a protocol mistake cannot hide on both sides.
#![warn(missing_docs)]

mod auth;
mod clock;
mod error;
mod fault;
mod flavor;
mod inject;
mod llama_native;
mod metrics;
mod model;
mod ollama;
mod ollama_api;
mod prefix_cache;
mod profile;
mod reasoning;
mod record;
mod request;
mod respond;
mod server;
mod tls;
mod tokenizer;
mod tools;

pub use error::{TlsError, TokenizerError};
pub use fault::{Fault, FaultKind, FaultParseError};
pub use flavor::Flavor;
pub use model::LatencyModel;
pub use profile::{builtin_profiles, Profile, ProfileError, ReasoningFormat, BUILTIN_PROFILES};
pub use server::{SimHandle, SimServer};
pub use tls::TlsIdentity;
pub use tokenizer::SimTokenizer;
