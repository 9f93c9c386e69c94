//! Mergeable HDR histograms for every per-request and per-token metric.
//!
//! Each worker owns one [`LatencyHistograms`] and records into it without
//! locks; the engine merges them once at the end (`+=`). Nothing keeps a
//! vector of samples. Latencies are stored in microseconds, rates in
//! milli-tokens per second, both with 3 significant digits (the per-turn
//! ones of a multi-turn run with 2). The serialized form is base64 of
//! HdrHistogram's V2 deflate encoding, so runs and shards can be merged
//! later by any HdrHistogram implementation.

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Highest latency we can record: one hour in microseconds. Larger values
/// are clamped (and still counted) rather than dropped.
const MAX_LATENCY_US: u64 = 3_600_000_000;
/// Highest rate we can record: 10 million tokens/s in milli-tokens/s.
const MAX_RATE_MTPS: u64 = 10_000_000_000;
const SIGFIG: u8 = 3;
/// Per-turn histograms keep 2 significant digits (1 % resolution, enough
/// for a per-turn median): a 3-digit pair costs ~390 KB per turn and result
/// shard, a 2-digit pair ~54 KB, and a conversation has up to
/// [`MAX_TURNS`] of them.
const TURN_SIGFIG: u8 = 2;
/// Most turns a conversation may have: each turn keeps its own pair of
/// histograms in every result shard (~216 KB a turn), so a conversation of
/// 100 turns costs ~22 MB, and its history (100 messages and answers) is
/// past most served context windows anyway.
pub const MAX_TURNS: u32 = 100;

/// Errors from (de)serializing histograms.
#[derive(Debug, thiserror::Error)]
pub enum HistError {
    /// The base64 text was not valid base64.
    #[error("histogram is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The bytes were not a valid V2 histogram.
    #[error("histogram is not a valid HdrHistogram V2 encoding: {0}")]
    Decode(String),
    /// The histogram bounds did not fit.
    #[error("histogram could not be created: {0}")]
    Create(String),
    /// The histogram could not be encoded.
    #[error("histogram could not be encoded: {0}")]
    Encode(String),
}

/// One HDR histogram with a fixed range, clamping out-of-range samples.
#[derive(Debug, Clone)]
pub struct Hist {
    inner: Histogram<u64>,
}

impl Hist {
    fn with_bounds(max: u64, sigfig: u8) -> Self {
        // Bounds are constants that hdrhistogram accepts; a failure here is a
        // programming error caught by every test.
        let inner = Histogram::new_with_bounds(1, max, sigfig)
            .expect("constant histogram bounds are valid");
        Self { inner }
    }

    /// A histogram for latencies in microseconds.
    pub fn latency() -> Self {
        Self::with_bounds(MAX_LATENCY_US, SIGFIG)
    }

    /// A histogram for rates in milli-tokens per second.
    pub fn rate() -> Self {
        Self::with_bounds(MAX_RATE_MTPS, SIGFIG)
    }

    /// [`Hist::latency`] with 2 significant digits, for per-turn figures.
    pub fn turn_latency() -> Self {
        Self::with_bounds(MAX_LATENCY_US, TURN_SIGFIG)
    }

    /// [`Hist::rate`] with 2 significant digits, for per-turn figures.
    pub fn turn_rate() -> Self {
        Self::with_bounds(MAX_RATE_MTPS, TURN_SIGFIG)
    }

    /// Records `value` once, clamped into the histogram's range.
    pub fn record(&mut self, value: u64) {
        self.record_n(value, 1);
    }

    /// Records `value` `count` times, clamped into the histogram's range.
    pub fn record_n(&mut self, value: u64, count: u64) {
        let v = value.clamp(1, self.inner.high());
        // saturating_record_n cannot fail for clamped values.
        self.inner.saturating_record_n(v, count);
    }

