//! The shipped gpt-oss DGX Spark suite (`configs/suites/dgx-spark-gpt-oss.toml`):
//! its dry run needs no root and shows one launch per stack with pinned
//! images and model files; its published figures carry the versions and
//! methods behind them; and a run of its own stack files (launched as
//! simulators here) keeps those references in `run.json` and marks the
//! in-process ones in the tables.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use crate::common;
use crate::common::{repo, stackbench};

use stackbench_core::kinds::{FlavorChoice, ServerKind};
use stackbench_core::stack::Launch;
use stackbench_stacks::load_suite;

const SUITE: &str = "configs/suites/dgx-spark-gpt-oss.toml";

/// A stack's published figures: single-user tok/s, c=32 total tok/s, and
/// whether an in-process tool measured them.
type Figures = (f64, f64, bool);

/// What each stack must publish, by name; `None` for a stack with no
/// published figure.
const PUBLISHED: [(&str, Option<Figures>); 5] = [
    ("gptoss120b-vllm-mxfp4", Some((57.5, 318.7, false))),
    ("gptoss120b-llamacpp-mxfp4", Some((59.02, 312.56, true))),
    ("gptoss20b-llamacpp-mxfp4", Some((84.10, 614.82, true))),
    ("gptoss120b-ollama-mxfp4", None),
    ("gptoss20b-ollama-mxfp4", None),
];

/// Each stack's image and the model it loads (a path with its pinned
/// revision, or the name the server is asked for), as the dry run shows
/// them in its launch line.
const LAUNCHES: [(&str, &str, &str); 5] = [
    (
        "gptoss120b-vllm-mxfp4",
        "vllm/vllm-openai:v0.21.0",
        "openai/gpt-oss-120b --revision b5c939de8f754692c1647ca79fbf85e8c1e70f8a",
    ),
    (
        "gptoss120b-llamacpp-mxfp4",
        "ghcr.io/ggml-org/llama.cpp:server-cuda13-b9445",
        "-m /root/.cache/huggingface/hub/models--ggml-org--gpt-oss-120b-GGUF/snapshots/238abdd290bb874b90a5da1b4549881b7d05c091/gpt-oss-120b-MXFP4.gguf",
    ),
    (
        "gptoss20b-llamacpp-mxfp4",
        "ghcr.io/ggml-org/llama.cpp:server-cuda13-b9445",
        "-m /root/.cache/huggingface/hub/models--ggml-org--gpt-oss-20b-GGUF/snapshots/e1dc459feff949ff451ce107337a2026daa80df8/gpt-oss-20b-mxfp4.gguf",
    ),
    ("gptoss120b-ollama-mxfp4", "ollama/ollama:0.32.15", ""),
    ("gptoss20b-ollama-mxfp4", "ollama/ollama:0.32.15", ""),
];

/// The command that runs the binary as nobody when this test runs as root
/// and `setpriv` can (the dry run must not need root); empty otherwise.
fn unprivileged(suite: &Path) -> Vec<String> {
    let uid = std::process::Command::new("id").arg("-u").output();
    let root = uid.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let drop = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let can = |args: &[&str]| {
        std::process::Command::new(drop[0])
            .args(&drop[1..])
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let suite = suite.to_str().unwrap();
    if root && can(&[common::BIN, "--version"]) && can(&["cat", suite]) {
        drop.iter().map(|s| s.to_string()).collect()
    } else {
        Vec::new()
    }
}

/// [`unprivileged`], with a user's own caches: HOME (`home`) decides the
/// mounts, not root's or a set `HF_HOME`.
fn as_user(suite: &Path, home: &Path) -> Vec<String> {
    let mut wrapper = unprivileged(suite);
    wrapper.extend(["env", "-u", "HF_HOME", "-u", "OLLAMA_MODELS_DIR"].map(String::from));
    wrapper.push(format!("HOME={}", home.display()));
    wrapper
}

/// `stackbench suite SUITE --dry-run` run [`as_user`] with `home`: its
/// stdout.
fn dry_run_as_user(suite: &Path, home: &Path) -> String {
    stackbench(["suite", suite.to_str().unwrap(), "--dry-run"])
        .via(as_user(suite, home))
        .success()
        .stdout
}

/// The dry run's block for `stack`: from its `[name]` line to the next
/// blank line.
fn block<'a>(printed: &'a str, stack: &str) -> &'a str {
    let start = printed
        .find(&format!("\n[{stack}] container"))
        .unwrap_or_else(|| panic!("no block for {stack} in:\n{printed}"));
    let rest = &printed[start + 1..];
    &rest[..rest.find("\n\n").unwrap_or(rest.len())]
}

