//! The fuzz smoke run of the test command: every target, its seeds and
//! 20,000 mutated inputs each (fixed seed), no panic. And the fuzzer can
//! fail: a target with a planted bug is caught. And the libFuzzer
//! campaign (`fuzz/`) has one target for each of these.
#![allow(clippy::unwrap_used)]

use stackbench_fuzz::{all, fuzz, Target};

#[test]
fn every_target_survives_a_short_run() {
    let targets = all();
    assert_eq!(targets.len(), 11);
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

/// `fuzz/Cargo.toml` names one `[[bin]]` per target, each calling the
/// target's function: a target added here is not left out of the
/// coverage-guided campaign.
#[test]
fn the_libfuzzer_project_has_one_target_per_smoke_target() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let mut bins: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "stackbench-fuzz-libfuzzer")
        .collect();
    let mut names: Vec<&str> = all().iter().map(|t| t.name).collect();
    bins.sort_unstable();
    names.sort_unstable();
    assert_eq!(bins, names);
    for name in names {
        let source = std::fs::read_to_string(dir.join(format!("fuzz_targets/{name}.rs"))).unwrap();
        let call = format!("stackbench_fuzz::targets::{}(data)", name.replace('-', "_"));
        assert!(source.contains(&call), "{name}.rs calls {call}");
    }
}
