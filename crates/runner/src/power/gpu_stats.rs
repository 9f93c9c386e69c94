//! Turns per-GPU readings taken during the measured phase (from NVML or
//! `nvidia-smi`, see [`crate::power`]) into the run's energy figures and GPU
//! state: joules from the energy counter's delta when every GPU has one,
//! else trapezoids over power; temperature, clocks and the share of samples
//! each clock event (throttle) reason was active. Pure functions, so the
//! fixtures under `tests/fixtures/nvidia-smi/` can check them.

use std::collections::BTreeMap;
use std::time::Duration;

use stackbench_core::run_file::{EnergyInfo, GpuPhaseInfo, ThrottleShare};

/// One GPU at one sampling tick; each figure `None` when not reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    /// GPU index.
    pub index: u32,
    /// When, since sampling began.
    pub at: Duration,
    /// Power, W.
    pub power_w: Option<f64>,
    /// Energy counter, mJ since the driver loaded.
    pub energy_mj: Option<f64>,
    /// GPU temperature, °C.
    pub temp_c: Option<f64>,
    /// SM clock, MHz.
    pub sm_mhz: Option<f64>,
    /// Memory clock, MHz.
    pub mem_mhz: Option<f64>,
    /// Clock event (throttle) reasons bitmask.
    pub reasons: Option<u64>,
}

/// Where the readings came from, which names the energy source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// NVML through `nvml-wrapper`.
    Nvml,
    /// `nvidia-smi`, with the power field it sampled.
    Smi {
        /// `power.draw.instant` or `power.draw`.
        power_field: &'static str,
    },
}

impl Backend {
    fn counter_source(self) -> &'static str {
        match self {
            Backend::Nvml => "nvml-energy",
            Backend::Smi { .. } => "nvidia-smi-energy",
        }
    }

    fn power_source(self) -> &'static str {
        match self {
            Backend::Nvml => "nvml-power",
            Backend::Smi { power_field } => power_field,
        }
    }
}

