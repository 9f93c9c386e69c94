//! What a trace replay (`--trace`) sent and how faithfully: `load.trace`
//! says which trace and how it was fitted to the machine, `replay` in
//! `run.json` how close the replay came to it — arrival (how late each
//! request went out, against its due time and against the trace's),
//! lengths (as the server counted them, against the trace's), the
//! prefix-cache hit share (expected from the trace's blocks, achieved from
//! the server's own counts) — plus the sessions' and tool calls' figures.
//! No peer reports how faithful its replay was; a replay that falls short
//! of its target is flagged `replay`.

use serde::{Deserialize, Serialize};

/// A few quantiles of a list of values (exact: a replay's requests are
/// read back from `requests.jsonl`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    /// Values.
    pub count: u64,
    /// Median.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<f64>,
    /// 99th percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<f64>,
    /// Largest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl Quantiles {
    /// The quantiles of `values` (in any order).
    pub fn of(mut values: Vec<f64>) -> Self {
        values.retain(|v| v.is_finite());
        values.sort_by(f64::total_cmp);
        let q = |p: f64| crate::stats::quantile(&values, p);
        Self {
            count: values.len() as u64,
            p50: q(0.5),
            p99: q(0.99),
            max: values.last().copied(),
        }
    }
}

/// Which trace a run replayed, and how it was fitted to the machine
/// (`load.trace`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceLoad {
    /// The format (`mooncake`, `bailian`, `azure`, `agentic`).
    pub format: String,
    /// The file, or `embedded:<name>` for a slice shipped with stackbench.
    pub source: String,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
    /// Entries in the file.
    pub file_entries: u64,
    /// Entries replayed (after the window and the limit).
    pub entries: u64,
    /// The slice of trace time replayed, seconds `[from, to)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_s: Option<[f64; 2]>,
    /// Time ran this many times faster than recorded.
    pub speed: f64,
    /// Prompt lengths and the block size were multiplied by this.
    pub scale: f64,
    /// Prompts were cut to this many tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_input: Option<u32>,
    /// Outputs were cut to this many tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output: Option<u32>,
    /// Prompts cut by `max_input`.
    pub inputs_capped: u64,
    /// Outputs cut by `max_output`.
    pub outputs_capped: u64,
    /// Session links cut (the parent was not replayed): those entries
    /// started at their own time.
    pub links_cut: u64,
    /// Tokens per block as replayed (the format's, times `scale`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_tokens: Option<u32>,
    /// The span of the replayed arrivals, seconds (after `speed`).
    pub span_s: f64,
    /// Recorded chats were sent without their tools (`--trace-no-tools`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_tools: bool,
}

/// How faithfully a replay followed its trace (`run.json` `replay`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplayReport {
    /// When the requests went out.
    pub arrival: ArrivalFidelity,
    /// The lengths the server counted.
    pub lengths: LengthFidelity,
    /// The prefix-cache hit share.
    pub cache: CacheFidelity,
    /// Per-session figures (traces with sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<SessionFigures>,
    /// Requests that offered tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<ToolFigures>,
    /// Why the replay fell short of its trace (empty: it did not).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shortfalls: Vec<String>,
}

/// Arrival fidelity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArrivalFidelity {
    /// Entries of the replayed trace.
    pub entries: u64,
    /// Requests sent.
    pub sent: u64,
    /// Entries never sent: the run stopped first, or a session turn whose
    /// parent failed (and its own turns).
    pub dropped: u64,
    /// Actual − due send time, ms: the client's own slip (a session turn
    /// is due when its parent ended, plus its think time).
    pub lag_ms: Quantiles,
    /// Actual send time − the trace's arrival (sped up), ms: the slip and
    /// the waits for slower parents together.
    pub behind_trace_ms: Quantiles,
}

/// Length fidelity: the server's counts against the trace's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LengthFidelity {
    /// Prompts whose server count was compared.
    pub input_checked: u64,
    /// Of them, exactly the trace's length.
    pub input_exact: u64,
    /// Of them, recorded shorter than the run's fixed overhead (chat
    /// template and instruction, `load.prompt_sizing`): sent one word
    /// long, so longer than recorded.
    #[serde(default)]
    pub input_below_overhead: u64,
    /// Largest |server − trace| prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_max_diff: Option<u64>,
    /// Server prompt tokens over the trace's, in total (1: exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_ratio: Option<f64>,
    /// Completed requests whose output was compared.
    pub output_checked: u64,
    /// Of them, exactly the trace's length.
    pub output_exact: u64,
    /// Output tokens over the trace's, in total (1: exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_ratio: Option<f64>,
    /// Whether the format lets prompt lengths be exact (prompts built from
    /// lengths and blocks: yes; recorded chat messages: no, they are
    /// counted by the server's tokenizer, not the recorder's).
    pub input_controlled: bool,
}

/// Expected against achieved prefix-cache hit share.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheFidelity {
    /// The server's cache block, tokens (vLLM's `block_size`; 1 for
    /// llama-server, which reuses any prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_block_tokens: Option<u32>,
    /// Expected share of prompt tokens from the cache, % (from the
    /// trace's blocks, a cache that evicts nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_pct: Option<f64>,
    /// Achieved share, % (the server's counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub achieved_pct: Option<f64>,
    /// Where the achieved share came from: `usage` (per-request cached
    /// counts: vLLM `cached_tokens`, llama-server `cache_n`), `metrics`
    /// (vLLM `prefix_cache_hits` over `prefix_cache_queries`) or `none`.
    pub source: String,
    /// Prompt tokens the achieved share is over.
    pub prompt_tokens: u64,
    /// Of them, from the cache (where `source` is `usage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Tokens of the trace's distinct blocks: what the cache must hold
    /// for the expectation to hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_tokens: Option<u64>,
    /// How far below the expected share the achieved may fall before the
    /// replay is flagged, percentage points.
    pub tolerance_pts: f64,
}

/// Per-session figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionFigures {
    /// Sessions with at least one request sent.
    pub sessions: u64,
    /// Sessions whose every turn completed.
    pub completed: u64,
    /// First send to last answer of a session, seconds.
    pub makespan_s: Quantiles,
    /// Turns sent per session.
    pub turns: Quantiles,
    /// Prompt plus output tokens per session.
    pub tokens: Quantiles,
    /// TTFT by turn, ms: turn 1, 2, … (the last entry gathers the turns
    /// from there on).
    pub ttft_ms_by_turn: Vec<TurnTtft>,
}

/// The TTFT of the requests at one turn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TurnTtft {
    /// The turn, from 1 (`plus`: and later).
    pub turn: u32,
    /// Whether later turns are gathered here.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub plus: bool,
    /// Their TTFT, ms.
    pub ttft_ms: Quantiles,
}

/// Requests that offered tools.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolFigures {
    /// Requests that offered tools.
    pub requests: u64,
    /// Of them, answered with a tool call.
    pub with_calls: u64,
    /// Tool calls streamed.
    pub calls: u64,
    /// Output tokens of the tool calls.
    pub tokens: u64,
    /// Time to the first tool-call token, ms.
    pub ttftc_ms: Quantiles,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_taken_from_the_values_in_any_order() {
        let q = Quantiles::of(vec![5.0, 1.0, f64::NAN, 3.0, 2.0, 4.0]);
        assert_eq!((q.count, q.p50, q.max), (5, Some(3.0), Some(5.0)));
        assert_eq!(Quantiles::of(Vec::new()).p99, None);
    }
}
