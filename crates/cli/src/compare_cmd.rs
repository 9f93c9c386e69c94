//! `stackbench compare BASE CANDIDATE`: read both sides through the typed
//! loader, compare, gate, print Markdown, write the files asked for, and
//! exit 1 when the gate failed. `upgrade-check` judges through the same
//! functions.

use std::path::Path;

use anyhow::Context;
use stackbench_report::compare::{
    compare, gate, junit, markdown, thresholds, Comparison, FlagKind, Gate, Policy, RunData,
};

use crate::args::{CompareArgs, GateArgs};
use crate::ExitStatus;

/// The runs under `path` with their records.
pub fn side(path: &Path) -> anyhow::Result<Vec<RunData>> {
    stackbench_runner::load_runs(&[path.to_path_buf()])?
        .into_iter()
        .map(|r| {
            let records = stackbench_runner::load_records(&r.dir)?;
            Ok(RunData {
                dir: r.dir.display().to_string(),
                file: r.file,
                records,
            })
        })
        .collect()
}

/// The `[compare]` thresholds a suite folder's `suite.json` records
/// (none for run folders).
pub(crate) fn suite_thresholds(path: &Path) -> anyhow::Result<Vec<(String, f64)>> {
    let file = path.join("suite.json");
    if !file.is_file() {
        return Ok(Vec::new());
    }
    let text = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let suite: stackbench_stacks::SuiteFile = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a valid suite.json", file.display()))?;
    Ok(suite.thresholds.into_iter().collect())
}

pub(crate) fn parse_threshold(s: &str) -> anyhow::Result<(String, f64)> {
    let (k, v) = s.split_once('=').with_context(|| {
        format!("--threshold {s}: expected METRIC=PCT, e.g. decode_tok_s_p50=3")
    })?;
    let v: f64 = v
        .trim()
        .trim_end_matches('%')
        .parse()
        .ok()
        .filter(|x: &f64| x.is_finite() && *x >= 0.0)
        .with_context(|| format!("--threshold {s}: PCT must be a number >= 0"))?;
    Ok((k.trim().to_string(), v))
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The `--allow` names as flag kinds; an unknown one is an error.
pub fn policy(g: &GateArgs) -> anyhow::Result<Policy> {
    let allow = g
        .allow
        .iter()
        .map(|f| {
            f.parse::<FlagKind>()
                .with_context(|| format!("--allow {f}"))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Policy {
        allow,
        strict: g.strict,
    })
}

/// The thresholds of both sides' suites, then the command line's (later
/// entries win).
pub fn thresholds_of(sides: &[&Path], g: &GateArgs) -> anyhow::Result<Vec<(String, f64)>> {
    let mut overrides = Vec::new();
    for side in sides {
        overrides.extend(suite_thresholds(side)?);
    }
    for s in &g.threshold {
        overrides.push(parse_threshold(s)?);
    }
    Ok(overrides)
}

/// The files a comparison writes: Markdown, JSON, JUnit.
pub struct Written {
    /// The Markdown (also printed).
    pub markdown: String,
    /// The JSON: the comparison and the gate.
    pub json: String,
    /// The JUnit XML.
    pub junit: String,
}

/// Compares `base` with `cand` under the gate's settings and renders the
/// outputs; the gate says the exit code.
pub fn judge(
    base: &[RunData],
    cand: &[RunData],
    overrides: &[(String, f64)],
    g: &GateArgs,
) -> anyhow::Result<(Comparison, Gate, Written)> {
    let policy = policy(g)?;
    let t = thresholds(overrides)?;
    let c = compare(base, cand, &t, g.allow_mismatch)?;
    let verdict = gate(&c, &policy);
    // The comparison's fields as before, the gate beside them.
    let mut json = serde_json::to_value(&c)?;
    if let Some(o) = json.as_object_mut() {
        o.insert("gate".into(), serde_json::to_value(&verdict)?);
    }
    let json = serde_json::to_string_pretty(&json)?;
    let written = Written {
        markdown: markdown(&c, &verdict),
        json,
        junit: junit(&verdict),
    };
    Ok((c, verdict, written))
}

/// Writes the outputs the user asked for.
pub fn write_requested(g: &GateArgs, w: &Written) -> anyhow::Result<()> {
    for (path, text) in [
        (&g.markdown, &w.markdown),
        (&g.json, &w.json),
        (&g.junit, &w.junit),
    ] {
        if let Some(p) = path {
            write(p, text)?;
        }
    }
    Ok(())
}

/// Exit 1 when the gate failed.
pub fn exit_status(g: &Gate) -> ExitStatus {
    if g.failed {
        ExitStatus::GateFailed
    } else {
        ExitStatus::Success
    }
}

/// Runs `stackbench compare`.
pub fn execute(a: &CompareArgs) -> anyhow::Result<ExitStatus> {
    let overrides = thresholds_of(&[&a.base, &a.candidate], &a.gate)?;
    let base = side(&a.base).with_context(|| format!("baseline {}", a.base.display()))?;
    let cand =
        side(&a.candidate).with_context(|| format!("candidate {}", a.candidate.display()))?;
    let (_, verdict, written) = judge(&base, &cand, &overrides, &a.gate)?;
    print!("{}", written.markdown);
    write_requested(&a.gate, &written)?;
    eprintln!("{}", verdict.summary.line(verdict.failed));
    Ok(exit_status(&verdict))
}
