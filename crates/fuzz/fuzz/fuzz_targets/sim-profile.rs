//! libFuzzer target `sim-profile`: runs `stackbench_fuzz::targets::sim_profile`, the
//! same harness (and property) as the stable smoke run's `sim-profile`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stackbench_fuzz::targets::sim_profile(data));
