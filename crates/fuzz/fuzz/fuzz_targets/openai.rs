//! libFuzzer target `openai`: runs `stackbench_fuzz::targets::openai`, the
//! same harness (and property) as the stable smoke run's `openai`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stackbench_fuzz::targets::openai(data));
