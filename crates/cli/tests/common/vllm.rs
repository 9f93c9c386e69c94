//! The real vLLM for the tests: the CPU build installed by
//! `scripts/install-vllm.sh`, started by `scripts/start-vllm.sh` (the one
//! start command users run too), serving the SmolLM2-135M-shaped model with
//! dummy weights as `smol`.
//!
//! A start costs ~40 s and ~5 GiB, so a test binary runs one server at a
//! time and its tests take turns on it ([`Shared`]): kept while the next
//! test wants the same arguments, replaced when it wants others; a test
//! that must kill it takes it, and the next test starts a fresh one.
//!
//! Under the test command (`scripts/test.sh` exports VLLM_PYTHON,
//! VLLM_MODEL and STACKBENCH_REQUIRE_VLLM=1) a missing vLLM fails the
//! tests; a plain `cargo test` looks in the default cache and, when
//! nothing is installed there, the tests show as ignored (tools.rs).

use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};

use std::time::{Duration, Instant};

use stackbench_backends::{normalize_base_url, wait_ready, ControlClient, ReadyWait};

use super::server_proc::{free_port, ServerProc};

/// Starts vLLM with `args` added to the start script's, and waits until
/// `/health` answers 200. Its output goes to a log file whose tail is shown
/// if it never gets ready.
pub fn start(args: &[&str]) -> ServerProc {
    let paths = require_tool!(vllm);
    let (python, model) = (&paths[0], &paths[1]);
    let port = free_port();
    let log_path = std::env::temp_dir().join(format!("stackbench-vllm-{port}.log"));
    let log = std::fs::File::create(&log_path).expect("vLLM log file");
    let mut cmd = Command::new("bash");
    cmd.arg(super::repo().join("scripts/start-vllm.sh"))
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
    let control = ControlClient::new(&root, None).expect("a client");
    let deadline = Instant::now() + Duration::from_secs(420);
    while Instant::now() < deadline && server.running() {
        if rt.block_on(wait_ready(&control, slice, &|_| {})).is_ok() {
            return server;
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

/// Arguments a test wants the server started with.
type Args = &'static [&'static str];

/// The test binary's one vLLM and the arguments it was started with.
static CURRENT: Mutex<Option<(Args, ServerProc)>> = Mutex::new(None);

/// A vLLM started on first use with fixed arguments, shared by the tests
/// that name it.
pub struct Shared {
    args: Args,
}

/// Exclusive use of the server itself (the machine's turn,
/// `common::SERIAL`, is the test's: `real_test!` takes it first).
pub struct Held {
    slot: MutexGuard<'static, Option<(Args, ServerProc)>>,
}

impl Held {
    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.slot.as_ref().expect("started by lock").1.url
    }

    /// Takes the server (to kill it); the next test starts a fresh one.
    pub fn take(&mut self) -> ServerProc {
        self.slot.take().expect("started by lock").1
    }
}

impl Shared {
    /// A server that will be started with `args`.
    pub const fn new(args: Args) -> Self {
        Self { args }
    }

    /// Exclusive use of the server, started (or restarted, if a test
    /// killed it or another test's arguments differ) as needed.
    pub fn lock(&self) -> Held {
        // A test that panicked while holding the lock leaves the server
        // usable; the check below sees whether it still runs.
        let mut slot = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
        let reusable = slot
            .as_mut()
            .is_some_and(|(args, server)| *args == self.args && server.running());
        if !reusable {
            if let Some((_, mut old)) = slot.take() {
                old.kill();
            }
            *slot = Some((self.args, start(self.args)));
        }
        Held { slot }
    }

    /// Runs `test` with the server's URL while holding it.
    pub fn with_url(&self, test: impl FnOnce(&str)) {
        let held = self.lock();
        test(held.url());
    }
}
