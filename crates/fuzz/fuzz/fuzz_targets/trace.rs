//! libFuzzer target `trace`: runs `stackbench_fuzz::targets::trace`, the
//! same harness (and property) as the stable smoke run's `trace`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stackbench_fuzz::targets::trace(data));
