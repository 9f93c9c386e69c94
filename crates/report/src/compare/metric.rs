//! The metrics `compare` judges, as one enum: each key's name (the JSON
//! `key`, the `--threshold` and `[compare]` key), what it is, which way is
//! better and its default threshold. An unknown key is an error, never a
//! default metric.
//!
//! Two metrics exist only for runs that reasoned (a pair or history
//! series where no run did leaves them out): the time to first answer
//! token, judged as a latency, and the reasoning share, which has no
//! better direction (a new image that thinks more is a change of
//! behaviour, not a regression): its change is reported, never gated.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Rates.
    Higher,
    /// Latencies, errors.
    Lower,
    /// Neither: a change is reported, never a regression (the reasoning
    /// share).
    Neither,
}

/// A metric `compare` judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricKey {
    /// Per-request decode tok/s, median.
    DecodeTokSP50,
    /// Total output tok/s over the steady window.
    TotalTokS,
    /// Time to first token, median.
    TtftP50Ms,
    /// Time to first token, 99th percentile.
    TtftP99Ms,
    /// Per-request mean inter-token latency, median.
    ItlP50Ms,
    /// Per-request mean inter-token latency, 99th percentile.
    ItlP99Ms,
    /// End-to-end latency, median.
    E2eP50Ms,
    /// Failed requests, % (changes in points).
    ErrorRatePct,
    /// Time to first answer token (after any reasoning), median.
    TtfatP50Ms,
    /// Reasoning tokens, % of output tokens (changes in points; reported,
    /// not gated).
    ReasoningSharePct,
}

/// A metric key `compare` does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown metric '{0}' (known: {known})", known = MetricKey::ALL.map(MetricKey::name).join(", "))]
pub struct UnknownMetric(pub String);

impl MetricKey {
    /// Every metric, in the order the tables list them (the metrics added
    /// later come last, so the seed of each older one stays as it was).
    pub const ALL: [Self; 10] = [
        Self::DecodeTokSP50,
        Self::TotalTokS,
        Self::TtftP50Ms,
        Self::TtftP99Ms,
        Self::ItlP50Ms,
        Self::ItlP99Ms,
        Self::E2eP50Ms,
        Self::ErrorRatePct,
        Self::TtfatP50Ms,
        Self::ReasoningSharePct,
    ];

