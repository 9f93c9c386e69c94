//! Pins the identity rule of `identity.rs`, including the cases where the
//! three rules it replaced (`report`'s `stack_label`, `compare`'s
//! `stack_of`, `html`'s `stack_name`) disagreed.

use super::*;

/// A suite run of `sim-vllm-nvfp4` (label `vLLM`, NVFP4) at scenario c1.
fn suite_run() -> RunFile {
    serde_json::from_str(include_str!("../../report/tests/fixtures/run-v2-sim.json"))
        .unwrap_or_else(|e| panic!("fixture: {e}"))
}

/// An ad-hoc `stackbench run` (no stack config, no suite).
fn ad_hoc(stack: Option<&str>, quant: Option<&str>) -> RunFile {
    let mut r = suite_run();
    r.stack = None;
    r.suite = None;
    r.target.stack = stack.map(str::to_string);
    r.target.quantization = quant.map(str::to_string);
    r
}

/// A suite run of another stack config with the given name and label.
fn config(name: &str, label: &str, quant: &str) -> RunFile {
    let mut r = suite_run();
    if let Some(s) = r.stack.as_mut() {
        s.name = name.into();
        s.label = Some(label.into());
        s.quantization = quant.into();
    }
    r.target.stack = Some(label.into());
    r.target.quantization = Some(quant.into());
    r
}

