//! Server telemetry: Prometheus `/metrics` scrapes and the counters the
//! run compares its own figures with.

use std::time::Duration;

use stackbench_wire::prometheus::{parse_prometheus, total, Sample};

use crate::control::ControlClient;
use crate::error::RequestError;
use crate::transport::error_chain;

/// The counters we derive server-side figures from, summed over label sets.
/// Names: llama-server `llamacpp:*`, vLLM `vllm:*`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServerCounters {
    /// Generated tokens (`tokens_predicted_total` / `generation_tokens_total`).
    pub tokens: Option<f64>,
    /// Seconds spent generating, summed over slots (llama-server only).
    pub tokens_seconds: Option<f64>,
    /// Prompt tokens processed.
    pub prompt_tokens: Option<f64>,
    /// Seconds spent on prompts (llama-server only).
    pub prompt_seconds: Option<f64>,
    /// Requests being processed now.
    pub processing: Option<f64>,
    /// Requests waiting.
    pub waiting: Option<f64>,
    /// Speculative decoding: verification steps.
    pub spec_drafts: Option<f64>,
    /// Speculative decoding: draft tokens proposed.
    pub spec_draft_tokens: Option<f64>,
    /// Speculative decoding: draft tokens accepted.
    pub spec_accepted_tokens: Option<f64>,
    /// KV-cache usage, 0–1 (vLLM).
    pub kv_cache_usage: Option<f64>,
    /// Preemptions so far (vLLM).
    pub preemptions: Option<f64>,
    /// Prefix-cache lookups and hits, in tokens (vLLM).
    pub prefix_cache_queries: Option<f64>,
    /// See `prefix_cache_queries`.
    pub prefix_cache_hits: Option<f64>,
    /// vLLM: seconds requests spent in the decode phase (histogram sum).
    pub decode_seconds: Option<f64>,
    /// vLLM: requests that finished a decode phase (histogram count).
    pub decode_requests: Option<f64>,
    /// vLLM: output tokens of finished requests
    /// (`request_generation_tokens` histogram sum, observed when a request
    /// ends — unlike `generation_tokens_total`, which also counts the
    /// tokens of requests still running when the window closes).
    pub finished_tokens: Option<f64>,
}

impl ServerCounters {
    /// Picks the counters out of a scrape.
    pub fn from_samples(s: &[Sample]) -> Self {
        let first = |names: &[&str]| names.iter().find_map(|n| total(s, n));
        Self {
            tokens: first(&[
                "llamacpp:tokens_predicted_total",
                "vllm:generation_tokens_total",
            ]),
            tokens_seconds: first(&["llamacpp:tokens_predicted_seconds_total"]),
            prompt_tokens: first(&["llamacpp:prompt_tokens_total", "vllm:prompt_tokens_total"]),
            prompt_seconds: first(&["llamacpp:prompt_seconds_total"]),
            processing: first(&["llamacpp:requests_processing", "vllm:num_requests_running"]),
            waiting: first(&["llamacpp:requests_deferred", "vllm:num_requests_waiting"]),
            spec_drafts: first(&[
                "vllm:spec_decode_num_drafts_total",
                "llamacpp:spec_decode_num_drafts_total",
            ]),
            spec_draft_tokens: first(&[
                "vllm:spec_decode_num_draft_tokens_total",
                "llamacpp:spec_decode_num_draft_tokens_total",
            ]),
            spec_accepted_tokens: first(&[
                "vllm:spec_decode_num_accepted_tokens_total",
                "llamacpp:spec_decode_num_accepted_tokens_total",
            ]),
            kv_cache_usage: first(&["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"]),
            preemptions: first(&["vllm:num_preemptions_total"]),
            prefix_cache_queries: first(&[
                "vllm:prefix_cache_queries_total",
                "vllm:gpu_prefix_cache_queries_total",
            ]),
            prefix_cache_hits: first(&[
                "vllm:prefix_cache_hits_total",
                "vllm:gpu_prefix_cache_hits_total",
            ]),
            decode_seconds: first(&["vllm:request_decode_time_seconds_sum"]),
            decode_requests: first(&["vllm:request_decode_time_seconds_count"]),
            finished_tokens: first(&["vllm:request_generation_tokens_sum"]),
        }
    }

    /// True when no request is running or waiting.
    pub fn idle(&self) -> bool {
        self.processing.unwrap_or(0.0) == 0.0 && self.waiting.unwrap_or(0.0) == 0.0
    }
}

/// Fetches and parses `GET /metrics`. A server without metrics answers an
/// error status (llama-server without `--metrics`: 501), returned as such.
pub async fn scrape_metrics(client: &ControlClient) -> Result<(String, Vec<Sample>), RequestError> {
    let resp = client.get_ok("metrics", Duration::from_secs(10)).await?;
    let text = resp.text().await.map_err(|e| RequestError::Stream {
        events: 0,
        reason: error_chain(&e),
    })?;
    let samples =
        parse_prometheus(&text).map_err(|e| RequestError::Server(format!("/metrics: {e}")))?;
    Ok((text, samples))
}

/// The labels of vLLM's `cache_config_info` gauge (block size, GPU blocks,
/// cache dtype, prefix caching...), which describe the KV cache.
pub fn cache_config(samples: &[Sample]) -> Option<std::collections::BTreeMap<String, String>> {
    samples
        .iter()
        .find(|s| s.name == "vllm:cache_config_info")
        .map(|s| s.labels.clone())
}

/// Gauges tracked as maxima over every scrape of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GaugeMaxima {
    /// Highest number of requests running.
    pub running: Option<f64>,
    /// Highest number of requests waiting.
    pub waiting: Option<f64>,
    /// Highest KV-cache usage (0–1).
    pub kv_cache_usage: Option<f64>,
}

impl GaugeMaxima {
    /// Takes one scrape into account.
    pub fn update(&mut self, c: &ServerCounters) {
        let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        };
        self.running = max(self.running, c.processing);
        self.waiting = max(self.waiting, c.waiting);
        self.kv_cache_usage = max(self.kv_cache_usage, c.kv_cache_usage);
    }
}
