//! What makes two runs "the same workload", defined once: every load
//! setting in `run.json` that changes which requests are sent or which are
//! counted, as a closed set of keys ([`WorkloadKey`]), each reading its
//! value from a [`RunFile`], and the [`Difference`]s between two runs.
//!
//! Every front end that sets figures of several runs against each other
//! asks this module, so a setting cannot be checked by one and forgotten
//! by another:
//!
//! - `compare` checks every key ([`WorkloadKey::ALL`]) between the
//!   baseline and the candidate (and among the repeats of each);
//! - `merge` checks every key but the level ([`WorkloadKey::LEVEL`]: each
//!   shard applies its share of the users or the rate), plus the stack and
//!   scenario by `identity`'s rule;
//! - `table` and `report` check every key among the runs pooled into one
//!   row (repeats), and every key but the stack's own
//!   ([`WorkloadKey::STACK`]: API, model and quantization differ between
//!   stacks by design) among the rows shown side by side at one level.
//!
//! A difference is refused unless the user passes `--allow-mismatch`, and
//! then listed in every output.
//!
//! # The keys
//!
//! Each key is named as its `run.json` field ([`WorkloadKey::field`] gives
//! the path); the dataset's selection settings carry a `dataset_` prefix.
//! What is *not* a key, on purpose: the seed (it changes which prompt words
//! are drawn, not their length or number; a dataset sample drawn by it is
//! caught by `dataset`, whose hash covers the requests sent), the request
//! count or duration and the warm-up (how long the same workload ran), the
//! timeouts, the client threads, and the dataset's path (the same requests
//! from a moved file are the same workload).
//!
//! The conversation and reasoning settings are keys too: `turns` (a run
//! of 3-turn conversations sends other, longer requests than a run of
//! single prompts), `think_time_s` (the pause between turns sets how many
//! of the users are in flight, as a request rate does), `thinking` (a
//! model asked to think writes other tokens) and whether a `cache_salt`
//! was set (a salted run cannot ride on the prompt cache of an earlier
//! one; the salt's value is not a key, `--cache-salt` draws a new one each run).
//! So are the context depth and whether it was cached (`depth`,
//! `depth_cache`): a request at depth 4096 is a longer request, and a
//! cached depth processes only its new prompt. The depth also names the
//! scenario of a run outside a suite (`c1-d4096`, see
//! `crate::identity`), so runs at two depths are never pooled as repeats.

use std::fmt;

use serde::Serialize;

use crate::run_file::RunFile;

/// A load setting that changes which requests are sent or counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkloadKey {
    /// Closed-loop users, or the open-loop cap on requests in flight.
    Concurrency,
    /// Open-loop requests per second (`closed loop` when absent).
    RequestRate,
    /// How open-loop send times were spread (`poisson`, `constant`).
    Arrival,
    /// Prompt length asked for, tokens.
    PromptTokens,
    /// `max_tokens` sent with each request.
    OutputTokens,
    /// Leading prompt tokens every request shared.
    SharedPrefixTokens,
    /// The API requests went to.
    Api,
    /// The model name sent.
    Model,
    /// The quantization label.
    Quantization,
    /// Whether `ignore_eos` was sent.
    IgnoreEos,
    /// Whether requests that ended early were left out of the statistics.
    ExcludeShort,
    /// Sampling temperature sent.
    Temperature,
    /// The dataset's requests as sent (their SHA-256), or generated prompts.
    Dataset,
    /// `--dataset-sample`: how many entries were drawn.
    DatasetSample,
    /// The dataset's minimum prompt length filter, tokens.
    DatasetMinPromptTokens,
    /// The dataset's maximum prompt length filter, tokens.
    DatasetMaxPromptTokens,
    /// The dataset's maximum output length filter, tokens.
    DatasetMaxOutputTokens,
    /// The latency limits goodput was judged against.
    Slo,
    /// `--thinking`: whether the model was asked to think (`default`:
    /// nothing was sent).
    Thinking,
    /// `--thinking-budget`: reasoning tokens a request may spend.
    ThinkingBudget,
    /// Turns per conversation (1: every request on its own).
    Turns,
    /// Pause between a conversation's turns, s.
    ThinkTime,
    /// Whether the requests carried a cache salt (`salted` or `none`).
    CacheSalt,
    /// Context tokens before each request's prompt (`--depth`; 0: none).
    Depth,
    /// At a depth, whether each user's context was cached (`on`, `off`;
    /// `none` without a depth).
    DepthCache,
    /// A replayed trace: its file's SHA-256 and how it was fitted to the
    /// machine (window, speed, scale, caps, tools); `none` without one.
    Trace,
}

/// What a key reads when the run has no such setting.
const NONE: &str = "none";

