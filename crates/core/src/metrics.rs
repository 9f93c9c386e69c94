//! The metric definitions, applied to one request's stream of token events.
//!
//! These functions are the single source of truth for TTFT, ITL, TPOT, E2E
//! and decode rate; docs/metrics.md defines exactly what this code does.

use crate::histogram::LatencyHistograms;

/// One content event of a stream: when its bytes arrived (µs after the
/// request was handed to the HTTP client) and how many tokens it carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenEvent {
    /// Arrival time, µs after request start.
    pub at_us: u64,
    /// Tokens carried by this event (at least 1 for a content event).
    pub tokens: u32,
}

/// Per-request metrics derived from the token events.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestMetrics {
    /// First content event − request start, µs.
    pub ttft_us: u64,
    /// Last content event − request start, µs.
    pub e2e_us: u64,
    /// Output tokens of the request (the reconciled count).
    pub output_tokens: u64,
    /// Number of content events.
    pub events: u32,
    /// (last event − first event) / (output tokens − tokens of the first
    /// event), µs; `None` when fewer than two events carried tokens.
    pub tpot_us: Option<f64>,
    /// The inverse of TPOT in tokens/s.
    pub decode_tok_s: Option<f64>,
    /// Tokens after the first event (the numerator of the decode rate).
    pub decode_tokens: u64,
    /// Last event − first event, µs (the denominator of the decode rate).
    pub decode_span_us: u64,
}

impl RequestMetrics {
    /// Computes the metrics of a request whose content events are `events`
    /// (in arrival order) and whose reconciled output length is
    /// `output_tokens`. Returns `None` when the stream carried no content.
    pub fn from_events(events: &[TokenEvent], output_tokens: u64) -> Option<Self> {
        let first = events.first()?;
        let last = events.last()?;
        let span_us = last.at_us.saturating_sub(first.at_us);
        // Tokens that arrived after the first event: the work of the decode
        // phase. With one token per event this is `output_tokens - 1`.
        let decoded = output_tokens.saturating_sub(u64::from(first.tokens));
        let (tpot_us, decode_tok_s) = if decoded > 0 && span_us > 0 {
            let tpot = span_us as f64 / decoded as f64;
            (Some(tpot), Some(1e6 / tpot))
        } else {
            (None, None)
        };
        Some(Self {
            ttft_us: first.at_us,
            e2e_us: last.at_us,
            output_tokens,
            events: u32::try_from(events.len()).unwrap_or(u32::MAX),
            tpot_us,
            decode_tok_s,
            decode_tokens: decoded,
            decode_span_us: span_us,
        })
    }

    /// Records what a request cut off by the end of the run shows: its TTFT
    /// and, per event after the first, one event-gap sample and one ITL
    /// sample per token. No E2E, TPOT or rate: it never finished, and
    /// counting it would bias them towards the requests that were fast.
    pub fn record_partial_into(&self, events: &[TokenEvent], h: &mut LatencyHistograms) {
        h.ttft_us.record(self.ttft_us);
        record_gaps(events, h);
    }

    /// Records this request into `h`: one TTFT, E2E, TPOT and decode-rate
    /// sample, one event-gap sample per event after the first, and one ITL
    /// sample per token after the first event (the event's gap divided by its
    /// tokens, repeated for each token).
    pub fn record_into(&self, events: &[TokenEvent], h: &mut LatencyHistograms) {
        h.ttft_us.record(self.ttft_us);
        h.e2e_us.record(self.e2e_us);
        if let Some(tpot) = self.tpot_us {
            h.tpot_us.record(tpot.round() as u64);
        }
        if let Some(rate) = self.decode_tok_s {
            h.decode_mtps.record((rate * 1000.0).round() as u64);
        }
        if self.e2e_us > 0 {
            let rate = self.output_tokens as f64 * 1e6 / self.e2e_us as f64;
            h.e2e_rate_mtps.record((rate * 1000.0).round() as u64);
        }
        record_gaps(events, h);
    }
}

/// One event-gap sample per event after the first, and one ITL sample per
/// token of it (the gap divided by its tokens).
fn record_gaps(events: &[TokenEvent], h: &mut LatencyHistograms) {
    for pair in events.windows(2) {
        let gap = pair[1].at_us.saturating_sub(pair[0].at_us);
        let tokens = u64::from(pair[1].tokens.max(1));
        h.event_gap_us.record(gap);
        h.itl_us.record_n(gap / tokens, tokens);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at_us: u64, tokens: u32) -> TokenEvent {
        TokenEvent { at_us, tokens }
    }

    #[test]
    fn one_token_per_event_matches_the_textbook_definitions() {
        // TTFT 100 ms, then a token every 20 ms: 50 tok/s.
        let events: Vec<_> = (0..11).map(|k| ev(100_000 + k * 20_000, 1)).collect();
        let m = RequestMetrics::from_events(&events, 11).unwrap();
        assert_eq!(m.ttft_us, 100_000);
        assert_eq!(m.e2e_us, 300_000);
        assert_eq!(m.tpot_us, Some(20_000.0));
        assert!((m.decode_tok_s.unwrap() - 50.0).abs() < 1e-9);
    }

    #[test]
    fn multi_token_events_give_one_itl_sample_per_token() {
        // First event 1 token, then 3 events of 3 tokens 60 ms apart.
        let events = vec![
            ev(50_000, 1),
            ev(110_000, 3),
            ev(170_000, 3),
            ev(230_000, 3),
        ];
        let m = RequestMetrics::from_events(&events, 10).unwrap();
        let mut h = LatencyHistograms::default();
        m.record_into(&events, &mut h);
        assert_eq!(
            h.itl_us.len(),
            9,
            "one ITL sample per token after the first event"
        );
        assert_eq!(
            h.event_gap_us.len(),
            3,
            "one gap sample per event after the first"
        );
        // HDR keeps 3 significant digits.
        let near = |v: Option<u64>, want: f64| (v.unwrap() as f64 - want).abs() / want < 1e-3;
        assert!(near(h.itl_us.quantile(0.5), 20_000.0));
        assert!(near(h.event_gap_us.quantile(0.5), 60_000.0));
        // 9 tokens in 180 ms = 50 tok/s
        assert!((m.decode_tok_s.unwrap() - 50.0).abs() < 1e-9);
    }

    #[test]
    fn single_event_has_no_decode_rate() {
        let m = RequestMetrics::from_events(&[ev(10, 5)], 5).unwrap();
        assert_eq!(m.decode_tok_s, None);
        assert_eq!(m.tpot_us, None);
    }

    #[test]
    fn no_events_no_metrics() {
        assert_eq!(RequestMetrics::from_events(&[], 0), None);
    }
}
