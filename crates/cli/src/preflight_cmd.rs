//! `stackbench preflight SUITE`: the suite's stacks checked before a long
//! run (see `stackbench_stacks::preflight`), printed a line per check,
//! grouped by stack, with a verdict: exit 0 when the suite can start
//! (some checks may not have been possible), 1 when a check found a
//! problem.

use std::io::Write;

use stackbench_stacks::load_suite;
use stackbench_stacks::preflight::{preflight, Check, PreflightOptions, Verdict};

use crate::args::PreflightArgs;
use crate::suite_cmd::overrides;
use crate::ExitStatus;

/// Runs the preflight of `a.file`.
pub async fn execute(a: &PreflightArgs) -> anyhow::Result<ExitStatus> {
    let set = overrides(&a.set)?;
    let suite = load_suite(&a.file, &set, &a.only)?;
    let opts = PreflightOptions { offline: a.offline };
    let checks = preflight(&suite, &opts, &|m| eprintln!("{m}…")).await;
    let mut out = std::io::stdout().lock();
    write!(out, "{}", render(&suite.config.name, &checks))?;
    Ok(if checks.iter().any(|c| c.verdict == Verdict::Problem) {
        ExitStatus::GateFailed
    } else {
        ExitStatus::Success
    })
}

/// The checks, grouped by stack, and the verdict.
fn render(suite: &str, checks: &[Check]) -> String {
    let mut out = format!("preflight of suite {suite}\n");
    let mut stack = "";
    for c in checks {
        if c.stack != stack {
            stack = &c.stack;
            out += &format!("\n[{stack}]\n");
        }
        out += &format!("  {:<7}  {:<6}  {}\n", c.verdict.label(), c.what, c.detail);
    }
    let count = |v: Verdict| checks.iter().filter(|c| c.verdict == v).count();
    let (problems, unchecked) = (count(Verdict::Problem), count(Verdict::Unchecked));
    let checks_word = |n: usize| if n == 1 { "check" } else { "checks" };
    out += &match problems {
        0 => format!(
            "\nno problem found ({unchecked} {} could not be made, marked ?): the suite can start\n",
            checks_word(unchecked)
        ),
        n => format!(
            "\n{n} {} (PROBLEM above), {unchecked} {} could not be made: fix the problems before the run\n",
            if n == 1 { "problem" } else { "problems" },
            checks_word(unchecked)
        ),
    };
    out
}
