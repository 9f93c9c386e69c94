//! The client's own load over a run's measured phase, and the verdict on
//! it: was the client itself the bottleneck?
//!
//! A client short of CPU reads its own delays as the server's: a token that
//! sat in the socket while the client was busy (or descheduled) is stamped
//! late, and the run reports the client's latency. So every run records how
//! much CPU the client used, how busy its runtime thread was, how long that
//! thread waited for a CPU, and how late the runtime answered a wake-up (a
//! probe pinged from another thread every few milliseconds, served through
//! the same path as a network event). A run past the limits below is
//! flagged `saturated`, in `run.json`, the summary, the tables and `compare`.

use serde::{Deserialize, Serialize};

use crate::histogram::Dist;

/// The runtime answered the probe's wake-ups later than this at p99, ms:
/// the client was short of CPU. Measured on the development VM: a light
/// run answers in 0.02 ms at the median and under 0.2 ms at p99, and
/// under 3 ms at p99 beside `stress-ng --cpu 2`; at c=256 with every
/// stream's tokens arriving in the same instant, the last of a burst of
/// 256 events waits for the others (p99 1.9 ms); a client at the lowest
/// priority on a core another process keeps busy: 15–24 ms.
pub const WAKE_LAG_P99_LIMIT_MS: f64 = 5.0;

/// A runtime thread on a CPU more than this share of the measured phase,
/// %: it had no time left to read the sockets when tokens arrived.
pub const RUNTIME_BUSY_LIMIT_PCT: f64 = 90.0;

/// A runtime thread ready to run but waiting for a CPU more than this
/// share of the measured phase, %: other processes held the cores while
/// tokens waited in its sockets (measured: ≤ 1.3 % for a light run beside
/// `stress-ng --cpu 2`, 10 % for a c=256 run sharing two cores with the
/// simulator, 41–44 % for the starved client above).
pub const RUNTIME_WAITING_LIMIT_PCT: f64 = 25.0;

/// What the client spent, and how late it answered, over the measured phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientLoad {
    /// Runtime threads that drove the requests.
    pub threads: u32,
    /// CPU time of the whole client process (user + system), s; absent
    /// where the OS does not say (`/proc` on Linux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_s: Option<f64>,
    /// `cpu_s` per output token received, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_us_per_token: Option<f64>,
    /// Share of the measured phase the busiest runtime thread spent on a
    /// CPU, %.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_busy_pct: Option<f64>,
    /// Share of the measured phase the runtime threads spent ready to run
    /// but waiting for a CPU (the most any one waited), %: other processes
    /// held the cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_waiting_pct: Option<f64>,
    /// How late the runtime served a wake-up, ms (one probe every
    /// [`ClientLoad::probe_interval_ms`]).
    pub wake_lag_ms: Dist,
    /// The probe's period, ms.
    pub probe_interval_ms: f64,
    /// True when the client was the limit: its latencies are its own, not
    /// the server's.
    pub saturated: bool,
    /// Why `saturated` is set, one line per limit passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// The raw figures a run measured, before the verdict.
#[derive(Debug, Clone)]
pub struct ClientFigures {
    /// Runtime threads.
    pub threads: u32,
    /// Duration of the measured phase, s.
    pub wall_s: f64,
    /// Output tokens received.
    pub output_tokens: u64,
    /// Process CPU time, s.
    pub cpu_s: Option<f64>,
    /// The busiest runtime thread's on-CPU time, s.
    pub runtime_cpu_s: Option<f64>,
    /// The longest any runtime thread waited for a CPU while ready, s.
    pub runtime_wait_s: Option<f64>,
    /// Wake-up lags, µs.
    pub wake_lag_us: crate::histogram::Hist,
    /// The probe's period, ms.
    pub probe_interval_ms: f64,
}

impl ClientLoad {
    /// Turns the figures into shares and judges them against the limits.
    pub fn judge(f: &ClientFigures) -> Self {
        let share = |s: Option<f64>| {
            s.filter(|_| f.wall_s > 0.0)
                .map(|s| (s / f.wall_s * 100.0).min(100.0))
        };
        let mut load = Self {
            threads: f.threads,
            cpu_s: f.cpu_s,
            cpu_us_per_token: f
                .cpu_s
                .filter(|_| f.output_tokens > 0)
                .map(|s| s * 1e6 / f.output_tokens as f64),
            runtime_busy_pct: share(f.runtime_cpu_s),
            runtime_waiting_pct: share(f.runtime_wait_s),
            wake_lag_ms: Dist::from_hist(&f.wake_lag_us, 1000.0),
            probe_interval_ms: f.probe_interval_ms,
            saturated: false,
            reasons: Vec::new(),
        };
        load.reasons = load.limits_passed();
        load.saturated = !load.reasons.is_empty();
        load
    }

    fn limits_passed(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(p99) = self.wake_lag_ms.p99.filter(|p| *p > WAKE_LAG_P99_LIMIT_MS) {
            out.push(format!(
                "the client answered wake-ups {p99:.1} ms late at p99 (limit {WAKE_LAG_P99_LIMIT_MS} ms)"
            ));
        }
        if let Some(busy) = self
            .runtime_busy_pct
            .filter(|b| *b > RUNTIME_BUSY_LIMIT_PCT)
        {
            out.push(format!(
                "the client's runtime thread was busy {busy:.0}% of the time (limit {RUNTIME_BUSY_LIMIT_PCT}%)"
            ));
        }
        if let Some(wait) = self
            .runtime_waiting_pct
            .filter(|w| *w > RUNTIME_WAITING_LIMIT_PCT)
        {
            out.push(format!(
                "the client's runtime thread waited for a CPU {wait:.0}% of the time (limit {RUNTIME_WAITING_LIMIT_PCT}%): other processes held the cores"
            ));
        }
        out
    }

