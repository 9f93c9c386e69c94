//! Reasoning streams: which tokens of a stream think, what they say, and
//! whether a request switched thinking off.
//!
//! The ground truth the client is tested against: of a stream's N output
//! tokens the first R = round(share × N) are reasoning and the other
//! N − R answer, so reasoning + answer = N exactly, and the first answer
//! token (token R + 1) is sent at its own deadline on the usual schedule
//! (no event mixes reasoning and answer tokens, see `server.rs`). In the
//! `tags` format the `<think>` and `</think>` delimiters are reasoning
//! tokens themselves (the first and the last), so R is at least 2 there
//! whenever the share is above 0 (and at most N); in `close-tag` only
//! `</think>` is (the last), so R is at least 1.

use serde::Deserialize;
use serde_json::Value;

use crate::error::BadRequest;

/// How reasoning text reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReasoningFormat {
    /// In the flavor's own reasoning field (vLLM `delta.reasoning`,
    /// llama-server `delta.reasoning_content`, Ollama `thinking` /
    /// `delta.reasoning`); completions endpoints, which have none, get
    /// `tags`.
    #[default]
    Field,
    /// As `<think>`…`</think>` text inside the content, as a server with
    /// no reasoning parser sends it.
    Tags,
    /// As reasoning text closed by `</think>` inside the content, with no
    /// opening tag: the chat template opened the block in the prompt
    /// (Qwen3-style forced thinking) and no parser runs. Completions, which
    /// have no template, get `tags`.
    CloseTag,
}

impl ReasoningFormat {
    /// Every format, by name.
    pub const NAMES: &'static [(&'static str, Self)] = &[
        ("field", Self::Field),
        ("tags", Self::Tags),
        ("close-tag", Self::CloseTag),
    ];

    /// Parses `field`, `tags` or `close-tag`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::NAMES.iter().find(|(n, _)| *n == s).map(|(_, f)| *f)
    }
}

/// The opening delimiter of a `tags` reasoning block.
pub(crate) const THINK_OPEN: &str = "<think>";
/// The closing delimiter of a `tags` reasoning block.
pub(crate) const THINK_CLOSE: &str = "</think>";

/// Ids of the delimiters (Qwen3's, for a realistic look).
const THINK_OPEN_ID: u32 = 151_667;
const THINK_CLOSE_ID: u32 = 151_668;

/// The words reasoning tokens cycle through (each has a non-whitespace
/// character, none is a delimiter).
const THINKING_WORDS: &[&str] = &[
    " let", " me", " think", " about", " what", " is", " asked", " first", ",", " then", " answer",
    ".",
];

/// The first id of a reasoning word (answer words start at 1000).
const THINKING_BASE_ID: u32 = 2000;

/// Reasoning tokens of an output of `n` tokens at `share` in `format`.
pub(crate) fn reasoning_tokens(share: f64, n: u64, format: ReasoningFormat) -> u64 {
    if share <= 0.0 || n == 0 {
        return 0;
    }
    let r = (share * n as f64).round() as u64;
    let r = match format {
        ReasoningFormat::Tags => r.max(2),
        ReasoningFormat::CloseTag => r.max(1),
        ReasoningFormat::Field => r,
    };
    r.min(n)
}

/// Text and id of reasoning token `k` (0-based) of `r` in `format`.
pub(crate) fn reasoning_token(k: u64, r: u64, format: ReasoningFormat) -> (&'static str, u32) {
    let opens = format == ReasoningFormat::Tags;
    let closes = matches!(format, ReasoningFormat::Tags | ReasoningFormat::CloseTag);
    if opens && k == 0 {
        return (THINK_OPEN, THINK_OPEN_ID);
    }
    if closes && k + 1 == r {
        return (THINK_CLOSE, THINK_CLOSE_ID);
    }
    let w = (k as usize) % THINKING_WORDS.len();
    (THINKING_WORDS[w], THINKING_BASE_ID + w as u32)
}

