//! The latency model: when each token of a stream is due.
//!
//! * TTFT = queue wait for a slot + `ttft-ms` + prompt tokens / `prefill-tps`.
//! * Decode: the per-stream rate is `aggregate(active) / active`, where
//!   `active` is the number of streams holding a slot and `aggregate` is the
//!   profile's batch curve. Token `k`'s deadline is the previous token's
//!   deadline plus `1 / rate` at that moment, so with a constant number of
//!   active streams the tokens are exactly `1/rate` apart on average however
//!   late the timer fires.
//! * Events group consecutive tokens (`tokens-per-event`, or an MTP burst of
//!   1 + accepted drafts); an event is sent at the deadline of its last token.

use rand::rngs::SmallRng;
use rand::Rng;

use crate::profile::Profile;

/// The model derived from a profile.
#[derive(Debug, Clone)]
pub struct LatencyModel {
    ttft_s: f64,
    prefill_tps: f64,
    decode_tps: f64,
    curve: Vec<(f64, f64)>,
    tokens_per_event: u32,
    mtp: Option<(u32, f64)>,
}

impl LatencyModel {
    /// The model of `p`.
    pub fn new(p: &Profile) -> Self {
        let l = &p.latency;
        Self {
            ttft_s: l.ttft_ms / 1000.0,
            prefill_tps: l.prefill_tps,
            decode_tps: l.decode_tps,
            curve: l
                .batch_curve
                .iter()
                .map(|(n, t)| (f64::from(*n), *t))
                .collect(),
            tokens_per_event: l.tokens_per_event,
            mtp: p.mtp.as_ref().map(|m| (m.draft_tokens, m.acceptance)),
        }
    }

    /// Prefill time of a prompt once it holds a slot, s.
    pub fn prefill_s(&self, prompt_tokens: u64) -> f64 {
        self.ttft_s + prompt_tokens as f64 / self.prefill_tps
    }

    /// Aggregate decode tok/s with `active` streams.
    pub fn aggregate_tps(&self, active: usize) -> f64 {
        let n = active.max(1) as f64;
        if self.curve.is_empty() {
            return n * self.decode_tps;
        }
        let mut prev = (0.0, 0.0);
        for &(x, y) in &self.curve {
            if n <= x {
                let t = (n - prev.0) / (x - prev.0);
                return prev.1 + t * (y - prev.1);
            }
            prev = (x, y);
        }
        prev.1
    }

    /// Per-stream decode rate with `active` streams, tok/s.
    pub fn stream_tps(&self, active: usize) -> f64 {
        self.aggregate_tps(active) / active.max(1) as f64
    }

    /// The size of the next event, at most `remaining` tokens. The first
    /// event (from prefill) always carries one token.
    pub fn event_size(&self, first: bool, remaining: u64, rng: &mut SmallRng) -> u64 {
        if first {
            return 1.min(remaining);
        }
        let n = match self.mtp {
            Some((drafts, p)) => {
                let mut n = 1;
                while n <= drafts && rng.gen_bool(p) {
                    n += 1;
                }
                u64::from(n)
            }
            None => u64::from(self.tokens_per_event),
        };
        n.min(remaining)
    }

    /// Draft tokens proposed per decode step, when MTP is on.
    pub fn mtp_drafts(&self) -> Option<u32> {
        self.mtp.map(|(d, _)| d)
    }

    /// The configured MTP acceptance rate, if any.
    pub fn mtp_acceptance(&self) -> Option<f64> {
        self.mtp.map(|(_, p)| p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::BUILTIN_PROFILES;
    use rand::SeedableRng;

    fn model(name: &str) -> LatencyModel {
        let (_, text) = BUILTIN_PROFILES.iter().find(|(n, _)| *n == name).unwrap();
        LatencyModel::new(&Profile::parse(text, name).unwrap())
    }

    #[test]
    fn batch_curve_hits_its_points_and_saturates() {
        let m = model("vllm-nvfp4-mtp1");
        assert!((m.aggregate_tps(1) - 55.9).abs() < 1e-9);
        assert!((m.aggregate_tps(32) - 433.0).abs() < 1e-9);
        assert!(m.aggregate_tps(16) > 55.9 && m.aggregate_tps(16) < 433.0);
        assert!((m.stream_tps(32) - 433.0 / 32.0).abs() < 1e-9);
    }

    #[test]
    fn mtp_bursts_average_one_plus_acceptance() {
        let m = model("vllm-nvfp4-mtp1");
        let p = m.mtp_acceptance().unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        let n = 20_000;
        let total: u64 = (0..n).map(|_| m.event_size(false, 100, &mut rng)).sum();
        let mean = total as f64 / n as f64;
        assert!((mean - (1.0 + p)).abs() < 0.02, "{mean}");
    }

    #[test]
    fn first_event_is_one_token_and_sizes_never_exceed_remaining() {
        let m = model("vllm-nvfp4-mtp1");
        let mut rng = SmallRng::seed_from_u64(2);
        assert_eq!(m.event_size(true, 50, &mut rng), 1);
        assert!((0..100).all(|_| m.event_size(false, 1, &mut rng) == 1));
    }
}
