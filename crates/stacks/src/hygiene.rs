//! Box hygiene between the stacks of a suite (`[box]`): each stack should
//! meet the box as the first one did. On a unified-memory box (GB10) the
//! page cache the previous stack's weights left counts as used memory and
//! fails vLLM's start-up memory check (vllm-project/vllm#48140), and a
//! server's memory can take seconds to come back after its container goes.
//! Before each launch: an optional cooldown, a page-cache drop (root only;
//! said when not permitted), a wait until available memory (and GPU memory
//! where `nvidia-smi` reports it) is back near the level before the first
//! stack, and a user hook. What the launch found goes into `run.json`.

use std::time::{Duration, Instant};

use stackbench_core::run_file::{BoxAtLaunch, GpuAtLaunch};
use stackbench_runner::gpu;

use crate::config::BoxFacts;
use crate::expand::expand;
use crate::secret::redact_args;

/// How often memory is read while waiting for it to come back.
const POLL: Duration = Duration::from_millis(500);
/// How far above the first level GPU memory in use may stay, MiB.
const GPU_TOLERANCE_MIB: f64 = 1024.0;

/// Why a stack must not launch: the box did not get ready for it.
#[derive(Debug, thiserror::Error)]
pub enum HygieneError {
    /// Memory stayed short of its level before the first stack.
    #[error("memory did not come back within {timeout}: {now_gib:.1} GiB available, {base_gib:.1} GiB before the first stack (tolerance {tolerance_gib:.1} GiB{dropped}); something still holds memory (a server that did not exit? `free -g`, `nvidia-smi`)", dropped = if *page_cache_dropped { ", page cache dropped" } else { "" })]
    MemoryNotBack {
        /// `settle-timeout` as written.
        timeout: String,
        /// `MemAvailable` at the timeout, GiB.
        now_gib: f64,
        /// `MemAvailable` before the first stack, GiB.
        base_gib: f64,
        /// `memory-tolerance-gib`.
        tolerance_gib: f64,
        /// Whether the page cache was dropped before the wait.
        page_cache_dropped: bool,
    },
    /// A GPU stayed hotter than `max-start-temp-c`.
    #[error("the GPUs did not cool to {max_c} °C within {timeout} (hottest {now_c} °C); a stack started hot throttles sooner: lengthen settle-timeout or cooldown, or raise max-start-temp-c")]
    TooHot {
        /// `max-start-temp-c`.
        max_c: f64,
        /// The hottest GPU at the timeout, °C.
        now_c: f64,
        /// `settle-timeout` as written.
        timeout: String,
    },
    /// A `${VAR}` of the hook could not be expanded.
    #[error("before-launch: {0}")]
    HookExpand(String),
    /// The hook could not be started.
    #[error("before-launch `{shown}` could not start: {source}")]
    HookSpawn {
        /// The hook as shown (secrets hidden).
        shown: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The hook ran and failed.
    #[error("before-launch `{shown}` failed ({status}): {stderr}")]
    HookFailed {
        /// The hook as shown (secrets hidden).
        shown: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// Its standard error, trimmed and with secrets hidden.
        stderr: String,
    },
}

/// The box's memory and GPUs at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// `MemAvailable`, GiB.
    pub mem_available_gib: f64,
    /// Each GPU `nvidia-smi` lists.
    pub gpus: Vec<GpuAtLaunch>,
}

/// Reads the box now; no GPU (or no `nvidia-smi`) is no GPUs.
pub async fn snapshot() -> Snapshot {
    let smi = tokio::process::Command::new(gpu::nvidia_smi())
        .arg(format!("--query-gpu={}", gpu::MEMORY_QUERY))
        .arg("--format=csv,noheader,nounits")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .await
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    Snapshot {
        mem_available_gib: crate::memory_need::mem_available_now().unwrap_or(0.0),
        gpus: gpu::parse_memory_csv(&smi),
    }
}

/// `sync; echo 3 > /proc/sys/vm/drop_caches`: `dropped`, or why not.
/// Both block (`sync` until every dirty page is written, the drop until
/// the kernel has freed the cache: seconds with a model's weights in it),
/// so they run on tokio's blocking pool, not on the runtime's threads,
/// where they would stall every task of the suite meanwhile.
pub async fn drop_page_cache() -> String {
    tokio::task::spawn_blocking(drop_page_cache_now)
        .await
        .unwrap_or_else(|e| format!("not dropped: {e}"))
}

