//! Speculative decoding on the real vLLM (CPU build): n-gram prompt lookup
//! with 3 speculative tokens. With dummy weights and temperature 0 the
//! model falls into a repeating loop that the n-gram proposer predicts, so
//! most steps emit several tokens in one event — the case where counting
//! events instead of tokens goes wrong.
//!
//! vLLM runs with `--per-request-spec-decode-metrics summary` too, so each
//! request's final usage chunk carries its own draft and accepted counts.
//!
//! How the client's view relates to vLLM's counters: a step emits 1 +
//! accepted tokens in one event, and the prefill step emits the first token
//! alone, so a request's accepted tokens are `output tokens − events` as
//! the client sees them. vLLM counts a step's accepted drafts before it
//! truncates the output at `max_tokens`, so its count is higher by the
//! tokens cut from each request's last step: between 0 and the 3
//! speculative tokens, per request.
#![allow(clippy::unwrap_used)]

use crate::common::vllm::Shared;
use crate::common::{measured_records, read_run_json, run_bin};

const SPEC_TOKENS: u64 = 3;

pub(crate) static VLLM: Shared = Shared::new(&[
    "--enable-per-request-metrics",
    "--per-request-spec-decode-metrics",
    "summary",
    "--speculative-config",
    r#"{"method":"ngram","num_speculative_tokens":3,"prompt_lookup_max":4,"prompt_lookup_min":2}"#,
]);

real_test!(vllm; fn ngram_speculative_decoding_is_counted_exactly_and_matches_the_counters() {
    VLLM.with_url(|url| {
        for c in ["1", "4"] {
            let dir = tempfile::tempdir().unwrap();
            let out = run_bin(url, dir.path(), &["-c", c, "-n", "8", "--output-tokens", "128"]);
            out.assert_success();
            let run = read_run_json(dir.path());
            let (s, m) = (&run["summary"], &run["server_metrics"]);
            let recs = measured_records(dir.path());
            assert_eq!(recs.len(), 8);

            // Exact counts although events carry several tokens.
            assert_eq!(
                m["tokens"].as_f64(),
                s["output_tokens"].as_f64(),
                "c={c}: {m}"
            );
            let events: u64 = recs.iter().map(|r| r["events"].as_u64().unwrap()).sum();
            let tokens: u64 = recs
                .iter()
                .map(|r| r["output_tokens"].as_u64().unwrap())
                .sum();
            assert_eq!(tokens, 8 * 128);
            for r in &recs {
                assert_eq!(r["count"]["source"], "exact", "{r}");
                assert_eq!(r["count"]["reconciled"], true, "{r}");
            }
            assert!(
                events * 2 < tokens,
                "multi-token events: {events} events for {tokens} tokens"
            );
            // One ITL sample per token after the first event, one gap per event.
            assert_eq!(s["itl_ms"]["count"].as_u64(), Some(tokens - 8));
            assert_eq!(s["event_gap_ms"]["count"].as_u64(), Some(events - 8));

            // The acceptance figures against the raw counters and per request.
            let drafts = m["spec_drafts"].as_f64().unwrap();
            let rate = m["spec_acceptance_rate"].as_f64().unwrap();
            let mean_len = m["spec_mean_acceptance_length"].as_f64().unwrap();
            let accepted_counter = ((mean_len - 1.0) * drafts).round() as u64;
            let per_request: u64 = recs
                .iter()
                .map(|r| r["server_timings"]["draft_n_accepted"].as_u64().unwrap())
                .sum();
            let proposed: u64 = recs
                .iter()
                .map(|r| r["server_timings"]["draft_n"].as_u64().unwrap())
                .sum();
            assert_eq!(
                per_request, accepted_counter,
                "c={c}: per-request metrics sum to the counter"
            );
            assert!(
                (rate - per_request as f64 / proposed as f64).abs() < 1e-9,
                "c={c}"
            );
            let client_accepted = tokens - events;
            eprintln!(
                "c={c}: {events} events for {tokens} tokens; acceptance {:.1}%, {mean_len:.3} tokens per step over {drafts} drafts; accepted: client {client_accepted}, vLLM {accepted_counter}",
                rate * 100.0
            );
            let mut below = 0;
            for r in &recs {
                let client = r["output_tokens"].as_u64().unwrap() - r["events"].as_u64().unwrap();
                let server = r["server_timings"]["draft_n_accepted"].as_u64().unwrap();
                // vLLM's count exceeds the client's by at most the tokens cut
                // from the last step. Steps whose events coalesce in transit
                // (vLLM's API process falling behind on a busy machine) raise
                // the client's figure by one each, so only this side is a
                // bound under load; on an idle machine it was 0-3 below.
                assert!(
                    client + SPEC_TOKENS >= server,
                    "c={c}: request {}: client {client} vs vLLM {server} accepted",
                    r["id"]
                );
                below += u64::from(client <= server);
            }
            eprintln!("c={c}: {below} of 8 requests at or below vLLM's accepted count");
        }
    });
});
