//! `stackbench upgrade-check` and `stackbench calibrate`: one stack of a
//! suite as it is (the baseline) and with `--candidate` changes (a new
//! image, say) run in alternating rounds in one process — baseline,
//! candidate, baseline, candidate, each launch torn down before the next —
//! so that drift on the box (heat, a background job, the page cache) lands
//! on both sides alike. Then the two sides are judged by `compare`'s own
//! functions. `calibrate` is the same with no change (A/A): it measures
//! how far the config moves against itself and writes the thresholds the
//! box supports.

use std::path::{Path, PathBuf};

use anyhow::Context;
use stackbench_core::kinds::Side;
use stackbench_report::compare::{Comparison, MetricKey, RunData, Verdict};
use stackbench_stacks::{load_suite, Override, Suite};

use crate::args::{CalibrateArgs, GateArgs, PairedRunArgs, UpgradeCheckArgs};
use crate::compare_cmd::{exit_status, judge, side, thresholds_of, write_requested};
use crate::suite_cmd::{failed_stacks, not_completed, overrides, warnings};
use crate::ExitStatus;

/// `--candidate KEY=VALUE` as an override of the checked stack.
fn candidate_override(stack: &str, kv: &str) -> anyhow::Result<Override> {
    if kv.starts_with("stack.") || kv.starts_with("suite.") {
        anyhow::bail!(
            "--candidate {kv}: give the key below the stack, e.g. --candidate launch.image=IMAGE (it applies to stack '{stack}')"
        );
    }
    if !kv.contains('=') {
        anyhow::bail!("--candidate {kv}: expected KEY=VALUE, e.g. launch.image=IMAGE");
    }
    format!("stack.{stack}.{kv}")
        .parse()
        .with_context(|| format!("--candidate {kv}"))
}

/// The suite of the check: the one stack twice, baseline then candidate
/// (`candidate` overrides applied to the second), one at a time, in
/// `repeat` rounds.
fn paired_suite(run: &PairedRunArgs, candidate: &[String]) -> anyhow::Result<Suite> {
    let set = overrides(&run.set)?;
    let mut suite = load_suite(&run.file, &set, &[])?;
    let take = |suite: Suite| {
        let names: Vec<String> = suite.stacks.iter().map(|s| s.config.name.clone()).collect();
        suite
            .stacks
            .into_iter()
            .find(|s| s.config.name == run.stack)
            .with_context(|| {
                format!(
                    "--stack {}: no stack named '{}' in {} (stacks: {})",
                    run.stack,
                    run.stack,
                    run.file.display(),
                    names.join(", ")
                )
            })
    };
    let mut a = take(suite.clone())?;
    let mut cand_set = set;
    for kv in candidate {
        cand_set.push(candidate_override(&run.stack, kv)?);
    }
    let mut b = take(load_suite(&run.file, &cand_set, &[])?)?;
    a.side = Some(Side::Baseline);
    b.side = Some(Side::Candidate);
    suite.stacks = vec![a, b];
    suite.config.parallel = false;
    suite.config.repeat = run.repeat;
    crate::suite_cmd::check_thresholds(&suite)?;
    Ok(suite)
}

/// The result folder and each side's runs.
type Sides = (PathBuf, Vec<RunData>, Vec<RunData>);