/// [`drop_page_cache`] on the calling thread, which it blocks.
fn drop_page_cache_now() -> String {
    // std has no sync(2); the `sync` command flushes dirty pages so that
    // dropping them frees them.
    let _ = std::process::Command::new("sync").status();
    match std::fs::write("/proc/sys/vm/drop_caches", "3\n") {
        Ok(()) => "dropped".into(),
        Err(e) => format!("not dropped: {e} (run the suite as root to drop it)"),
    }
}

/// Whether `now` is back near `base`: memory within `tolerance_gib`, and
/// each GPU's memory in use within [`GPU_TOLERANCE_MIB`] of its first level.
pub fn settled(now: &Snapshot, base: &Snapshot, tolerance_gib: f64) -> bool {
    let memory = now.mem_available_gib + tolerance_gib >= base.mem_available_gib;
    let gpus = base.gpus.iter().all(|b| {
        let n = now.gpus.iter().find(|g| g.index == b.index);
        match (b.memory_used_mib, n.and_then(|g| g.memory_used_mib)) {
            (Some(b), Some(n)) => n <= b + GPU_TOLERANCE_MIB,
            _ => true,
        }
    });
    memory && gpus
}

/// The suite's baseline: the box before the first stack (after a
/// page-cache drop when the suite drops it, so that the level is one the
/// later drops can return to).
pub async fn baseline(facts: &BoxFacts) -> Option<Snapshot> {
    if !facts.hygiene() {
        return None;
    }
    if facts.drop_page_cache {
        drop_page_cache().await;
    }
    Some(snapshot().await)
}

/// Runs the hygiene steps before launching `stack` (`first`: the suite's
/// first launch, which needs no cooldown). `progress` says what it waits
/// for. An error is why the stack must not launch.
pub async fn before_launch(
    facts: &BoxFacts,
    base: &Snapshot,
    stack: &str,
    first: bool,
    progress: &dyn Fn(&str),
) -> Result<BoxAtLaunch, HygieneError> {
    let mut state = BoxAtLaunch {
        baseline_mem_available_gib: Some(base.mem_available_gib),
        ..Default::default()
    };
    if let Some(c) = facts.cooldown.as_ref().filter(|_| !first) {
        progress(&format!("cooling down for {}", c.as_str()));
        tokio::time::sleep(c.get()).await;
        state.cooldown_s = Some(c.get().as_secs_f64());
    }
    if !facts.before_launch.is_empty() {
        state.hook = Some(run_hook(&facts.before_launch, stack).await?);
    }
    if facts.drop_page_cache {
        let dropped = drop_page_cache().await;
        if dropped != "dropped" {
            progress(&format!("page cache {dropped}"));
        }
        state.page_cache = Some(dropped);
    }
    let now = if facts.settle_memory {
        let started = Instant::now();
        let now = wait_for_memory(facts, base, progress).await?;
        state.waited_s = started.elapsed().as_secs_f64();
        now
    } else {
        snapshot().await
    };
    let now = match facts.max_start_temp_c {
        Some(max_c) => {
            let (wait, cool) = wait_for_heat(facts, max_c, now, progress).await?;
            state.heat_wait = Some(wait);
            cool
        }
        None => now,
    };
    state.mem_available_gib = now.mem_available_gib;
    state.gpus = now.gpus;
    Ok(state)
}

/// The hottest GPU that reports a temperature, °C.
pub fn hottest(s: &Snapshot) -> Option<f64> {
    s.gpus
        .iter()
        .filter_map(|g| g.temperature_c)
        .fold(None, |m, t| Some(m.map_or(t, |m: f64| m.max(t))))
}

/// Polls until every GPU that reports a temperature is at or below
/// `max_c`, or fails after `settle-timeout`; a box whose GPUs report none
/// is not waited for (the record says so: no `hottest_at_start_c`).
async fn wait_for_heat(
    facts: &BoxFacts,
    max_c: f64,
    mut now: Snapshot,
    progress: &dyn Fn(&str),
) -> Result<(stackbench_core::run_file::HeatWait, Snapshot), HygieneError> {
    let started = Instant::now();
    let deadline = started + facts.settle_timeout.get();
    let first = hottest(&now);
    if first.is_some_and(|t| t > max_c) {
        progress(&format!(
            "waiting for the GPUs to cool to {max_c} °C (hottest {:.0} °C)",
            first.unwrap_or(0.0)
        ));
    }
    while let Some(t) = hottest(&now).filter(|t| *t > max_c) {
        if Instant::now() >= deadline {
            return Err(HygieneError::TooHot {
                max_c,
                now_c: t,
                timeout: facts.settle_timeout.as_str().to_string(),
            });
        }
        tokio::time::sleep(POLL).await;
        now = snapshot().await;
    }
    let wait = stackbench_core::run_file::HeatWait {
        max_c,
        waited_s: started.elapsed().as_secs_f64(),
        hottest_at_start_c: first,
    };
    Ok((wait, now))
}

