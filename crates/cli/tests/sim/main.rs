//! The integration tests that need nothing but the `stackbench` binary and
//! its simulator (a few also take a container engine or chromium when
//! present): one test binary, one module per former test file, so the test
//! command links this stack once instead of once per file. Run one file's
//! tests with `cargo test -p stackbench-cli --test sim -- token_counting::`.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod clean;
mod cli;
mod compare;
mod datasets;
mod depth;
mod dgx_gpt_oss;
mod dgx_long_context;
mod dgx_suite;
mod failures;
mod fake_engine;
mod fault_matrix;
mod history;
mod launched_box;
mod load_shapes;
mod merge;
mod ollama_native;
mod preflight;
mod probe;
mod prompt_lengths;
mod queue_timeouts;
mod reasoning;
mod report;
mod secret_redaction;
mod server_metrics;
mod sim_apis;
mod sim_ground_truth;
mod suite;
mod tls;
mod token_counting;
mod tool_calls;
mod traces;
mod upgrade;
