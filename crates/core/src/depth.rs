//! Context depth (`--depth`), as `run.json` records it: the load's depth
//! and how its context was treated ([`DepthLoad`]), and the figures of the
//! depth prefill ([`DepthPrefill`]), each user's context sent once before
//! the measured requests of a cached depth: llama-benchy's `ctx_pp` row.
//!
//! Why a module of its own: the depth is read by the runner (the context
//! check), the engine (the prefill) and every table, and its fields are a
//! contract (`docs/results-schema.md`).

use serde::{Deserialize, Serialize};

/// A run at a context depth: what the load was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DepthLoad {
    /// Context tokens before each request's own prompt, exact as the
    /// server counts them (`load.prompt_tokens` is the new prompt, its
    /// template included: a request's prompt is `tokens + prompt_tokens`).
    pub tokens: u32,
    /// Whether each user's context was sent once first and then taken from
    /// the server's cache (`true`, the default), or every request's
    /// context was its own and processed whole (`--depth-cache off`).
    pub cached: bool,
    /// The server's context per request, tokens, read before the run; a
    /// depth + prompt + output beyond it is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_context: Option<u64>,
    /// Where `server_context` came from, in words (`llama-server /props
    /// n_ctx per slot`, `vLLM max_model_len`, `Ollama num_ctx per request`,
    /// `Ollama's loaded context (OLLAMA_CONTEXT_LENGTH or its default)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_from: Option<String>,
}

/// Mean, smallest and largest of a few values (one per user).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Number of values.
    pub count: u64,
    /// Their mean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// The smallest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The largest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl Spread {
    /// The spread of `values` (all `None` when there are none).
    pub fn of(values: &[f64]) -> Self {
        let n = values.len();
        let fold = |f: fn(f64, f64) -> f64| values.iter().copied().reduce(f);
        Self {
            count: n as u64,
            mean: (n > 0).then(|| values.iter().sum::<f64>() / n as f64),
            min: fold(f64::min),
            max: fold(f64::max),
        }
    }
}

/// The depth prefill of a run at a cached depth: each user's context sent
/// alone (one output token) before the measured requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DepthPrefill {
    /// The depth, tokens.
    pub depth_tokens: u32,
    /// Context requests sent (one per user).
    pub requests: u64,
    /// Of which ended OK.
    pub ok: u64,
    /// The largest prompt the server counted for one (the context and the
    /// instruction, template included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    /// The most any of them took from the server's cache, where it says
    /// (near 0: the context was new to the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Time to first token of each, ms.
    pub ttft_ms: Spread,
    /// Prefill rate of each, tokens/s: (prompt − cached) / TTFT.
    pub tok_s: Spread,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spread_holds_the_mean_and_the_range() {
        let s = Spread::of(&[3.0, 1.0, 2.0]);
        assert_eq!(
            (s.count, s.mean, s.min, s.max),
            (3, Some(2.0), Some(1.0), Some(3.0))
        );
        assert_eq!(Spread::of(&[]), Spread::default());
    }
}
