//! Agent sessions as OpenTelemetry GenAI spans: one LLM call a line,
//! `{"trace_id", "span_id", "parent_span_id", "start_time_unix_nano",
//! "end_time_unix_nano", "attributes": {…}}`, the attributes named as the
//! GenAI semantic conventions name them: `gen_ai.input.messages` (the chat
//! messages sent, tool calls and tool results included),
//! `gen_ai.tool.definitions` (the tools offered),
//! `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens` and
//! `gen_ai.request.max_tokens`. An attribute may hold its JSON as a string
//! (how OTel exporters write structured attributes) or as JSON.
//!
//! A session is a `trace_id`. A call whose `parent_span_id` names another
//! call of the file waits for it: the next step of an agent loop, or a
//! sub-agent's first call waiting for the call that spawned it (several
//! calls may wait for one: branches). The recorded pause between the
//! parent's end and the call's start is its think time. Messages are
//! taken in the OpenAI chat shape; the conventions' parts shape
//! (`{"role", "parts": [{"type": "text", "content"}]}`) is turned into it.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::{in_arrival_order, Chat, Entry, Link, TraceError};

#[derive(Deserialize)]
struct Span {
    trace_id: String,
    span_id: String,
    #[serde(default)]
    parent_span_id: Option<String>,
    start_time_unix_nano: u64,
    end_time_unix_nano: u64,
    attributes: Map<String, Value>,
}

/// The entries of an agent trace, and the orphan count (always 0: a call
/// whose parent is not a call of the file starts at its own time).
pub(crate) fn read(text: &str) -> Result<(Vec<Entry>, u64), TraceError> {
    let mut spans: Vec<(usize, Span)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let span: Span =
            serde_json::from_str(raw).map_err(|e| TraceError::at(i + 1, e.to_string()))?;
        if span.end_time_unix_nano < span.start_time_unix_nano {
            return Err(TraceError::at(i + 1, "the span ends before it starts"));
        }
        spans.push((i + 1, span));
    }
    let index: HashMap<(&str, &str), usize> = spans
        .iter()
        .enumerate()
        .map(|(k, (_, s))| ((s.trace_id.as_str(), s.span_id.as_str()), k))
        .collect();
    let mut sessions: HashMap<&str, u64> = HashMap::new();
    let mut entries = Vec::with_capacity(spans.len());
    for (line, span) in &spans {
        let parent = span
            .parent_span_id
            .as_deref()
            .and_then(|p| index.get(&(span.trace_id.as_str(), p)).copied());
        let next = sessions.len() as u64;
        let session = *sessions.entry(span.trace_id.as_str()).or_insert(next);
        let think_us = parent.map(|p| {
            span.start_time_unix_nano
                .saturating_sub(spans[p].1.end_time_unix_nano)
                / 1000
        });
        let link = Link {
            session,
            turn: turn(&spans, &index, parent),
            parent,
            think_us,
        };
        let entry = entry(*line, span, link)?;
        entries.push((span.start_time_unix_nano / 1000, entry));
    }
    Ok((in_arrival_order(entries), 0))
}

/// The call's depth in its chain of parents, from 1 (a cycle stops at
/// the number of calls).
fn turn(
    spans: &[(usize, Span)],
    index: &HashMap<(&str, &str), usize>,
    mut parent: Option<usize>,
) -> u32 {
    let mut turn = 1u32;
    while let Some(p) = parent {
        turn += 1;
        if turn as usize > spans.len() {
            break;
        }
        let s = &spans[p].1;
        parent = s
            .parent_span_id
            .as_deref()
            .and_then(|q| index.get(&(s.trace_id.as_str(), q)).copied());
    }
    turn
}

/// One call as an entry.
fn entry(line: usize, span: &Span, link: Link) -> Result<Entry, TraceError> {
    let attr = |k: &str| json_attr(&span.attributes, k).map_err(|why| TraceError::at(line, why));
    let messages = attr("gen_ai.input.messages")?
        .ok_or_else(|| TraceError::at(line, "the span has no gen_ai.input.messages"))?;
    let messages = openai_messages(messages).map_err(|why| TraceError::at(line, why))?;
    let tools =
        attr("gen_ai.tool.definitions")?.filter(|t| t.as_array().is_some_and(|a| !a.is_empty()));
    let count = |k: &str| -> Result<Option<u32>, TraceError> {
        match attr(k)? {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| TraceError::at(line, format!("{k} is not a token count: {v}"))),
        }
    };
    let output = count("gen_ai.usage.output_tokens")?.or(count("gen_ai.request.max_tokens")?);
    Ok(Entry {
        line,
        at_us: 0,
        input_tokens: count("gen_ai.usage.input_tokens")?.unwrap_or(0),
        output_tokens: output.ok_or_else(|| {
            TraceError::at(
                line,
                "the span has neither gen_ai.usage.output_tokens nor gen_ai.request.max_tokens",
            )
        })?,
        blocks: Vec::new(),
        link: Some(link),
        chat: Some(Chat {
            messages: Arc::new(messages),
            tools: tools.map(Arc::new),
        }),
    })
}

/// Attribute `k`, its JSON parsed when it is a string holding JSON.
fn json_attr(attrs: &Map<String, Value>, k: &str) -> Result<Option<Value>, String> {
    match attrs.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if k.ends_with("messages") || k.ends_with("definitions") => {
            serde_json::from_str(s)
                .map(Some)
                .map_err(|e| format!("{k} is not JSON: {e}"))
        }
        Some(v) => Ok(Some(v.clone())),
    }
}

