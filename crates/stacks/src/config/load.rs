//! Loading a suite: the suite file and each stack file read once, parsed
//! with positions, `--set` overrides applied to the text already read,
//! checked across keys, and filtered by `--only`.

use std::path::Path;

use stackbench_core::stack::StackConfig;

use crate::config::check::{check_stack, check_stack_timeouts, check_suite};
use crate::config::diagnostics::{invalid_at, parse};
use crate::config::overrides::{apply, Override};
use crate::config::types::{StackEntry, Suite, SuiteConfig};
use crate::error::ConfigError;

/// Reads a config file: from disk, or from files built into the binary
/// (the demo's suite).
pub type Reader<'a> = &'a dyn Fn(&Path) -> std::io::Result<String>;

fn read(reader: Reader<'_>, file: &Path) -> Result<String, ConfigError> {
    reader(file).map_err(|source| ConfigError::Read {
        file: file.to_path_buf(),
        source,
    })
}

/// Parses `text` (the contents of `file`) as `T`, then applies `overrides`
/// to it; an error in the file itself is reported with its position even
/// when overrides follow.
fn parse_with<T: serde::de::DeserializeOwned>(
    file: &Path,
    text: &str,
    overrides: &[&Override],
) -> Result<T, ConfigError> {
    let parsed: T = parse(file, text)?;
    if overrides.is_empty() {
        return Ok(parsed);
    }
    apply(file, text, overrides)
}

/// Reads a suite and its stacks, applies `overrides`, keeps only the
/// stacks named in `only` (all when empty), and checks what the types
/// cannot: scenario bounds, unique names, a base URL or port per stack.
pub fn load_suite(
    file: &Path,
    overrides: &[Override],
    only: &[String],
) -> Result<Suite, ConfigError> {
    load_suite_from(
        &|p: &Path| std::fs::read_to_string(p),
        file,
        overrides,
        only,
    )
}

/// [`load_suite`] with the files read through `reader`.
pub fn load_suite_from(
    reader: Reader<'_>,
    file: &Path,
    overrides: &[Override],
    only: &[String],
) -> Result<Suite, ConfigError> {
    let suite_overrides: Vec<&Override> = overrides.iter().filter(|o| o.targets_suite()).collect();
    let text = read(reader, file)?;
    let config: SuiteConfig = parse_with(file, &text, &suite_overrides)?;
    let config = check_suite(file, &text, config)?;
    let mut stacks = load_stacks(reader, file, &text, &config, overrides)?;
    check_targets(file, &stacks, overrides, only)?;
    if !only.is_empty() {
        stacks.retain(|s| only.contains(&s.config.name));
    }
    Ok(Suite {
        file: file.to_path_buf(),
        config,
        stacks,
    })
}

/// Reads, overrides and checks each stack file of the suite `file` (whose
/// contents are `text`), in order.
fn load_stacks(
    reader: Reader<'_>,
    file: &Path,
    text: &str,
    config: &SuiteConfig,
    overrides: &[Override],
) -> Result<Vec<StackEntry>, ConfigError> {
    let base = file.parent().unwrap_or(Path::new("."));
    let mut stacks: Vec<StackEntry> = Vec::new();
    for rel in &config.stacks {
        let stack_file = base.join(rel);
        let stack_text = read(reader, &stack_file)?;
        let stack: StackConfig = parse(&stack_file, &stack_text)?;
        let mine: Vec<&Override> = overrides
            .iter()
            .filter(|o| o.stack() == Some(stack.name.as_str()))
            .collect();
        let stack: StackConfig = if mine.is_empty() {
            stack
        } else {
            apply(&stack_file, &stack_text, &mine)?
        };
        check_stack(&stack_file, &stack_text, &stack)?;
        check_stack_timeouts(config, file, &stack_file, &stack_text, &stack)?;
        // Before anything of the stack is shown: its secrets are hidden
        // from here on, in this process (see `secret`).
        crate::secret::mark_secret_env(&stack.secret_env);
        if stacks.iter().any(|e| e.config.name == stack.name) {
            return Err(invalid_at(
                file,
                text,
                "stacks",
                format!("two stacks are named '{}'", stack.name),
            ));
        }
        stacks.push(StackEntry {
            file: stack_file,
            config: stack,
            side: None,
        });
    }
    Ok(stacks)
}