#[test]
fn dgx_gpt_oss_dry_run_needs_no_root_and_shows_one_launch_per_stack() {
    let suite = repo().join(SUITE);
    let home = tempfile::tempdir().unwrap();
    let printed = &dry_run_as_user(&suite, home.path());
    assert!(
        printed.contains("5 stacks, 2 scenarios, one stack at a time"),
        "{printed}"
    );
    // Box hygiene is planned, not done (dropping the cache needs root).
    assert!(printed.contains("drop the page cache ("), "{printed}");
    assert_eq!(
        printed.matches("\n  launch: docker run ").count(),
        5,
        "{printed}"
    );
    let hf_mount = format!("-v {}/.cache/huggingface:", home.path().display());
    for (stack, image, model) in LAUNCHES {
        let b = block(printed, stack);
        let launch = b
            .lines()
            .find(|l| l.starts_with("  launch: "))
            .unwrap_or_else(|| panic!("{stack}: no launch in\n{b}"));
        assert!(launch.split(' ').any(|w| w == image), "{stack}: {launch}");
        assert!(launch.contains(model), "{stack}: {launch}");
        let ports: Vec<&str> = launch.split(" -p ").skip(1).collect();
        assert_eq!(ports.len(), 1, "{stack}: {launch}");
        assert!(ports[0].starts_with("127.0.0.1:"), "{stack}: {launch}");
        assert!(b.contains("known answer: "), "{stack}: {b}");
        if image.starts_with("ollama/") {
            assert!(launch.contains(&format!("-v {}/.ollama:", home.path().display())));
            assert!(
                !b.contains("fetch"),
                "{stack}: Ollama pulls through its API\n{b}"
            );
            assert!(b.contains("env: OLLAMA_NUM_PARALLEL=32"), "{stack}: {b}");
        } else {
            assert!(launch.contains(&hf_mount), "{stack}: {launch}");
            check_fetch(stack, b, &hf_mount);
        }
    }
    assert!(
        printed.contains("c32: c=32 64 requests, prompt 512 tokens, 512 output tokens"),
        "{printed}"
    );
}

