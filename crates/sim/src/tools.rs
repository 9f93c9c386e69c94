//! Tool calls: which chat requests the simulated model answers with a call
//! instead of text, the call's tokens, and each server's wire shape for it.
//!
//! The ground truth: a forced call of N output tokens is the whole output.
//! Its first token names the function (the event that carries it is the
//! first tool-call token, as a real server sends the name once its parser
//! has it); the others are the arguments, a JSON object text
//! `{"query": "… …"}` of one piece per token, closed by the last token, so
//! the call ends exactly at the stream's length and the stream ends as a
//! call ends (`finish_reason` `tool_calls`; vLLM says `stop` for a named
//! choice). Usage counts the N tokens as completion tokens.
//!
//! When a call is forced, as each server reads the request:
//! * vLLM 0.32: `tool_choice` `"required"` (the first tool) or a named
//!   function. Its checks are kept (`chat_completion/protocol.py`): empty
//!   `tools`, a `tool_choice` without `tools`, an unknown choice or name
//!   are 400s. (The real server also needs `--tool-call-parser` for
//!   `"required"` and `"auto"`; the simulator behaves as if one were set.)
//! * llama-server: `"required"` only; it reads `tool_choice` as a string
//!   and takes anything else as `"auto"` (b11434 `server-common.cpp`).
//! * Ollama: no `tool_choice` at all (its OpenAI layer drops it): the
//!   simulated model calls the first tool whenever tools are offered.
//!
//! Wire shapes, held to real captures (`crates/wire/tests/fixtures/`): vLLM
//! streams a first delta with `id`, `type`, `index` and `function.name`
//! beside `content: null`, then argument pieces; llama-server the same
//! without `content`, its first delta with the arguments so far; Ollama
//! holds the call until it is complete and sends it whole on one line
//! (`message.tool_calls`, arguments as an object), its OpenAI layer in one
//! chunk (arguments as text).

use serde_json::{json, Value};

use crate::error::BadRequest;
use crate::flavor::Flavor;

/// A call the simulated model makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ToolCall {
    /// The function called.
    pub name: String,
    /// The request named it (`tool_choice: {"type": "function", …}`).
    pub named: bool,
}

/// The call an OpenAI chat request forces on `flavor`, if any; `Err`: the
/// 400 vLLM answers.
pub(crate) fn forced(flavor: Flavor, v: &Value) -> Result<Option<ToolCall>, BadRequest> {
    let tools = v.get("tools").filter(|t| !t.is_null());
    let choice = v.get("tool_choice").filter(|c| !c.is_null());
    if flavor == Flavor::Ollama {
        return Ok(tools.and_then(first_tool));
    }
    if flavor == Flavor::Vllm {
        vllm_checks(tools, choice)?;
    }
    let Some(tools) = tools else {
        return Ok(None);
    };
    match choice {
        Some(Value::String(s)) if s == "required" => Ok(first_tool(tools)),
        Some(Value::Object(_)) if flavor == Flavor::Vllm => {
            Ok(named(choice).map(|name| ToolCall {
                name: name.to_string(),
                named: true,
            }))
        }
        _ => Ok(None),
    }
}

/// Ollama's `/api/chat`: the model calls the first tool offered.
pub(crate) fn ollama(v: &Value) -> Option<ToolCall> {
    v.get("tools").and_then(first_tool)
}

/// vLLM 0.32's validation of `tools` and `tool_choice`.
fn vllm_checks(tools: Option<&Value>, choice: Option<&Value>) -> Result<(), BadRequest> {
    if tools.and_then(Value::as_array).is_some_and(Vec::is_empty) {
        return Err(BadRequest::ToolsEmpty);
    }
    let Some(choice) = choice.filter(|c| c.as_str() != Some("none")) else {
        return Ok(());
    };
    let Some(tools) = tools else {
        return Err(BadRequest::ToolChoiceWithoutTools);
    };
    match choice {
        Value::String(s) if s == "auto" || s == "required" => Ok(()),
        Value::Object(_) => {
            let name = named(Some(choice));
            let known = tools
                .as_array()
                .into_iter()
                .flatten()
                .any(|t| t.pointer("/function/name").and_then(Value::as_str) == name);
            if name.is_some() && known {
                Ok(())
            } else {
                Err(BadRequest::NoSuchTool)
            }
        }
        other => Err(BadRequest::ToolChoiceValue(match other {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        })),
    }
}

/// The function a named `tool_choice` names.
fn named(choice: Option<&Value>) -> Option<&str> {
    choice?.pointer("/function/name").and_then(Value::as_str)
}

/// A call of the first tool of `tools` (unnamed tools are called `tool`).
fn first_tool(tools: &Value) -> Option<ToolCall> {
    let first = tools.as_array()?.first()?;
    let name = first
        .pointer("/function/name")
        .and_then(Value::as_str)
        .unwrap_or("tool");
    Some(ToolCall {
        name: name.to_string(),
        named: false,
    })
}

