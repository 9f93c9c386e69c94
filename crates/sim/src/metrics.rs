//! What the simulated server has served, as counters, and their Prometheus
//! pages in vLLM's (`vllm:*_total`, labels `model_name`, `engine`) and
//! llama-server's (`llamacpp:*`, no labels) naming. Ollama has no metrics.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters updated as the server works (tokens when sent, durations in
/// microseconds when a request ends).
#[derive(Debug, Default)]
pub(crate) struct SimCounters {
    pub prompt_tokens: AtomicU64,
    pub generation_tokens: AtomicU64,
    pub prompt_us: AtomicU64,
    pub generation_us: AtomicU64,
    pub requests_ok: AtomicU64,
    pub spec_drafts: AtomicU64,
    pub spec_draft_tokens: AtomicU64,
    pub spec_accepted_tokens: AtomicU64,
    pub waiting: AtomicU64,
    /// Sum over requests of (last token − first token), µs: vLLM's decode
    /// phase (`request_decode_time_seconds`).
    pub decode_phase_us: AtomicU64,
    /// Output tokens of finished requests (vLLM's
    /// `request_generation_tokens` histogram, observed when a request
    /// ends; `generation_tokens_total` counts as tokens are made).
    pub finished_generation_tokens: AtomicU64,
    /// Prompt tokens looked up in the prefix cache (vLLM's
    /// `prefix_cache_queries`, in tokens).
    pub prefix_cache_queries: AtomicU64,
    /// Prompt tokens the prefix cache served (`prefix_cache_hits`).
    pub prefix_cache_hits: AtomicU64,
    /// When the server started, s since the Unix epoch (vLLM's Python
    /// process collector: `process_start_time_seconds`).
    pub started_unix_s: f64,
}

fn get(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

fn metric(out: &mut String, name: &str, kind: &str, labels: &str, value: f64) {
    let _ = writeln!(
        out,
        "# HELP {name} simulated\n# TYPE {name} {kind}\n{name}{labels} {value}"
    );
}

impl SimCounters {
    /// vLLM's page.
    pub fn vllm_page(&self, model: &str, running: usize) -> String {
        let l = format!("{{engine=\"0\",model_name=\"{model}\"}}");
        let mut o = String::new();
        metric(
            &mut o,
            "vllm:num_requests_running",
            "gauge",
            &l,
            running as f64,
        );
        metric(
            &mut o,
            "vllm:num_requests_waiting",
            "gauge",
            &l,
            get(&self.waiting) as f64,
        );
        metric(
            &mut o,
            "vllm:kv_cache_usage_perc",
            "gauge",
            &l,
            (running as f64 / 256.0).min(1.0),
        );
        let counters = [
            ("vllm:prompt_tokens_total", &self.prompt_tokens),
            ("vllm:generation_tokens_total", &self.generation_tokens),
            ("vllm:spec_decode_num_drafts_total", &self.spec_drafts),
            (
                "vllm:spec_decode_num_draft_tokens_total",
                &self.spec_draft_tokens,
            ),
            (
                "vllm:spec_decode_num_accepted_tokens_total",
                &self.spec_accepted_tokens,
            ),
            (
                "vllm:prefix_cache_queries_total",
                &self.prefix_cache_queries,
            ),
            ("vllm:prefix_cache_hits_total", &self.prefix_cache_hits),
        ];
        for (name, v) in counters {
            metric(&mut o, name, "counter", &l, get(v) as f64);
            // prometheus_client also exposes a creation timestamp.
            let created = name.trim_end_matches("_total").to_string() + "_created";
            let _ = writeln!(o, "{created}{l} 1.7e9");
        }
        let ok = format!("{{engine=\"0\",finished_reason=\"length\",model_name=\"{model}\"}}");
        metric(
            &mut o,
            "vllm:request_success_total",
            "counter",
            &ok,
            get(&self.requests_ok) as f64,
        );
        metric(&mut o, "vllm:num_preemptions_total", "counter", &l, 0.0);
        let _ = writeln!(
            o,
            "# HELP vllm:request_decode_time_seconds simulated\n# TYPE vllm:request_decode_time_seconds histogram\nvllm:request_decode_time_seconds_bucket{{engine=\"0\",le=\"+Inf\",model_name=\"{model}\"}} {n}\nvllm:request_decode_time_seconds_count{l} {n}\nvllm:request_decode_time_seconds_sum{l} {sum}",
            n = get(&self.requests_ok),
            sum = get(&self.decode_phase_us) as f64 / 1e6,
        );
        let _ = writeln!(
            o,
            "# HELP vllm:request_generation_tokens simulated\n# TYPE vllm:request_generation_tokens histogram\nvllm:request_generation_tokens_bucket{{engine=\"0\",le=\"+Inf\",model_name=\"{model}\"}} {n}\nvllm:request_generation_tokens_count{l} {n}\nvllm:request_generation_tokens_sum{l} {sum}",
            n = get(&self.requests_ok),
            sum = get(&self.finished_generation_tokens),
        );
        let info = "{block_size=\"16\",cache_dtype=\"auto\",enable_prefix_caching=\"True\",num_gpu_blocks=\"8192\"}";
        metric(&mut o, "vllm:cache_config_info", "gauge", info, 1.0);
        metric(
            &mut o,
            "process_start_time_seconds",
            "gauge",
            "",
            self.started_unix_s,
        );
        o
    }

    /// llama-server's page.
    pub fn llamacpp_page(&self, running: usize) -> String {
        let mut o = String::new();
        let s = |a: &AtomicU64| get(a) as f64 / 1e6;
        // Processed prompt tokens: cached ones are not counted.
        metric(
            &mut o,
            "llamacpp:prompt_tokens_total",
            "counter",
            "",
            get(&self.prompt_tokens).saturating_sub(get(&self.prefix_cache_hits)) as f64,
        );
        metric(
            &mut o,
            "llamacpp:prompt_seconds_total",
            "counter",
            "",
            s(&self.prompt_us),
        );
        metric(
            &mut o,
            "llamacpp:tokens_predicted_total",
            "counter",
            "",
            get(&self.generation_tokens) as f64,
        );
        metric(
            &mut o,
            "llamacpp:tokens_predicted_seconds_total",
            "counter",
            "",
            s(&self.generation_us),
        );
        metric(
            &mut o,
            "llamacpp:n_decode_total",
            "counter",
            "",
            get(&self.generation_tokens) as f64,
        );
        metric(
            &mut o,
            "llamacpp:spec_decode_num_drafts_total",
            "counter",
            "",
            get(&self.spec_drafts) as f64,
        );
        metric(
            &mut o,
            "llamacpp:spec_decode_num_draft_tokens_total",
            "counter",
            "",
            get(&self.spec_draft_tokens) as f64,
        );
        metric(
            &mut o,
            "llamacpp:spec_decode_num_accepted_tokens_total",
            "counter",
            "",
            get(&self.spec_accepted_tokens) as f64,
        );
        metric(
            &mut o,
            "llamacpp:requests_processing",
            "gauge",
            "",
            running as f64,
        );
        metric(
            &mut o,
            "llamacpp:requests_deferred",
            "gauge",
            "",
            get(&self.waiting) as f64,
        );
        o
    }
}
