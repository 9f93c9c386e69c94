//! The fuzz smoke run of the test command: every target, its seeds and
//! 20,000 mutated inputs each (fixed seed), no panic. And the fuzzer can
//! fail: a target with a planted bug is caught.
#![allow(clippy::unwrap_used)]

use stackbench_fuzz::{all, fuzz, Target};

#[test]
fn every_target_survives_a_short_run() {
    let targets = all();
    assert_eq!(targets.len(), 9);
    for t in &targets {
        assert!(!(t.seeds)().is_empty(), "{} has seeds", t.name);
        let s = fuzz(t, 20_000, 7, 16 * 1024, |_| {})
            .unwrap_or_else(|c| panic!("{}: {} on {:?}", t.name, c.message, c.input));
        assert!(s.execs >= 20_000, "{}", t.name);
    }
}

fn planted(data: &[u8]) {
    // A parser that trusts a length it read: what fuzzing is for.
    if let Some(rest) = data.strip_prefix(b"data: [DONE]") {
        let n = rest.first().copied().unwrap_or(0) as usize;
        assert!(n < 200, "trusted a length of {n}");
    }
}

#[test]
fn a_planted_bug_is_found() {
    let t = Target {
        name: "planted",
        about: "",
        run: planted,
        seeds: || vec![b"data: {}\n\n".to_vec()],
        dict: &[b"data: [DONE]"],
    };
    let crash = fuzz(&t, 1_000_000, 1, 64, |_| {}).unwrap_err();
    assert!(
        crash.message.contains("trusted a length"),
        "{}",
        crash.message
    );
    assert!(crash.input.starts_with(b"data: [DONE]"));
}
