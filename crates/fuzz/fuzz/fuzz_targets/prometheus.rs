//! libFuzzer target `prometheus`: runs `stackbench_fuzz::targets::prometheus`, the
//! same harness (and property) as the stable smoke run's `prometheus`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stackbench_fuzz::targets::prometheus(data));
