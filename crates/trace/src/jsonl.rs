//! Mooncake and Qwen-Bailian JSONL: one request a line with its arrival,
//! lengths and the hash ids of its prompt's blocks. Mooncake's
//! `timestamp` is in milliseconds; Bailian's in seconds, and Bailian adds
//! the chat a request continues (`chat_id`, `parent_chat_id`, `turn`,
//! `type`). Unknown keys are ignored; a missing or wrong-typed required
//! key is an error naming the line.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use crate::{in_arrival_order, Entry, Format, Link, TraceError};

#[derive(Deserialize)]
struct Line {
    timestamp: f64,
    input_length: u32,
    output_length: u32,
    #[serde(default)]
    hash_ids: Vec<u64>,
    #[serde(default)]
    chat_id: Option<Value>,
    #[serde(default)]
    parent_chat_id: Option<Value>,
    #[serde(default)]
    turn: Option<u32>,
}

/// µs per unit of `timestamp` in `format`.
fn time_unit_us(format: Format) -> f64 {
    match format {
        Format::Bailian => 1e6,
        _ => 1e3,
    }
}

/// A chat id as a key: numbers and strings alike; `-1`, null and `""`
/// mean none.
fn chat_key(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) if n.as_i64() == Some(-1) => None,
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if s.is_empty() || s == "-1" => None,
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// The entries of a Mooncake or Bailian file, and the orphan count.
pub(crate) fn read(format: Format, text: &str) -> Result<(Vec<Entry>, u64), TraceError> {
    let unit = time_unit_us(format);
    let mut entries = Vec::new();
    let mut chats: HashMap<String, usize> = HashMap::new();
    let mut sessions: Vec<u64> = Vec::new();
    let mut orphans = 0;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(raw).map_err(|e| TraceError::at(n, e.to_string()))?;
        let at = time_us(line.timestamp, unit).ok_or_else(|| {
            TraceError::at(n, format!("timestamp {} is not a time", line.timestamp))
        })?;
        let parent_key = chat_key(line.parent_chat_id.as_ref());
        let parent = parent_key.as_ref().and_then(|k| chats.get(k).copied());
        orphans += u64::from(parent_key.is_some() && parent.is_none());
        let index = entries.len();
        let session = parent.map_or(index as u64, |p| sessions[p]);
        sessions.push(session);
        if let Some(k) = chat_key(line.chat_id.as_ref()) {
            chats.insert(k, index);
        }
        let link = (format == Format::Bailian).then(|| Link {
            session,
            turn: line.turn.unwrap_or(1).max(1),
            parent,
            think_us: None,
        });
        entries.push((
            at,
            Entry {
                line: n,
                at_us: 0,
                input_tokens: line.input_length,
                output_tokens: line.output_length,
                blocks: line.hash_ids,
                link,
                chat: None,
            },
        ));
    }
    Ok((renumber_sessions(in_arrival_order(entries)), orphans))
}

/// `t` units as µs, when it is a finite time that is not negative.
pub(crate) fn time_us(t: f64, unit_us: f64) -> Option<u64> {
    let us = t * unit_us;
    (0.0..9.0e18).contains(&us).then_some(us.round() as u64)
}

/// Sessions numbered 0, 1, … in order of their first entry.
fn renumber_sessions(mut entries: Vec<Entry>) -> Vec<Entry> {
    let mut seen: HashMap<u64, u64> = HashMap::new();
    for e in &mut entries {
        if let Some(link) = &mut e.link {
            let next = seen.len() as u64;
            link.session = *seen.entry(link.session).or_insert(next);
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use crate::{read, Format};

    #[test]
    fn mooncake_lines_become_entries_in_arrival_order_with_their_blocks() {
        let text = concat!(
            r#"{"timestamp": 27482, "input_length": 6955, "output_length": 52, "hash_ids": [46, 47, 48]}"#,
            "\n",
            r#"{"timestamp": 0, "input_length": 600, "output_length": 10, "hash_ids": [46, 50], "extra": 1}"#,
            "\n\n"
        );
        let t = read(Format::Mooncake, text.as_bytes()).unwrap();
        assert_eq!(t.block_tokens, Some(512));
        assert_eq!(t.entries.len(), 2);
        let (a, b) = (&t.entries[0], &t.entries[1]);
        assert_eq!(
            (a.line, a.at_us, a.input_tokens, a.blocks.len()),
            (2, 0, 600, 2)
        );
        assert_eq!((b.line, b.at_us, b.output_tokens), (1, 27_482_000, 52));
        assert!(a.link.is_none(), "Mooncake has no sessions");
    }

    #[test]
    fn bailian_chats_link_to_their_parent_and_share_its_session() {
        let text = concat!(
            r#"{"chat_id": 159, "parent_chat_id": -1, "timestamp": 61.114, "input_length": 521, "output_length": 132, "type": "text", "turn": 1, "hash_ids": [1089, 1090]}"#,
            "\n",
            r#"{"chat_id": 160, "parent_chat_id": 159, "timestamp": 62.5, "input_length": 700, "output_length": 10, "type": "text", "turn": 2, "hash_ids": [1089, 1090, 2000]}"#,
            "\n",
            r#"{"chat_id": 161, "parent_chat_id": 7, "timestamp": 63.0, "input_length": 30, "output_length": 10, "type": "text", "turn": 3, "hash_ids": [5]}"#,
        );
        let t = read(Format::Bailian, text.as_bytes()).unwrap();
        assert_eq!(t.block_tokens, Some(16));
        assert_eq!(t.orphans, 1, "chat 7 is not in the file");
        let links: Vec<_> = t.entries.iter().map(|e| e.link.clone().unwrap()).collect();
        assert_eq!((links[0].session, links[0].parent), (0, None));
        assert_eq!(
            (links[1].session, links[1].parent, links[1].turn),
            (0, Some(0), 2)
        );
        assert_eq!((links[2].session, links[2].parent), (1, None));
        assert_eq!(
            t.entries[1].at_us, 1_386_000,
            "seconds, rebased on the first"
        );
    }

    #[test]
    fn a_bad_line_is_named_and_nothing_is_returned() {
        for (text, line, says) in [
            (
                "{\"timestamp\": 1, \"input_length\": 5}\n",
                1,
                "output_length",
            ),
            (
                "\n{\"timestamp\": 1, \"input_length\": -5, \"output_length\": 1}",
                2,
                "invalid value",
            ),
            (
                "{\"timestamp\": -3, \"input_length\": 5, \"output_length\": 1}",
                1,
                "not a time",
            ),
            (
                "{\"timestamp\": 1, \"input_length\": 5, \"output_length\": 1}\nnot json",
                2,
                "expected",
            ),
        ] {
            let e = read(Format::Mooncake, text.as_bytes()).unwrap_err();
            assert_eq!(e.line, line, "{text}");
            assert!(e.why.contains(says), "{e}");
        }
    }
}
