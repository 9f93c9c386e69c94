//! Wire formats of the servers stackbench drives, as pure functions over
//! bytes: SSE framing, OpenAI-compatible chunk decoding, per-event token
//! counting with reconciliation, and request bodies. No I/O happens here, so
//! every parser can be tested on recorded captures and split at any byte.
#![warn(missing_docs)]

pub mod body;
pub mod chunked;
pub mod count;
pub mod head;
pub mod llama;
pub mod ndjson;
pub mod ollama;
pub mod openai;
pub mod prometheus;
pub mod reasoning;
pub mod sse;
pub mod switches;
pub mod tools;

pub use count::{CountOutcome, TokenCounter};
pub use openai::{ChunkInfo, Usage};
pub use reasoning::{ReasoningOutcome, ReasoningSplit};
pub use sse::{SseDecoder, SseEvent};
pub use tools::{ToolCallMarks, ToolCallOutcome, ToolCallSplit};
