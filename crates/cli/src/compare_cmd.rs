//! `stackbench compare BASE CANDIDATE`: read both sides through the typed
//! loader, compare, print Markdown, write the files asked for, and exit 1
//! when anything regressed.

use std::path::Path;

use anyhow::Context;
use stackbench_report::compare::{compare, junit, markdown, thresholds, RunData};

use crate::args::CompareArgs;
use crate::ExitStatus;

fn side(path: &Path) -> anyhow::Result<Vec<RunData>> {
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

/// Runs `stackbench compare`.
pub fn execute(a: &CompareArgs) -> anyhow::Result<ExitStatus> {
    // Later entries win: the baseline suite's, the candidate suite's, then
    // the command line's.
    let mut overrides = suite_thresholds(&a.base)?;
    overrides.extend(suite_thresholds(&a.candidate)?);
    for s in &a.threshold {
        overrides.push(parse_threshold(s)?);
    }
    let t = thresholds(&overrides)?;
    let base = side(&a.base).with_context(|| format!("baseline {}", a.base.display()))?;
    let cand =
        side(&a.candidate).with_context(|| format!("candidate {}", a.candidate.display()))?;
    let c = compare(&base, &cand, &t, a.allow_mismatch)?;
    let md = markdown(&c);
    print!("{md}");
    if let Some(p) = &a.markdown {
        write(p, &md)?;
    }
    if let Some(p) = &a.json {
        write(p, &serde_json::to_string_pretty(&c)?)?;
    }
    if let Some(p) = &a.junit {
        write(p, &junit(&c))?;
    }
    Ok(if c.regressed {
        ExitStatus::GateFailed
    } else {
        ExitStatus::Success
    })
}
