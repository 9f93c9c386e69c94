//! The shipped long-context suite (`configs/suites/dgx-spark-long-context.toml`,
//! the Spark Arena v2 profile): 28 depth × concurrency scenarios of pp 2048 /
//! tg 128, run in the order its seed shuffles them (the same every time, and
//! not the written one), on DGX Spark stacks whose context per request holds
//! the deepest cell for the most users.
#![allow(clippy::unwrap_used)]

use stackbench_core::stack::Launch;
use stackbench_stacks::load_suite;

use crate::common::{repo, stackbench};

const SUITE: &str = "configs/suites/dgx-spark-long-context.toml";

/// The deepest cell's request: depth, prompt and output, tokens.
const DEEPEST: u64 = 100_000 + 2048 + 128;

/// The context per request a stack's launch gives, from its arguments or
/// environment (vLLM `--max-model-len`, llama.cpp `-c` / `-np`, Ollama
/// `OLLAMA_CONTEXT_LENGTH`).
fn context_per_request(launch: &Launch) -> u64 {
    let Launch::Container(c) = launch else {
        panic!("a container launch")
    };
    let after = |flag: &str| -> Option<u64> {
        let i = c.args.iter().position(|a| a == flag)?;
        c.args[i + 1].parse().ok()
    };
    if let Some(n) = after("--max-model-len") {
        return n;
    }
    if let (Some(total), Some(slots)) = (after("-c"), after("-np")) {
        return total / slots;
    }
    c.env["OLLAMA_CONTEXT_LENGTH"].parse().unwrap()
}

#[test]
fn the_long_context_suite_runs_28_shuffled_cells_on_stacks_that_hold_them() {
    let path = repo().join(SUITE);
    let suite = load_suite(&path, &[], &[]).unwrap();
    assert_eq!(suite.config.scenarios.len(), 28);
    assert_eq!(suite.config.shuffle, Some(42));
    assert_eq!(suite.stacks.len(), 6);
    for s in &suite.stacks {
        let launch = s.config.launch.as_ref().unwrap();
        let n = context_per_request(launch);
        assert!(n >= DEEPEST, "{}: {n} tokens per request", s.config.name);
        assert!(s.config.reference.is_none(), "{}", s.config.name);
    }
    let dry = |extra: &[&str]| {
        let mut args = vec!["suite", path.to_str().unwrap(), "--dry-run"];
        args.extend_from_slice(extra);
        stackbench(args).success().stdout
    };
    let order = |printed: &str| -> Vec<String> {
        printed
            .lines()
            .filter_map(|l| l.trim().strip_prefix("pp2048-tg128-"))
            .map(|l| l.split(':').next().unwrap().to_string())
            .collect()
    };
    let shuffled = order(&dry(&[]));
    assert_eq!(shuffled.len(), 28, "{shuffled:?}");
    assert_eq!(shuffled, order(&dry(&[])), "the same seed, the same order");
    let written: Vec<String> = [0, 4096, 8192, 16384, 32768, 65535, 100_000]
        .iter()
        .flat_map(|d| [1, 2, 5, 10].map(|c| format!("d{d}-c{c}")))
        .collect();
    assert_ne!(shuffled, written, "shuffled, not as written");
    let mut sorted = shuffled.clone();
    sorted.sort();
    let mut want = written.clone();
    want.sort();
    assert_eq!(sorted, want, "every cell once");
    assert_ne!(
        order(&dry(&["--shuffle", "7"])),
        shuffled,
        "--shuffle overrides"
    );
    assert!(dry(&[]).contains("c=10 10 requests at depth 100000, prompt 2048 tokens"));
}
