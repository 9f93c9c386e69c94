//! Real servers started by the tests: a process tree in its own process
//! group, killed whole when dropped — and also when the test process dies
//! without dropping it (a panic in another thread, SIGKILL, or a server
//! kept in a `static` for the whole test binary, which is never dropped).
//!
//! The second guarantee comes from a watcher: a tiny `sh` whose stdin is a
//! pipe held only by this process. When this process exits, however it
//! exits, the kernel closes the pipe, the watcher reads end-of-file and
//! kills the server's process group. vLLM needs it: its API server forks an
//! engine-core process that a plain `kill` of the parent would orphan.

use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};

/// A free TCP port on loopback (bound and released; servers get it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// A server process group; see the module comment.
pub struct ServerProc {
    child: Child,
    watcher: Option<(Child, ChildStdin)>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl ServerProc {
    /// Spawns `cmd` (which must make the server listen on `port`) as the
    /// leader of a new process group. Does not wait for readiness.
    pub fn spawn(mut cmd: Command, port: u16) -> Self {
        let child = cmd
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {cmd:?}: {e}"));
        let pgid = child.id();
        // `-PGID` straight after the signal: dash, Debian's sh, takes no
        // `--` in kill (and then kills nothing).
        let mut watcher = Command::new("sh")
            .args([
                "-c",
                "cat >/dev/null; kill -KILL -\"$0\" 2>/dev/null",
                &pgid.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh starts");
        let stdin = watcher.stdin.take().expect("piped stdin");
        Self {
            child,
            watcher: Some((watcher, stdin)),
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The group leader's process id (also the group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the whole process group with SIGKILL and reaps the leader.
    pub fn kill(&mut self) {
        // procps' kill needs `--` before a negative PID (dash's builtin,
        // in the watcher above, refuses it).
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
        if let Some((mut w, stdin)) = self.watcher.take() {
            drop(stdin);
            let _ = w.wait();
        }
    }

    /// Whether the group leader is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        self.kill();
    }
}