    /// One line for the run summary.
    pub fn line(&self) -> String {
        let pct = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |v| format!("{v:.0}%"));
        let ms = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"));
        let cpu = match (self.cpu_s, self.cpu_us_per_token) {
            (Some(s), Some(t)) => format!("{s:.2} s CPU ({t:.1} µs per token), "),
            (Some(s), None) => format!("{s:.2} s CPU, "),
            _ => String::new(),
        };
        format!(
            "client: {cpu}runtime busy {}, waiting for a CPU {}; wake-up lag p50 {} ms, p99 {} ms, max {} ms",
            pct(self.runtime_busy_pct),
            pct(self.runtime_waiting_pct),
            ms(self.wake_lag_ms.p50),
            ms(self.wake_lag_ms.p99),
            ms(self.wake_lag_ms.max),
        )
    }

    /// The loads of shards run side by side (`stackbench merge`): CPU
    /// adds up, shares and lags are the worst shard's, and the merge is
    /// saturated when any shard was.
    pub fn merge(all: &[&ClientLoad]) -> Option<Self> {
        let worst_lag = all
            .iter()
            .max_by(|a, b| {
                let p = |l: &ClientLoad| l.wake_lag_ms.p99.unwrap_or(0.0);
                p(a).total_cmp(&p(b))
            })
            .copied()?;
        let max =
            |f: fn(&ClientLoad) -> Option<f64>| all.iter().filter_map(|l| f(l)).reduce(f64::max);
        let sum = |f: fn(&ClientLoad) -> Option<f64>| all.iter().map(|l| f(l)).sum::<Option<f64>>();
        let mut reasons: Vec<String> = Vec::new();
        for r in all.iter().flat_map(|l| &l.reasons) {
            if !reasons.contains(r) {
                reasons.push(r.clone());
            }
        }
        Some(Self {
            threads: all.iter().map(|l| l.threads).sum(),
            cpu_s: sum(|l| l.cpu_s),
            cpu_us_per_token: None,
            runtime_busy_pct: max(|l| l.runtime_busy_pct),
            runtime_waiting_pct: max(|l| l.runtime_waiting_pct),
            wake_lag_ms: worst_lag.wake_lag_ms,
            probe_interval_ms: worst_lag.probe_interval_ms,
            saturated: all.iter().any(|l| l.saturated),
            reasons,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::Hist;

    fn figures(lags_us: &[u64], runtime_cpu_s: f64, wait_s: f64) -> ClientFigures {
        let mut h = Hist::latency();
        for l in lags_us {
            h.record(*l);
        }
        ClientFigures {
            threads: 1,
            wall_s: 10.0,
            output_tokens: 100_000,
            cpu_s: Some(0.5),
            runtime_cpu_s: Some(runtime_cpu_s),
            runtime_wait_s: Some(wait_s),
            wake_lag_us: h,
            probe_interval_ms: 5.0,
        }
    }

    #[test]
    fn a_healthy_client_is_not_saturated() {
        let l = ClientLoad::judge(&figures(&[40; 200], 1.0, 0.1));
        assert!(!l.saturated, "{l:?}");
        assert!(l.reasons.is_empty());
        assert_eq!(l.runtime_busy_pct, Some(10.0));
        assert_eq!(l.runtime_waiting_pct, Some(1.0));
        assert_eq!(l.cpu_us_per_token, Some(5.0));
    }

    #[test]
    fn late_wake_ups_a_busy_runtime_or_a_starved_one_saturate() {
        let mut lags = vec![40; 195];
        lags.extend([9_000; 5]);
        let late = ClientLoad::judge(&figures(&lags, 1.0, 0.0));
        assert!(late.saturated);
        assert_eq!(late.reasons.len(), 1, "{:?}", late.reasons);
        assert!(
            late.reasons[0].contains("late at p99"),
            "{:?}",
            late.reasons
        );

        let busy = ClientLoad::judge(&figures(&[40; 200], 9.5, 0.0));
        assert!(busy.saturated);
        assert!(busy.reasons[0].contains("busy 95%"), "{:?}", busy.reasons);

        let starved = ClientLoad::judge(&figures(&[40; 200], 0.1, 4.0));
        assert!(starved.saturated);
        assert!(
            starved.reasons[0].contains("waited for a CPU 40%"),
            "{:?}",
            starved.reasons
        );
    }

    #[test]
    fn a_bursty_but_healthy_run_is_not_saturated() {
        // A burst of events every 20 ms: most probes answered at once, a
        // few (the ones landing in a burst) 2 ms late.
        let mut lags = vec![25; 190];
        lags.extend([2_000; 10]);
        assert!(!ClientLoad::judge(&figures(&lags, 1.7, 1.0)).saturated);
    }

    #[test]
    fn one_late_probe_in_a_hundred_is_not_p99() {
        // 1 of 200 samples late: below the 99th percentile.
        let mut lags = vec![40; 199];
        lags.push(50_000);
        assert!(!ClientLoad::judge(&figures(&lags, 1.0, 0.0)).saturated);
    }

    #[test]
    fn a_merge_is_saturated_when_any_shard_was() {
        let ok = ClientLoad::judge(&figures(&[40; 200], 1.0, 0.0));
        let bad = ClientLoad::judge(&figures(&[9_000; 200], 1.0, 0.0));
        let m = ClientLoad::merge(&[&ok, &bad]).expect("two shards");
        assert!(m.saturated);
        assert_eq!(m.threads, 2);
        assert_eq!(m.cpu_s, Some(1.0));
        assert_eq!(m.wake_lag_ms, bad.wake_lag_ms);
        assert!(ClientLoad::merge(&[]).is_none());
    }
}
