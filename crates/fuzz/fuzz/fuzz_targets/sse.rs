//! libFuzzer target `sse`: runs `stackbench_fuzz::targets::sse`, the
//! same harness (and property) as the stable smoke run's `sse`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stackbench_fuzz::targets::sse(data));
