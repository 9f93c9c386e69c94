//! libFuzzer target `ollama`: runs `stackbench_fuzz::targets::ollama`, the
//! same harness (and property) as the stable smoke run's `ollama`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stackbench_fuzz::targets::ollama(data));