/// The finish reason of a stream that ends with its call: vLLM says `stop`
/// for a named choice (`chat_completion/serving.py`), Ollama's native API
/// `stop` always, the rest `tool_calls`.
pub(crate) fn finish_reason(flavor: Flavor, call: &ToolCall, native: bool) -> &'static str {
    match flavor {
        Flavor::Vllm if call.named => "stop",
        Flavor::Ollama if native => "stop",
        _ => "tool_calls",
    }
}

/// The call's id, in the flavor's style.
pub(crate) fn call_id(flavor: Flavor, n: u64) -> String {
    match flavor {
        Flavor::Vllm => format!("chatcmpl-tool-sim{n:012x}"),
        Flavor::Llamacpp => format!("SimToolCall{n:021}"),
        Flavor::Ollama => format!("call_sim{n:05}"),
    }
}

/// The words the arguments are made of (no quote, no backslash).
const ARG_WORDS: &[&str] = &[
    " weather",
    " in",
    " the",
    " city",
    " of",
    " Paris",
    " today",
    " and",
    " tomorrow",
    ",",
];

/// The first id of an argument token.
const ARG_BASE_ID: u32 = 3000;

/// Text and id of token `k` (0-based) of an `n`-token call: the name (no
/// argument text), then `{"query": "`, words, and `"}`; a call of one or
/// two tokens has `{}` for arguments.
pub(crate) fn token(k: u64, n: u64) -> (&'static str, u32) {
    let id = ARG_BASE_ID + (k % 1000) as u32;
    match (k, n) {
        (0, 1) | (1, 2) => ("{}", id),
        (0, _) => ("", id),
        (1, _) => ("{\"query\": \"", id),
        _ if k + 1 == n => ("\"}", id),
        _ => (ARG_WORDS[(k as usize - 2) % ARG_WORDS.len()], id),
    }
}

/// One event's part of a call; the event's text is its argument text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ToolPart<'a> {
    /// The function called.
    pub name: &'a str,
    /// The call's id.
    pub id: &'a str,
    /// The event opens the call (it carries the name).
    pub first: bool,
}

/// A stream's call in progress: what it calls, its id, and — where the
/// server sends a call whole (Ollama) — the arguments held back so far.
#[derive(Debug)]
pub(crate) struct CallStream {
    call: ToolCall,
    id: String,
    /// Sent whole once complete, not in pieces.
    whole: bool,
    held: String,
}

impl CallStream {
    /// The stream of `call` with `id`; `whole`: sent whole (Ollama).
    pub(crate) fn new(call: ToolCall, id: String, whole: bool) -> Self {
        Self {
            call,
            id,
            whole,
            held: String::new(),
        }
    }

    /// Takes an event's argument `text`: true when the event is sent,
    /// with `text` as its arguments (a whole call: all of them, at its
    /// `last` event; false before, the text held).
    pub(crate) fn pass(&mut self, text: &mut String, last: bool) -> bool {
        if !self.whole {
            return true;
        }
        self.held.push_str(text);
        if last {
            *text = std::mem::take(&mut self.held);
        }
        last
    }

    /// The part of the call an event carries; `opens`: the event carries
    /// the call's first token (a whole call's one event always does).
    pub(crate) fn part(&self, opens: bool) -> ToolPart<'_> {
        ToolPart {
            name: &self.call.name,
            id: &self.id,
            first: opens || self.whole,
        }
    }
}

/// An OpenAI chat delta carrying `part` with argument text `args`.
pub(crate) fn openai_delta(flavor: Flavor, part: &ToolPart<'_>, args: &str) -> Value {
    let call = match (flavor, part.first) {
        (Flavor::Vllm, true) => {
            let mut function = json!({ "name": part.name });
            if !args.is_empty() {
                function["arguments"] = json!(args);
            }
            json!({"id": part.id, "type": "function", "index": 0, "function": function})
        }
        (Flavor::Llamacpp, true) => json!({"index": 0, "id": part.id, "type": "function",
            "function": {"name": part.name, "arguments": args}}),
        (Flavor::Ollama, _) => json!({"id": part.id, "index": 0, "type": "function",
            "function": {"name": part.name, "arguments": args}}),
        (_, false) => json!({"index": 0, "function": {"arguments": args}}),
    };
    match flavor {
        Flavor::Vllm => json!({"content": null, "tool_calls": [call]}),
        Flavor::Llamacpp => json!({"tool_calls": [call]}),
        Flavor::Ollama => json!({"role": "assistant", "content": "", "tool_calls": [call]}),
    }
}