/// Polls until [`settled`], or fails after `settle-timeout` saying how far
/// memory is from its first level.
async fn wait_for_memory(
    facts: &BoxFacts,
    base: &Snapshot,
    progress: &dyn Fn(&str),
) -> Result<Snapshot, HygieneError> {
    let deadline = Instant::now() + facts.settle_timeout.get();
    let mut said = false;
    loop {
        let now = snapshot().await;
        if settled(&now, base, facts.memory_tolerance_gib) {
            return Ok(now);
        }
        if Instant::now() >= deadline {
            return Err(HygieneError::MemoryNotBack {
                timeout: facts.settle_timeout.as_str().to_string(),
                now_gib: now.mem_available_gib,
                base_gib: base.mem_available_gib,
                tolerance_gib: facts.memory_tolerance_gib,
                page_cache_dropped: facts.drop_page_cache,
            });
        }
        if !said {
            progress(&format!(
                "waiting for memory to come back: {:.1} of {:.1} GiB available",
                now.mem_available_gib, base.mem_available_gib
            ));
            said = true;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Runs the `before-launch` hook with `STACKBENCH_STACK` set; returns the
/// command as shown (secrets hidden), or why it failed.
async fn run_hook(cmd: &[String], stack: &str) -> Result<String, HygieneError> {
    let args: Vec<String> = cmd
        .iter()
        .map(|a| expand(a).map_err(|e| HygieneError::HookExpand(e.to_string())))
        .collect::<Result<_, _>>()?;
    let shown = redact_args(&args).join(" ");
    let out = tokio::process::Command::new(&args[0])
        .args(&args[1..])
        .env("STACKBENCH_STACK", stack)
        .stdin(std::process::Stdio::null())
        .output()
        .await;
    let out = match out {
        Ok(out) => out,
        Err(source) => return Err(HygieneError::HookSpawn { shown, source }),
    };
    if out.status.success() {
        return Ok(format!("{shown} (ok)"));
    }
    Err(HygieneError::HookFailed {
        shown,
        status: out.status,
        stderr: crate::secret::redact(String::from_utf8_lossy(&out.stderr).trim()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settled_needs_memory_and_gpu_memory_back() {
        let gpu = |used| GpuAtLaunch {
            index: 0,
            memory_used_mib: Some(used),
            temperature_c: None,
        };
        let base = Snapshot {
            mem_available_gib: 100.0,
            gpus: vec![gpu(500.0)],
        };
        let at = |mem, used| Snapshot {
            mem_available_gib: mem,
            gpus: vec![gpu(used)],
        };
        assert!(settled(&at(98.5, 600.0), &base, 2.0));
        assert!(!settled(&at(97.0, 600.0), &base, 2.0), "3 GiB short");
        assert!(
            !settled(&at(100.0, 30_000.0), &base, 2.0),
            "a GPU still holds a model"
        );
    }

    #[tokio::test]
    async fn a_failing_hook_stops_the_launch_and_names_itself() {
        let facts = BoxFacts {
            before_launch: vec![
                "sh".into(),
                "-c".into(),
                "echo \"$STACKBENCH_STACK\" >&2; exit 3".into(),
            ],
            ..Default::default()
        };
        let base = snapshot().await;
        let err = before_launch(&facts, &base, "vllm-fp8", false, &|_| {})
            .await
            .expect_err("the hook fails");
        assert!(matches!(err, HygieneError::HookFailed { .. }), "{err}");
        let err = err.to_string();
        assert!(
            err.contains("exit status: 3") && err.contains("vllm-fp8"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn memory_that_never_comes_back_fails_after_the_timeout() {
        let facts = BoxFacts {
            settle_memory: true,
            settle_timeout: "1s".parse().expect("a duration"),
            memory_tolerance_gib: 0.0,
            ..Default::default()
        };
        let mut base = snapshot().await;
        base.mem_available_gib += 1e6; // a level this box never reaches
        let err = before_launch(&facts, &base, "s", true, &|_| {})
            .await
            .expect_err("memory never settles");
        assert!(matches!(err, HygieneError::MemoryNotBack { .. }), "{err}");
        let err = err.to_string();
        assert!(err.contains("did not come back within 1s"), "{err}");
    }
}
