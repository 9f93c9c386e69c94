//! `stackbench table DIRS…`: the comparison tables from result folders.

use crate::args::TableArgs;
use crate::ExitStatus;

/// Runs `stackbench table`.
pub fn execute(a: &TableArgs) -> anyhow::Result<ExitStatus> {
    let runs = stackbench_runner::load_runs(&a.dirs)?;
    let incomplete = runs.iter().filter(|r| !r.file.complete).count();
    let files: Vec<_> = runs.into_iter().map(|r| r.file).collect();
    print!("{}", stackbench_report::comparison_tables(&files));
    if incomplete > 0 {
        eprintln!("note: {incomplete} of the runs did not complete (interrupted or failed); their rows cover what was measured");
    }
    Ok(ExitStatus::Success)
}
