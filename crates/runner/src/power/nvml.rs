//! The NVML side of GPU sampling, the first choice: `nvml-wrapper` loads
//! `libnvidia-ml.so.1` at run time (libloading), so the binary still runs
//! on a box without a GPU or driver, where loading fails and
//! [`super`] falls back to `nvidia-smi`. NVML gives what
//! `nvidia-smi` may not: the energy counter (`nvmlDeviceGetTotalEnergy
//! Consumption`, mJ since the driver loaded, Volta and newer; GB10 has it)
//! and power without a process per sample. A thread reads every GPU every
//! period until stopped; a figure the GPU does not support is left out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nvml_wrapper::enum_wrappers::device::{Clock, TemperatureSensor};
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::{Device, Nvml};
use stackbench_core::sync::lock;

use super::gpu_stats::Reading;

/// Why NVML cannot be used (the sampler then falls back to `nvidia-smi`).
#[derive(Debug, thiserror::Error)]
pub enum NvmlStartError {
    /// The sampling thread could not be spawned.
    #[error("NVML thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The thread ended without saying whether NVML loaded.
    #[error("NVML thread ended before it started")]
    Ended,
    /// `libnvidia-ml` could not be loaded or initialised.
    #[error("NVML not loaded ({0})")]
    NotLoaded(#[source] NvmlError),
    /// NVML could not count the GPUs.
    #[error("NVML device count: {0}")]
    DeviceCount(#[source] NvmlError),
    /// NVML could not open one GPU.
    #[error("NVML GPU {index}: {source}")]
    Device {
        /// The GPU's index.
        index: u32,
        /// What NVML said.
        source: NvmlError,
    },
    /// NVML loaded and lists no GPU.
    #[error("NVML sees no GPU")]
    NoGpu,
}

/// A running NVML sampling thread.
pub struct NvmlSampler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl NvmlSampler {
    /// Loads NVML and starts reading every GPU each `period` into
    /// `readings`. `Err` says why NVML cannot be used (not installed, no
    /// GPU); nothing runs then.
    pub fn start(
        period: Duration,
        readings: Arc<Mutex<Vec<Reading>>>,
    ) -> Result<Self, NvmlStartError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready, outcome) = mpsc::channel();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("stackbench-nvml".into())
            .spawn(move || run(period, &readings, &flag, &ready))
            .map_err(NvmlStartError::Thread)?;
        match outcome.recv() {
            Ok(Ok(())) => Ok(Self {
                stop,
                thread: Some(thread),
            }),
            Ok(Err(why)) => {
                let _ = thread.join();
                Err(why)
            }
            Err(_) => Err(NvmlStartError::Ended),
        }
    }

    /// Stops the thread and waits for it (at most one period).
    pub async fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

/// The thread: NVML lives and dies here, so nothing of it crosses threads.
fn run(
    period: Duration,
    readings: &Mutex<Vec<Reading>>,
    stop: &AtomicBool,
    ready: &mpsc::Sender<Result<(), NvmlStartError>>,
) {
    let nvml = match Nvml::init() {
        Ok(n) => n,
        Err(e) => {
            let _ = ready.send(Err(NvmlStartError::NotLoaded(e)));
            return;
        }
    };
    let devices = match devices(&nvml) {
        Ok(d) if !d.is_empty() => d,
        Ok(_) => {
            let _ = ready.send(Err(NvmlStartError::NoGpu));
            return;
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let t0 = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let at = t0.elapsed();
        let batch: Vec<Reading> = devices.iter().map(|(i, d)| read(*i, d, at)).collect();
        lock(readings).extend(batch);
        std::thread::sleep(period.saturating_sub(t0.elapsed() - at));
    }
}

fn devices(nvml: &Nvml) -> Result<Vec<(u32, Device<'_>)>, NvmlStartError> {
    let n = nvml.device_count().map_err(NvmlStartError::DeviceCount)?;
    (0..n)
        .map(|i| {
            nvml.device_by_index(i)
                .map(|d| (i, d))
                .map_err(|source| NvmlStartError::Device { index: i, source })
        })
        .collect()
}

/// One GPU now; each query that fails (not supported) is left out.
fn read(index: u32, d: &Device<'_>, at: Duration) -> Reading {
    Reading {
        index,
        at,
        power_w: d.power_usage().ok().map(|mw| f64::from(mw) / 1000.0),
        energy_mj: d.total_energy_consumption().ok().map(|mj| mj as f64),
        temp_c: d.temperature(TemperatureSensor::Gpu).ok().map(f64::from),
        sm_mhz: d.clock_info(Clock::SM).ok().map(f64::from),
        mem_mhz: d.clock_info(Clock::Memory).ok().map(f64::from),
        reasons: d.current_throttle_reasons().ok().map(|r| r.bits()),
    }
}
