//! Recorded and assembled `nvidia-smi` outputs (see
//! `tests/fixtures/nvidia-smi/README.md` for where each comes from) through
//! the parser and the phase summary: energy from counter deltas, power
//! integration, throttle reasons and `[N/A]` fields.

use std::time::Duration;

use super::gpu_stats::{summarize, Backend, Reading};
use super::smi::{self, FULL_FIELDS};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/nvidia-smi/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The readings of a `-lms 250` capture, a tick starting whenever the GPU
/// index does not grow.
fn ticks(text: &str) -> Vec<Reading> {
    let mut out: Vec<Reading> = smi::parse_all(&FULL_FIELDS, text);
    let mut tick = 0u64;
    let mut last: Option<u32> = None;
    for r in &mut out {
        if last.is_some_and(|l| r.index <= l) {
            tick += 1;
        }
        last = Some(r.index);
        r.at = Duration::from_millis(250 * tick);
    }
    out
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-6)
}

#[test]
fn gb10_probe_drops_na_fields() {
    let kept = smi::reported(&FULL_FIELDS, &fixture("gb10-probe.csv"));
    assert_eq!(
        kept,
        [
            "index",
            "power.draw",
            "total_energy_consumption",
            "temperature.gpu",
            "clocks.sm",
            "clocks_event_reasons.active"
        ],
        "power.draw.instant and clocks.mem read [N/A]"
    );
    assert_eq!(smi::power_field(&kept), "power.draw");
}

#[test]
fn gb10_energy_is_the_counter_delta() {
    let r = ticks(&fixture("gb10-loop.csv"));
    let e = summarize(
        &r,
        Backend::Smi {
            power_field: "power.draw",
        },
        1094,
        None,
    );
    assert!(e.available);
    assert_eq!(e.source.as_deref(), Some("nvidia-smi-energy"));
    assert_eq!(e.samples, 6);
    assert!(close(e.energy_j, 109.4), "{e:?}");
    assert!(close(e.mean_power_w, 87.52), "{e:?}");
    assert!(close(e.tokens_per_joule, 10.0), "{e:?}");
    let g = &e.gpus[0];
    assert_eq!(
        (g.temperature_min_c, g.temperature_max_c),
        (Some(58.0), Some(63.0))
    );
    assert!(close(g.temperature_mean_c, 60.5));
    assert_eq!(g.sm_clock_min_mhz, Some(2424.0));
    assert_eq!(g.mem_clock_mean_mhz, None, "GB10 reports no memory clock");
    assert_eq!(g.throttle_samples, Some(6));
    assert_eq!(g.throttle_reasons.len(), 1);
    assert_eq!(g.throttle_reasons[0].reason, "sw_power_cap");
    assert!((g.throttle_reasons[0].share - 1.0 / 6.0).abs() < 1e-9);
}

#[test]
fn rtx2080_power_draw_with_units_integrates() {
    let r = ticks(&fixture("rtx2080-loop-units.csv"));
    assert_eq!(r.len(), 13);
    let e = summarize(
        &r,
        Backend::Smi {
            power_field: "power.draw",
        },
        2414,
        None,
    );
    assert_eq!(e.source.as_deref(), Some("power.draw"));
    assert!(close(e.energy_j, 241.41125), "{e:?}");
    assert!(close(e.mean_power_w, 241.41125 / 3.0), "{e:?}");
    let g = &e.gpus[0];
    assert_eq!(
        (g.temperature_min_c, g.temperature_max_c),
        (Some(55.0), Some(56.0))
    );
    assert!(close(g.temperature_mean_c, 717.0 / 13.0));
    assert_eq!(g.sm_clock_min_mhz, Some(1185.0));
    assert!(close(g.sm_clock_mean_mhz, 17370.0 / 13.0));
    assert_eq!(g.mem_clock_mean_mhz, Some(5001.0));
    assert_eq!(g.throttle_samples, None, "not queried");
}

#[test]
fn h100_counters_instant_power_and_reasons() {
    let r = ticks(&fixture("h100-loop.csv"));
    assert_eq!(
        r[0].power_w,
        Some(612.35),
        "power.draw.instant before power.draw"
    );
    assert_eq!(r[8].power_w, None, "[N/A] row");
    let e = summarize(
        &r,
        Backend::Smi {
            power_field: "power.draw.instant",
        },
        11620,
        None,
    );
    assert_eq!(e.source.as_deref(), Some("nvidia-smi-energy"));
    assert_eq!(e.samples, 5);
    assert!(close(e.gpus[0].energy_j, 484.0), "{:?}", e.gpus[0]);
    assert!(close(e.gpus[0].mean_power_w, 484.0 / 0.75));
    assert!(close(e.gpus[1].energy_j, 678.0));
    assert!(close(e.energy_j, 1162.0));
    assert!(close(e.mean_power_w, 484.0 / 0.75 + 678.0));
    assert!(close(e.tokens_per_joule, 10.0));
    let g0 = &e.gpus[0];
    assert_eq!(g0.throttle_samples, Some(4));
    assert_eq!(g0.throttle_reasons.len(), 1);
    assert_eq!(g0.throttle_reasons[0].share, 0.5);
    let g1 = &e.gpus[1];
    let names: Vec<(&str, f64)> = g1
        .throttle_reasons
        .iter()
        .map(|t| (t.reason.as_str(), t.share))
        .collect();
    assert_eq!(
        names,
        [("sw_power_cap", 0.6), ("hw_power_brake_slowdown", 0.2)]
    );
    assert_eq!(g1.sm_clock_min_mhz, Some(1755.0));
    assert!(close(
        g1.sm_clock_mean_mhz,
        (1980.0 * 3.0 + 1755.0 + 1830.0) / 5.0
    ));
}