    /// Number of recorded samples.
    pub fn len(&self) -> u64 {
        self.inner.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The value at quantile `q` (0..=1), or `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        (!self.is_empty()).then(|| self.inner.value_at_quantile(q))
    }

    /// The mean, or `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.inner.mean())
    }

    /// Smallest and largest recorded values, or `None` when empty.
    pub fn min_max(&self) -> Option<(u64, u64)> {
        (!self.is_empty()).then(|| (self.inner.min(), self.inner.max()))
    }

    /// Adds every sample of `other` to `self`.
    pub fn merge(&mut self, other: &Hist) {
        // Both sides share the same bounds by construction, so `add` only
        // fails if a deserialized histogram had wider bounds; clamp then.
        if self.inner.add(&other.inner).is_err() {
            for v in other.inner.iter_recorded() {
                self.record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }

    /// Every recorded value with its count, ascending.
    pub fn recorded(&self) -> Vec<(u64, u64)> {
        self.inner
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    }

    /// `(quantile, value)` steps of the percentile distribution, as
    /// HdrHistogram's percentile iterator walks it: `ticks` steps per half
    /// of the remaining distance to 100%, ending at 100%.
    pub fn percentile_steps(&self, ticks: u32) -> Vec<(f64, u64, u64)> {
        let mut total = 0u64;
        self.inner
            .iter_quantiles(ticks)
            .map(|v| {
                total += v.count_since_last_iteration();
                (v.quantile_iterated_to(), v.value_iterated_to(), total)
            })
            .collect()
    }

    /// The histogram as HdrHistogram's text percentile distribution (the
    /// `.hgrm` format of Java's `outputPercentileDistribution` with 5
    /// ticks per half distance, which HdrHistogram's plotter and
    /// `HistogramLogProcessor` users read), values divided by `scale`.
    pub fn hgrm(&self, scale: f64) -> String {
        use std::fmt::Write;
        let digits = usize::from(SIGFIG);
        let mut out = format!(
            "{:>12} {:>14} {:>10} {:>14}\n\n",
            "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
        );
        for (q, v, total) in self.percentile_steps(5) {
            let value = v as f64 / scale;
            if q < 1.0 {
                let _ = writeln!(
                    out,
                    "{value:>12.digits$} {q:>2.12} {total:>10} {:>14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(out, "{value:>12.digits$} {q:>2.12} {total:>10}");
            }
        }
        let (mean, sd) = if self.is_empty() {
            (0.0, 0.0)
        } else {
            (self.inner.mean() / scale, self.inner.stdev() / scale)
        };
        let max = self.min_max().map_or(0.0, |(_, m)| m as f64 / scale);
        // Java's sub-bucket count: 2^ceil(log2(2 * 10^sigfig)).
        let sub_buckets = (2 * 10u64.pow(u32::from(SIGFIG))).next_power_of_two();
        let _ = writeln!(
            out,
            "#[Mean    = {mean:>12.digits$}, StdDeviation   = {sd:>12.digits$}]"
        );
        let _ = writeln!(
            out,
            "#[Max     = {max:>12.digits$}, Total count    = {:>12}]",
            self.len()
        );
        let _ = writeln!(
            out,
            "#[Buckets = {:>12}, SubBuckets     = {sub_buckets:>12}]",
            self.inner.buckets()
        );
        out
    }

    /// Base64 of the V2 deflate serialization.
    pub fn to_base64(&self) -> Result<String, HistError> {
        let mut buf = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&self.inner, &mut buf)
            .map_err(|e| HistError::Encode(format!("{e:?}")))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(buf))
    }

    /// Parses the form written by [`Hist::to_base64`].
    pub fn from_base64(text: &str, latency: bool) -> Result<Self, HistError> {
        let empty = if latency {
            Self::latency()
        } else {
            Self::rate()
        };
        Self::from_base64_into(text, empty)
    }

    /// Decodes [`Hist::to_base64`]'s text into `out` (empty, of the
    /// range and precision the figure is kept at).
    pub fn from_base64_into(text: &str, mut out: Self) -> Result<Self, HistError> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(text)?;
        let decoded: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| HistError::Decode(format!("{e:?}")))?;
        for v in decoded.iter_recorded() {
            out.record_n(v.value_iterated_to(), v.count_at_value());
        }
        Ok(out)
    }
}

/// A distribution summarised from one histogram, in the unit its name says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Dist {
    /// Number of samples.
    pub count: u64,
    /// Mean.
    pub mean: Option<f64>,
    /// Smallest sample.
    pub min: Option<f64>,
    /// 10th percentile.
    pub p10: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest sample.
    pub max: Option<f64>,
}

impl Dist {
    /// Summarises `h`, dividing every value by `scale` (1000 turns µs into ms
    /// and milli-tokens/s into tokens/s).
    pub fn from_hist(h: &Hist, scale: f64) -> Self {
        let q = |p: f64| h.quantile(p).map(|v| v as f64 / scale);
        let (min, max) = h.min_max().map_or((None, None), |(a, b)| {
            (Some(a as f64 / scale), Some(b as f64 / scale))
        });
        Self {
            count: h.len(),
            mean: h.mean().map(|m| m / scale),
            min,
            p10: q(0.10),
            p50: q(0.50),
            p90: q(0.90),
            p99: q(0.99),
            max,
        }
    }
}