/// `chat_template_kwargs.enable_thinking` of a chat body (vLLM and
/// llama-server pass it to the chat template): `Some(false)` switches
/// thinking off. llama-server insists on a JSON bool (`Err`: its 400
/// message, llama.cpp b11434 `tools/server/server-common.cpp`); both take
/// `reasoning_effort: "none"` as off.
pub(crate) fn chat_switch(v: &Value, llama: bool) -> Result<Option<bool>, BadRequest> {
    let asked = v.pointer("/chat_template_kwargs/enable_thinking");
    let switch = match asked {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) if llama => {
            return Err(BadRequest::EnableThinkingType {
                got: json_type(other),
            })
        }
        // vLLM hands any value to the template, whose `enable_thinking is
        // false` test only a real false passes.
        Some(_) => None,
    };
    // vLLM 0.32: `reasoning_effort: "none"` sets `enable_thinking: false`
    // unless the kwargs already say (`chat_completion/protocol.py`);
    // llama-server takes it as off too.
    if (llama || asked.is_none())
        && v.get("reasoning_effort").and_then(Value::as_str) == Some("none")
    {
        return Ok(Some(false));
    }
    Ok(switch)
}

/// An Ollama request's `think`, as Ollama 0.17.4 reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OllamaThink {
    /// `true` or `false`.
    Bool(bool),
    /// `"high"`, `"medium"` or `"low"`: only gpt-oss models take a level.
    Level(String),
}

impl OllamaThink {
    /// The switch it makes: a level means on.
    pub(crate) fn on(&self) -> bool {
        match self {
            Self::Bool(b) => *b,
            Self::Level(_) => true,
        }
    }
}

const LEVELS: [&str; 3] = ["high", "medium", "low"];

/// Ollama's native `think` (`/api/chat`, `/api/generate`); `Err`: the 400
/// message of a value it cannot read (`api/types.go` `ThinkValue`).
pub(crate) fn ollama_switch(v: &Value) -> Result<Option<OllamaThink>, BadRequest> {
    match v.get("think") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(OllamaThink::Bool(*b))),
        Some(Value::String(s)) if LEVELS.contains(&s.as_str()) => {
            Ok(Some(OllamaThink::Level(s.clone())))
        }
        Some(Value::String(s)) => Err(BadRequest::ThinkValue(s.clone())),
        Some(_) => Err(BadRequest::ThinkType),
    }
}

