//! The machine's turn a real test holds while it runs ([`Turn`]), timed:
//! every later issue adds real-server tests to a test command with a time
//! limit, so the command keeps each test's wall time where it can print
//! the slowest (scripts/test.sh does, after the tests).

use std::io::Write;
use std::time::Instant;

use tokio::sync::MutexGuard;

/// The variable naming the file a finished real test appends its line to:
/// `SECONDS<TAB>ok|failed<TAB>NAME`. Unset: nothing is written.
pub const TIMES_ENV: &str = "STACKBENCH_TEST_TIMES";

/// [`super::SERIAL`] held by the test `name` since `start`.
pub struct Turn {
    _guard: MutexGuard<'static, ()>,
    name: &'static str,
    start: Instant,
}

impl Turn {
    /// The turn of test `name`, timed from now (after the wait for it).
    pub fn new(guard: MutexGuard<'static, ()>, name: &'static str) -> Turn {
        Turn {
            _guard: guard,
            name,
            start: Instant::now(),
        }
    }
}

impl Drop for Turn {
    // Runs before the guard is released, on a failure's unwind too.
    fn drop(&mut self) {
        let Some(path) = std::env::var_os(TIMES_ENV) else {
            return;
        };
        let status = if std::thread::panicking() {
            "failed"
        } else {
            "ok"
        };
        let line = format!(
            "{:.1}\t{status}\t{}\n",
            self.start.elapsed().as_secs_f64(),
            self.name
        );
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path);
        // A lost timing line must not fail the test it times.
        if let Ok(mut f) = file {
            let _ = f.write_all(line.as_bytes());
        }
    }
}