/// The full set of histograms one run (or one worker) accumulates.
#[derive(Debug, Clone)]
pub struct LatencyHistograms {
    /// Time to first token, µs: first content event − request start.
    pub ttft_us: Hist,
    /// Inter-token latency, µs: one sample per token after the first event,
    /// the gap to the previous content event divided by the event's tokens.
    pub itl_us: Hist,
    /// Raw gap between consecutive content events, µs: one sample per event.
    pub event_gap_us: Hist,
    /// Time per output token of each request, µs.
    pub tpot_us: Hist,
    /// End-to-end latency, µs: last content event − request start.
    pub e2e_us: Hist,
    /// Decode rate of each request, milli-tokens/s.
    pub decode_mtps: Hist,
    /// End-to-end output rate of each request (output tokens / E2E),
    /// milli-tokens/s: what a user waiting for the whole answer sees.
    pub e2e_rate_mtps: Hist,
    /// Prompt tokens of each request as the server reported them: the
    /// achieved prompt length, beside the one asked for.
    pub prompt_tokens: Hist,
    /// Prefill rate of each request, milli-tokens/s: prompt tokens the
    /// server processed (reported minus cached) / TTFT.
    pub prefill_mtps: Hist,
    /// Open-loop runs: actual − planned send time of each request, µs
    /// (empty in closed-loop runs).
    pub schedule_lag_us: Hist,
    /// Time to first answer token, µs: the first content event with
    /// answer text outside the reasoning (the TTFT of a request that did
    /// not reason).
    pub ttfat_us: Hist,
    /// Multi-turn runs: TTFT and prefill rate of each turn (from 1).
    pub turns: BTreeMap<u32, TurnHistograms>,
}

/// The per-turn histograms of a multi-turn run.
#[derive(Debug, Clone)]
pub struct TurnHistograms {
    /// Time to first token of the turn's requests, µs.
    pub ttft_us: Hist,
    /// Prefill rate of the turn's requests, milli-tokens/s (prompt tokens
    /// processed, the cached ones left out, / TTFT).
    pub prefill_mtps: Hist,
}

impl Default for TurnHistograms {
    fn default() -> Self {
        Self {
            ttft_us: Hist::turn_latency(),
            prefill_mtps: Hist::turn_rate(),
        }
    }
}

/// [`TurnHistograms`] as `run.json` stores them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SerializedTurn {
    /// See [`TurnHistograms::ttft_us`].
    pub ttft: String,
    /// See [`TurnHistograms::prefill_mtps`].
    pub prefill_rate: String,
}

impl Default for LatencyHistograms {
    fn default() -> Self {
        Self {
            ttft_us: Hist::latency(),
            itl_us: Hist::latency(),
            event_gap_us: Hist::latency(),
            tpot_us: Hist::latency(),
            e2e_us: Hist::latency(),
            decode_mtps: Hist::rate(),
            e2e_rate_mtps: Hist::rate(),
            prompt_tokens: Hist::latency(),
            prefill_mtps: Hist::rate(),
            schedule_lag_us: Hist::latency(),
            ttfat_us: Hist::latency(),
            turns: BTreeMap::new(),
        }
    }
}

impl std::ops::AddAssign<&LatencyHistograms> for LatencyHistograms {
    fn add_assign(&mut self, o: &LatencyHistograms) {
        self.ttft_us.merge(&o.ttft_us);
        self.itl_us.merge(&o.itl_us);
        self.event_gap_us.merge(&o.event_gap_us);
        self.tpot_us.merge(&o.tpot_us);
        self.e2e_us.merge(&o.e2e_us);
        self.decode_mtps.merge(&o.decode_mtps);
        self.e2e_rate_mtps.merge(&o.e2e_rate_mtps);
        self.prompt_tokens.merge(&o.prompt_tokens);
        self.prefill_mtps.merge(&o.prefill_mtps);
        self.schedule_lag_us.merge(&o.schedule_lag_us);
        self.ttfat_us.merge(&o.ttfat_us);
        for (turn, h) in &o.turns {
            let mine = self.turns.entry(*turn).or_default();
            mine.ttft_us.merge(&h.ttft_us);
            mine.prefill_mtps.merge(&h.prefill_mtps);
        }
    }
}

