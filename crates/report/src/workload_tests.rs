//! The tables' workload check on built runs: repeats pooled into one row,
//! stacks side by side in one scenario, and scenarios apart.

use super::*;

fn run(edit: impl FnOnce(&mut RunFile)) -> RunFile {
    let mut r: RunFile = serde_json::from_str(include_str!("../tests/fixtures/run-v2-sim.json"))
        .unwrap_or_else(|e| panic!("fixture: {e}"));
    edit(&mut r);
    r
}

fn repeat(k: u32, output_tokens: u32) -> RunFile {
    run(|r| {
        if let Some(s) = r.suite.as_mut() {
            s.repeat = k;
        }
        r.load.output_tokens = output_tokens;
    })
}

fn other_stack(edit: impl FnOnce(&mut RunFile)) -> RunFile {
    run(|r| {
        if let Some(s) = r.stack.as_mut() {
            s.name = "sim-ollama-q4km".into();
            s.label = Some("Ollama".into());
        }
        r.target.api = stackbench_core::Recorded::Known(stackbench_core::Api::OllamaChat);
        r.target.model = "qwen3.6:35b".into();
        r.target.quantization = Some("Q4_K_M".into());
        edit(r);
    })
}

fn shown<'a>(runs: &'a [(&'a str, RunFile)]) -> Vec<Shown<'a>> {
    runs.iter().map(|(dir, file)| Shown { dir, file }).collect()
}

#[test]
fn repeats_of_one_stack_with_other_output_tokens_are_refused_and_listed_when_allowed() {
    let runs = [("s/r1", repeat(1, 96)), ("s/r2", repeat(2, 128))];
    let err = checked_comparison(&shown(&runs), false)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        err,
        "the runs shown together ran different workloads:\n\
         - s/r1 (sim-vllm-nvfp4 / c1) and s/r2 (sim-vllm-nvfp4 / c1, repeat 2) (pooled into one row): output_tokens 96 vs 128\n\
         pass --allow-mismatch to show them anyway (the differences are then listed under the tables)"
    );
    let md = crate::checked_comparison_tables(&shown(&runs), true).unwrap_or_default();
    assert!(
        md.contains("\nWorkload differences: these runs are pooled or set side by side above"),
        "{md}"
    );
    assert!(
        md.ends_with("\n- s/r1 (sim-vllm-nvfp4 / c1) and s/r2 (sim-vllm-nvfp4 / c1, repeat 2) (pooled into one row): output_tokens 96 vs 128\n"),
        "{md}"
    );
    // The same repeats agreeing: no list.
    let same = [("s/r1", repeat(1, 96)), ("s/r2", repeat(2, 96))];
    let md = crate::checked_comparison_tables(&shown(&same), false).unwrap_or_default();
    assert!(
        md.contains("Single-user") && !md.contains("Workload differences"),
        "{md}"
    );
}

#[test]
fn stacks_side_by_side_may_differ_in_api_model_and_quantization_only() {
    let runs = [("a", run(|_| {})), ("b", other_stack(|_| {}))];
    assert_eq!(mismatches(&shown(&runs)), []);
    let runs = [
        ("a", run(|_| {})),
        ("b", other_stack(|r| r.load.ignore_eos = false)),
    ];
    let ms = mismatches(&shown(&runs));
    assert_eq!(ms.len(), 1, "{ms:?}");
    assert_eq!(ms[0].together, Together::SideBySide);
    assert_eq!(
        ms[0].to_string(),
        "a (sim-vllm-nvfp4 / c1) and b (sim-ollama-q4km / c1) (side by side): ignore_eos true vs false"
    );
}

#[test]
fn different_scenarios_may_differ_and_stacks_in_one_scenario_may_not() {
    let at = |scenario: &str, c: u32, prompt: u32, other: bool| {
        let edit = |r: &mut RunFile| {
            if let Some(s) = r.suite.as_mut() {
                s.scenario = scenario.into();
            }
            r.load.concurrency = c;
            r.load.prompt_tokens = prompt;
        };
        if other {
            other_stack(edit)
        } else {
            run(edit)
        }
    };
    // A suite's c=32 scenario with longer prompts, and a second scenario
    // at c=32 with longer prompts still: scenarios differ by design.
    let runs = [
        ("c1", run(|_| {})),
        ("c32", at("c32", 32, 1024, false)),
        ("long", at("c32-long", 32, 4096, false)),
        ("o-c32", at("c32", 32, 1024, true)),
    ];
    assert_eq!(mismatches(&shown(&runs)), []);
    // Another stack in the same scenario with another prompt length.
    let runs = [
        ("c32", at("c32", 32, 1024, false)),
        ("o-c32", at("c32", 32, 2048, true)),
    ];
    let ms = mismatches(&shown(&runs));
    assert_eq!(ms.len(), 1, "{ms:?}");
    assert_eq!(join(&ms[0].differences), "prompt_tokens 1024 vs 2048");
    assert_eq!(
        ms[0].other, "o-c32 (sim-ollama-q4km / c32)",
        "named by folder, stack and scenario"
    );
}

#[test]
fn suite_tables_list_differences_without_refusing() {
    let md = crate::comparison_tables(&[repeat(1, 96), repeat(2, 128)]);
    assert!(
        md.ends_with("\n- sim-vllm-nvfp4 / c1 and sim-vllm-nvfp4 / c1, repeat 2 (pooled into one row): output_tokens 96 vs 128\n"),
        "{md}"
    );
}
