//! `stackbench suite`: read a suite, print the plan (`--dry-run`) or run
//! it with a progress bar per scenario, then print and write the tables.
//! `demo` runs the embedded simulated suite through the same code.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use stackbench_engine::LiveCounters;
use stackbench_stacks::{
    launch_plan, load_suite, Override, Scenario, StackEntry, StackOutcome, StackStatus, Suite,
    SuiteObserver, SuiteOptions, SuiteOutcome,
};

use crate::args::SuiteArgs;
use crate::progress::Progress;
use crate::shutdown::Shutdown;
use crate::ExitStatus;

/// Shows each scenario's progress on stderr.
struct Reporter {
    quiet: bool,
    bar: Mutex<Option<Progress>>,
}

impl SuiteObserver for Reporter {
    fn note(&self, message: &str) {
        eprintln!("{message}");
    }

    fn scenario_started(&self, label: &str, live: Arc<LiveCounters>, total: Option<u64>) {
        eprintln!("{label}: running");
        let p = Progress::start(live, total, label, self.quiet);
        if let Ok(mut b) = self.bar.lock() {
            *b = Some(p);
        }
    }

    fn scenario_finished(&self) {
        if let Some(p) = self.bar.lock().ok().and_then(|mut b| b.take()) {
            p.finish();
        }
    }
}

/// Parses `--set` values.
pub fn overrides(set: &[String]) -> anyhow::Result<Vec<Override>> {
    set.iter()
        .map(|s| s.parse().map_err(anyhow::Error::from))
        .collect()
}

/// The suite's `[compare]` keys must be metrics `compare` knows: a typo
/// found now, not after an hour of benchmarking.
pub fn check_thresholds(suite: &Suite) -> anyhow::Result<()> {
    let given: Vec<(String, f64)> = suite
        .config
        .compare
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    stackbench_report::compare::thresholds(&given)
        .map(|_| ())
        .with_context(|| format!("{}: [compare]", suite.file.display()))
}

/// The `[box]` hygiene steps before each launch, as `--dry-run` says them.
fn box_hygiene(b: &stackbench_stacks::BoxFacts) -> String {
    if !b.hygiene() {
        return String::new();
    }
    let mut steps = Vec::new();
    if let Some(c) = &b.cooldown {
        steps.push(format!("cool down {} (after the first)", c.as_str()));
    }
    if !b.before_launch.is_empty() {
        steps.push(format!(
            "run `{}`",
            shell_words(&stackbench_stacks::redact_args(&b.before_launch))
        ));
    }
    if b.drop_page_cache {
        steps.push("drop the page cache (needs root; without it, skipped with a note)".into());
    }
    if b.settle_memory {
        steps.push(format!(
            "wait up to {} for memory within {} GiB of its level before the first stack",
            b.settle_timeout.as_str(),
            b.memory_tolerance_gib
        ));
    }
    format!(
        "before each launch (after its fetch): {}\n",
        steps.join("; ")
    )
}

/// What `--dry-run` prints: every stack's launch and the scenarios.
pub fn dry_run(suite: &Suite) -> anyhow::Result<String> {
    let mut out = format!(
        "suite {} ({}): {} stacks, {} scenarios{}{}\n",
        suite.config.name,
        suite.file.display(),
        suite.stacks.len(),
        suite.config.scenarios.len(),
        if suite.config.parallel {
            ", stacks in parallel"
        } else {
            ", one stack at a time"
        },
        if suite.config.repeat > 1 {
            format!(", {} rounds", suite.config.repeat)
        } else {
            String::new()
        }
    );
    out += &box_hygiene(&suite.config.box_facts);
    for s in &suite.stacks {
        out += &stack_plan(suite, s)?;
    }
    out += &match suite.config.shuffle {
        Some(seed) => {
            format!("\nscenarios, on each stack, in the order seed {seed} shuffled them:\n")
        }
        None => "\nscenarios, on each stack:\n".to_string(),
    };
    for sc in &suite.config.scenarios {
        out += &scenario_line(suite, sc);
    }
    Ok(out)
}