/// Runs both sides; the runs of each (`None` when interrupted), or why
/// there are none to judge.
async fn run_sides(
    suite: &Suite,
    run: &PairedRunArgs,
    what: &str,
) -> anyhow::Result<Option<Sides>> {
    let api_key = crate::run_cmd::api_key(run.api_key_env.as_deref())?;
    let out = run
        .out
        .clone()
        .unwrap_or_else(|| stackbench_runner::default_out(&format!("{}-{what}", run.stack)));
    let (outcome, stopping) =
        crate::suite_cmd::run_with_progress(suite, &out, api_key, run.quiet).await?;
    eprint!("{}", warnings(&outcome.file));
    if stopping {
        return Ok(None);
    }
    let failed = failed_stacks(&outcome.file);
    if !failed.is_empty() {
        eprint!("{}", not_completed(&failed));
        anyhow::bail!(
            "a side did not complete every round, so the two cannot be judged alike (see {}/suite.json)",
            out.display()
        );
    }
    // Each side's files are under its name (`StackEntry::folder`).
    let base = side(&out.join(Side::Baseline.name())).context("the baseline's runs")?;
    let cand = side(&out.join(Side::Candidate.name())).context("the candidate's runs")?;
    Ok(Some((out, base, cand)))
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Runs `stackbench upgrade-check`.
pub async fn execute_upgrade(a: UpgradeCheckArgs) -> anyhow::Result<ExitStatus> {
    let suite = paired_suite(&a.run, &a.candidate)?;
    // The suite's thresholds, then the command line's; checked before
    // anything runs.
    let given: Vec<(String, f64)> = suite.config.compare.clone().into_iter().collect();
    let mut overrides = given;
    overrides.extend(thresholds_of(&[], &a.gate)?);
    stackbench_report::compare::thresholds(&overrides)?;
    crate::compare_cmd::policy(&a.gate)?;
    if a.run.dry_run {
        print!("{}", crate::suite_cmd::dry_run(&suite)?);
        return Ok(ExitStatus::Success);
    }
    let Some((out, base, cand)) = run_sides(&suite, &a.run, "upgrade-check").await? else {
        return Ok(ExitStatus::Interrupted);
    };
    let (_, verdict, written) = judge(&base, &cand, &overrides, &a.gate)?;
    write(&out.join("compare.md"), &written.markdown)?;
    write(&out.join("compare.json"), &written.json)?;
    write(&out.join("compare.junit.xml"), &written.junit)?;
    write_requested(&a.gate, &written)?;
    print!("{}", written.markdown);
    println!("results: {}", out.display());
    eprintln!("{}", verdict.summary.line(verdict.failed));
    Ok(exit_status(&verdict))
}

/// Runs `stackbench calibrate`.
pub async fn execute_calibrate(a: CalibrateArgs) -> anyhow::Result<ExitStatus> {
    if !(a.margin.is_finite() && a.margin >= 1.0) {
        anyhow::bail!("--margin {}: must be a number >= 1", a.margin);
    }
    let suite = paired_suite(&a.run, &[])?;
    if a.run.dry_run {
        print!("{}", crate::suite_cmd::dry_run(&suite)?);
        return Ok(ExitStatus::Success);
    }
    let Some((out, base, cand)) = run_sides(&suite, &a.run, "calibrate").await? else {
        return Ok(ExitStatus::Interrupted);
    };
    // Judged at the defaults: the widths do not depend on the thresholds.
    let gate = GateArgs::default();
    let (c, _, written) = judge(&base, &cand, &[], &gate)?;
    write(&out.join("compare.md"), &written.markdown)?;
    write(&out.join("compare.json"), &written.json)?;
    let host = base.first().map_or("?", |r| r.file.host.hostname.as_str());
    let toml = calibration_toml(&c, &suite, host, a.run.repeat, a.margin);
    write(&out.join("calibration.toml"), &toml)?;
    print!("{}", written.markdown);
    println!("\n{toml}");
    println!(
        "results: {} (thresholds in calibration.toml)",
        out.display()
    );
    Ok(ExitStatus::Success)
}

/// The threshold a metric's A/A intervals support: the farthest edge any
/// pair's interval reached from zero, times `margin`, rounded up to a
/// half point (at least 1). A same-config comparison's interval sits
/// around zero with about that reach, so it can never lie wholly beyond
/// the threshold; a real change must clear the box's own noise.
fn supported_threshold(c: &Comparison, key: MetricKey, margin: f64) -> Option<(f64, f64, String)> {
    let mut widest: Option<(f64, String)> = None;
    for p in &c.pairs {
        let Some(m) = p.metrics.iter().find(|m| m.key == key) else {
            continue;
        };
        let Some([lo, hi]) = m
            .interval
            .filter(|_| m.verdict != Verdict::InsufficientData)
        else {
            continue;
        };
        let reach = lo.abs().max(hi.abs());
        if widest.as_ref().map_or(true, |(w, _)| reach > *w) {
            widest = Some((reach, format!("{} [{lo:+.1}, {hi:+.1}]", p.scenario)));
        }
    }
    let (reach, at) = widest?;
    let t = ((reach * margin * 2.0).ceil() / 2.0).max(1.0);
    Some((t, reach, at))
}

/// `calibration.toml`: a `[compare]` table to paste into the suite, each
/// line saying where its figure comes from.
fn calibration_toml(c: &Comparison, suite: &Suite, host: &str, repeat: u32, margin: f64) -> String {
    let mut out = format!(
        "# stackbench calibrate: {} against itself, {repeat} alternating rounds of {} ({}), on {host}, {}.\n# Each threshold is the farthest edge of the same config's 95% interval of change from zero (x{margin}), rounded up: a\n# narrower threshold would let this box's own noise read as a change. Paste into the suite's [compare] table.\n[compare]\n",
        suite.stacks.first().map_or("?", |s| s.config.name.as_str()),
        suite.config.name,
        suite.file.display(),
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
    );
    for key in MetricKey::ALL {
        let compared = c
            .pairs
            .iter()
            .any(|p| p.metrics.iter().any(|m| m.key == key));
        if !compared {
            // The reasoning metrics, where no run reasoned.
            out += &format!(
                "# {}: not compared (no run reasoned); keep the default {}\n",
                key.name(),
                key.default_threshold()
            );
            continue;
        }
        out += &match supported_threshold(c, key, margin) {
            Some((t, reach, at)) => format!(
                "{} = {t:.1}   # widest A/A interval reached {reach:.1}{}: {at}\n",
                key.name(),
                if key.in_points() { " points" } else { "%" }
            ),
            None => format!(
                "# {}: no figure (too few samples in every scenario); keep the default {}\n",
                key.name(),
                key.default_threshold()
            ),
        };
    }
    out
}
