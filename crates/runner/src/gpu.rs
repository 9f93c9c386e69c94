//! GPU and memory readings, parsed in one place. Host info (`host`), power
//! sampling (`power`) and the suite's box hygiene (`stackbench-stacks`)
//! each run `nvidia-smi` or read `/proc/meminfo` for their own purpose;
//! what the text means is decided here once: `nvidia-smi` CSV fields
//! (`[N/A]`, `[Not Supported]` and units), its banner, the whole-query
//! parsers and `/proc/meminfo` lines. Every module that reads a GPU
//! depends on this one, and this one on none of them.

use std::time::Duration;

use stackbench_core::run_file::{GpuAtLaunch, GpuInfo};

/// Environment variable naming the `nvidia-smi` to run (default: PATH).
/// When set, NVML is not tried: the named program is the GPU.
pub const NVIDIA_SMI_ENV: &str = "STACKBENCH_NVIDIA_SMI";

/// The `nvidia-smi` to run: `$STACKBENCH_NVIDIA_SMI` or the one on PATH.
pub fn nvidia_smi() -> String {
    std::env::var(NVIDIA_SMI_ENV).unwrap_or_else(|_| "nvidia-smi".into())
}

/// Why an `nvidia-smi` query gave no answer to parse.
#[derive(Debug, thiserror::Error)]
pub enum SmiError {
    /// The program does not exist here.
    #[error("not found (no NVIDIA GPU or driver)")]
    NotFound,
    /// It could not be started for another reason.
    #[error("{0}")]
    Spawn(#[source] std::io::Error),
    /// It did not answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// It ran and failed.
    #[error("exited with {status}: {first_line}")]
    Failed {
        /// The exit status as shown.
        status: String,
        /// The first line it printed about why.
        first_line: String,
    },
}

impl SmiError {
    /// The error for a spawn that failed with `e`.
    pub fn spawn(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound => Self::NotFound,
            _ => Self::Spawn(e),
        }
    }
}

/// A field of `nvidia-smi --format=csv,nounits`: `[N/A]`, `[Not
/// Supported]`, `N/A` and empty mean "not reported".
pub fn field(s: &str) -> Option<&str> {
    let s = s.trim();
    let missing =
        s.is_empty() || s.eq_ignore_ascii_case("N/A") || (s.starts_with('[') && s.ends_with(']'));
    (!missing).then_some(s)
}

/// A number field of `nvidia-smi` CSV (with or without units); `None`
/// where [`field`] says the GPU does not report it.
pub fn number(s: &str) -> Option<f64> {
    // Without `nounits` values carry units (`81559 MiB`, `700.00 W`).
    field(s)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
        .filter(|x: &f64| x.is_finite())
}

/// A bitmask field (`0x0000000000000004`, or a decimal).
pub fn bitmask(s: &str) -> Option<u64> {
    let s = field(s)?;
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The cells of one CSV line, trimmed (`nvidia-smi` puts a space after
/// each comma and never quotes).
pub fn cells(line: &str) -> Vec<&str> {
    line.split(',').map(str::trim).collect()
}

/// The `nvidia-smi` fields [`parse_gpu_csv`] reads, in this order.
pub const GPU_QUERY: &str = "name,driver_version,memory.total,power.limit";

/// Parses `nvidia-smi --query-gpu=`[`GPU_QUERY`]` --format=csv,noheader`
/// (with or without `nounits`), one GPU per line; a header line is skipped.
pub fn parse_gpu_csv(text: &str) -> Vec<GpuInfo> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("name"))
        .filter_map(|l| {
            let cols = cells(l);
            Some(GpuInfo {
                name: field(cols.first()?)?.to_string(),
                driver: cols.get(1).and_then(|c| field(c)).map(str::to_string),
                memory_mib: cols.get(2).and_then(|c| number(c)),
                power_limit_w: cols.get(3).and_then(|c| number(c)),
            })
        })
        .collect()
}

/// The `nvidia-smi` fields [`parse_memory_csv`] reads, in this order: what
/// a launch records of each GPU.
pub const MEMORY_QUERY: &str = "index,memory.used,temperature.gpu";

