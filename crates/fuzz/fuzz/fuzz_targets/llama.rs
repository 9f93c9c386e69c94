//! libFuzzer target `llama`: runs `stackbench_fuzz::targets::llama`, the
//! same harness (and property) as the stable smoke run's `llama`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stackbench_fuzz::targets::llama(data));