/// Serialized histograms as stored in `run.json` (base64 V2 deflate).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SerializedHistograms {
    /// Unit of the latency histograms; always `"us"`.
    pub latency_unit: String,
    /// Unit of the rate histograms; always `"milli_tokens_per_s"`.
    pub rate_unit: String,
    /// See [`LatencyHistograms::ttft_us`].
    pub ttft: String,
    /// See [`LatencyHistograms::itl_us`].
    pub itl: String,
    /// See [`LatencyHistograms::event_gap_us`].
    pub event_gap: String,
    /// See [`LatencyHistograms::tpot_us`].
    pub tpot: String,
    /// See [`LatencyHistograms::e2e_us`].
    pub e2e: String,
    /// See [`LatencyHistograms::decode_mtps`].
    pub decode_rate: String,
    /// See [`LatencyHistograms::e2e_rate_mtps`].
    pub e2e_rate: String,
    /// See [`LatencyHistograms::prompt_tokens`], in tokens (empty in files
    /// written before it was added).
    #[serde(default)]
    pub prompt_tokens: String,
    /// See [`LatencyHistograms::prefill_mtps`], milli-tokens/s (empty in
    /// files written before it was added).
    #[serde(default)]
    pub prefill_rate: String,
    /// See [`LatencyHistograms::schedule_lag_us`], µs (empty in closed-loop
    /// runs and in files written before it was added).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub schedule_lag: String,
    /// See [`LatencyHistograms::ttfat_us`], µs (empty in files written
    /// before it was added).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ttfat: String,
    /// See [`LatencyHistograms::turns`], by turn (absent in single-turn
    /// runs).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub turns: BTreeMap<u32, SerializedTurn>,
}

/// A histogram added after version 2 was published: empty when absent.
fn optional(text: &str, latency: bool) -> Result<Hist, HistError> {
    match (text.is_empty(), latency) {
        (true, true) => Ok(Hist::latency()),
        (true, false) => Ok(Hist::rate()),
        (false, _) => Hist::from_base64(text, latency),
    }
}

impl LatencyHistograms {
    /// The `run.json` form.
    pub fn serialize(&self) -> Result<SerializedHistograms, HistError> {
        Ok(SerializedHistograms {
            latency_unit: "us".into(),
            rate_unit: "milli_tokens_per_s".into(),
            ttft: self.ttft_us.to_base64()?,
            itl: self.itl_us.to_base64()?,
            event_gap: self.event_gap_us.to_base64()?,
            tpot: self.tpot_us.to_base64()?,
            e2e: self.e2e_us.to_base64()?,
            decode_rate: self.decode_mtps.to_base64()?,
            e2e_rate: self.e2e_rate_mtps.to_base64()?,
            prompt_tokens: self.prompt_tokens.to_base64()?,
            prefill_rate: self.prefill_mtps.to_base64()?,
            // Absent (empty) in closed-loop runs.
            schedule_lag: if self.schedule_lag_us.is_empty() {
                String::new()
            } else {
                self.schedule_lag_us.to_base64()?
            },
            ttfat: if self.ttfat_us.is_empty() {
                String::new()
            } else {
                self.ttfat_us.to_base64()?
            },
            turns: self
                .turns
                .iter()
                .map(|(k, h)| {
                    Ok((
                        *k,
                        SerializedTurn {
                            ttft: h.ttft_us.to_base64()?,
                            prefill_rate: h.prefill_mtps.to_base64()?,
                        },
                    ))
                })
                .collect::<Result<_, HistError>>()?,
        })
    }

