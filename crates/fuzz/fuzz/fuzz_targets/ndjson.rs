//! libFuzzer target `ndjson`: runs `stackbench_fuzz::targets::ndjson`, the
//! same harness (and property) as the stable smoke run's `ndjson`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stackbench_fuzz::targets::ndjson(data));
