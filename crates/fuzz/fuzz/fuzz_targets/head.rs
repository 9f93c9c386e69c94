//! libFuzzer target `head`: runs `stackbench_fuzz::targets::head`, the
//! same harness (and property) as the stable smoke run's `head`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stackbench_fuzz::targets::head(data));