/// What [`WorkloadKey::CacheSalt`] reads when the run had a salt.
const SALTED: &str = "salted";

impl WorkloadKey {
    /// Every key, in the order messages list them.
    pub const ALL: [Self; 26] = [
        Self::Concurrency,
        Self::RequestRate,
        Self::Arrival,
        Self::PromptTokens,
        Self::OutputTokens,
        Self::SharedPrefixTokens,
        Self::Api,
        Self::Model,
        Self::Quantization,
        Self::IgnoreEos,
        Self::ExcludeShort,
        Self::Temperature,
        Self::Dataset,
        Self::DatasetSample,
        Self::DatasetMinPromptTokens,
        Self::DatasetMaxPromptTokens,
        Self::DatasetMaxOutputTokens,
        Self::Slo,
        Self::Thinking,
        Self::ThinkingBudget,
        Self::Turns,
        Self::ThinkTime,
        Self::CacheSalt,
        Self::Depth,
        Self::DepthCache,
        Self::Trace,
    ];

    /// The load level: what `merge` leaves out (each shard applies its
    /// share) and what tells the tables' levels apart.
    pub const LEVEL: [Self; 2] = [Self::Concurrency, Self::RequestRate];

    /// What differs between stacks by design, so stacks side by side in
    /// one table may differ in it (repeats of one stack may not).
    pub const STACK: [Self; 3] = [Self::Api, Self::Model, Self::Quantization];

    /// Every key but those in `leave_out`, in [`WorkloadKey::ALL`]'s order.
    pub fn all_except(leave_out: &[Self]) -> Vec<Self> {
        Self::ALL
            .into_iter()
            .filter(|k| !leave_out.contains(k))
            .collect()
    }

    /// The key's name in messages and JSON: the `run.json` field's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Concurrency => "concurrency",
            Self::RequestRate => "request_rate",
            Self::Arrival => "arrival",
            Self::PromptTokens => "prompt_tokens",
            Self::OutputTokens => "output_tokens",
            Self::SharedPrefixTokens => "shared_prefix_tokens",
            Self::Api => "api",
            Self::Model => "model",
            Self::Quantization => "quantization",
            Self::IgnoreEos => "ignore_eos",
            Self::ExcludeShort => "exclude_short",
            Self::Temperature => "temperature",
            Self::Dataset => "dataset",
            Self::DatasetSample => "dataset_sample",
            Self::DatasetMinPromptTokens => "dataset_min_prompt_tokens",
            Self::DatasetMaxPromptTokens => "dataset_max_prompt_tokens",
            Self::DatasetMaxOutputTokens => "dataset_max_output_tokens",
            Self::Slo => "slo",
            Self::Thinking => "thinking",
            Self::ThinkingBudget => "thinking_budget",
            Self::Turns => "turns",
            Self::ThinkTime => "think_time_s",
            Self::CacheSalt => "cache_salt",
            Self::Depth => "depth",
            Self::DepthCache => "depth_cache",
            Self::Trace => "trace",
        }
    }

    /// Where `run.json` records it.
    pub fn field(self) -> &'static str {
        match self {
            Self::Concurrency => "load.concurrency",
            Self::RequestRate => "load.request_rate",
            Self::Arrival => "load.arrival",
            Self::PromptTokens => "load.prompt_tokens",
            Self::OutputTokens => "load.output_tokens",
            Self::SharedPrefixTokens => "load.shared_prefix_tokens",
            Self::Api => "target.api",
            Self::Model => "target.model",
            Self::Quantization => "target.quantization",
            Self::IgnoreEos => "load.ignore_eos",
            Self::ExcludeShort => "load.exclude_short",
            Self::Temperature => "load.temperature",
            Self::Dataset => "load.dataset.sha256",
            Self::DatasetSample => "load.dataset.sample",
            Self::DatasetMinPromptTokens => "load.dataset.min_prompt_tokens",
            Self::DatasetMaxPromptTokens => "load.dataset.max_prompt_tokens",
            Self::DatasetMaxOutputTokens => "load.dataset.max_output_tokens",
            Self::Slo => "load.slo",
            Self::Thinking => "load.thinking",
            Self::ThinkingBudget => "load.thinking_budget",
            Self::Turns => "load.turns",
            Self::ThinkTime => "load.think_time_s",
            Self::CacheSalt => "load.cache_salt",
            Self::Depth => "load.depth.tokens",
            Self::DepthCache => "load.depth.cached",
            Self::Trace => "load.trace",
        }
    }

    /// The key's value in `r`, as compared and shown (`none` where the run
    /// has no such setting; a dataset's full SHA-256).
    pub fn read(self, r: &RunFile) -> String {
        let l = &r.load;
        let opt = |v: Option<String>| v.unwrap_or_else(|| NONE.to_string());
        let ds = |f: fn(&crate::run_file::DatasetInfo) -> Option<u32>| {
            opt(l.dataset.as_ref().and_then(f).map(|n| n.to_string()))
        };
        match self {
            Self::Concurrency => l.concurrency.to_string(),
            Self::RequestRate => l
                .request_rate
                .map_or_else(|| "closed loop".to_string(), |x| x.to_string()),
            Self::Arrival => l.arrival.map_or("closed loop", |a| a.name()).to_string(),
            Self::PromptTokens => l.prompt_tokens.to_string(),
            Self::OutputTokens => l.output_tokens.to_string(),
            Self::SharedPrefixTokens => l.shared_prefix_tokens.to_string(),
            Self::Api => r.target.api.to_string(),
            Self::Model => r.target.model.clone(),
            Self::Quantization => opt(r.target.quantization.clone()),
            Self::IgnoreEos => l.ignore_eos.to_string(),
            Self::ExcludeShort => l.exclude_short.to_string(),
            Self::Temperature => l.temperature.to_string(),
            Self::Dataset => l
                .dataset
                .as_ref()
                .map_or_else(|| "generated prompts".to_string(), |d| d.sha256.clone()),
            Self::DatasetSample => opt(l
                .dataset
                .as_ref()
                .and_then(|d| d.sample)
                .map(|n| n.to_string())),
            Self::DatasetMinPromptTokens => ds(|d| d.min_prompt_tokens),
            Self::DatasetMaxPromptTokens => ds(|d| d.max_prompt_tokens),
            Self::DatasetMaxOutputTokens => ds(|d| d.max_output_tokens),
            Self::Slo => opt(l.slo.map(|s| s.to_string())),
            Self::Thinking => l.thinking.name().to_string(),
            Self::ThinkingBudget => l.thinking_budget.map_or(NONE.into(), |n| n.to_string()),
            Self::Turns => l.turns.to_string(),
            Self::ThinkTime => l.think_time_s.to_string(),
            Self::CacheSalt => l.cache_salt.as_ref().map_or(NONE, |_| SALTED).to_string(),
            Self::Depth => l.depth.as_ref().map_or(0, |d| d.tokens).to_string(),
            Self::DepthCache => l
                .depth
                .as_ref()
                .map_or(NONE, |d| if d.cached { "on" } else { "off" })
                .to_string(),
            Self::Trace => opt(l.trace.as_ref().map(trace_identity)),
        }
    }

    /// `value` as messages show it: a dataset hash shortened to 12 hex
    /// digits, anything else as read.
    pub fn show(self, value: &str) -> String {
        match self {
            Self::Dataset if value.len() > 12 && value.chars().all(|c| c.is_ascii_hexdigit()) => {
                format!("sha256 {}", &value[..12])
            }
            _ => value.to_string(),
        }
    }
}