/// Messages in the OpenAI chat shape: kept as they are, or turned from
/// the conventions' parts shape (text parts joined, `tool_call` parts
/// into `tool_calls`, a `tool_call_response` part into a tool message).
fn openai_messages(v: Value) -> Result<Value, String> {
    let Value::Array(list) = v else {
        return Err("gen_ai.input.messages is not an array".into());
    };
    if list.is_empty() {
        return Err("gen_ai.input.messages is empty".into());
    }
    let out: Result<Vec<Value>, String> = list.into_iter().map(openai_message).collect();
    Ok(Value::Array(out?))
}

/// One message in the OpenAI chat shape. A `content` of null (an
/// assistant message that only calls tools) is sent as `""`: chat
/// templates that do not know tool calls (SmolLM2's, applied by vLLM)
/// join the content as text and fail on null, and the OpenAI API takes
/// either.
fn openai_message(mut m: Value) -> Result<Value, String> {
    let role = m["role"]
        .as_str()
        .ok_or("a message has no role")?
        .to_string();
    let Some(parts) = m["parts"].as_array() else {
        if m.get("content").map_or(true, Value::is_null) {
            m["content"] = Value::String(String::new());
        }
        return Ok(m);
    };
    let text: Vec<&str> = parts
        .iter()
        .filter(|p| p["type"] == "text")
        .filter_map(|p| p["content"].as_str())
        .collect();
    let calls: Vec<Value> = parts
        .iter()
        .filter(|p| p["type"] == "tool_call")
        .map(|p| {
            let args = match &p["arguments"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            json!({"id": p["id"], "type": "function", "function": {"name": p["name"], "arguments": args}})
        })
        .collect();
    if let Some(r) = parts.iter().find(|p| p["type"] == "tool_call_response") {
        let content = match &r["response"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        return Ok(json!({"role": "tool", "tool_call_id": r["id"], "content": content}));
    }
    let mut msg = json!({"role": role, "content": text.join("\n")});
    if !calls.is_empty() {
        msg["tool_calls"] = Value::Array(calls);
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use crate::{read, Format};

    fn span(
        trace: &str,
        id: &str,
        parent: Option<&str>,
        start_s: u64,
        end_s: u64,
        extra: &str,
    ) -> String {
        let parent = parent.map_or("null".to_string(), |p| format!("\"{p}\""));
        format!(
            r#"{{"trace_id": "{trace}", "span_id": "{id}", "parent_span_id": {parent}, "start_time_unix_nano": {}, "end_time_unix_nano": {}, "attributes": {{"gen_ai.usage.input_tokens": 50, "gen_ai.usage.output_tokens": 20{extra}, "gen_ai.input.messages": [{{"role": "user", "content": "hi"}}]}}}}"#,
            start_s * 1_000_000_000,
            end_s * 1_000_000_000
        )
    }

    #[test]
    fn calls_wait_for_their_parent_with_the_recorded_think_time() {
        let tools = r#", "gen_ai.tool.definitions": "[{\"type\": \"function\", \"function\": {\"name\": \"ls\"}}]""#;
        let text = [
            span("s1", "a", None, 10, 12, tools),
            span("s1", "b", Some("a"), 15, 16, ""),
            span("s1", "c", Some("a"), 13, 14, ""),
            span("s2", "a", Some("agent"), 11, 20, ""),
        ]
        .join("\n");
        let t = read(Format::Agentic, text.as_bytes()).unwrap();
        let got: Vec<_> = t
            .entries
            .iter()
            .map(|e| {
                let l = e.link.clone().unwrap();
                (
                    e.line,
                    e.at_us / 1_000_000,
                    l.session,
                    l.turn,
                    l.parent,
                    l.think_us.map(|u| u / 1_000_000),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (1, 0, 0, 1, None, None),
                (4, 1, 1, 1, None, None),
                (3, 3, 0, 2, Some(0), Some(1)),
                (2, 5, 0, 2, Some(0), Some(3)),
            ],
            "two branches from call a; s2's parent is not a call of the file"
        );
        let chat = t.entries[0].chat.clone().unwrap();
        assert_eq!(chat.tools.unwrap()[0]["function"]["name"], "ls");
        assert_eq!(chat.messages[0]["content"], "hi");
    }

    #[test]
    fn the_conventions_parts_shape_becomes_openai_messages() {
        let m = serde_json::json!([
            {"role": "user", "parts": [{"type": "text", "content": "list"}]},
            {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "ls", "arguments": {"dir": "/"}}]},
            {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "a b"}]}
        ]);
        let out = super::openai_messages(m).unwrap();
        assert_eq!(
            out[0],
            serde_json::json!({"role": "user", "content": "list"})
        );
        assert_eq!(
            out[1]["tool_calls"][0]["function"]["arguments"],
            "{\"dir\":\"/\"}"
        );
        assert_eq!(
            out[2],
            serde_json::json!({"role": "tool", "tool_call_id": "c1", "content": "a b"})
        );
    }

    #[test]
    fn a_bad_span_is_named() {
        let good = span("s", "a", None, 1, 2, "");
        for (text, line, says) in [
            (format!("{good}\n{{\"trace_id\": \"s\"}}"), 2, "span_id"),
            (span("s", "a", None, 3, 2, ""), 1, "ends before"),
            (
                good.replace(
                    r#""gen_ai.usage.output_tokens": 20"#,
                    r#""gen_ai.usage.output_tokens": "x""#,
                ),
                1,
                "not a token count",
            ),
            (
                good.replace("gen_ai.input.messages", "messages"),
                1,
                "no gen_ai.input.messages",
            ),
            (
                good.replace(r#""gen_ai.usage.output_tokens": 20"#, r#""x": 1"#),
                1,
                "neither",
            ),
        ] {
            let e = read(Format::Agentic, text.as_bytes()).unwrap_err();
            assert_eq!(e.line, line, "{text}");
            assert!(e.why.contains(says), "{e}");
        }
    }
}
