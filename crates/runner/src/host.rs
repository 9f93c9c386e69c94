//! What the box is: CPU, memory, kernel and, through `nvidia-smi`, its GPUs
//! (name, driver, memory, power limit) and CUDA version. Every probe may
//! fail: a missing tool or field is noted, never fatal. What the outputs
//! mean is read by [`crate::gpu`].

use std::process::Command;

use stackbench_core::run_file::HostInfo;

use crate::gpu::{cuda_version, mem_total_bytes, nvidia_smi, parse_gpu_csv, SmiError, GPU_QUERY};

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

/// Runs `program` with `args`; its stdout, or why it gave none.
fn run(program: &str, args: &[&str]) -> Result<String, SmiError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(SmiError::spawn)?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(SmiError::Failed {
            status: out.status.to_string(),
            first_line: err.lines().next().unwrap_or("").trim().into(),
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files() {
        let cpu = "processor\t: 0\nmodel name\t: AMD EPYC 9654 96-Core Processor\n";
        assert_eq!(
            cpu_model(cpu).as_deref(),
            Some("AMD EPYC 9654 96-Core Processor")
        );
        assert_eq!(cpu_model("CPU part\t: 0xd85\n"), None);
    }
}
