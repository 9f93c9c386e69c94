//! Issue 31: redaction hid more than secrets. `--dry-run` printed
//! `--max-num-batched-tokens '***'` because the boolean flag before it,
//! `--enable-prompt-tokens-details`, has `tokens` in its name, and with
//! `TOKENIZERS_PARALLELISM=false` in the environment every `false` shown
//! became `***`. The shown command is the provenance `run.json` and
//! `suite.json` keep, so it must be the real command, byte for byte, with
//! only the secrets hidden.
//!
//! Every shipped suite runs through the real binary (`suite --dry-run`)
//! with a planted `HF_TOKEN` and `TOKENIZERS_PARALLELISM=false` in its
//! environment; this test process, which has neither, plans the same
//! launches through the library and compares argument by argument.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use stackbench_stacks::{fetch_command, launch_plan, load_suite, Override, LABEL_OWNER};

use crate::common::{repo, stackbench};

/// The planted secret: token-shaped, and the value of a secret variable.
const PLANTED: &str = "hf_PlantedSecret0123456789abcdef";

/// What the binary's environment holds beyond this process's.
const ENV: [(&str, &str); 2] = [("HF_TOKEN", PLANTED), ("TOKENIZERS_PARALLELISM", "false")];

/// The reproduction's launch arguments: a boolean flag with `tokens` in
/// its name before a flag with a value, a boolean in a JSON value, and the
/// planted token after a secret flag.
const REPRO_ARGS: &str = concat!(
    r#"stack.vllm-nvfp4.launch.args=["RedHatAI/Qwen3.6-35B-A3B-NVFP4","#,
    r#""--enable-prompt-tokens-details","--max-num-batched-tokens","8192","#,
    r#""--hf-overrides",'{"use_sliding_window": false}',"#,
    r#""--hf-token","hf_PlantedSecret0123456789abcdef"]"#
);

/// The shipped suites, `configs/suites/*.toml`.
fn shipped_suites() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("configs/suites"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    assert!(v.len() >= 4, "{v:?}");
    v
}

/// The `launch:` and `fetch (…):` lines of each stack in `--dry-run`'s
/// output, by stack name: `(stack, "launch" | "fetch") → shown text`.
fn shown_lines(dry_run: &str) -> BTreeMap<(String, &'static str), String> {
    let mut out = BTreeMap::new();
    let mut stack = String::new();
    for line in dry_run.lines() {
        if let Some(rest) = line.strip_prefix('[') {
            stack = rest.split(']').next().unwrap().to_string();
        } else if let Some(cmd) = line.strip_prefix("  launch: ") {
            out.insert((stack.clone(), "launch"), cmd.to_string());
        } else if let Some(rest) = line.strip_prefix("  fetch (") {
            let cmd = rest.split_once("): ").unwrap().1;
            out.insert((stack.clone(), "fetch"), cmd.to_string());
        }
    }
    out
}

/// The words of a line `--dry-run` quoted: bare words, or `'…'` with
/// `'\''` for a quote.
fn unquote(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut started = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if quoted => quoted = false,
            '\'' => (quoted, started) = (true, true),
            '\\' if !quoted && chars.peek() == Some(&'\'') => {
                word.push('\'');
                chars.next();
            }
            ' ' if !quoted => {
                if started || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                started = false;
            }
            c => word.push(c),
        }
    }
    if started || !word.is_empty() {
        words.push(word);
    }
    words
}

/// A launch's words with what differs between two processes by design
/// (the container's name holds the process ID, as does the owner label)
/// replaced by placeholders.
fn normalized(mut args: Vec<String>) -> Vec<String> {
    for i in 0..args.len() {
        if i > 0 && args[i - 1] == "--name" {
            args[i] = "NAME".into();
        }
        if args[i].starts_with(&format!("{LABEL_OWNER}=")) {
            args[i] = format!("{LABEL_OWNER}=PID");
        }
    }
    args
}

/// `shown` is `real` word for word, except that the planted secret is
/// hidden wherever it is; nothing else is hidden.
fn assert_only_the_secret_hidden(what: &str, real: &[String], shown: &str) {
    let real = normalized(real.to_vec());
    let shown_words = normalized(unquote(shown));
    assert_eq!(real.len(), shown_words.len(), "{what}:\n{real:?}\n{shown}");
    for (r, s) in real.iter().zip(&shown_words) {
        if r.contains(PLANTED) {
            assert!(!s.contains(PLANTED), "{what}: secret shown in {shown}");
            assert_eq!(*s, r.replace(PLANTED, "***"), "{what}:\n{shown}");
        } else {
            assert_eq!(r, s, "{what}: a word that is no secret changed:\n{shown}");
        }
    }
}

/// Runs `suite --dry-run` with the planted environment and compares every
/// stack's launch and fetch command with the one this process plans;
/// returns the dry run's output.
fn check_suite(file: &Path, sets: &[&str]) -> String {
    let mut cmd = stackbench(["suite"]);
    cmd.arg(file).arg("--dry-run");
    for s in sets {
        cmd.args(["--set", s]);
    }
    for (k, v) in ENV {
        cmd.env(k, v);
    }
    let out = cmd.success();
    let shown = shown_lines(&out.stdout);
    let overrides: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
    let suite = load_suite(file, &overrides, &[]).unwrap();
    let what = |name: &str, kind: &str| format!("{}: {name}: {kind}", file.display());
    for s in &suite.stacks {
        let name = &s.config.name;
        let plan = launch_plan(&s.config, &s.file, &suite.config.name).unwrap();
        if !plan.command_line.is_empty() {
            let line = &shown[&(name.clone(), "launch")];
            assert_only_the_secret_hidden(&what(name, "launch"), &plan.command_line, line);
        }
    }
    for s in &suite.stacks {
        let name = &s.config.name;
        let fetch = fetch_command(&s.config).unwrap();
        if !fetch.is_empty() {
            let line = &shown[&(name.clone(), "fetch")];
            assert_only_the_secret_hidden(&what(name, "fetch"), &fetch, line);
        }
    }
    out.stdout
}

#[test]
fn every_shipped_suite_shows_its_real_commands_with_only_secrets_hidden() {
    for file in shipped_suites() {
        let text = check_suite(&file, &[]);
        assert!(!text.contains(PLANTED), "{text}");
    }
}

/// The reproduction of issue 31.
#[test]
fn a_boolean_flag_with_tokens_in_its_name_keeps_the_next_flags_value() {
    let file = repo().join("configs/suites/dgx-spark.toml");
    let text = check_suite(&file, &[REPRO_ARGS]);
    for needle in [
        "--enable-prompt-tokens-details --max-num-batched-tokens 8192",
        r#"--hf-overrides '{"use_sliding_window": false}'"#,
        "--hf-token '***'",
    ] {
        assert!(text.contains(needle), "missing {needle}:\n{text}");
    }
    assert!(!text.contains(PLANTED), "{text}");
}
