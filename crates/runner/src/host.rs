//! What the box is: CPU, memory, kernel and, through `nvidia-smi`, its GPUs
//! (name, driver, memory, power limit) and CUDA version. Every probe may
//! fail: a missing tool or field is noted, never fatal.

use std::process::Command;

use stackbench_core::run_file::{GpuInfo, HostInfo};

/// The `nvidia-smi` fields [`parse_gpu_csv`] reads, in this order.
pub const GPU_QUERY: &str = "name,driver_version,memory.total,power.limit";

/// The machine stackbench runs on.
pub fn capture() -> HostInfo {
    let mut host = HostInfo {
        hostname: hostname(),
        os: std::env::consts::OS.into(),
        arch: std::env::consts::ARCH.into(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        ..Default::default()
    };
    match std::fs::read_to_string("/proc/cpuinfo") {
        Ok(s) => host.cpu_model = cpu_model(&s),
        Err(e) => host.notes.push(format!("/proc/cpuinfo: {e}")),
    }
    match std::fs::read_to_string("/proc/meminfo") {
        Ok(s) => host.memory_bytes = mem_total_bytes(&s),
        Err(e) => host.notes.push(format!("/proc/meminfo: {e}")),
    }
    host.kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_string());
    let smi = nvidia_smi();
    match run(
        &smi,
        &[
            &format!("--query-gpu={GPU_QUERY}"),
            "--format=csv,noheader,nounits",
        ],
    ) {
        Ok(out) => {
            host.gpus = parse_gpu_csv(&out);
            if let Ok(banner) = run(&smi, &[]) {
                host.cuda_version = cuda_version(&banner);
            }
        }
        Err(e) => host.notes.push(format!("{smi}: {e}")),
    }
    host
}

/// The `nvidia-smi` to run: `$STACKBENCH_NVIDIA_SMI` or the one on PATH.
pub fn nvidia_smi() -> String {
    std::env::var(crate::power::NVIDIA_SMI_ENV).unwrap_or_else(|_| "nvidia-smi".into())
}

fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "not found (no NVIDIA GPU or driver)".to_string(),
            _ => e.to_string(),
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().next().unwrap_or("").trim();
        return Err(format!("exited with {}: {first}", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    // x86 says `model name`; Arm kernels often give only `CPU part` codes,
    // and some give `Hardware` or `Model`.
    ["model name", "Model", "Hardware"].iter().find_map(|key| {
        cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == *key && !v.trim().is_empty()).then(|| v.trim().to_string())
        })
    })
}

fn mem_total_bytes(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
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

/// Parses `nvidia-smi --query-gpu=`[`GPU_QUERY`]` --format=csv,noheader`
/// (with or without `nounits`), one GPU per line; a header line is skipped.
pub fn parse_gpu_csv(text: &str) -> Vec<GpuInfo> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("name"))
        .filter_map(|l| {
            let cols: Vec<&str> = l.split(',').collect();
            Some(GpuInfo {
                name: field(cols.first()?)?.to_string(),
                driver: cols.get(1).and_then(|c| field(c)).map(str::to_string),
                memory_mib: cols.get(2).and_then(|c| number(c)),
                power_limit_w: cols.get(3).and_then(|c| number(c)),
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
    fn proc_files() {
        let cpu = "processor\t: 0\nmodel name\t: AMD EPYC 9654 96-Core Processor\n";
        assert_eq!(
            cpu_model(cpu).as_deref(),
            Some("AMD EPYC 9654 96-Core Processor")
        );
        assert_eq!(
            mem_total_bytes("MemTotal:       24563524 kB\n"),
            Some(24563524 * 1024)
        );
        assert_eq!(cpu_model("CPU part\t: 0xd85\n"), None);
    }
}
