//! The progress bar on stderr: requests done and live tok/s. Hidden with
//! `--quiet` or when stderr is not a terminal.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use stackbench_engine::LiveCounters;

/// A running progress display; stops when dropped or finished.
pub struct Progress {
    bar: ProgressBar,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Starts a display of `live`; `total` requests when known.
    pub fn start(live: Arc<LiveCounters>, total: Option<u64>, label: &str, quiet: bool) -> Self {
        let visible = !quiet && std::io::stderr().is_terminal();
        let bar = match total {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        bar.set_draw_target(if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let template = if total.is_some() {
            "{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} requests {msg}"
        } else {
            "{prefix} [{elapsed_precise}] {spinner} {pos} requests {msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_prefix(label.to_string());
        let task = visible.then(|| {
            let bar = bar.clone();
            tokio::spawn(async move {
                let mut last = (Instant::now(), live.snapshot().2);
                let mut rate = 0.0;
                loop {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    let (ok, failed, tokens) = live.snapshot();
                    let dt = last.0.elapsed().as_secs_f64();
                    if dt >= 1.0 {
                        rate = (tokens - last.1) as f64 / dt;
                        last = (Instant::now(), tokens);
                    }
                    bar.set_position(ok + failed);
                    bar.set_message(format!("| {failed} failed | {rate:.0} tok/s"));
                }
            })
        });
        Self { bar, task }
    }

    /// Clears the bar.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}