    /// The key as written in JSON, `--threshold` and `[compare]`.
    pub fn name(self) -> &'static str {
        match self {
            Self::DecodeTokSP50 => "decode_tok_s_p50",
            Self::TotalTokS => "total_tok_s",
            Self::TtftP50Ms => "ttft_p50_ms",
            Self::TtftP99Ms => "ttft_p99_ms",
            Self::ItlP50Ms => "itl_p50_ms",
            Self::ItlP99Ms => "itl_p99_ms",
            Self::E2eP50Ms => "e2e_p50_ms",
            Self::ErrorRatePct => "error_rate_pct",
            Self::TtfatP50Ms => "ttfat_p50_ms",
            Self::ReasoningSharePct => "reasoning_share_pct",
        }
    }

    /// What it is, for people.
    pub fn description(self) -> &'static str {
        match self {
            Self::DecodeTokSP50 => "decode tok/s p50 (per request; at c=1 the single-user figure)",
            Self::TotalTokS => "total tok/s (steady window)",
            Self::TtftP50Ms => "TTFT p50 ms",
            Self::TtftP99Ms => "TTFT p99 ms",
            Self::ItlP50Ms => "ITL p50 ms (per-request mean)",
            Self::ItlP99Ms => "ITL p99 ms (per-request mean)",
            Self::E2eP50Ms => "E2E p50 ms",
            Self::ErrorRatePct => "error rate % (change in points)",
            Self::TtfatP50Ms => "TTFAT p50 ms (time to first answer token)",
            Self::ReasoningSharePct => {
                "reasoning % of output tokens (change in points; reported, not gated)"
            }
        }
    }

    /// Which way is better.
    pub fn better(self) -> Better {
        match self {
            Self::DecodeTokSP50 | Self::TotalTokS => Better::Higher,
            Self::ReasoningSharePct => Better::Neither,
            _ => Better::Lower,
        }
    }

    /// The default threshold, % (percentage points for the error rate).
    pub fn default_threshold(self) -> f64 {
        match self {
            Self::DecodeTokSP50 | Self::TotalTokS => 5.0,
            Self::TtftP50Ms | Self::ItlP50Ms | Self::E2eP50Ms | Self::TtfatP50Ms => 10.0,
            Self::TtftP99Ms | Self::ItlP99Ms => 20.0,
            Self::ErrorRatePct => 1.0,
            Self::ReasoningSharePct => 5.0,
        }
    }

    /// Whether a change can fail the gate: every metric but the reasoning
    /// share, whose change beyond its threshold reads *changed* and
    /// passes.
    pub fn gated(self) -> bool {
        self.better() != Better::Neither
    }

    /// Whether the metric means anything only for runs that reasoned
    /// (left out of a pair or series where no run did).
    pub fn needs_reasoning(self) -> bool {
        matches!(self, Self::TtfatP50Ms | Self::ReasoningSharePct)
    }

    /// Whether it is counted exactly from the records (its interval is the
    /// change itself), not sampled.
    pub fn counted_exactly(self) -> bool {
        matches!(self, Self::ErrorRatePct | Self::ReasoningSharePct)
    }

    /// The bootstrap seed `compare` judges this metric with (and `history`
    /// too, so a step reads exactly as `compare` would read it).
    pub fn seed(self) -> u64 {
        let i = Self::ALL.iter().position(|k| *k == self).unwrap_or(0);
        0x5eed_0000 + i as u64
    }

    /// Whether its change is in percentage points (not %).
    pub fn in_points(self) -> bool {
        matches!(self, Self::ErrorRatePct | Self::ReasoningSharePct)
    }
}

impl FromStr for MetricKey {
    type Err = UnknownMetric;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownMetric(s.to_string()))
    }
}

impl fmt::Display for MetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for MetricKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_and_unknown_names_are_refused() {
        for k in MetricKey::ALL {
            assert_eq!(k.name().parse::<MetricKey>(), Ok(k));
            assert_eq!(serde_json::to_string(&k).ok(), Some(format!("\"{k}\"")));
        }
        let err = "e2e_p99_ms".parse::<MetricKey>().err();
        assert_eq!(err, Some(UnknownMetric("e2e_p99_ms".into())));
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.contains("known: decode_tok_s_p50, total_tok_s"),
            "{text}"
        );
    }

    #[test]
    fn rates_are_better_higher_and_latencies_lower() {
        assert_eq!(MetricKey::TotalTokS.better(), Better::Higher);
        assert_eq!(MetricKey::E2eP50Ms.better(), Better::Lower);
        assert_eq!(MetricKey::ErrorRatePct.default_threshold(), 1.0);
        assert!(MetricKey::ErrorRatePct.in_points());
        assert_eq!(MetricKey::TtfatP50Ms.better(), Better::Lower);
        assert_eq!(MetricKey::ReasoningSharePct.better(), Better::Neither);
        assert!(!MetricKey::ReasoningSharePct.gated());
        assert!(MetricKey::ReasoningSharePct.in_points());
        assert!(MetricKey::TtfatP50Ms.gated());
    }

    /// The seeds of the metrics that existed before the reasoning ones are
    /// as they were: a history or calibration made before reads the same.
    #[test]
    fn older_metrics_keep_their_seeds() {
        assert_eq!(MetricKey::DecodeTokSP50.seed(), 0x5eed_0000);
        assert_eq!(MetricKey::ErrorRatePct.seed(), 0x5eed_0007);
        assert_eq!(MetricKey::TtfatP50Ms.seed(), 0x5eed_0008);
    }
}