/// Ollama's native message with the whole call (arguments as an object).
pub(crate) fn ollama_message(part: &ToolPart<'_>, args: &str) -> Value {
    let arguments: Value = serde_json::from_str(args).unwrap_or_else(|_| json!({}));
    json!({"role": "assistant", "content": "", "tool_calls": [{"id": part.id,
        "function": {"index": 0, "name": part.name, "arguments": arguments}}]})
}

/// A non-streamed answer `v` (OpenAI or Ollama native) with the call
/// instead of text: `message.tool_calls`, and content null (OpenAI) or
/// empty (Ollama).
pub(crate) fn patch_whole(v: &mut Value, part: &ToolPart<'_>, args: &str) {
    if let Some(message) = v.pointer_mut("/choices/0/message") {
        let call = json!({"id": part.id, "type": "function",
            "function": {"name": part.name, "arguments": args}});
        message["content"] = Value::Null;
        message["tool_calls"] = json!([call]);
    } else if v.get("message").is_some() {
        v["message"] = ollama_message(part, args);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forced(flavor: Flavor, v: Value) -> Result<Option<ToolCall>, String> {
        super::forced(flavor, &v).map_err(|e| e.to_string())
    }

    fn tools() -> Value {
        json!([{"type": "function", "function": {"name": "get_weather"}}, {"type": "function", "function": {"name": "other"}}])
    }

    #[test]
    fn each_flavor_forces_a_call_as_its_server_does() {
        let call = |name: &str, named| {
            Ok(Some(ToolCall {
                name: name.into(),
                named,
            }))
        };
        let named_choice = json!({"type": "function", "function": {"name": "other"}});
        let required = json!({"tools": tools(), "tool_choice": "required"});
        let by_name = json!({"tools": tools(), "tool_choice": named_choice});
        let auto = json!({"tools": tools(), "tool_choice": "auto"});
        assert_eq!(
            forced(Flavor::Vllm, required.clone()),
            call("get_weather", false)
        );
        assert_eq!(forced(Flavor::Vllm, by_name.clone()), call("other", true));
        assert_eq!(forced(Flavor::Vllm, auto.clone()), Ok(None));
        assert_eq!(
            forced(Flavor::Llamacpp, required),
            call("get_weather", false)
        );
        assert_eq!(forced(Flavor::Llamacpp, by_name), Ok(None), "read as auto");
        assert_eq!(forced(Flavor::Ollama, auto), call("get_weather", false));
        assert_eq!(forced(Flavor::Ollama, json!({})), Ok(None));
        assert_eq!(forced(Flavor::Vllm, json!({})), Ok(None));
    }

    #[test]
    fn vllm_refuses_what_vllm_refuses() {
        let refused = |v: Value| forced(Flavor::Vllm, v).unwrap_err();
        assert!(refused(json!({"tools": []})).starts_with("`tools` must not be an empty array"));
        assert_eq!(
            refused(json!({"tool_choice": "required"})),
            "When using `tool_choice`, `tools` must be set."
        );
        assert!(refused(json!({"tools": tools(), "tool_choice": "always"}))
            .starts_with("Invalid value for `tool_choice`: always!"));
        assert!(refused(
            json!({"tools": tools(), "tool_choice": {"type": "function", "function": {"name": "nope"}}})
        )
        .starts_with("The tool specified in `tool_choice` does not match"));
        // "none" needs no tools, and llama-server checks nothing.
        assert_eq!(
            forced(Flavor::Vllm, json!({"tool_choice": "none"})),
            Ok(None)
        );
        assert_eq!(forced(Flavor::Llamacpp, json!({"tools": []})), Ok(None));
    }

    /// The arguments of an n-token call are a JSON object for every n.
    #[test]
    fn every_call_length_makes_a_json_object() {
        for n in 1..40 {
            let text: String = (0..n).map(|k| token(k, n).0).collect();
            let v: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{n}: {text}: {e}"));
            assert!(v.is_object(), "{n}: {text}");
        }
        assert_eq!(token(0, 5).0, "", "the first token is the name");
    }

    #[test]
    fn deltas_in_each_flavors_shape() {
        let part = ToolPart {
            name: "f",
            id: "c1",
            first: true,
        };
        let v = openai_delta(Flavor::Vllm, &part, "");
        assert_eq!(v["content"], Value::Null);
        assert_eq!(v["tool_calls"][0]["function"], json!({"name": "f"}));
        let l = openai_delta(Flavor::Llamacpp, &part, "{");
        assert!(l.get("content").is_none());
        assert_eq!(l["tool_calls"][0]["function"]["arguments"], "{");
        let next = ToolPart {
            first: false,
            ..part
        };
        let v = openai_delta(Flavor::Vllm, &next, " x");
        assert_eq!(
            v["tool_calls"][0],
            json!({"index": 0, "function": {"arguments": " x"}})
        );
        let o = ollama_message(&part, "{\"query\": \" a\"}");
        assert_eq!(
            o["tool_calls"][0]["function"]["arguments"],
            json!({"query": " a"})
        );
    }
}
