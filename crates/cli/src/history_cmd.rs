//! `stackbench history DIRS…`: every run found, laid out in time per stack
//! and scenario, with change points judged as `compare` judges; Markdown
//! on stdout, and JSON and an HTML trend page when asked.
//!
//! A `run.json` that does not read is an error (exit 2), as in `compare`
//! and `table`: the history would silently miss a point. A run whose
//! `requests.jsonl` does not read is left out with a warning on stderr:
//! its `run.json` names it, and the rest of a long history still stands.

use std::path::Path;

use anyhow::Context;
use stackbench_report::compare::{thresholds, RunData};
use stackbench_report::history::{history, markdown, Options};

use crate::args::HistoryArgs;
use crate::compare_cmd::{parse_threshold, suite_thresholds};
use crate::ExitStatus;

/// Every run under `dirs` with its records; those whose records do not
/// read are left out, each with a warning.
fn load(dirs: &[std::path::PathBuf]) -> anyhow::Result<Vec<RunData>> {
    let mut out = Vec::new();
    for r in stackbench_runner::load_runs(dirs)? {
        match stackbench_runner::load_records(&r.dir) {
            Ok(records) => out.push(RunData {
                dir: r.dir.display().to_string(),
                file: r.file,
                records,
            }),
            Err(e) => eprintln!("warning: left out {}: {e}", r.dir.display()),
        }
    }
    if out.is_empty() {
        anyhow::bail!("no run under the folders given has readable request records");
    }
    Ok(out)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Runs `stackbench history`.
pub fn execute(a: &HistoryArgs) -> anyhow::Result<ExitStatus> {
    // Later entries win: the suite folders' thresholds in the order
    // given, then the command line's.
    let mut overrides = Vec::new();
    for d in &a.dirs {
        overrides.extend(suite_thresholds(d)?);
    }
    for s in &a.threshold {
        overrides.push(parse_threshold(s)?);
    }
    let opts = Options {
        stack: a.stack.clone(),
        metrics: a.metric.clone(),
        thresholds: thresholds(&overrides)?,
    };
    let runs = load(&a.dirs)?;
    let h = history(&runs, &opts)?;
    let md = markdown(&h);
    print!("{md}");
    if let Some(p) = &a.markdown {
        write(p, &md)?;
    }
    if let Some(p) = &a.json {
        write(p, &serde_json::to_string_pretty(&h)?)?;
    }
    if let Some(p) = &a.html {
        let sources: Vec<String> = a.dirs.iter().map(|d| d.display().to_string()).collect();
        let generated = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let page = stackbench_html::history::page(&h, &sources, &generated)?;
        write(p, &page.html)?;
        eprintln!("{}: {} charts", p.display(), page.charts);
    }
    eprintln!(
        "{} runs, {} series, {} change points",
        h.runs,
        h.groups.len(),
        h.change_points.len()
    );
    Ok(ExitStatus::Success)
}
