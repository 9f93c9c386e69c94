//! `stackbench table DIRS… [--allow-mismatch]`: the comparison tables from
//! result folders; runs shown together that ran different workloads are
//! refused unless `--allow-mismatch` (see `stackbench_report::workload`).

use stackbench_report::workload::Shown;

use crate::args::TableArgs;
use crate::ExitStatus;

/// Runs `stackbench table`.
pub fn execute(a: &TableArgs) -> anyhow::Result<ExitStatus> {
    let runs = stackbench_runner::load_runs(&a.dirs)?;
    let incomplete = runs.iter().filter(|r| !r.file.complete).count();
    let dirs: Vec<String> = runs.iter().map(|r| r.dir.display().to_string()).collect();
    let shown: Vec<Shown<'_>> = runs
        .iter()
        .zip(&dirs)
        .map(|(r, dir)| Shown { dir, file: &r.file })
        .collect();
    let md = stackbench_report::checked_comparison_tables(&shown, a.allow_mismatch)?;
    print!("{md}");
    if incomplete > 0 {
        eprintln!("note: {incomplete} of the runs did not complete (interrupted or failed); their rows cover what was measured");
    }
    Ok(ExitStatus::Success)
}
