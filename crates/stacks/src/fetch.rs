//! Making a stack's model present before its launch (the stack's `fetch`
//! command: `hf download REPO` into the cache the container mounts, say),
//! so that a 35 GB download is neither counted against `ready-timeout` nor
//! done by a server that reports nothing while it downloads. Its output
//! goes to `fetch.log` beside the server log; its last line is shown as
//! progress; a failure names the model and quotes the log's end.

use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use stackbench_core::run_file::FetchInfo;
use stackbench_core::stack::StackConfig;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::error::LaunchError;
use crate::expand::expand;
use crate::secret::{redact, redact_args};

/// Lines of `fetch.log` quoted when the fetch fails.
const TAIL_LINES: usize = 10;

/// The command `stack.fetch` runs, `${VAR}`s expanded (empty: none).
/// It may hold secrets; show it through `redact_args`.
pub fn fetch_command(stack: &StackConfig) -> Result<Vec<String>, LaunchError> {
    stack.fetch.iter().map(|a| expand(a)).collect()
}

/// Runs `stack.fetch` (if any) in `folder` (the stack file's), logging
/// into `log`. `progress` gets a line of its output every few seconds.
pub async fn fetch_model(
    stack: &StackConfig,
    folder: &Path,
    log: &Path,
    progress: &dyn Fn(&str),
) -> Result<Option<FetchInfo>, String> {
    if stack.fetch.is_empty() {
        return Ok(None);
    }
    let model = stack.model.as_deref().unwrap_or(&stack.name);
    let args = fetch_command(stack).map_err(|e| format!("fetch of model '{model}': {e}"))?;
    let shown = redact_args(&args);
    progress(&format!("fetching model '{model}': {}", shown.join(" ")));
    let started = Instant::now();
    let timeout = stack.fetch_timeout.get();
    let run = run_logged(&args, folder, log, progress);
    let result = match tokio::time::timeout(timeout, run).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "did not finish within {}",
            stack.fetch_timeout.as_str()
        )),
    };
    result.map_err(|why| {
        redact(&format!(
            "fetching model '{model}' failed ({}): {why}; {} ends:\n{}",
            shown.join(" "),
            log.display(),
            tail(log)
        ))
    })?;
    Ok(Some(FetchInfo {
        command: shown,
        seconds: started.elapsed().as_secs_f64(),
    }))
}

/// Runs `args` with stdout and stderr into `log`, each line also offered
/// to `progress` (throttled to one every 5 s).
async fn run_logged(
    args: &[String],
    folder: &Path,
    log: &Path,
    progress: &dyn Fn(&str),
) -> Result<(), String> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut file =
        std::fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let mut child = tokio::process::Command::new(&args[0])
        .args(&args[1..])
        .current_dir(folder)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", args[0]))?;
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err("no output pipes".into());
    };
    let mut out = BufReader::new(out).lines();
    let mut err = BufReader::new(err).lines();
    let mut said = Instant::now();
    let (mut out_done, mut err_done) = (false, false);
    while !(out_done && err_done) {
        tokio::select! {
            l = out.next_line(), if !out_done => match l {
                Ok(Some(l)) => record(&mut file, &mut said, progress, &l),
                Ok(None) | Err(_) => out_done = true,
            },
            l = err.next_line(), if !err_done => match l {
                Ok(Some(l)) => record(&mut file, &mut said, progress, &l),
                Ok(None) | Err(_) => err_done = true,
            },
        }
    }
    let status = child.wait().await.map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(status.to_string())
    }
}

/// One output line: into the log, and to `progress` every 5 s.
fn record(file: &mut std::fs::File, said: &mut Instant, progress: &dyn Fn(&str), line: &str) {
    use std::io::Write;
    let _ = writeln!(file, "{line}");
    if said.elapsed().as_secs() >= 5 {
        progress(&redact(line.trim()));
        *said = Instant::now();
    }
}

/// The last lines of `log`.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}
