//! GPU power during the measured phase, sampled through `nvidia-smi
//! --query-gpu=index,power.draw -lms 250`, integrated into joules and
//! reported as output tokens per joule. Without `nvidia-smi` or with a GPU
//! that reports no power, the run records why and goes on.

use stackbench_core::sync::lock;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stackbench_core::run_file::EnergyInfo;
use tokio::io::AsyncBufReadExt;

/// Environment variable naming the `nvidia-smi` to run (default: PATH).
pub const NVIDIA_SMI_ENV: &str = "STACKBENCH_NVIDIA_SMI";

/// Sampling period: short enough for second-long scenarios, long enough
/// that nvidia-smi costs the box nothing measurable.
const PERIOD: Duration = Duration::from_millis(250);

/// Power samples: (when, watts summed over GPUs).
type Samples = Arc<Mutex<Vec<(Instant, f64)>>>;

/// Samples GPU power between [`PowerSampler::start`] and
/// [`PowerSampler::stop`].
pub struct PowerSampler {
    program: String,
    samples: Samples,
    child: Option<tokio::process::Child>,
    reader: Option<tokio::task::JoinHandle<Option<String>>>,
    note: Option<String>,
}

impl Default for PowerSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl PowerSampler {
    /// A sampler of `$STACKBENCH_NVIDIA_SMI` or the `nvidia-smi` on PATH.
    pub fn new() -> Self {
        Self::with_program(crate::host::nvidia_smi())
    }

    /// A sampler running `program` as `nvidia-smi`.
    pub fn with_program(program: impl Into<String>) -> Self {
        Self {
            program: program.into(),
            samples: Arc::new(Mutex::new(Vec::new())),
            child: None,
            reader: None,
            note: None,
        }
    }

    /// Starts `nvidia-smi` in loop mode.
    pub fn start(&mut self) {
        let smi = self.program.clone();
        let spawned = tokio::process::Command::new(&smi)
            .args([
                "--query-gpu=index,power.draw",
                "--format=csv,noheader,nounits",
                &format!("-lms={}", PERIOD.as_millis()),
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.note = Some(format!("{smi}: not found (no NVIDIA GPU or driver)"));
                return;
            }
            Err(e) => {
                self.note = Some(format!("{smi}: {e}"));
                return;
            }
        };
        let Some(stdout) = child.stdout.take() else {
            self.note = Some(format!("{smi}: no output"));
            return;
        };
        let samples = self.samples.clone();
        self.reader = Some(tokio::spawn(read_samples(stdout, samples)));
        self.child = Some(child);
    }

    /// Stops sampling.
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill();
            let _ = c.wait().await;
        }
        if let Some(r) = self.reader.take() {
            if let Ok(Some(note)) = r.await {
                self.note.get_or_insert(note);
            }
        }
    }

    /// Energy over the samples and `output_tokens` per joule.
    pub fn finish(self, output_tokens: u64) -> EnergyInfo {
        let samples = lock(&self.samples).clone();
        energy(&samples, output_tokens, self.note)
    }
}

/// Reads `index, power` lines; a line with index 0 starts a new sample.
/// Returns a note when no line carried a power figure.
async fn read_samples(stdout: tokio::process::ChildStdout, samples: Samples) -> Option<String> {
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut current: Option<(Instant, f64)> = None;
    let mut unreported = 0u64;
    let push = |s: (Instant, f64)| {
        lock(&samples).push(s);
    };
    while let Ok(Some(line)) = lines.next_line().await {
        let Some((index, watts)) = line.split_once(',') else {
            continue;
        };
        let Ok(watts) = watts.trim().parse::<f64>() else {
            unreported += 1; // `[N/A]`: this GPU reports no power
            continue;
        };
        if index.trim() == "0" {
            if let Some(s) = current.take() {
                push(s);
            }
            current = Some((Instant::now(), watts));
        } else if let Some((_, sum)) = current.as_mut() {
            *sum += watts;
        }
    }
    if let Some(s) = current {
        push(s);
    }
    let empty = lock(&samples).is_empty();
    (empty && unreported > 0).then(|| "the GPU reports no power draw ([N/A])".to_string())
}

/// Trapezoidal energy over `samples`.
fn energy(samples: &[(Instant, f64)], output_tokens: u64, note: Option<String>) -> EnergyInfo {
    let n = samples.len() as u64;
    if samples.len() < 2 {
        return EnergyInfo {
            available: false,
            note: note.or_else(|| Some("fewer than two power samples (phase too short)".into())),
            samples: n,
            ..Default::default()
        };
    }
    let joules: f64 = samples
        .windows(2)
        .map(|w| (w[1].0 - w[0].0).as_secs_f64() * (w[0].1 + w[1].1) / 2.0)
        .sum();
    let span = (samples[samples.len() - 1].0 - samples[0].0).as_secs_f64();
    EnergyInfo {
        available: true,
        note,
        samples: n,
        mean_power_w: (span > 0.0).then(|| joules / span),
        energy_j: Some(joules),
        tokens_per_joule: (joules > 0.0).then(|| output_tokens as f64 / joules),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_power_integrates_to_power_times_time() {
        let t0 = Instant::now();
        let s: Vec<_> = (0..5)
            .map(|i| (t0 + Duration::from_millis(250 * i), 100.0))
            .collect();
        let e = energy(&s, 500, None);
        assert!(e.available);
        assert!((e.energy_j.expect("energy") - 100.0).abs() < 1e-9);
        assert!((e.tokens_per_joule.expect("rate") - 5.0).abs() < 1e-9);
        assert!((e.mean_power_w.expect("mean") - 100.0).abs() < 1e-9);
    }

    /// The sampler against a stand-in `nvidia-smi` that prints two GPUs'
    /// power every 100 ms: lines are grouped per sample, summed over GPUs
    /// and integrated.
    #[tokio::test]
    async fn samples_a_looping_nvidia_smi_and_sums_gpus() {
        let dir = tempfile::tempdir().expect("tempdir");
        let smi = dir.path().join("nvidia-smi");
        std::fs::write(
            &smi,
            "#!/bin/sh\nwhile true; do echo '0, 100.00'; echo '1, 50.00'; sleep 0.1; done\n",
        )
        .expect("write");
        std::fs::set_permissions(&smi, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let mut p = PowerSampler::with_program(smi.display().to_string());
        p.start();
        tokio::time::sleep(Duration::from_millis(1000)).await;
        p.stop().await;
        let e = p.finish(300);
        assert!(e.available, "{e:?}");
        assert!(e.samples >= 4, "{e:?}");
        let mean = e.mean_power_w.expect("mean");
        assert!((mean - 150.0).abs() < 1e-6, "both GPUs summed: {mean}");
        let joules = e.energy_j.expect("energy");
        assert!(joules > 0.0 && (e.tokens_per_joule.expect("rate") - 300.0 / joules).abs() < 1e-9);
    }

    #[tokio::test]
    async fn a_missing_nvidia_smi_is_noted() {
        let mut p = PowerSampler::with_program("/nonexistent/nvidia-smi");
        p.start();
        p.stop().await;
        let e = p.finish(10);
        assert!(!e.available);
        assert!(e.note.expect("note").contains("not found"));
    }

    #[test]
    fn one_sample_is_not_enough() {
        let e = energy(&[(Instant::now(), 50.0)], 10, None);
        assert!(!e.available);
        assert!(e.note.is_some());
    }
}
