//! Service-level objectives and goodput: the share and the rate of
//! requests that met every latency limit a user cares about.
//!
//! A request *meets* the SLO when it succeeded and each limit given holds
//! for it (TTFT, TPOT, E2E; a limit left out is not judged). Failed
//! requests are judged and miss; requests cancelled at the end of a timed
//! run are not judged (they never had the chance). Goodput is what
//! DistServe and vLLM's `--goodput` call it: requests meeting the SLO per
//! second of the measured phase.

use serde::{Deserialize, Serialize};

/// Latency limits, ms. At least one is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// Time to first token, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    /// Time per output token after the first, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpot_ms: Option<f64>,
    /// End-to-end latency, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_ms: Option<f64>,
}

/// Why an SLO text could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SloError {
    /// A part is not `name=value`, names an unknown limit, or has a value
    /// that is not a positive number.
    #[error("'{part}': {why} (expected e.g. ttft_ms=500,tpot_ms=50,e2e_ms=10000)")]
    Part {
        /// The offending part.
        part: String,
        /// What is wrong.
        why: String,
    },
    /// No limit given.
    #[error("an SLO needs at least one of ttft_ms, tpot_ms, e2e_ms")]
    Empty,
}

impl std::str::FromStr for Slo {
    type Err = SloError;

    /// Parses `ttft_ms=500,tpot_ms=50,e2e_ms=10000` (any subset, any order).
    fn from_str(s: &str) -> Result<Self, SloError> {
        let mut slo = Slo::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = |why: &str| SloError::Part {
                part: part.to_string(),
                why: why.to_string(),
            };
            let (name, value) = part.split_once('=').ok_or_else(|| bad("not name=value"))?;
            let v: f64 = value
                .trim()
                .parse()
                .map_err(|_| bad("the value is not a number"))?;
            if !(v.is_finite() && v > 0.0) {
                return Err(bad("the value must be a positive number of ms"));
            }
            let slot = match name.trim() {
                "ttft_ms" => &mut slo.ttft_ms,
                "tpot_ms" => &mut slo.tpot_ms,
                "e2e_ms" => &mut slo.e2e_ms,
                _ => return Err(bad("unknown limit; known: ttft_ms, tpot_ms, e2e_ms")),
            };
            if slot.replace(v).is_some() {
                return Err(bad("given twice"));
            }
        }
        if slo == Slo::default() {
            return Err(SloError::Empty);
        }
        Ok(slo)
    }
}

impl std::fmt::Display for Slo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = [
            ("ttft_ms", self.ttft_ms),
            ("tpot_ms", self.tpot_ms),
            ("e2e_ms", self.e2e_ms),
        ]
        .iter()
        .filter_map(|(n, v)| v.map(|v| format!("{n}={v}")))
        .collect();
        f.write_str(&parts.join(","))
    }
}

impl Slo {
    /// Whether a successful request with these latencies meets every limit.
    /// A request without a TPOT (one content event) is judged on the other
    /// limits only.
    pub fn met_by(&self, ttft_us: u64, tpot_us: Option<f64>, e2e_us: u64) -> bool {
        let within = |limit: Option<f64>, us: f64| limit.map_or(true, |ms| us <= ms * 1000.0);
        within(self.ttft_ms, ttft_us as f64)
            && tpot_us.map_or(true, |t| within(self.tpot_ms, t))
            && within(self.e2e_ms, e2e_us as f64)
    }
}

/// Goodput of a measured phase.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Goodput {
    /// The limits judged.
    pub slo: Slo,
    /// Requests that met every limit.
    pub met: u64,
    /// Requests judged: OK plus failed (cancelled ones are not judged).
    pub judged: u64,
    /// `met / judged`, %.
    pub share_pct: f64,
    /// `met` per second of the measured phase.
    pub rate_per_s: f64,
}

impl Goodput {
    /// Goodput from the counts of a phase that lasted `wall_s` seconds.
    pub fn new(slo: Slo, met: u64, judged: u64, wall_s: f64) -> Self {
        Self {
            slo,
            met,
            judged,
            share_pct: if judged > 0 {
                met as f64 * 100.0 / judged as f64
            } else {
                0.0
            },
            rate_per_s: if wall_s > 0.0 {
                met as f64 / wall_s
            } else {
                0.0
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_subset_and_prints_it_back() {
        let s: Slo = "ttft_ms=500, e2e_ms=2500.5".parse().unwrap();
        assert_eq!(s.ttft_ms, Some(500.0));
        assert_eq!(s.tpot_ms, None);
        assert_eq!(s.to_string(), "ttft_ms=500,e2e_ms=2500.5");
        assert_eq!(s.to_string().parse::<Slo>().unwrap(), s);
    }

    #[test]
    fn bad_slos_say_what_is_wrong() {
        for (text, needle) in [
            ("", "at least one"),
            ("ttft=5", "unknown limit"),
            ("ttft_ms", "name=value"),
            ("ttft_ms=-1", "positive"),
            ("ttft_ms=abc", "not a number"),
            ("ttft_ms=1,ttft_ms=2", "twice"),
        ] {
            let e = text.parse::<Slo>().unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn a_request_meets_the_slo_only_within_every_limit() {
        let s: Slo = "ttft_ms=100,tpot_ms=10".parse().unwrap();
        assert!(s.met_by(100_000, Some(10_000.0), 9_999_999));
        assert!(!s.met_by(100_001, Some(1.0), 0));
        assert!(!s.met_by(1, Some(10_001.0), 0));
        assert!(s.met_by(1, None, 0), "no TPOT: judged on TTFT only");
        let g = Goodput::new(s, 3, 4, 2.0);
        assert_eq!((g.share_pct, g.rate_per_s), (75.0, 1.5));
    }
}