/// The fetch line of a Hugging Face stack: into the same cache as the
/// launch, at the revision the launch loads.
fn check_fetch(stack: &str, block: &str, hf_mount: &str) {
    let fetch = block
        .lines()
        .find(|l| l.starts_with("  fetch "))
        .unwrap_or_else(|| panic!("{stack}: no fetch in\n{block}"));
    assert!(fetch.contains(hf_mount), "{stack}: {fetch}");
    let revision = fetch
        .split(" --revision ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("{stack}: the fetch pins no revision: {fetch}"));
    assert_eq!(revision.len(), 40, "{stack}: {fetch}");
    let launch = block.lines().find(|l| l.starts_with("  launch: ")).unwrap();
    assert!(
        launch.contains(revision),
        "{stack}: loads another revision: {launch}"
    );
    if stack.contains("vllm") {
        // original/ and metal/ left out in one pattern (quoted for a shell).
        assert!(fetch.ends_with("--exclude '[mo]*/*'"), "{stack}: {fetch}");
    }
}

#[test]
fn dgx_gpt_oss_references_carry_their_version_and_method() {
    let suite = load_suite(&repo().join(SUITE), &[], &[]).unwrap();
    let names: Vec<&str> = suite
        .stacks
        .iter()
        .map(|s| s.config.name.as_str())
        .collect();
    assert_eq!(names, PUBLISHED.map(|(n, _)| n));
    for (s, (name, published)) in suite.stacks.iter().zip(PUBLISHED) {
        let c = &s.config;
        assert!(matches!(c.launch, Some(Launch::Container(_))), "{name}");
        if c.flavor == FlavorChoice::Fixed(ServerKind::Ollama) {
            // Pulled through Ollama's API by name, not fetched.
            let tag = if name.starts_with("gptoss120b") {
                "gpt-oss:120b"
            } else {
                "gpt-oss:20b"
            };
            assert_eq!(c.model.as_deref(), Some(tag), "{name}");
        }
        let facts = c.model_facts.as_ref().unwrap();
        assert!(facts.active_params_b < facts.total_params_b, "{name}");
        let Some((single, total, in_process)) = published else {
            assert!(c.reference.is_none(), "{name}: no sourced figure exists");
            continue;
        };
        let r = c.reference.as_ref().unwrap();
        assert_eq!(r.single_user_tok_s, Some(single), "{name}");
        assert_eq!(r.total_tok_s, Some(total), "{name}");
        assert_eq!(r.concurrency, 32, "{name}");
        assert_eq!(r.in_process, in_process, "{name}");
        assert!(r.source.contains("https://"), "{name}: {}", r.source);
        let date = r.date.as_bytes();
        assert!(
            date.len() == 10 && date[4] == b'-' && date[7] == b'-',
            "{name}"
        );
        let version = r.version.as_deref().unwrap_or_default();
        let method = r.method.as_deref().unwrap_or_default();
        if in_process {
            assert!(
                version.contains("build 6918 (2f68ce7cf)"),
                "{name}: {version}"
            );
            assert!(method.contains("llama-bench tg32"), "{name}: {method}");
            assert!(
                method.contains("batched-bench pp512/tg32 B=32"),
                "{name}: {method}"
            );
        } else {
            assert!(version.contains("0.1.dev12777"), "{name}: {version}");
            assert!(
                method.contains("llama-benchy 0.3.5 pp1024/tg128"),
                "{name}: {method}"
            );
        }
    }
    // The c32 scenario is bound by a request count, so every stream
    // finishes its requests whatever the stack's rate.
    let c32 = suite
        .config
        .scenarios
        .iter()
        .find(|s| s.name == "c32")
        .unwrap();
    assert_eq!(
        (c32.users(), c32.requests, c32.duration.is_none()),
        (32, Some(64), true)
    );
}

/// The `--set`s that launch `stack` (a shipped file) as the simulator
/// `profile`, with no download, no memory need and a known answer any
/// reply passes.
fn as_simulator(stack: &str, profile: &str) -> Vec<String> {
    [
        format!("stack.{stack}.launch={{simulator={{profile=\"{profile}\"}}}}"),
        format!("stack.{stack}.fetch=[]"),
        format!("stack.{stack}.fetch-expects=[]"),
        // The simulator needs none of the Spark's memory.
        format!("stack.{stack}.memory-need-gib=0.01"),
        format!("stack.{stack}.known-answer={{prompt=\"Say anything.\", expect-pattern='\\w', max-tokens=4}}"),
    ]
    .into_iter()
    .flat_map(|s| ["--set".to_string(), s])
    .collect()
}

/// Short scenarios and no box hygiene, for the simulated run.
const QUICK: [&str; 11] = [
    "suite.box.drop-page-cache=false",
    "suite.box.settle-memory=false",
    "suite.box.cooldown=1s",
    "suite.defaults.warmup-requests=0",
    "suite.defaults.prompt-tokens=64",
    "suite.scenario.c1.requests=2",
    "suite.scenario.c1.output-tokens=16",
    "suite.scenario.c32.requests=32",
    "suite.scenario.c32.warmup-requests=0",
    "suite.scenario.c32.prompt-tokens=64",
    "suite.scenario.c32.output-tokens=16",
];

#[test]
fn dgx_gpt_oss_run_keeps_the_references_and_marks_in_process_figures() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let llamacpp = "gptoss120b-llamacpp-mxfp4";
    let vllm = "gptoss120b-vllm-mxfp4";
    let mut args: Vec<String> = ["suite", SUITE, "-q", "--only", llamacpp, "--only", vllm]
        .map(String::from)
        .to_vec();
    args.extend(["--out".to_string(), out.display().to_string()]);
    args.extend(as_simulator(llamacpp, "llamacpp-mxfp4"));
    args.extend(as_simulator(vllm, "vllm-fp8"));
    for q in QUICK {
        args.extend(["--set".to_string(), q.to_string()]);
    }
    stackbench(&args).current_dir(repo()).success();
    for (stack, scenario) in [(llamacpp, "c1"), (llamacpp, "c32"), (vllm, "c32")] {
        let run = common::read_run_json(&out.join(stack).join(scenario));
        let r = &run["stack"]["reference"];
        assert!(
            r["version"].as_str().is_some_and(|v| !v.is_empty()),
            "{stack}: {r}"
        );
        assert!(
            r["method"].as_str().is_some_and(|m| !m.is_empty()),
            "{stack}: {r}"
        );
        assert_eq!(
            r["in-process"].as_bool(),
            (stack == llamacpp).then_some(true),
            "{r}"
        );
    }
    let tables = std::fs::read_to_string(out.join("tables.md")).unwrap();
    let rows = |label: &str| -> Vec<String> {
        tables
            .lines()
            .filter(|l| l.starts_with(&format!("| {label}")))
            .map(String::from)
            .collect()
    };
    // The in-process Published cells are marked, the server-measured not.
    let marked = |rows: &[String], cell: &str| rows.iter().any(|l| l.contains(cell));
    let ll = rows("llama.cpp");
    assert!(
        marked(&ll, " 59.0° |") && marked(&ll, " 312.6° |"),
        "{tables}"
    );
    let vl = rows("vLLM");
    assert!(
        marked(&vl, " 57.5 |") && marked(&vl, " 318.7 |"),
        "{tables}"
    );
    assert!(!vl.iter().any(|l| l.contains('°')), "{tables}");
    assert!(
        tables.contains("° published by an in-process tool"),
        "{tables}"
    );
}

/// The first DGX suite's dry run needs no root either, and mounts the
/// user's own caches (HOME decides them).
#[test]
fn the_first_dgx_suite_dry_runs_without_root_too() {
    let suite = repo().join("configs/suites/dgx-spark.toml");
    let home = tempfile::tempdir().unwrap();
    let printed = &dry_run_as_user(&suite, home.path());
    assert_eq!(
        printed.matches("\n  launch: docker run ").count(),
        6,
        "{printed}"
    );
    let hf_mount = format!("-v {}/.cache/huggingface:", home.path().display());
    assert_eq!(
        printed.matches(&hf_mount).count(),
        5 + 5,
        "five launches and five fetches mount it:\n{printed}"
    );
    let ollama = format!("-v {}/.ollama:/root/.ollama", home.path().display());
    assert!(printed.contains(&ollama), "{printed}");
}
