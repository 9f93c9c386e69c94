//! GPU energy and state during the measured phase. NVML first (through
//! `nvml-wrapper`, loaded at run time, so no GPU means no library and no
//! failure): its energy counter gives joules as a delta, and power,
//! temperature, clocks and clock event reasons are read every 250 ms.
//! Without NVML, `nvidia-smi` (or `$STACKBENCH_NVIDIA_SMI`): one query with
//! every field finds what the driver answers (a field it does not know is
//! dropped and the query retried; `[N/A]` fields are not sampled), then a
//! `-lms 250` loop samples the rest: `power.draw.instant` before the
//! one-second `power.draw` average, and `total_energy_consumption` for
//! joules when the driver offers it. Joules become output tokens per joule
//! ([`gpu_stats`]). Without a GPU the run records why and goes on.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stackbench_core::run_file::EnergyInfo;
use stackbench_core::sync::lock;
use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;

#[cfg(test)]
mod fixture_tests;
mod gpu_stats;
mod nvml;
mod smi;

use crate::gpu::{nvidia_smi, SmiError, NVIDIA_SMI_ENV};
use gpu_stats::{summarize, Backend, Reading};
use nvml::NvmlSampler;
use smi::{CsvParser, FULL_FIELDS, LEGACY_FIELDS};

/// Sampling period: short enough for second-long scenarios, long enough
/// that sampling costs the box nothing measurable.
const PERIOD: Duration = Duration::from_millis(250);

/// How long the one-shot field probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

type Readings = Arc<Mutex<Vec<Reading>>>;

/// What the `nvidia-smi` loop ended with.
struct SmiOutcome {
    power_field: &'static str,
    note: Option<String>,
}

/// A running `nvidia-smi` loop.
struct SmiTask {
    handle: tokio::task::JoinHandle<SmiOutcome>,
    cancel: CancellationToken,
}

/// Samples GPU power and state between [`PowerSampler::start`] and
/// [`PowerSampler::stop`].
pub struct PowerSampler {
    program: String,
    try_nvml: bool,
    readings: Readings,
    backend: Backend,
    nvml: Option<NvmlSampler>,
    smi: Option<SmiTask>,
    notes: Vec<String>,
}

impl Default for PowerSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl PowerSampler {
    /// NVML, else `$STACKBENCH_NVIDIA_SMI` or the `nvidia-smi` on PATH;
    /// with `$STACKBENCH_NVIDIA_SMI` set, that program only.
    pub fn new() -> Self {
        let forced = std::env::var_os(NVIDIA_SMI_ENV).is_some();
        Self {
            try_nvml: !forced,
            ..Self::with_program(nvidia_smi())
        }
    }

    /// A sampler running `program` as `nvidia-smi` (NVML not tried).
    pub fn with_program(program: impl Into<String>) -> Self {
        Self {
            program: program.into(),
            try_nvml: false,
            readings: Arc::new(Mutex::new(Vec::new())),
            backend: Backend::Smi {
                power_field: "power.draw",
            },
            nvml: None,
            smi: None,
            notes: Vec::new(),
        }
    }

    /// Starts sampling: NVML when it loads, else `nvidia-smi` (whose field
    /// probe runs in the background task, so this returns at once).
    pub fn start(&mut self) {
        if self.try_nvml {
            match NvmlSampler::start(PERIOD, self.readings.clone()) {
                Ok(s) => {
                    self.nvml = Some(s);
                    self.backend = Backend::Nvml;
                    return;
                }
                Err(why) => self
                    .notes
                    .push(format!("{why}; sampled through {}", self.program)),
            }
        }
        let cancel = CancellationToken::new();
        let handle = tokio::spawn(sample_smi(
            self.program.clone(),
            self.readings.clone(),
            cancel.clone(),
        ));
        self.smi = Some(SmiTask { handle, cancel });
    }

    /// Stops sampling.
    pub async fn stop(&mut self) {
        if let Some(n) = self.nvml.as_mut() {
            n.stop().await;
        }
        self.nvml = None;
        if let Some(task) = self.smi.take() {
            task.cancel.cancel();
            if let Ok(out) = task.handle.await {
                self.backend = Backend::Smi {
                    power_field: out.power_field,
                };
                self.notes.extend(out.note);
            }
        }
    }

    /// Energy and GPU state over the samples, and `output_tokens` per joule.
    pub fn finish(self, output_tokens: u64) -> EnergyInfo {
        let readings = lock(&self.readings).clone();
        let note = (!self.notes.is_empty()).then(|| self.notes.join("; "));
        summarize(&readings, self.backend, output_tokens, note)
    }
}

/// What one probe query gave.
enum Probe {
    Answered(String),
    Refused(String),
}