/// Ollama's OpenAI layer: `reasoning.effort` (before `reasoning_effort`)
/// becomes `think`: `"none"` false, a level that level, anything else a
/// 400 (Ollama v0.17.4 `openai/openai.go`).
pub(crate) fn ollama_v1_switch(v: &Value) -> Result<Option<OllamaThink>, BadRequest> {
    let effort = v
        .pointer("/reasoning/effort")
        .or_else(|| v.get("reasoning_effort"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    match effort {
        "" => Ok(None),
        "none" => Ok(Some(OllamaThink::Bool(false))),
        level if LEVELS.contains(&level) => Ok(Some(OllamaThink::Level(level.to_string()))),
        other => Err(BadRequest::ReasoningValue(other.to_string())),
    }
}

/// Why Ollama refuses `think` for the simulated model, if it does
/// (v0.17.4 `server/routes.go`, both 400): a level, which only gpt-oss
/// (harmony) models take, or any "on" for a model that cannot think.
pub(crate) fn ollama_refusal(
    think: Option<&OllamaThink>,
    thinks: bool,
    model: &str,
) -> Option<String> {
    match think? {
        OllamaThink::Level(level) => Some(format!(
            "think value {level:?} is not supported for this model"
        )),
        OllamaThink::Bool(true) if !thinks => Some(format!("{model:?} does not support thinking")),
        OllamaThink::Bool(_) => None,
    }
}

/// The JSON type name nlohmann::json gives (`string`, `number`, …).
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reasoning_share_rounds_and_tags_need_two_tokens() {
        assert_eq!(reasoning_tokens(0.6, 96, ReasoningFormat::Field), 58);
        assert_eq!(reasoning_tokens(0.6, 96, ReasoningFormat::Tags), 58);
        assert_eq!(reasoning_tokens(0.0, 96, ReasoningFormat::Tags), 0);
        assert_eq!(reasoning_tokens(0.01, 10, ReasoningFormat::Field), 0);
        assert_eq!(reasoning_tokens(0.01, 10, ReasoningFormat::Tags), 2);
        assert_eq!(reasoning_tokens(1.0, 7, ReasoningFormat::Field), 7);
        assert_eq!(reasoning_tokens(0.5, 1, ReasoningFormat::Tags), 1);
        assert_eq!(reasoning_tokens(0.01, 10, ReasoningFormat::CloseTag), 1);
    }

    #[test]
    fn tags_open_and_close_the_block() {
        let f = ReasoningFormat::Tags;
        let texts: Vec<_> = (0..4).map(|k| reasoning_token(k, 4, f).0).collect();
        assert_eq!(texts[0], "<think>");
        assert_eq!(texts[3], "</think>");
        assert!(!texts[1].contains('<') && !texts[2].trim().is_empty());
        let field: Vec<_> = (0..4)
            .map(|k| reasoning_token(k, 4, ReasoningFormat::Field).0)
            .collect();
        assert!(field.iter().all(|t| !t.contains("think>")));
        let closed: Vec<_> = (0..3)
            .map(|k| reasoning_token(k, 3, ReasoningFormat::CloseTag).0)
            .collect();
        assert!(!closed[0].contains('<') && !closed[1].contains('<'));
        assert_eq!(closed[2], "</think>");
    }

    // The switches as the texts a server answers with.
    fn chat_switch(v: &Value, llama: bool) -> Result<Option<bool>, String> {
        super::chat_switch(v, llama).map_err(|e| e.to_string())
    }

    fn ollama_switch(v: &Value) -> Result<Option<OllamaThink>, String> {
        super::ollama_switch(v).map_err(|e| e.to_string())
    }

    fn ollama_v1_switch(v: &Value) -> Result<Option<OllamaThink>, String> {
        super::ollama_v1_switch(v).map_err(|e| e.to_string())
    }

    #[test]
    fn refusals_name_what_was_sent() {
        assert!(matches!(
            super::ollama_switch(&json!({"think": 1})),
            Err(BadRequest::ThinkType)
        ));
        assert!(matches!(
            super::ollama_v1_switch(&json!({"reasoning_effort": "max"})),
            Err(BadRequest::ReasoningValue(v)) if v == "max"
        ));
        assert!(matches!(
            super::chat_switch(
                &json!({"chat_template_kwargs": {"enable_thinking": 1}}),
                true
            ),
            Err(BadRequest::EnableThinkingType { got: "number" })
        ));
    }

    #[test]
    fn switches_are_read_as_each_server_reads_them() {
        let off = json!({"chat_template_kwargs": {"enable_thinking": false}});
        assert_eq!(chat_switch(&off, false), Ok(Some(false)));
        assert_eq!(chat_switch(&json!({}), true), Ok(None));
        let text = json!({"chat_template_kwargs": {"enable_thinking": "false"}});
        assert_eq!(chat_switch(&text, false), Ok(None));
        assert_eq!(
            chat_switch(&text, true),
            Err("invalid type for \"enable_thinking\" (expected boolean, got string)".into())
        );
        assert_eq!(
            chat_switch(&json!({"reasoning_effort": "none"}), true),
            Ok(Some(false))
        );
        use OllamaThink::{Bool, Level};
        assert_eq!(
            ollama_switch(&json!({"think": false})),
            Ok(Some(Bool(false)))
        );
        assert_eq!(
            ollama_switch(&json!({"think": "high"})),
            Ok(Some(Level("high".into())))
        );
        assert_eq!(ollama_switch(&json!({})), Ok(None));
        assert_eq!(
            ollama_switch(&json!({"think": "max"})),
            Err("invalid think value: \"max\" (must be \"high\", \"medium\", \"low\", true, or false)".into())
        );
        assert!(ollama_switch(&json!({"think": 1})).is_err());
        assert_eq!(
            ollama_v1_switch(&json!({"reasoning_effort": "none"})),
            Ok(Some(Bool(false)))
        );
        assert_eq!(
            ollama_v1_switch(&json!({"reasoning_effort": "none", "reasoning": {"effort": "low"}})),
            Ok(Some(Level("low".into())))
        );
        assert!(ollama_v1_switch(&json!({"reasoning_effort": "max"})).is_err());
        assert_eq!(
            ollama_refusal(Some(&Bool(true)), false, "m:1").as_deref(),
            Some("\"m:1\" does not support thinking")
        );
        assert_eq!(ollama_refusal(Some(&Bool(false)), false, "m"), None);
        assert_eq!(ollama_refusal(Some(&Bool(true)), true, "m"), None);
        assert_eq!(
            ollama_refusal(Some(&Level("low".into())), true, "m").as_deref(),
            Some("think value \"low\" is not supported for this model")
        );
    }
}