/// NVML's clock event reasons (`nvmlClocksEventReason*`, the same bits as
/// the older `nvmlClocksThrottleReason*` and as `nvidia-smi`'s
/// `clocks_event_reasons.active`), in bit order.
pub const THROTTLE_REASONS: [(u64, &str); 9] = [
    (0x1, "gpu_idle"),
    (0x2, "applications_clocks_setting"),
    (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal_slowdown"),
    (0x40, "hw_thermal_slowdown"),
    (0x80, "hw_power_brake_slowdown"),
    (0x100, "display_clock_setting"),
];

/// The names of the reasons set in `mask`; bits NVML added after this list
/// read `unknown_0x…`.
pub fn decode_reasons(mask: u64) -> Vec<String> {
    (0..64)
        .map(|b| 1u64 << b)
        .filter(|bit| mask & bit != 0)
        .map(|bit| {
            THROTTLE_REASONS
                .iter()
                .find(|(b, _)| *b == bit)
                .map_or_else(|| format!("unknown_{bit:#x}"), |(_, n)| (*n).to_string())
        })
        .collect()
}

/// Energy, power and state over `readings`.
pub fn summarize(
    readings: &[Reading],
    backend: Backend,
    output_tokens: u64,
    note: Option<String>,
) -> EnergyInfo {
    let per_gpu = by_gpu(readings);
    let samples = per_gpu.values().map(|r| r.len() as u64).max().unwrap_or(0);
    let counters: Option<Vec<(f64, f64)>> = per_gpu.values().map(|r| counter_energy(r)).collect();
    let (energies, source) = match counters {
        Some(c) if !c.is_empty() => (c.into_iter().map(Some).collect(), backend.counter_source()),
        _ => (
            per_gpu
                .values()
                .map(|r| power_energy(r))
                .collect::<Vec<_>>(),
            backend.power_source(),
        ),
    };
    let gpus: Vec<GpuPhaseInfo> = per_gpu
        .iter()
        .zip(&energies)
        .map(|((index, r), e)| gpu_phase(*index, r, *e))
        .collect();
    let measured: Vec<(f64, f64)> = energies.iter().flatten().copied().collect();
    if measured.is_empty() {
        return EnergyInfo {
            available: false,
            note: note.or_else(|| Some("fewer than two power samples (phase too short)".into())),
            samples,
            gpus,
            ..Default::default()
        };
    }
    let joules: f64 = measured.iter().map(|(j, _)| j).sum();
    let mean_power: f64 = measured
        .iter()
        .filter(|(_, span)| *span > 0.0)
        .map(|(j, span)| j / span)
        .sum();
    EnergyInfo {
        available: true,
        note,
        samples,
        mean_power_w: measured.iter().any(|(_, s)| *s > 0.0).then_some(mean_power),
        energy_j: Some(joules),
        tokens_per_joule: (joules > 0.0).then(|| output_tokens as f64 / joules),
        source: Some(source.to_string()),
        gpus,
    }
}

fn by_gpu(readings: &[Reading]) -> BTreeMap<u32, Vec<&Reading>> {
    let mut map: BTreeMap<u32, Vec<&Reading>> = BTreeMap::new();
    for r in readings {
        map.entry(r.index).or_default().push(r);
    }
    for r in map.values_mut() {
        r.sort_by_key(|x| x.at);
    }
    map
}

/// (joules, seconds) from the first and last counter readings; `None`
/// without two readings, or when the counter went back (driver reload).
fn counter_energy(r: &[&Reading]) -> Option<(f64, f64)> {
    let with: Vec<(Duration, f64)> = r
        .iter()
        .filter_map(|x| x.energy_mj.map(|e| (x.at, e)))
        .collect();
    let (first, last) = (with.first()?, with.last()?);
    let delta = last.1 - first.1;
    (with.len() >= 2 && delta >= 0.0).then(|| (delta / 1000.0, (last.0 - first.0).as_secs_f64()))
}

/// (joules, seconds) as trapezoids over consecutive power readings.
fn power_energy(r: &[&Reading]) -> Option<(f64, f64)> {
    let with: Vec<(Duration, f64)> = r
        .iter()
        .filter_map(|x| x.power_w.map(|p| (x.at, p)))
        .collect();
    if with.len() < 2 {
        return None;
    }
    let joules = with
        .windows(2)
        .map(|w| (w[1].0 - w[0].0).as_secs_f64() * (w[0].1 + w[1].1) / 2.0)
        .sum();
    Some((joules, (with[with.len() - 1].0 - with[0].0).as_secs_f64()))
}

fn gpu_phase(index: u32, r: &[&Reading], energy: Option<(f64, f64)>) -> GpuPhaseInfo {
    let temps = values(r, |x| x.temp_c);
    let sm = values(r, |x| x.sm_mhz);
    let (throttle_samples, throttle_reasons) = throttle(r);
    GpuPhaseInfo {
        index,
        samples: r.len() as u64,
        energy_j: energy.map(|(j, _)| j),
        mean_power_w: energy.and_then(|(j, s)| (s > 0.0).then(|| j / s)),
        temperature_min_c: min(&temps),
        temperature_max_c: temps.iter().copied().reduce(f64::max),
        temperature_mean_c: mean(&temps),
        sm_clock_min_mhz: min(&sm),
        sm_clock_mean_mhz: mean(&sm),
        mem_clock_mean_mhz: mean(&values(r, |x| x.mem_mhz)),
        throttle_samples,
        throttle_reasons,
    }
}

fn values(r: &[&Reading], f: impl Fn(&Reading) -> Option<f64>) -> Vec<f64> {
    r.iter().filter_map(|x| f(x)).collect()
}

fn min(v: &[f64]) -> Option<f64> {
    v.iter().copied().reduce(f64::min)
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Samples with a bitmask, and each reason seen with its share of them.
fn throttle(r: &[&Reading]) -> (Option<u64>, Vec<ThrottleShare>) {
    let masks: Vec<u64> = r.iter().filter_map(|x| x.reasons).collect();
    if masks.is_empty() {
        return (None, Vec::new());
    }
    let union = masks.iter().fold(0, |a, m| a | m);
    let shares = (0..64)
        .map(|b| 1u64 << b)
        .filter(|bit| union & bit != 0)
        .map(|bit| ThrottleShare {
            reason: decode_reasons(bit).remove(0),
            share: masks.iter().filter(|m| *m & bit != 0).count() as f64 / masks.len() as f64,
        })
        .collect();
    (Some(masks.len() as u64), shares)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn decodes_named_and_unknown_bits() {
        assert_eq!(decode_reasons(0), Vec::<String>::new());
        assert_eq!(decode_reasons(0x5), ["gpu_idle", "sw_power_cap"]);
        assert_eq!(
            decode_reasons(0x1c8),
            [
                "hw_slowdown",
                "hw_thermal_slowdown",
                "hw_power_brake_slowdown",
                "display_clock_setting"
            ]
        );
        assert_eq!(decode_reasons(0x1000), ["unknown_0x1000"]);
    }

    #[test]
    fn the_counter_wins_over_power_when_every_gpu_has_it() {
        let r = |index, ms, mj| Reading {
            index,
            at: at(ms),
            power_w: Some(1.0),
            energy_mj: Some(mj),
            ..Default::default()
        };
        let readings = [
            r(0, 0, 1_000.0),
            r(1, 0, 5_000.0),
            r(0, 2000, 401_000.0),
            r(1, 2000, 105_000.0),
        ];
        let e = summarize(&readings, Backend::Nvml, 1000, None);
        assert_eq!(e.source.as_deref(), Some("nvml-energy"));
        assert!((e.energy_j.expect("energy") - 500.0).abs() < 1e-9);
        assert!((e.mean_power_w.expect("power") - 250.0).abs() < 1e-9);
        assert!((e.tokens_per_joule.expect("rate") - 2.0).abs() < 1e-9);
        assert_eq!(e.gpus[1].energy_j, Some(100.0));
    }

    #[test]
    fn a_gpu_without_the_counter_makes_all_integrate_power() {
        let readings = [
            Reading {
                index: 0,
                at: at(0),
                power_w: Some(100.0),
                energy_mj: Some(0.0),
                ..Default::default()
            },
            Reading {
                index: 0,
                at: at(1000),
                power_w: Some(100.0),
                energy_mj: Some(90_000.0),
                ..Default::default()
            },
            Reading {
                index: 1,
                at: at(0),
                power_w: Some(50.0),
                ..Default::default()
            },
            Reading {
                index: 1,
                at: at(1000),
                power_w: Some(50.0),
                ..Default::default()
            },
        ];
        let e = summarize(
            &readings,
            Backend::Smi {
                power_field: "power.draw.instant",
            },
            10,
            None,
        );
        assert_eq!(e.source.as_deref(), Some("power.draw.instant"));
        assert!((e.energy_j.expect("energy") - 150.0).abs() < 1e-9);
    }

    #[test]
    fn a_counter_that_goes_back_is_not_used() {
        let readings = [
            Reading {
                index: 0,
                at: at(0),
                power_w: Some(10.0),
                energy_mj: Some(9e9),
                ..Default::default()
            },
            Reading {
                index: 0,
                at: at(1000),
                power_w: Some(10.0),
                energy_mj: Some(5.0),
                ..Default::default()
            },
        ];
        let e = summarize(&readings, Backend::Nvml, 10, None);
        assert_eq!(e.source.as_deref(), Some("nvml-power"));
        assert!((e.energy_j.expect("energy") - 10.0).abs() < 1e-9);
    }

    #[test]
    fn state_without_power_is_kept_and_noted() {
        let readings = [
            Reading {
                index: 0,
                at: at(0),
                temp_c: Some(40.0),
                reasons: Some(0x1),
                ..Default::default()
            },
            Reading {
                index: 0,
                at: at(250),
                temp_c: Some(44.0),
                reasons: Some(0x0),
                ..Default::default()
            },
        ];
        let e = summarize(
            &readings,
            Backend::Smi {
                power_field: "power.draw",
            },
            10,
            None,
        );
        assert!(!e.available);
        assert!(e.note.is_some());
        assert_eq!(e.gpus[0].temperature_mean_c, Some(42.0));
        assert_eq!(e.gpus[0].throttle_samples, Some(2));
        assert_eq!(e.gpus[0].throttle_reasons[0].reason, "gpu_idle");
        assert_eq!(e.gpus[0].throttle_reasons[0].share, 0.5);
    }
}