/// Probes the fields, then loops until cancelled.
async fn sample_smi(program: String, readings: Readings, cancel: CancellationToken) -> SmiOutcome {
    let fields = match probe_fields(&program).await {
        Ok(f) => f,
        Err(e) => {
            return SmiOutcome {
                power_field: "power.draw",
                note: Some(format!("{program}: {e}")),
            }
        }
    };
    let power_field = smi::power_field(&fields);
    let note = run_loop(&program, &fields, &readings, &cancel).await;
    SmiOutcome { power_field, note }
}

/// The fields to sample: everything first, a refused field dropped (or
/// renamed) and the query retried, the legacy set when the refusal names
/// nothing we asked for.
async fn probe_fields(program: &str) -> Result<Vec<&'static str>, SmiError> {
    let mut fields = FULL_FIELDS.to_vec();
    for _ in 0..=FULL_FIELDS.len() {
        match query_once(program, &fields).await? {
            Probe::Answered(out) => return Ok(smi::reported(&fields, &out)),
            Probe::Refused(out) => {
                match smi::invalid_field(&out).and_then(|f| smi::without(&fields, f)) {
                    Some(next) => fields = next,
                    None => break,
                }
            }
        }
    }
    Ok(LEGACY_FIELDS.to_vec())
}

async fn query_once(program: &str, fields: &[&str]) -> Result<Probe, SmiError> {
    let run = tokio::process::Command::new(program)
        .args([
            &format!("--query-gpu={}", fields.join(",")),
            "--format=csv,nounits",
        ])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(PROBE_TIMEOUT, run).await {
        Err(_) => return Err(SmiError::Timeout(PROBE_TIMEOUT)),
        Ok(Err(e)) => return Err(SmiError::spawn(e)),
        Ok(Ok(o)) => o,
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        return Ok(Probe::Answered(stdout));
    }
    let text = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    if smi::invalid_field(&text).is_some() {
        return Ok(Probe::Refused(text));
    }
    Err(SmiError::Failed {
        status: out.status.to_string(),
        first_line: text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .into(),
    })
}