/// `--dry-run`'s lines for one stack: what its launch will run.
fn stack_plan(suite: &Suite, s: &StackEntry) -> anyhow::Result<String> {
    let plan = launch_plan(&s.config, &s.file, &suite.config.name)
        .with_context(|| format!("stack {}", s.config.name))?;
    let side = s.side.map_or(String::new(), |x| format!(" ({x})"));
    let mut out = format!(
        "\n[{}]{side} {} ({})\n",
        s.config.name,
        plan.kind,
        s.file.display()
    );
    if !s.config.fetch.is_empty() {
        let fetch = stackbench_stacks::fetch_command(&s.config)
            .with_context(|| format!("stack {}: fetch", s.config.name))?;
        let fetch = shell_words(&stackbench_stacks::redact_args(&fetch));
        out += &format!(
            "  fetch (before the launch, at most {}): {fetch}\n",
            s.config.fetch_timeout.as_str()
        );
        for f in &s.config.fetch_expects {
            out += &format!("  fetch must make present: {f}\n");
        }
    }
    if !plan.command_line.is_empty() {
        out += &format!("  launch: {}\n", shell_words(&plan.shown_command()));
    }
    for e in plan.shown_env() {
        out += &format!("  env: {e}\n");
    }
    if let Some(w) = &plan.workdir {
        out += &format!("  workdir: {}\n", w.display());
    }
    if let Some(stackbench_core::stack::Launch::Simulator(sim)) = &s.config.launch {
        out += &format!("  simulator profile: {}\n", sim.profile);
    }
    out += &format!(
        "  ready: {} (timeout {})\n",
        plan.base_url
            .as_deref()
            .unwrap_or("(the simulator's address)"),
        s.config.ready_timeout.as_str()
    );
    out += &timeouts_line(
        &s.config.first_byte_timeout,
        &s.config.request_timeout,
        "  ",
    );
    out += &checks_lines(&s.config);
    Ok(out)
}

/// `--dry-run`'s lines for what is checked around a stack's launch: the
/// memory it needs, its known answer, and the hint shown if it fails.
fn checks_lines(s: &stackbench_core::stack::StackConfig) -> String {
    let mut out = String::new();
    if let Some(gib) = s.memory_need_gib {
        out += &format!("  before the launch: at least {gib} GiB available (MemAvailable)\n");
    }
    if let Some(k) = &s.known_answer {
        let must = match (&k.expect_pattern, &k.expect) {
            (Some(p), _) => format!("must match {p:?}"),
            (None, w) => format!("must hold {:?} whole", w.as_deref().unwrap_or_default()),
        };
        out += &format!("  known answer: {:?} {must}\n", k.prompt);
    }
    if let Some(hint) = &s.failure_hint {
        out += &format!("  if it fails: {hint}\n");
    }
    out
}

/// `--dry-run`'s line for one scenario: its load, bound and sizes.
fn scenario_line(suite: &Suite, sc: &Scenario) -> String {
    let d = &suite.config.defaults;
    let bound = match (&sc.requests, &sc.duration) {
        (Some(n), _) => format!("{n} requests"),
        (None, Some(t)) => format!("for {}", t.as_str()),
        (None, None) => String::new(),
    };
    let level = match sc.rate() {
        Some(r) => format!(
            "{r} req/s ({}{})",
            sc.arrival.map_or("poisson", |a| a.name()),
            sc.max_concurrency
                .map_or_else(String::new, |m| format!(", at most {m} in flight"))
        ),
        None => format!("c={}", sc.users()),
    };
    let depth = match (sc.depth_tokens(), sc.depth_cache) {
        (0, _) => String::new(),
        (d, Some(stackbench_stacks::OnOff::Off)) => format!(" at depth {d}, uncached"),
        (d, _) => format!(" at depth {d}"),
    };
    format!(
        "  {}: {level} {bound}{depth}, prompt {} tokens, {} output tokens, {} warm-up requests\n{}",
        sc.name,
        sc.prompt_tokens.unwrap_or(d.prompt_tokens),
        sc.output_tokens.unwrap_or(d.output_tokens),
        sc.warmup_requests.unwrap_or(d.warmup_requests),
        timeouts_line(&sc.first_byte_timeout, &sc.request_timeout, "    "),
    )
}

/// `--dry-run`'s line for the timeouts a stack or scenario sets (none:
/// nothing).
fn timeouts_line(
    first_byte: &Option<stackbench_core::stack::DurationText>,
    request: &Option<stackbench_core::stack::DurationText>,
    indent: &str,
) -> String {
    let parts: Vec<String> = [("first byte", first_byte), ("request", request)]
        .into_iter()
        .filter_map(|(what, t)| t.as_ref().map(|t| format!("{what} {}", t.as_str())))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("{indent}timeouts: {}\n", parts.join(", "))
    }
}

