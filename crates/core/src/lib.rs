//! Domain types shared by every stackbench crate: the per-request stream of
//! token events, the metric definitions computed from it, mergeable HDR
//! histograms, the steady-state throughput timeline, and the versioned result
//! formats (`run.json`, `requests.jsonl`) that users keep.
//!
//! This crate does no I/O and depends on no other crate of ours, so the metric
//! definitions can be tested in isolation and reused by every front end.
#![warn(missing_docs)]

pub mod client_load;
pub mod depth;
pub mod histogram;
pub mod hygiene;
pub mod identity;
pub mod kinds;
pub mod merge;
pub mod metrics;
pub mod open_loop;
pub mod record;
pub mod replay;
pub mod run_file;
pub mod seed;
pub mod slo;
pub mod stack;
pub mod stats;
pub mod summary;
pub mod sync;
pub mod timeline;
pub mod workload;

pub use histogram::{HistError, LatencyHistograms};
pub use kinds::{Api, FlavorChoice, Recorded, ServerKind};
pub use metrics::{RequestMetrics, TokenEvent};
pub use record::{CountSource, RequestRecord, RequestStatus, ServerTimings};
pub use seed::{Seed, SeedOutOfRange};
pub use timeline::{Timeline, TimelineSeries};
