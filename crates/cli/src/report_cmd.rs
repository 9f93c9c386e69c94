//! `stackbench report DIRS… [--out DIR]`: the HTML report and `.hgrm`
//! files of any set of run or suite folders. What the page could not show
//! (a run whose histograms do not decode) is also said on stderr. Runs
//! shown together that ran different workloads are refused unless
//! `--allow-mismatch`, which lists them on the page and on stderr.

use std::path::{Path, PathBuf};

use anyhow::Context;
use stackbench_html::{render, ReportRun};
use stackbench_report::workload;

use crate::args::ReportArgs;
use crate::ExitStatus;

/// `DIR/report` for one folder, `./stackbench-report` for several.
fn default_out(dirs: &[PathBuf]) -> PathBuf {
    match dirs {
        [one] => one.join("report"),
        _ => PathBuf::from("stackbench-report"),
    }
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Runs `stackbench report`.
pub fn execute(a: &ReportArgs) -> anyhow::Result<ExitStatus> {
    let runs: Vec<ReportRun> = stackbench_runner::load_runs(&a.dirs)?
        .into_iter()
        .map(|r| ReportRun {
            dir: r.dir.display().to_string(),
            file: r.file,
        })
        .collect();
    let mismatches = stackbench_html::mismatches(&runs);
    if !mismatches.is_empty() && !a.allow_mismatch {
        return Err(workload::MismatchError(mismatches).into());
    }
    let sources: Vec<String> = a.dirs.iter().map(|d| d.display().to_string()).collect();
    let generated = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let report = render(&runs, &sources, &generated)?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    let out = a.out.clone().unwrap_or_else(|| default_out(&a.dirs));
    for (rel, text) in &report.hgrm {
        write(&out.join(rel), text)?;
    }
    let page = out.join("report.html");
    write(&page, &report.html)?;
    println!(
        "{}: {} charts over {} runs, {} .hgrm files",
        page.display(),
        report.charts,
        runs.len(),
        report.hgrm.len()
    );
    Ok(ExitStatus::Success)
}
