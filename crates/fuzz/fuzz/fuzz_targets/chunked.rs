//! libFuzzer target `chunked`: runs `stackbench_fuzz::targets::chunked`, the
//! same harness (and property) as the stable smoke run's `chunked`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stackbench_fuzz::targets::chunked(data));
