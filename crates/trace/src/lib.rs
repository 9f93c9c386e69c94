//! Published request traces, read into one shape a replay can send.
//!
//! The field replays traces that were recorded on production services:
//! Mooncake's and Qwen-Bailian's JSONL (arrival time, input and output
//! lengths, and the hash ids of the prompt's blocks, so that a replay
//! shares prefixes as the recorded prompts did), Azure's LLM inference CSV
//! (arrival time and lengths), and agent sessions (calls that wait for the
//! call before them, with tools, tool calls and think time). Each format
//! has its reader here; all of them give a [`Trace`]: entries in arrival
//! order, each with its offset from the first, its lengths, its blocks
//! and, in a session, the entry it waits for.
//!
//! What a replay does with a trace (its time slice, its speed, lengths
//! capped to the machine) is [`shape::Shaping`]; what prefix-cache hits
//! the blocks imply for a server's cache block size is [`cache`]. No I/O
//! here: the readers take bytes, so they are fuzzed like the wire parsers.
#![warn(missing_docs)]

pub mod cache;
mod csv;
mod jsonl;
mod otel;
pub mod shape;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The trace formats stackbench reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Mooncake JSONL: `timestamp` (ms), `input_length`, `output_length`,
    /// `hash_ids` (blocks of 512 tokens).
    Mooncake,
    /// Qwen-Bailian JSONL: Mooncake's fields with `timestamp` in seconds,
    /// plus `chat_id`, `parent_chat_id`, `turn` and `type` (blocks of 16
    /// tokens).
    Bailian,
    /// Azure LLM inference CSV: `TIMESTAMP`, `ContextTokens`,
    /// `GeneratedTokens`.
    Azure,
    /// Agent sessions as OpenTelemetry GenAI spans, one LLM call a line
    /// (`docs/traces.md`).
    Agentic,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [Format; 4] = [Self::Mooncake, Self::Bailian, Self::Azure, Self::Agentic];

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mooncake => "mooncake",
            Self::Bailian => "bailian",
            Self::Azure => "azure",
            Self::Agentic => "agentic",
        }
    }

    /// Tokens per hash id, for the formats that have blocks.
    pub fn block_tokens(self) -> Option<u32> {
        match self {
            Self::Mooncake => Some(512),
            Self::Bailian => Some(16),
            Self::Azure | Self::Agentic => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|f| f.name()).collect();
                format!("unknown trace format {s:?}; known: {}", names.join(", "))
            })
    }
}

/// A trace line that cannot be read: the 1-based line (the CSV header is
/// line 1) and what is wrong. The caller adds the file's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct TraceError {
    /// The 1-based line.
    pub line: usize,
    /// What is wrong with it.
    pub why: String,
}

impl TraceError {
    pub(crate) fn at(line: usize, why: impl Into<String>) -> Self {
        Self {
            line,
            why: why.into(),
        }
    }
}

/// Where an entry sits in a session: the entry it waits for and the pause
/// after that entry's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// The session (Bailian's first `chat_id`, an agent trace's
    /// `trace_id`), numbered in order of appearance.
    pub session: u64,
    /// The turn in the session, from 1 (Bailian's `turn`; an agent call's
    /// depth in its chain).
    pub turn: u32,
    /// The index (in [`Trace::entries`]) of the entry this one waits for;
    /// `None`: it starts at its own time.
    pub parent: Option<usize>,
    /// Recorded pause between the parent's end and this entry's start,
    /// µs (agent traces record both; `None` where the format has no end
    /// times: the entry is then released at its own time or when its
    /// parent ends, whichever is later).
    pub think_us: Option<u64>,
}

/// A recorded chat call: the messages and tools sent as they are.
#[derive(Debug, Clone, PartialEq)]
pub struct Chat {
    /// The `messages` array (OpenAI chat shape: tool calls and tool
    /// results included).
    pub messages: Arc<Value>,
    /// The `tools` array, when the call offered tools.
    pub tools: Option<Arc<Value>>,
}

/// One recorded request.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The 1-based line it came from.
    pub line: usize,
    /// Arrival, µs after the trace's first entry.
    pub at_us: u64,
    /// Prompt tokens as recorded.
    pub input_tokens: u32,
    /// Output tokens as recorded.
    pub output_tokens: u32,
    /// The hash ids of the prompt's blocks (empty: none recorded).
    pub blocks: Vec<u64>,
    /// Its place in a session.
    pub link: Option<Link>,
    /// The recorded call itself (agent traces).
    pub chat: Option<Chat>,
}

/// A trace: its format, block size and entries in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The format it was read as.
    pub format: Format,
    /// Tokens per hash id (`None`: no blocks).
    pub block_tokens: Option<u32>,
    /// The entries, by arrival (ties keep file order).
    pub entries: Vec<Entry>,
    /// Session links whose parent is not in the file (a slice cut them
    /// off): those entries start at their own time.
    pub orphans: u64,
}

/// Reads `bytes` as a trace of `format`. Nothing is half-read: the first
/// line that cannot be read is the error.
pub fn read(format: Format, bytes: &[u8]) -> Result<Trace, TraceError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        TraceError::at(line, "not UTF-8 text")
    })?;
    let (entries, orphans) = match format {
        Format::Mooncake | Format::Bailian => jsonl::read(format, text)?,
        Format::Azure => (csv::read(text)?, 0),
        Format::Agentic => otel::read(text)?,
    };
    if entries.is_empty() {
        return Err(TraceError::at(1, "the trace has no requests"));
    }
    Ok(Trace {
        format,
        block_tokens: format.block_tokens(),
        entries,
        orphans,
    })
}

/// Sorts `entries` by arrival (stable), rebases the times on the first and
/// renumbers the parents; a parent that would come after its child is
/// dropped (the child starts at its own time).
pub(crate) fn in_arrival_order(mut entries: Vec<(u64, Entry)>) -> Vec<Entry> {
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|i| entries[*i].0);
    let mut new_index = vec![0usize; entries.len()];
    for (new, old) in order.iter().enumerate() {
        new_index[*old] = new;
    }
    let first = order.first().map_or(0, |i| entries[*i].0);
    let mut out: Vec<Option<Entry>> = vec![None; entries.len()];
    for (old, (at, mut e)) in entries.drain(..).enumerate() {
        e.at_us = at - first;
        let me = new_index[old];
        if let Some(link) = &mut e.link {
            link.parent = link.parent.map(|p| new_index[p]).filter(|p| *p < me);
        }
        out[me] = Some(e);
    }
    out.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_read_and_write_their_names() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
        }
        let e = "weka".parse::<Format>().unwrap_err();
        assert!(e.contains("mooncake, bailian, azure, agentic"), "{e}");
    }

    #[test]
    fn a_trace_that_is_not_text_names_the_line() {
        let e = read(Format::Mooncake, b"{}\n\xff\xfe").unwrap_err();
        assert_eq!(e.line, 2);
        let e = read(Format::Azure, b"TIMESTAMP,ContextTokens,GeneratedTokens\n").unwrap_err();
        assert!(e.why.contains("no requests"), "{e}");
    }
}