    /// Reads the `run.json` form back.
    pub fn deserialize(s: &SerializedHistograms) -> Result<Self, HistError> {
        Ok(Self {
            ttft_us: Hist::from_base64(&s.ttft, true)?,
            itl_us: Hist::from_base64(&s.itl, true)?,
            event_gap_us: Hist::from_base64(&s.event_gap, true)?,
            tpot_us: Hist::from_base64(&s.tpot, true)?,
            e2e_us: Hist::from_base64(&s.e2e, true)?,
            decode_mtps: Hist::from_base64(&s.decode_rate, false)?,
            e2e_rate_mtps: Hist::from_base64(&s.e2e_rate, false)?,
            prompt_tokens: optional(&s.prompt_tokens, true)?,
            prefill_mtps: optional(&s.prefill_rate, false)?,
            schedule_lag_us: optional(&s.schedule_lag, true)?,
            ttfat_us: optional(&s.ttfat, true)?,
            turns: s
                .turns
                .iter()
                .map(|(k, t)| {
                    Ok((
                        *k,
                        TurnHistograms {
                            ttft_us: Hist::from_base64_into(&t.ttft, Hist::turn_latency())?,
                            prefill_mtps: Hist::from_base64_into(
                                &t.prefill_rate,
                                Hist::turn_rate(),
                            )?,
                        },
                    ))
                })
                .collect::<Result<_, HistError>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(values: &[u64]) -> Hist {
        let mut h = Hist::latency();
        values.iter().for_each(|v| h.record(*v));
        h
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let a = [10, 20, 3000, 40_000];
        let b = [5, 7, 123_456];
        let mut merged = filled(&a);
        merged.merge(&filled(&b));
        let all: Vec<u64> = a.iter().chain(b.iter()).copied().collect();
        let one = filled(&all);
        for q in [0.0, 0.1, 0.5, 0.9, 0.99, 1.0] {
            assert_eq!(merged.quantile(q), one.quantile(q), "q={q}");
        }
        assert_eq!(merged.len(), 7);
    }

    #[test]
    fn merge_is_associative() {
        let (a, b, c) = (filled(&[1, 2, 3]), filled(&[400, 500]), filled(&[60_000]));
        let mut left = a.clone();
        left.merge(&b);
        left.merge(&c);
        let mut bc = b.clone();
        bc.merge(&c);
        let mut right = a.clone();
        right.merge(&bc);
        assert_eq!(left.to_base64().unwrap(), right.to_base64().unwrap());
    }

    #[test]
    fn base64_round_trip_keeps_quantiles() {
        let h = filled(&[100, 200, 300, 1_000_000]);
        let back = Hist::from_base64(&h.to_base64().unwrap(), true).unwrap();
        assert_eq!(back.len(), 4);
        assert_eq!(back.quantile(0.5), h.quantile(0.5));
        assert_eq!(back.quantile(1.0), h.quantile(1.0));
    }

    #[test]
    fn turn_histograms_keep_one_percent_through_run_json() {
        let mut hists = LatencyHistograms::default();
        let turn = hists.turns.entry(2).or_default();
        for v in [123_456, 234_567, 345_678] {
            turn.ttft_us.record(v);
            turn.prefill_mtps.record(v * 1000);
        }
        let back = LatencyHistograms::deserialize(&hists.serialize().unwrap()).unwrap();
        let (t, want) = (&back.turns[&2], 234_567.0);
        for (got, want) in [
            (t.ttft_us.quantile(0.5), want),
            (t.prefill_mtps.quantile(0.5), want * 1000.0),
        ] {
            let got = got.unwrap() as f64;
            assert!((got - want).abs() / want < 0.01, "{got} vs {want}");
        }
        // Still 2 digits after the round trip: merging adds like to like.
        let mut sum = back.clone();
        sum += &back;
        assert_eq!(sum.turns[&2].ttft_us.len(), 6);
    }

    #[test]
    fn out_of_range_values_are_clamped_not_lost() {
        let mut h = Hist::latency();
        h.record(0);
        h.record(u64::MAX);
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn bad_base64_is_an_error_not_a_panic() {
        assert!(Hist::from_base64("not base64!!", true).is_err());
        assert!(Hist::from_base64("AAAA", true).is_err());
    }

    /// The layout of Java's `outputPercentileDistribution`: header, rows
    /// of value / percentile / total count / 1/(1-p), a last row at 100%
    /// without the last column, and the three footer lines.
    #[test]
    fn hgrm_has_hdrhistograms_layout() {
        let h = filled(&(1..=1000).collect::<Vec<_>>());
        let text = h.hgrm(1000.0);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines[1], "");
        assert_eq!(
            lines[2],
            "       0.001 0.000000000000          1           1.00"
        );
        let rows: Vec<&str> = lines[2..]
            .iter()
            .copied()
            .take_while(|l| !l.starts_with('#'))
            .collect();
        let last = rows.last().unwrap();
        assert_eq!(
            last.split_whitespace().collect::<Vec<_>>(),
            ["1.000", "1.000000000000", "1000"]
        );
        let median = rows
            .iter()
            .find(|r| r.split_whitespace().nth(1) == Some("0.500000000000"))
            .unwrap();
        assert_eq!(median.split_whitespace().next(), Some("0.500"));
        let footer = &lines[lines.len() - 3..];
        assert!(
            footer[0].starts_with("#[Mean    =        0.500"),
            "{}",
            footer[0]
        );
        assert!(
            footer[1].ends_with("Total count    =         1000]"),
            "{}",
            footer[1]
        );
        assert!(
            footer[2].contains("SubBuckets     =         2048]"),
            "{}",
            footer[2]
        );
    }

    #[test]
    fn percentiles_are_monotone() {
        let h = filled(&(1..1000).map(|i| i * 37 % 9973).collect::<Vec<_>>());
        let qs: Vec<u64> = (0..=100)
            .map(|p| h.quantile(p as f64 / 100.0).unwrap())
            .collect();
        assert!(qs.windows(2).all(|w| w[0] <= w[1]));
    }
}