/// Every stack an override or `--only` names is one of `stacks`.
fn check_targets(
    file: &Path,
    stacks: &[StackEntry],
    overrides: &[Override],
    only: &[String],
) -> Result<(), ConfigError> {
    for o in overrides {
        if let Some(name) = o.stack() {
            if !stacks.iter().any(|s| s.config.name == name) {
                return Err(ConfigError::Override {
                    key: o.raw.clone(),
                    message: format!(
                        "no stack named '{name}' in {} (stacks: {})",
                        file.display(),
                        names(stacks)
                    ),
                });
            }
        }
    }
    for name in only {
        if !stacks.iter().any(|s| &s.config.name == name) {
            return Err(ConfigError::UnknownStack {
                name: name.clone(),
                known: names(stacks),
            });
        }
    }
    Ok(())
}

fn names(stacks: &[StackEntry]) -> String {
    stacks
        .iter()
        .map(|s| s.config.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::types::Suite;

    fn suite_with(scenarios: &str) -> Result<Suite, ConfigError> {
        let files = move |p: &Path| -> std::io::Result<String> {
            Ok(match p.file_name().and_then(|n| n.to_str()) {
                Some("suite.toml") => format!("name = \"t\"\nstacks = [\"s.toml\"]\n{scenarios}"),
                _ => "name = \"s\"\nflavor = \"vllm\"\nquantization = \"q\"\n[launch.simulator]\nprofile = \"vllm-fp8\"\n".into(),
            })
        };
        load_suite_from(&files, Path::new("suite.toml"), &[], &[])
    }

    #[test]
    fn level_lists_expand_into_one_scenario_per_level() {
        let suite = suite_with(
            "[[scenario]]\nname = \"sweep\"\nconcurrency = [1, 4]\nrequests = 8\n\
             [[scenario]]\nname = \"open\"\nrequest-rate = [0.5, 2]\narrival = \"constant\"\nmax-concurrency = 4\nslo = \"ttft_ms=500\"\nduration = \"10s\"\n\
             [[scenario]]\nname = \"one\"\nconcurrency = 2\nrequests = 2\n",
        )
        .expect("valid suite");
        let names: Vec<(&str, u32, Option<f64>)> = suite
            .config
            .scenarios
            .iter()
            .map(|s| (s.name.as_str(), s.users(), s.rate()))
            .collect();
        assert_eq!(
            names,
            [
                ("sweep-c1", 1, None),
                ("sweep-c4", 4, None),
                ("open-r0.5", 4, Some(0.5)),
                ("open-r2", 4, Some(2.0)),
                ("one", 2, None)
            ]
        );
    }

    #[test]
    fn load_keys_are_checked_where_they_are_written() {
        for (scenario, needle) in [
            ("concurrency = 1\nrequest-rate = 2.0", "not both"),
            ("", "give concurrency or request-rate"),
            ("concurrency = [1, 0]", "at least 1"),
            ("request-rate = -1.0", "positive"),
            (
                "concurrency = 2\narrival = \"poisson\"",
                "arrival goes with request-rate",
            ),
            (
                "concurrency = 2\nmax-concurrency = 4",
                "max-concurrency with request-rate or trace",
            ),
            ("request-rate = 1.0\nslo = \"ttft=1\"", "unknown limit"),
        ] {
            let e = suite_with(&format!(
                "[[scenario]]\nname = \"x\"\nrequests = 4\n{scenario}\n"
            ))
            .expect_err(scenario)
            .to_string();
            assert!(e.contains(needle), "{scenario}: {e}");
        }
        let e = suite_with(
            "[[scenario]]\nname = \"a-c2\"\nconcurrency = 2\nrequests = 1\n[[scenario]]\nname = \"a\"\nconcurrency = [2]\nrequests = 1\n",
        )
        .expect_err("duplicate after expansion")
        .to_string();
        assert!(e.contains("'a-c2'"), "{e}");
    }

    /// A scenario's `slo` is read into typed limits when the suite loads
    /// (a mistake placed at its key and line, `--set` read the same way)
    /// and written back as the text it was given as.
    #[test]
    fn a_scenario_slo_is_typed_when_the_suite_loads() {
        let suite = suite_with(
            "[[scenario]]\nname = \"x\"\nrequests = 4\nconcurrency = 1\nslo = \"ttft_ms=500, tpot_ms=50\"\n",
        )
        .expect("valid suite");
        let slo = stackbench_core::slo::Slo {
            ttft_ms: Some(500.0),
            tpot_ms: Some(50.0),
            e2e_ms: None,
        };
        let scenario = &suite.config.scenarios[0];
        assert_eq!(scenario.slo, Some(slo));
        let text = toml::to_string(scenario).expect("serializable");
        assert!(text.contains("slo = \"ttft_ms=500,tpot_ms=50\""), "{text}");
        let e = suite_with(
            "[[scenario]]\nname = \"x\"\nrequests = 4\nconcurrency = 1\nslo = \"ttft=1\"\n",
        )
        .expect_err("unknown limit")
        .to_string();
        assert!(
            e.contains("suite.toml:7:") && e.contains("scenario[0].slo: "),
            "{e}"
        );
        let files = |p: &Path| -> std::io::Result<String> {
            Ok(match p.file_name().and_then(|n| n.to_str()) {
                Some("suite.toml") => "name = \"t\"\nstacks = [\"s.toml\"]\n[[scenario]]\nname = \"x\"\nconcurrency = 1\nrequests = 2\n".into(),
                _ => "name = \"s\"\n[launch.simulator]\nprofile = \"vllm-fp8\"\n".into(),
            })
        };
        let set: Override = "suite.scenario.x.slo=e2e_ms=900"
            .parse()
            .expect("valid override");
        let suite = load_suite_from(&files, Path::new("suite.toml"), &[set], &[]).expect("valid");
        assert_eq!(
            suite.config.scenarios[0].slo.and_then(|s| s.e2e_ms),
            Some(900.0)
        );
    }

    /// A stack's `secret-env`, set here through `--set`: a name that
    /// cannot be a variable's is an error at the key; a valid one is
    /// secret once the suite is loaded.
    #[test]
    fn secret_env_names_are_checked_and_marked_secret() {
        let files = |p: &Path| -> std::io::Result<String> {
            Ok(match p.file_name().and_then(|n| n.to_str()) {
                Some("suite.toml") => "name = \"t\"\nstacks = [\"s.toml\"]\n[[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 2\n".into(),
                _ => "name = \"s\"\nsecret-env = []\n[launch.simulator]\nprofile = \"vllm-fp8\"\n".into(),
            })
        };
        let load = |set: &str| {
            let o: Override = set.parse().expect("valid override");
            load_suite_from(&files, Path::new("suite.toml"), &[o], &[])
        };
        let e = load(r#"stack.s.secret-env=["MY-PAT"]"#)
            .expect_err("not a variable name")
            .to_string();
        assert!(e.contains("secret-env") && e.contains("'MY-PAT'"), "{e}");
        assert!(!crate::secret::is_secret_name("SB_LOAD_TEST_PAT"));
        let suite = load(r#"stack.s.secret-env=["SB_LOAD_TEST_PAT"]"#).expect("valid suite");
        assert_eq!(suite.stacks[0].config.secret_env, ["SB_LOAD_TEST_PAT"]);
        assert!(crate::secret::is_secret_name("SB_LOAD_TEST_PAT"));
    }

    #[test]
    fn box_hygiene_with_parallel_stacks_is_refused() {
        let scenario = "[[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 2\n";
        for hygiene in [
            "settle-memory = true",
            "drop-page-cache = true",
            "cooldown = \"30s\"",
            "before-launch = [\"true\"]",
        ] {
            let e = suite_with(&format!("parallel = true\n{scenario}[box]\n{hygiene}\n"))
                .expect_err(hygiene)
                .to_string();
            assert!(
                e.contains("suite.toml:3:1: parallel:")
                    && e.contains("[box]")
                    && e.contains("settle-timeout"),
                "{hygiene}: {e}"
            );
        }
        let facts_only = "parallel = true\n[[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 2\n[box]\nbandwidth-gb-s = 273.0\n";
        suite_with(facts_only).expect("box facts without hygiene go with parallel");
        suite_with(&format!("{scenario}[box]\nsettle-memory = true\n"))
            .expect("hygiene without parallel");
    }

    /// A one-scenario suite whose stack file ends with `tail`.
    fn stack_with(tail: &str) -> Result<Suite, ConfigError> {
        let files = move |p: &Path| -> std::io::Result<String> {
            Ok(match p.file_name().and_then(|n| n.to_str()) {
                Some("suite.toml") => "name = \"t\"\nstacks = [\"s.toml\"]\n[[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 2\n".into(),
                _ => format!("name = \"s\"\nflavor = \"vllm\"\nquantization = \"q\"\n[launch.simulator]\nprofile = \"vllm-fp8\"\n{tail}"),
            })
        };
        load_suite_from(&files, Path::new("suite.toml"), &[], &[])
    }

    #[test]
    fn a_known_answer_pattern_is_checked_when_the_suite_loads() {
        let ka = "[known-answer]\nprompt = \"What is 17 * 23?\"\n";
        let suite = stack_with(&format!("{ka}expect-pattern = \"(?i)\\\\b391\\\\b\"\n"))
            .expect("a valid pattern");
        let k = suite.stacks[0]
            .config
            .known_answer
            .as_ref()
            .expect("the check");
        assert_eq!(k.expect_pattern.as_deref(), Some(r"(?i)\b391\b"));
        for (tail, needle) in [
            (
                "expect-pattern = \"(391\"\n",
                "s.toml:8:1: known-answer.expect-pattern: not a valid regular expression",
            ),
            (
                "expect = \"391\"\nexpect-pattern = \"391\"\n",
                "known-answer.expect-pattern: give expect or expect-pattern, not both",
            ),
            ("", "s.toml:6:1: known-answer: give expect"),
            ("expect = \" \"\n", "known-answer.expect: must not be empty"),
        ] {
            let e = stack_with(&format!("{ka}{tail}"))
                .expect_err(tail)
                .to_string();
            assert!(e.contains(needle), "{tail}: {e}");
        }
    }

    #[test]
    fn the_suite_file_is_read_once() {
        let reads = std::cell::RefCell::new(Vec::new());
        let files = |p: &Path| -> std::io::Result<String> {
            reads.borrow_mut().push(p.to_path_buf());
            Ok(match p.file_name().and_then(|n| n.to_str()) {
                Some("suite.toml") => "name = \"t\"\nstacks = [\"s.toml\"]\n[[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 2\n".into(),
                _ => "name = \"s\"\nflavor = \"vllm\"\nquantization = \"q\"\n[launch.simulator]\nprofile = \"vllm-fp8\"\n".into(),
            })
        };
        let overrides: Vec<Override> = ["suite.repeat=2", "stack.s.quantization=fp8"]
            .iter()
            .map(|o| o.parse().expect("valid override"))
            .collect();
        let suite =
            load_suite_from(&files, Path::new("suite.toml"), &overrides, &[]).expect("valid suite");
        assert_eq!(suite.config.repeat, 2);
        assert_eq!(suite.stacks[0].config.quantization, "fp8");
        assert_eq!(
            *reads.borrow(),
            [Path::new("suite.toml"), Path::new("s.toml")],
            "each file read once, overrides or not"
        );
    }
}