fn keys(groups: &[Group<'_, RunFile>]) -> Vec<(String, String, String, usize)> {
    groups
        .iter()
        .map(|g| {
            (
                g.key.stack.stack.clone(),
                g.label.clone(),
                g.key.scenario.clone(),
                g.runs.len(),
            )
        })
        .collect()
}

#[test]
fn a_suite_run_is_its_config_name_under_its_label() {
    let id = RunIdentity::of(&suite_run());
    assert_eq!(id.stack, "sim-vllm-nvfp4");
    assert_eq!(id.label, "vLLM");
    assert_eq!(id.quantization, "NVFP4");
    assert_eq!(id.scenario.as_deref(), Some("c1"));
    assert_eq!(id.scenario_or_level(), "c1");
    assert_eq!(id.level, Level::Users(1));
    assert_eq!(id.repeat, 1);
}

#[test]
fn an_ad_hoc_run_is_its_stack_label_else_its_model() {
    let id = RunIdentity::of(&ad_hoc(Some("vllm"), None));
    assert_eq!((id.stack.as_str(), id.label.as_str()), ("vllm", "vllm"));
    assert_eq!(id.quantization, "");
    assert_eq!(id.scenario_or_level(), "c1");
    let id = RunIdentity::of(&ad_hoc(None, None));
    assert_eq!(id.stack, "Qwen3.6-35B-A3B-NVFP4");
    assert_eq!(id.label, "Qwen3.6-35B-A3B-NVFP4");
}

/// The case the old rules split three ways: two stack configs with the
/// same label and quantization (say, one with eager mode). `report`
/// grouped by label and quantization and took the two as repeats of one
/// row; `html` named both `vLLM NVFP4` and merged their histograms;
/// `compare` kept them apart by config name. Now they are two groups, and
/// each shows its config name so the rows do not read alike.
#[test]
fn two_configs_with_one_label_and_quantization_stay_two_stacks() {
    let a = config("vllm-nvfp4", "vLLM", "NVFP4");
    let b = config("vllm-nvfp4-eager", "vLLM", "NVFP4");
    let c = config("vllm-fp8", "vLLM", "FP8");
    let runs = [&a, &b, &c];
    let g = group_runs(&runs, |r| r);
    assert_eq!(
        keys(&g),
        [
            ("vllm-nvfp4".into(), "vllm-nvfp4".into(), "c1".into(), 1),
            (
                "vllm-nvfp4-eager".into(),
                "vllm-nvfp4-eager".into(),
                "c1".into(),
                1
            ),
            // Its label is unambiguous beside its quantization.
            ("vllm-fp8".into(), "vLLM".into(), "c1".into(), 1),
        ]
    );
    let s = stacks(runs);
    assert_eq!(s.len(), 3);
    assert_eq!(s[2].display(), "vLLM FP8");
    assert_eq!(s[0].display(), "vllm-nvfp4 NVFP4");
}

/// `compare` keyed ad-hoc runs on the `--stack` label alone and pooled two
/// quantizations of one stack as repeats; `report` and `html` kept them
/// apart. Quantization is part of the stack.
#[test]
fn one_stack_label_at_two_quantizations_is_two_stacks() {
    let a = ad_hoc(Some("vllm"), Some("FP8"));
    let b = ad_hoc(Some("vllm"), Some("NVFP4"));
    let g = group_runs(&[&a, &b], |r| r);
    assert_eq!(g.len(), 2);
    assert_eq!(g[0].label, "vllm");
    assert_eq!(g[1].key.stack.quantization, "NVFP4");
}

/// `report` grouped by concurrency, which for an open-loop run is its cap:
/// two rates under one cap were one group. The scenario of an ad-hoc run
/// is its level label, rate included.
#[test]
fn open_loop_runs_at_two_rates_are_two_groups() {
    let mut a = ad_hoc(Some("vllm"), None);
    a.load.request_rate = Some(2.0);
    a.load.concurrency = 16;
    let mut b = a.clone();
    b.load.request_rate = Some(0.5);
    let g = group_runs(&[&a, &b, &a], |r| r);
    assert_eq!(
        keys(&g),
        [
            ("vllm".into(), "vllm".into(), "r2".into(), 2),
            ("vllm".into(), "vllm".into(), "r0.5".into(), 1),
        ]
    );
    assert_eq!(
        g[0].identity.level,
        Level::Rate {
            per_s: 2.0,
            cap: 16
        }
    );
    assert_eq!(closed_levels([&a, &b]), Vec::<u32>::new());
}

#[test]
fn repeats_of_a_scenario_are_one_group_in_first_seen_order() {
    let first = suite_run();
    let mut second = suite_run();
    if let Some(s) = second.suite.as_mut() {
        s.repeat = 2;
    }
    let mut other = suite_run();
    if let Some(s) = other.suite.as_mut() {
        s.scenario = "c4".into();
    }
    other.load.concurrency = 4;
    let g = group_runs(&[&first, &other, &second], |r| r);
    assert_eq!(g.len(), 2);
    assert_eq!(g[0].runs.len(), 2);
    assert_eq!(g[0].runs[1].suite.as_ref().map(|s| s.repeat), Some(2));
    assert_eq!(g[1].key.scenario, "c4");
    assert_eq!(closed_levels([&other, &first, &second]), [1, 4]);
}

#[test]
fn level_labels_are_short() {
    assert_eq!(Level::Users(8).label(), "c8");
    assert_eq!(Level::Rate { per_s: 4.0, cap: 0 }.label(), "r4");
    assert_eq!(Level::Rate { per_s: 0.5, cap: 2 }.users(), None);
}

#[test]
fn one_server_through_two_apis_is_two_stacks_each_saying_its_api() {
    let chat = ad_hoc(Some("ollama"), None);
    let mut native = chat.clone();
    native.target.api = crate::kinds::Recorded::Known(crate::kinds::Api::OllamaChat);
    let again = chat.clone();
    let runs = [&chat, &native, &again];
    let g = group_runs(&runs, |r| r);
    assert_eq!(
        keys(&g),
        vec![
            ("ollama".into(), "ollama (chat)".into(), "c1".into(), 2),
            (
                "ollama".into(),
                "ollama (ollama-chat)".into(),
                "c1".into(),
                1
            ),
        ]
    );
    // One API only: no suffix.
    assert_eq!(keys(&group_runs(&[&chat], |r| r))[0].1, "ollama");
}

/// A suite run of the fixture's stack on `side` of an upgrade check, as
/// repeat `k`.
fn on_side(side: Side, k: u32) -> RunFile {
    let mut r = suite_run();
    if let Some(s) = r.suite.as_mut() {
        s.side = Some(side.into());
        s.repeat = k;
    }
    r
}

/// Both sides of an upgrade check carry the stack's config name, so
/// `table` pooled the baseline's and the candidate's runs as four repeats
/// of one row. The side is part of the stack: two groups, each labelled
/// with its side, the repeats of each side together.
#[test]
fn the_two_sides_of_an_upgrade_check_are_two_groups() {
    let (b1, c1) = (on_side(Side::Baseline, 1), on_side(Side::Candidate, 1));
    let (b2, c2) = (on_side(Side::Baseline, 2), on_side(Side::Candidate, 2));
    let runs = [&b1, &c1, &b2, &c2];
    let g = group_runs(&runs, |r| r);
    assert_eq!(
        keys(&g),
        [
            (
                "sim-vllm-nvfp4".into(),
                "vLLM (baseline)".into(),
                "c1".into(),
                2
            ),
            (
                "sim-vllm-nvfp4".into(),
                "vLLM (candidate)".into(),
                "c1".into(),
                2
            ),
        ]
    );
    assert_eq!(g[0].identity.side, Some(Recorded::Known(Side::Baseline)));
    assert_eq!(g[1].key.stack.side, Some(Recorded::Known(Side::Candidate)));
    assert_eq!(g[0].key.across_sides(), g[1].key.across_sides());
    let s = stacks(runs);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].display(), "vLLM NVFP4 (baseline)");
    assert_eq!(s[1].display(), "vLLM NVFP4 (candidate)");
    // A run of no side is a third stack, not a repeat of either.
    let plain = suite_run();
    assert_eq!(group_runs(&[&b1, &plain], |r| r).len(), 2);
    // `history` follows the stack through both sides.
    let across = group_runs_across_sides(&runs, |r| r);
    assert_eq!(
        keys(&across),
        [("sim-vllm-nvfp4".into(), "vLLM".into(), "c1".into(), 4)]
    );
    assert_eq!(across[0].identity.side, None);
}

/// A side a newer stackbench wrote, unknown here, is still a side of its
/// own: kept apart, labelled as written.
#[test]
fn an_unknown_side_is_kept_apart_under_its_name() {
    let b = on_side(Side::Baseline, 1);
    let mut x = suite_run();
    if let Some(s) = x.suite.as_mut() {
        s.side = Some(Recorded::Other("canary".into()));
    }
    let g = group_runs(&[&b, &x], |r| r);
    assert_eq!(g.len(), 2);
    assert_eq!(g[1].label, "vLLM (canary)");
}

/// A side and a second API share the bracket.
#[test]
fn a_side_and_an_api_share_one_bracket() {
    let chat = ad_hoc(Some("ollama"), None);
    let mut native = chat.clone();
    native.target.api = crate::kinds::Recorded::Known(crate::kinds::Api::OllamaChat);
    native.suite = on_side(Side::Candidate, 1).suite;
    let g = group_runs(&[&chat, &native], |r| r);
    assert_eq!(g[0].label, "ollama (chat)");
    assert_eq!(g[1].label, "ollama (ollama-chat, candidate)");
}
