//! Fuzzing on stable Rust: the parsers and config loaders stackbench feeds
//! with bytes it does not control (server streams, `/metrics` pages, user
//! TOML) run under a small mutational fuzzer that needs only the stable
//! toolchain, so the test command runs it everywhere. The targets are plain
//! `fn(&[u8])`; the coverage-guided libFuzzer campaign wraps each in one line.
//!
//! Run: `cargo run --release -p stackbench-fuzz -- all --execs 10000000`.
//! The test suite runs every target briefly (`tests/smoke.rs`).
//!
//! The same targets also run coverage-guided under libFuzzer
//! (`fuzz/`, one `fuzz_target!` per target calling the function here;
//! `scripts/fuzz.sh`, docs/fuzzing.md), seeded from `--export`.

pub mod export;
pub mod mutate;
pub mod targets;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub use targets::{all, Target};

/// What a fuzzing session did.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    /// Inputs run (seeds included).
    pub execs: u64,
    /// Time taken.
    pub elapsed: Duration,
}

/// An input that made the target panic.
#[derive(Debug, Clone)]
pub struct Crash {
    /// The input.
    pub input: Vec<u8>,
    /// The panic message.
    pub message: String,
    /// After how many executions.
    pub after: u64,
}

/// Runs `target` on its seeds, then on `execs` mutated inputs of at most
/// `max_len` bytes drawn with `seed`; stops at the first panic.
/// `progress` is called about every second with the executions so far.
pub fn fuzz(
    target: &Target,
    execs: u64,
    seed: u64,
    max_len: usize,
    mut progress: impl FnMut(u64),
) -> Result<Stats, Crash> {
    let started = Instant::now();
    let seeds = (target.seeds)();
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut input = Vec::with_capacity(max_len);
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {})); // the panic is returned, not printed
    let mut last_report = Instant::now();
    let mut result = Ok(());
    let mut done = 0u64;
    for s in &seeds {
        if let Err(c) = run_one(target, s, done) {
            result = Err(c);
            break;
        }
        done += 1;
    }
    while result.is_ok() && done < execs + seeds.len() as u64 {
        let base = &seeds[rng.gen_range(0..seeds.len())];
        let other = &seeds[rng.gen_range(0..seeds.len())];
        mutate::mutate(&mut rng, base, other, target.dict, max_len, &mut input);
        if let Err(c) = run_one(target, &input, done) {
            result = Err(c);
        }
        done += 1;
        if done % 4096 == 0 && last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            progress(done);
        }
    }
    std::panic::set_hook(previous_hook);
    result.map(|()| Stats {
        execs: done,
        elapsed: started.elapsed(),
    })
}

fn run_one(target: &Target, input: &[u8], done: u64) -> Result<(), Crash> {
    catch_unwind(AssertUnwindSafe(|| (target.run)(input))).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string panic)".into());
        Crash {
            input: input.to_vec(),
            message,
            after: done,
        }
    })
}
