//! The integration tests that need the whole machine: the real
//! llama-server, vLLM and Ollama, the container engines, and the starved
//! client of `client_load`. One test binary, one module per former test
//! file; every test is a `real_test!` (common/preamble.rs), which takes
//! [`common::SERIAL`] first, so they run one at a time (as when each file
//! was its own binary and its tests took turns).
//! A test that needs a program that is missing is ignored, or fails under
//! `STACKBENCH_REQUIRE_<TOOL>=1` (common/tools.rs). Run one file's tests
//! with `cargo test -p stackbench-cli --test real -- llama_server::`.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod clean;
mod client_load;
mod depth;
mod llama_server;
mod local_suite;
mod ollama;
mod pull_policy;
mod secrets;
mod stack_checks;
mod tool_calls;
mod traces;
mod vllm;
mod vllm_spec;