/// Parses `nvidia-smi --query-gpu=`[`MEMORY_QUERY`]`
/// --format=csv,noheader,nounits`, one GPU per line; `[N/A]` fields (GB10's
/// unified memory) are absent, a line without a GPU index is skipped.
pub fn parse_memory_csv(text: &str) -> Vec<GpuAtLaunch> {
    text.lines()
        .filter_map(|l| {
            let cols = cells(l);
            Some(GpuAtLaunch {
                index: cols.first()?.parse().ok()?,
                memory_used_mib: cols.get(1).and_then(|c| number(c)),
                temperature_c: cols.get(2).and_then(|c| number(c)),
            })
        })
        .collect()
}

/// The `CUDA Version: 13.0` of `nvidia-smi`'s banner.
pub fn cuda_version(banner: &str) -> Option<String> {
    let rest = &banner[banner.find("CUDA Version")? + "CUDA Version".len()..];
    let v: String = rest
        .trim_start_matches([':', ' '])
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    (!v.is_empty()).then_some(v)
}

/// The `key` line of a `/proc/meminfo` text (`MemAvailable:  20971520
/// kB`), KiB.
pub fn meminfo_kib(meminfo: &str, key: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// `MemTotal` of a `/proc/meminfo` text, bytes.
pub fn mem_total_bytes(meminfo: &str) -> Option<u64> {
    meminfo_kib(meminfo, "MemTotal")?.checked_mul(1024)
}

/// `MemAvailable` of a `/proc/meminfo` text, GiB.
pub fn mem_available_gib(meminfo: &str) -> Option<f64> {
    let kib = meminfo_kib(meminfo, "MemAvailable")?;
    Some(kib as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/nvidia-smi/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn gb10_unified_memory_reports_no_dedicated_memory() {
        let gpus = parse_gpu_csv(&fixture("gb10-query.csv"));
        assert_eq!(gpus.len(), 1);
        assert_eq!(gpus[0].name, "NVIDIA GB10");
        assert_eq!(gpus[0].driver.as_deref(), Some("580.142"));
        assert_eq!(gpus[0].memory_mib, None, "[N/A] is absent, not zero");
        assert_eq!(gpus[0].power_limit_w, None);
        assert_eq!(
            cuda_version(&fixture("gb10-banner.txt")).as_deref(),
            Some("13.0")
        );
    }

    #[test]
    fn h100_with_units_and_a_header() {
        let gpus = parse_gpu_csv(&fixture("h100-query-units.csv"));
        assert_eq!(gpus.len(), 2);
        assert_eq!(gpus[1].memory_mib, Some(81559.0));
        assert_eq!(gpus[1].power_limit_w, Some(700.0));
    }

    #[test]
    fn memory_query_reads_used_memory_and_temperature_per_gpu() {
        // A discrete GPU, then GB10's unified memory: `[N/A]`; a header
        // line (no index) is skipped.
        let gpus = parse_memory_csv(
            "index, memory.used [MiB], temperature.gpu\n0, 1234, 41\n1, [N/A], 38\n",
        );
        assert_eq!(gpus.len(), 2);
        assert_eq!(gpus[0].memory_used_mib, Some(1234.0));
        assert_eq!(gpus[0].temperature_c, Some(41.0));
        assert_eq!(gpus[1].index, 1);
        assert_eq!(gpus[1].memory_used_mib, None);
        assert_eq!(gpus[1].temperature_c, Some(38.0));
    }

    #[test]
    fn meminfo_lines_by_key() {
        let meminfo = "MemTotal:       24576000 kB\nMemFree:         1000000 kB\nMemAvailable:   20971520 kB\n";
        assert_eq!(mem_total_bytes(meminfo), Some(24576000 * 1024));
        assert_eq!(mem_available_gib(meminfo), Some(20.0));
        assert_eq!(mem_available_gib("MemTotal: 1 kB\n"), None);
        assert_eq!(meminfo_kib("MemTotalX: 5 kB\n", "MemTotal"), None);
    }

    #[test]
    fn fields_numbers_and_bitmasks() {
        assert_eq!(field(" [Not Supported] "), None);
        assert_eq!(number("81559 MiB"), Some(81559.0));
        assert_eq!(number("NaN"), None);
        assert_eq!(bitmask("0x0000000000000004"), Some(4));
        assert_eq!(bitmask("[N/A]"), None);
        assert_eq!(bitmask("5"), Some(5));
    }

    #[test]
    fn a_missing_program_is_not_found() {
        let e = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert!(matches!(SmiError::spawn(e), SmiError::NotFound));
        let e = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert!(matches!(SmiError::spawn(e), SmiError::Spawn(_)));
    }
}
