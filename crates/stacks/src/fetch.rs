//! Making a stack's model present before its launch (the stack's `fetch`
//! command: `hf download REPO` into the cache the container mounts, say),
//! so that a 35 GB download is neither counted against `ready-timeout` nor
//! done by a server that reports nothing while it downloads. Its output
//! goes to `fetch.log` beside the server log; its last line is shown as
//! progress; a failure names the model and quotes the log's end.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Instant;

use stackbench_core::run_file::FetchInfo;
use stackbench_core::stack::StackConfig;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::error::LaunchError;
use crate::expand::expand;
use crate::fetch_check::{check_expected, ExpectError};
use crate::secret::{redact, redact_args};

/// Lines of `fetch.log` quoted when the fetch fails.
const TAIL_LINES: usize = 10;

/// Why a stack's model could not be fetched; the text is shown with
/// secrets hidden.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The `fetch` command could not be formed (a `${VAR}` unset).
    #[error("fetch of model '{model}': {source}")]
    Command {
        /// The stack's model (or name).
        model: String,
        /// Why.
        source: LaunchError,
    },
    /// The command ran and failed, or did not finish in time.
    #[error("{}", redact(&format!("fetching model '{model}' failed ({command}): {why}; {} ends:\n{tail}", log.display())))]
    Failed {
        /// The stack's model (or name).
        model: String,
        /// The command as shown (secrets hidden).
        command: String,
        /// What went wrong.
        why: FetchRunError,
        /// `fetch.log`.
        log: PathBuf,
        /// Its last lines.
        tail: String,
    },
    /// The command succeeded but a file the launch loads is not there.
    #[error("{}", redact(&format!("fetching model '{model}' finished, but a file the launch loads is not there ({} says what the fetch did): {missing}", log.display())))]
    Missing {
        /// The stack's model (or name).
        model: String,
        /// `fetch.log`.
        log: PathBuf,
        /// Which file, and what its folder holds (in the message, so not
        /// a `source` that a chain would print twice).
        missing: ExpectError,
    },
}

/// What went wrong running the `fetch` command.
#[derive(Debug, thiserror::Error)]
pub enum FetchRunError {
    /// The log's folder could not be made.
    #[error("cannot create {}: {source}", dir.display())]
    CreateDir {
        /// The folder.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The log could not be created.
    #[error("cannot create {}: {source}", log.display())]
    CreateLog {
        /// The log.
        log: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The program could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// The child gave no stdout or stderr pipe.
    #[error("no output pipes")]
    NoPipes,
    /// Waiting for the child failed.
    #[error("{0}")]
    Wait(#[source] std::io::Error),
    /// It exited unsuccessfully.
    #[error("{0}")]
    Exited(ExitStatus),
    /// It ran past the stack's `fetch-timeout` (as written).
    #[error("did not finish within {0}")]
    Timeout(String),
}

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
) -> Result<Option<FetchInfo>, FetchError> {
    if stack.fetch.is_empty() {
        return Ok(None);
    }
    let model = stack.model.as_deref().unwrap_or(&stack.name);
    let args = fetch_command(stack).map_err(|source| FetchError::Command {
        model: model.to_string(),
        source,
    })?;
    let shown = redact_args(&args);
    progress(&format!("fetching model '{model}': {}", shown.join(" ")));
    let started = Instant::now();
    let timeout = stack.fetch_timeout.get();
    let run = run_logged(&args, folder, log, progress);
    let result = match tokio::time::timeout(timeout, run).await {
        Ok(r) => r,
        Err(_) => Err(FetchRunError::Timeout(stack.fetch_timeout.as_str().into())),
    };
    result.map_err(|why| FetchError::Failed {
        model: model.to_string(),
        command: shown.join(" "),
        why,
        log: log.to_path_buf(),
        tail: tail(log),
    })?;
    let files = check_expected(stack, folder).map_err(|missing| FetchError::Missing {
        model: model.to_string(),
        log: log.to_path_buf(),
        missing,
    })?;
    Ok(Some(FetchInfo {
        command: shown,
        seconds: started.elapsed().as_secs_f64(),
        files,
    }))
}

/// Runs `args` with stdout and stderr into `log`, each line also offered
/// to `progress` (throttled to one every 5 s).
async fn run_logged(
    args: &[String],
    folder: &Path,
    log: &Path,
    progress: &dyn Fn(&str),
) -> Result<(), FetchRunError> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(|source| FetchRunError::CreateDir {
            dir: dir.to_path_buf(),
            source,
        })?;
    }
    let mut file = std::fs::File::create(log).map_err(|source| FetchRunError::CreateLog {
        log: log.to_path_buf(),
        source,
    })?;
    let mut child = tokio::process::Command::new(&args[0])
        .args(&args[1..])
        .current_dir(folder)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| FetchRunError::Spawn {
            program: args[0].clone(),
            source,
        })?;
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(FetchRunError::NoPipes);
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
    let status = child.wait().await.map_err(FetchRunError::Wait)?;
    if status.success() {
        Ok(())
    } else {
        Err(FetchRunError::Exited(status))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(toml_text: &str) -> StackConfig {
        toml::from_str(toml_text).expect("a stack")
    }

    async fn fetch(s: &StackConfig, dir: &Path) -> Result<Option<FetchInfo>, FetchError> {
        fetch_model(s, dir, &dir.join("logs/fetch.log"), &|_| {}).await
    }

    #[tokio::test]
    async fn a_failing_fetch_names_the_model_the_status_and_the_log_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = stack(
            "name = \"s\"\nmodel = \"m\"\nfetch = [\"sh\", \"-c\", \"echo downloading; echo no space >&2; exit 7\"]\n",
        );
        let e = fetch(&s, dir.path()).await.expect_err("the fetch fails");
        let FetchError::Failed {
            model,
            why,
            log,
            tail,
            ..
        } = &e
        else {
            panic!("{e:?}");
        };
        assert_eq!(model, "m");
        assert!(
            matches!(why, FetchRunError::Exited(st) if st.code() == Some(7)),
            "{why:?}"
        );
        assert!(log.ends_with("logs/fetch.log"));
        assert!(tail.contains("no space"), "{tail}");
        let text = e.to_string();
        assert!(
            text.starts_with("fetching model 'm' failed (sh -c ")
                && text.contains("exit status: 7"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_fetch_past_its_timeout_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = stack("name = \"s\"\nfetch = [\"sleep\", \"5\"]\nfetch-timeout = \"200ms\"\n");
        let e = fetch(&s, dir.path()).await.expect_err("too slow");
        assert!(
            matches!(&e, FetchError::Failed { why: FetchRunError::Timeout(t), .. } if t == "200ms"),
            "{e:?}"
        );
        assert!(e.to_string().contains("did not finish within 200ms"), "{e}");
    }

    #[tokio::test]
    async fn a_missing_program_cannot_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = stack("name = \"s\"\nfetch = [\"/nonexistent/hf\", \"download\"]\n");
        let e = fetch(&s, dir.path()).await.expect_err("no program");
        assert!(
            matches!(&e, FetchError::Failed { why: FetchRunError::Spawn { program, .. }, .. } if program == "/nonexistent/hf"),
            "{e:?}"
        );
    }
}
