//! Servers as local processes: each in its own process group, so teardown
//! reaches every child (vLLM forks an engine core and workers), with a
//! watcher that kills the group if stackbench itself dies without tearing
//! down (SIGKILL, a crash): the parent-death signal, done portably.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use crate::error::LaunchError;

/// How long a server gets to exit after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(15);

/// A running server process group.
pub struct ProcessServer {
    child: Child,
    pgid: Option<i32>,
    watcher: Option<std::process::Child>,
    stopped: bool,
}

impl ProcessServer {
    /// Starts `command` in `workdir` with `env`, output into `log`.
    pub fn start(
        command: &[String],
        env: &[(String, String)],
        workdir: Option<&Path>,
        log: &Path,
    ) -> Result<Self, LaunchError> {
        let (file, err) = log_files(log)?;
        let mut cmd = Command::new(&command[0]);
        cmd.args(&command[1..])
            .envs(env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .process_group(0)
            .kill_on_drop(true);
        if let Some(d) = workdir {
            cmd.current_dir(d);
        }
        let child = cmd.spawn().map_err(|e| LaunchError::Spawn {
            program: command[0].clone(),
            reason: e.to_string(),
        })?;
        let pgid = child.id().and_then(|p| i32::try_from(p).ok());
        let watcher = pgid.and_then(spawn_watcher);
        Ok(Self {
            child,
            pgid,
            watcher,
            stopped: false,
        })
    }

    /// The process group (= the server's PID).
    pub fn pgid(&self) -> Option<i32> {
        self.pgid
    }

    /// `None` while running; else how it exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(None) => None,
            Ok(Some(s)) => Some(format!("process {s}")),
            Err(e) => Some(format!("cannot tell: {e}")),
        }
    }

    /// SIGTERM to the group, SIGKILL after [`GRACE`], then reaps.
    pub async fn stop(mut self) {
        if let Some(pg) = self.pgid {
            let _ = killpg(Pid::from_raw(pg), Signal::SIGTERM);
            if tokio::time::timeout(GRACE, self.child.wait())
                .await
                .is_err()
            {
                tracing::warn!("server process group {pg} ignored SIGTERM for {GRACE:?}; killing");
            }
            // Children that outlive the leader are killed too.
            let _ = killpg(Pid::from_raw(pg), Signal::SIGKILL);
        }
        let _ = self.child.wait().await;
        self.kill_watcher();
        self.stopped = true;
    }

    fn kill_watcher(&mut self) {
        if let Some(mut w) = self.watcher.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

impl Drop for ProcessServer {
    fn drop(&mut self) {
        if !self.stopped {
            if let Some(pg) = self.pgid {
                let _ = killpg(Pid::from_raw(pg), Signal::SIGKILL);
            }
            self.kill_watcher();
        }
    }
}

/// `log` opened for a server's stdout and stderr (one file, two handles).
pub(crate) fn log_files(log: &Path) -> Result<(std::fs::File, std::fs::File), LaunchError> {
    let file = std::fs::File::create(log)
        .map_err(|e| LaunchError::Other(format!("cannot create {}: {e}", log.display())))?;
    let err = file
        .try_clone()
        .map_err(|e| LaunchError::Other(e.to_string()))?;
    Ok((file, err))
}

/// A `sh` that waits for its stdin (a pipe only we hold) to close, which
/// happens however stackbench ends, then kills the server's group. It sits
/// in a process group of its own so a terminal's Ctrl-C does not reach it.
fn spawn_watcher(pgid: i32) -> Option<std::process::Child> {
    use std::os::unix::process::CommandExt;
    std::process::Command::new("sh")
        .args([
            "-c",
            "cat >/dev/null; kill -KILL -\"$0\" 2>/dev/null",
            &pgid.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| tracing::warn!("no parent-death watcher for group {pgid}: {e}"))
        .ok()
}