/// Runs `nvidia-smi -lms` over `fields` until cancelled. Returns a note
/// when it could not run or no line carried a power figure.
async fn run_loop(
    program: &str,
    fields: &[&'static str],
    readings: &Readings,
    cancel: &CancellationToken,
) -> Option<String> {
    let spawned = tokio::process::Command::new(program)
        .args([
            &format!("--query-gpu={}", fields.join(",")),
            "--format=csv,nounits",
            &format!("-lms={}", PERIOD.as_millis()),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return Some(format!("{program}: {e}")),
    };
    let Some(stdout) = child.stdout.take() else {
        return Some(format!("{program}: no output"));
    };
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut parser = CsvParser::new(fields);
    let t0 = Instant::now();
    let mut powered = false;
    loop {
        let line = tokio::select! {
            _ = cancel.cancelled() => break,
            l = lines.next_line() => l,
        };
        let Ok(Some(line)) = line else { break };
        if let Some(r) = parser.line(&line, t0.elapsed()) {
            powered |= r.power_w.is_some() || r.energy_mj.is_some();
            lock(readings).push(r);
        }
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    let any = !lock(readings).is_empty();
    (any && !powered).then(|| "the GPU reports no power draw ([N/A])".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in `nvidia-smi`: the probe (no `-lms`) answers with
    /// `probe`, the loop prints `header` once and then `body` every 100 ms,
    /// where `$E` counts up 10 000 mJ a tick.
    fn fake_smi(dir: &std::path::Path, probe: &str, header: &str, body: &str) -> String {
        let smi = dir.join("nvidia-smi");
        let script = format!(
            "#!/bin/sh\ncase \"$*\" in *-lms*) ;; *) printf '%s\\n' \"{probe}\"; exit 0;; esac\n\
             echo '{header}'\nE=0\nwhile true; do E=$((E+10000)); {body}; sleep 0.1; done\n"
        );
        std::fs::write(&smi, script).expect("write");
        std::fs::set_permissions(&smi, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        smi.display().to_string()
    }

    async fn sample_for(program: String, ms: u64, tokens: u64) -> EnergyInfo {
        let mut p = PowerSampler::with_program(program);
        p.start();
        tokio::time::sleep(Duration::from_millis(ms)).await;
        p.stop().await;
        p.finish(tokens)
    }

    /// Two GPUs with instantaneous power only: lines are grouped per GPU,
    /// integrated and summed; `power.draw` is not sampled beside
    /// `power.draw.instant`.
    #[tokio::test]
    async fn samples_a_looping_nvidia_smi_and_sums_gpus() {
        let dir = tempfile::tempdir().expect("tempdir");
        let probe = "index, power.draw.instant [W], power.draw [W], total_energy_consumption [mJ], temperature.gpu, clocks.current.sm [MHz], clocks.current.memory [MHz], clocks_event_reasons.active\n\
                     0, 100.00, 99.00, [N/A], 40, 1980, 2619, 0x0000000000000000\n\
                     1, 50.00, 49.00, [N/A], 41, 1980, 2619, 0x0000000000000000";
        let smi = fake_smi(
            dir.path(),
            probe,
            "index, power.draw.instant [W], temperature.gpu, clocks.current.sm [MHz], clocks.current.memory [MHz], clocks_event_reasons.active",
            "echo '0, 100.00, 40, 1980, 2619, 0x0000000000000004'; echo '1, 50.00, 44, 1410, 2619, 0x0000000000000000'",
        );
        let e = sample_for(smi, 1000, 300).await;
        assert!(e.available, "{e:?}");
        assert_eq!(e.source.as_deref(), Some("power.draw.instant"));
        assert!(e.samples >= 4, "{e:?}");
        let mean = e.mean_power_w.expect("mean");
        assert!((mean - 150.0).abs() < 1e-6, "both GPUs summed: {mean}");
        let joules = e.energy_j.expect("energy");
        assert!(joules > 0.0 && (e.tokens_per_joule.expect("rate") - 300.0 / joules).abs() < 1e-9);
        assert_eq!(e.gpus.len(), 2);
        assert_eq!(e.gpus[1].temperature_max_c, Some(44.0));
        assert_eq!(e.gpus[1].sm_clock_min_mhz, Some(1410.0));
        assert_eq!(e.gpus[0].mem_clock_mean_mhz, Some(2619.0));
        assert_eq!(e.gpus[0].throttle_reasons[0].reason, "sw_power_cap");
        assert_eq!(e.gpus[0].throttle_reasons[0].share, 1.0);
        assert!(e.gpus[1].throttle_reasons.is_empty());
    }

    /// With the energy counter, joules are its delta, not the power integral.
    #[tokio::test]
    async fn the_energy_counter_gives_the_joules() {
        let dir = tempfile::tempdir().expect("tempdir");
        let probe = "index, power.draw.instant [W], power.draw [W], total_energy_consumption [mJ], temperature.gpu, clocks.current.sm [MHz], clocks.current.memory [MHz], clocks_event_reasons.active\n\
                     0, 7.00, 7.00, 123456789, 41, 2405, [N/A], 0x0000000000000000";
        let smi = fake_smi(
            dir.path(),
            probe,
            "index, power.draw.instant [W], total_energy_consumption [mJ], temperature.gpu, clocks.current.sm [MHz], clocks_event_reasons.active",
            "echo \"0, 7.00, $E, 41, 2405, 0x0000000000000000\"",
        );
        let e = sample_for(smi, 800, 100).await;
        assert_eq!(e.source.as_deref(), Some("nvidia-smi-energy"), "{e:?}");
        let n = e.gpus[0].samples as f64;
        assert!(
            (e.energy_j.expect("energy") - (n - 1.0) * 10.0).abs() < 1e-9,
            "{e:?}"
        );
        assert_eq!(e.gpus[0].mem_clock_mean_mhz, None, "[N/A] memory clock");
    }

    /// An older driver refuses the new field names: the probe drops
    /// `power.draw.instant` and the energy counter and renames the event
    /// reasons to `clocks_throttle_reasons.active`.
    #[tokio::test]
    async fn refused_fields_fall_back_to_older_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let smi = dir.path().join("nvidia-smi");
        let script = "#!/bin/sh\n\
            for f in power.draw.instant total_energy_consumption clocks_event_reasons.active; do\n\
              case \"$*\" in *$f*) echo \"Field \\\"$f\\\" is not a valid field to query.\"; exit 2;; esac\n\
            done\n\
            case \"$*\" in *-lms*) ;; *) echo '0, 60.00, 50, 1500, 5000, 0x0000000000000001'; exit 0;; esac\n\
            while true; do echo '0, 60.00, 50, 1500, 5000, 0x0000000000000001'; sleep 0.1; done\n";
        std::fs::write(&smi, script).expect("write");
        std::fs::set_permissions(&smi, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let e = sample_for(smi.display().to_string(), 800, 10).await;
        assert!(e.available, "{e:?}");
        assert_eq!(e.source.as_deref(), Some("power.draw"));
        assert_eq!(e.gpus[0].throttle_reasons[0].reason, "gpu_idle");
        assert_eq!(e.gpus[0].sm_clock_mean_mhz, Some(1500.0));
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

    #[tokio::test]
    async fn a_gpu_without_power_is_noted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let smi = fake_smi(
            dir.path(),
            "index, power.draw [W]\n0, [N/A]",
            "index, power.draw [W]",
            "echo '0, [N/A]'",
        );
        let e = sample_for(smi, 500, 10).await;
        assert!(!e.available);
        assert!(e.note.expect("note").contains("[N/A]"));
    }
}
