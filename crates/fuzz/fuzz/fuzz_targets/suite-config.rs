//! libFuzzer target `suite-config`: runs `stackbench_fuzz::targets::suite_config`, the
//! same harness (and property) as the stable smoke run's `suite-config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stackbench_fuzz::targets::suite_config(data));