/// A trace replay's identity: the file's hash and every shaping that
/// changes what is sent.
fn trace_identity(t: &crate::replay::TraceLoad) -> String {
    let window = t
        .window_s
        .map_or(String::new(), |[a, b]| format!(" window {a}..{b}"));
    let cap = |name: &str, v: Option<u32>| v.map_or(String::new(), |n| format!(" {name}<={n}"));
    format!(
        "{} sha256 {} speed x{} scale x{}{window}{}{}{}",
        t.format,
        &t.sha256[..t.sha256.len().min(12)],
        t.speed,
        t.scale,
        cap("input", t.max_input),
        cap("output", t.max_output),
        if t.no_tools { " no tools" } else { "" }
    )
}

impl fmt::Display for WorkloadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for WorkloadKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// One key on which two runs differ, with each run's value (as
/// [`WorkloadKey::read`] gives it). Shown as `ignore_eos true vs false`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The setting.
    pub key: WorkloadKey,
    /// The first run's value.
    pub a: String,
    /// The second run's value.
    pub b: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} vs {}",
            self.key,
            self.key.show(&self.a),
            self.key.show(&self.b)
        )
    }
}

/// The keys of `keys` on which `a` and `b` differ, in `keys`' order.
pub fn differences(a: &RunFile, b: &RunFile, keys: &[WorkloadKey]) -> Vec<Difference> {
    keys.iter()
        .filter_map(|&key| {
            let (x, y) = (key.read(a), key.read(b));
            (x != y).then_some(Difference { key, a: x, b: y })
        })
        .collect()
}

/// `diffs` as one line: `ignore_eos true vs false, temperature 0 vs 0.7`.
pub fn join(diffs: &[Difference]) -> String {
    diffs
        .iter()
        .map(Difference::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "workload_tests.rs"]
mod tests;
