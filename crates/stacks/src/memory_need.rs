//! Before a launch: the memory the stack says its server needs
//! (`memory-need-gib`) is available. vLLM on unified memory (GB10) refuses
//! to start when `MemAvailable` is below `--gpu-memory-utilization` × the
//! GPU's total, after minutes of loading; the usual culprit is another
//! server still holding a model (a native Ollama keeps one for
//! `OLLAMA_KEEP_ALIVE`, 5 minutes by default). Checking first fails the
//! stack at once, naming both numbers and the processes holding the most
//! memory.

use stackbench_core::stack::StackConfig;

/// Processes named in the message.
const NAMED: usize = 3;

/// The box has less memory available than the stack needs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "needs {need_gib:.1} GiB of available memory to launch (memory-need-gib), \
     but the box has {available_gib:.1} GiB available (MemAvailable); \
     the processes holding the most: {holders}. Stop what should not be \
     running (a server still holding a model: a native Ollama keeps one for \
     OLLAMA_KEEP_ALIVE), or lower the stack's need with its memory setting"
)]
pub struct MemoryShort {
    /// What the stack needs, GiB.
    pub need_gib: f64,
    /// What the box has, GiB.
    pub available_gib: f64,
    /// The largest processes, `name (pid N) X GiB`, joined.
    pub holders: String,
}

/// The box's `MemAvailable` now, GiB (`None` when `/proc/meminfo` has
/// none): the one reading the launch check, the preflight and the
/// hygiene snapshot share.
pub(crate) fn mem_available_now() -> Option<f64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    stackbench_runner::gpu::mem_available_gib(&meminfo)
}

/// Checks `stack.memory_need_gib` against `available_gib` (the box's
/// `MemAvailable` now); no need given passes.
pub fn check_memory_need(stack: &StackConfig, available_gib: f64) -> Result<(), MemoryShort> {
    match stack.memory_need_gib {
        Some(need_gib) if available_gib < need_gib => Err(MemoryShort {
            need_gib,
            available_gib,
            holders: largest_processes(),
        }),
        _ => Ok(()),
    }
}

/// The [`NAMED`] processes with the largest resident memory, from
/// `/proc/*/status` (`none readable` when none could be read).
fn largest_processes() -> String {
    let mut procs: Vec<(u64, String)> = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
                    let status = std::fs::read_to_string(e.path().join("status")).ok()?;
                    resident(&status).map(|(name, kib)| (kib, format!("{name} (pid {pid})")))
                })
                .collect()
        })
        .unwrap_or_default();
    procs.sort_by_key(|p| std::cmp::Reverse(p.0));
    let named: Vec<String> = procs
        .iter()
        .take(NAMED)
        .map(|(kib, who)| format!("{who} {}", resident_size(*kib)))
        .collect();
    if named.is_empty() {
        "none readable".into()
    } else {
        named.join(", ")
    }
}

/// `kib` as GiB with one decimal, or MiB below a GiB.
fn resident_size(kib: u64) -> String {
    if kib >= 1024 * 1024 {
        format!("{:.1} GiB", kib as f64 / (1024.0 * 1024.0))
    } else {
        format!("{} MiB", kib / 1024)
    }
}

/// The `Name` and `VmRSS` (KiB) of a `/proc/PID/status` text.
fn resident(status: &str) -> Option<(String, u64)> {
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
    };
    let kib = field("VmRSS:")?.split_whitespace().next()?.parse().ok()?;
    Some((field("Name:")?, kib))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn stack(need: Option<f64>) -> StackConfig {
        let mut s: StackConfig = toml::from_str("name = \"s\"\nbase-url = \"http://x\"\n").unwrap();
        s.memory_need_gib = need;
        s
    }

    #[test]
    fn a_need_above_what_is_available_names_both_and_the_holders() {
        let e = check_memory_need(&stack(Some(61.0)), 31.25).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("needs 61.0 GiB"), "{text}");
        assert!(text.contains("has 31.2 GiB available"), "{text}");
        // This test process holds memory, so some process is named.
        assert!(text.contains("(pid "), "{text}");
        check_memory_need(&stack(Some(61.0)), 61.0).unwrap();
        check_memory_need(&stack(None), 0.0).unwrap();
    }

    #[test]
    fn resident_memory_is_read_from_a_status_text() {
        let status = "Name:\tollama\nState:\tS (sleeping)\nVmRSS:\t 25165824 kB\n";
        assert_eq!(resident(status), Some(("ollama".into(), 25_165_824)));
        assert_eq!(resident("Name:\tkthreadd\n"), None);
        assert_eq!(resident_size(25_165_824), "24.0 GiB");
        assert_eq!(resident_size(8804), "8 MiB");
    }
}