/// Quotes arguments that a shell would split.
fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `suite` into `out` with a progress bar per scenario; the outcome
/// and whether a signal stopped it.
pub async fn run_with_progress(
    suite: &Suite,
    out: &Path,
    api_key: Option<String>,
    quiet: bool,
) -> anyhow::Result<(SuiteOutcome, bool)> {
    let shutdown = Shutdown::listen();
    let opts = SuiteOptions {
        out: out.to_path_buf(),
        api_key,
        soft: shutdown.soft.clone(),
        hard: shutdown.hard.clone(),
    };
    let reporter = Reporter {
        quiet,
        bar: Mutex::new(None),
    };
    eprintln!(
        "suite {}: {} stacks x {} scenarios; results in {}",
        suite.config.name,
        suite.stacks.len(),
        suite.config.scenarios.len(),
        out.display()
    );
    let outcome = stackbench_stacks::run_suite(suite, &opts, &reporter)
        .await
        .with_context(|| format!("cannot write the suite folder {}", out.display()))?;
    Ok((outcome, shutdown.stopping()))
}

/// Runs `suite` into `out`; prints and writes the tables.
pub async fn run_loaded(
    suite: &Suite,
    out: &Path,
    api_key: Option<String>,
    quiet: bool,
    footer: &str,
) -> anyhow::Result<ExitStatus> {
    let (outcome, stopping) = run_with_progress(suite, out, api_key, quiet).await?;
    let runs: Vec<_> = outcome.runs.iter().map(|r| r.file.clone()).collect();
    let mut text = stackbench_report::comparison_tables(&runs);
    text += footer;
    let failed = failed_stacks(&outcome.file);
    text += &not_completed(&failed);
    text += &warnings(&outcome.file);
    println!("{text}");
    let tables = out.join("tables.md");
    std::fs::write(&tables, &text).with_context(|| format!("cannot write {}", tables.display()))?;
    println!("results: {}", out.display());
    if stopping {
        return Ok(ExitStatus::Interrupted);
    }
    if !failed.is_empty() {
        anyhow::bail!(
            "{} of {} stacks did not complete (see {}/suite.json)",
            failed.len(),
            outcome.file.stacks.len(),
            out.display()
        );
    }
    Ok(ExitStatus::Success)
}

/// The stacks that did not finish every scenario.
pub fn failed_stacks(file: &stackbench_stacks::SuiteFile) -> Vec<&StackOutcome> {
    file.stacks
        .iter()
        .filter(|s| s.status != StackStatus::Ok)
        .collect()
}

/// The summary's section on stacks that did not complete, with reasons.
pub fn not_completed(failed: &[&StackOutcome]) -> String {
    if failed.is_empty() {
        return String::new();
    }
    let mut text = "\n## Stacks that did not complete\n\n".to_string();
    for s in failed {
        let side = s.side.as_ref().map_or(String::new(), |x| format!(" ({x})"));
        text += &format!(
            "- **{}**{side} ({:?}): {}\n",
            s.name,
            s.status,
            s.reason.as_deref().unwrap_or("-").replace('\n', "\n  ")
        );
    }
    text
}

/// The summary's list of what went wrong without failing a stack (a
/// container left behind at teardown), as `suite.json` records it.
pub fn warnings(file: &stackbench_stacks::SuiteFile) -> String {
    let mut lines: Vec<String> = file
        .stacks
        .iter()
        .flat_map(|s| {
            s.warnings
                .iter()
                .map(move |w| format!("- **{}**: {w}\n", s.name))
        })
        .collect();
    lines.extend(file.warnings.iter().map(|w| format!("- {w}\n")));
    if lines.is_empty() {
        return String::new();
    }
    format!("\n## Warnings\n\n{}", lines.concat())
}

/// Runs `stackbench suite`.
pub async fn execute(a: SuiteArgs) -> anyhow::Result<ExitStatus> {
    let set = overrides(&a.set)?;
    let mut suite = load_suite(&a.file, &set, &a.only)?;
    if let Some(n) = a.repeat {
        suite.config.repeat = n;
    }
    if a.shuffle.is_some() {
        suite.config.shuffle = a.shuffle;
    }
    stackbench_stacks::shuffle_scenarios(&mut suite.config);
    check_thresholds(&suite)?;
    if a.dry_run {
        print!("{}", dry_run(&suite)?);
        return Ok(ExitStatus::Success);
    }
    let api_key = crate::run_cmd::api_key(a.api_key_env.as_deref())?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| default_suite_out(&suite.config.name));
    run_loaded(&suite, &out, api_key, a.quiet, "").await
}

/// `results/<stamp>-<name>`.
pub fn default_suite_out(name: &str) -> PathBuf {
    stackbench_runner::default_out(name)
}
