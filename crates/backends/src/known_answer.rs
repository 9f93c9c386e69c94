//! One greedy, non-streamed question to a ready server, for a suite's
//! correctness probe: a stack that is fast but answers wrong (a kernel
//! that computes garbage on a new GPU, a broken quantization) must not
//! pass for a result. Each API's own non-streamed shape is read and split
//! into answer and reasoning: the answer is the content alone, without
//! the reasoning a server puts in a field of its own
//! (`reasoning_content`, `reasoning`, `thinking`) or a model writes in
//! `<think>`…`</think>` when no reasoning parser is on. A reply whose
//! budget ended mid-thought has reasoning and no answer.

use std::time::Duration;

use serde_json::{json, Value};
use stackbench_wire::body::Api;

use crate::control::ControlClient;

/// How long the one question may take (a cold model may still load).
const TIMEOUT: Duration = Duration::from_secs(300);

/// The body asking `prompt` greedily of `model` on `api`, with the
/// stack's `extra` fields merged in.
pub fn known_answer_body(
    api: Api,
    model: &str,
    prompt: &str,
    max_tokens: u32,
    extra: &serde_json::Map<String, Value>,
) -> Value {
    let messages = json!([{ "role": "user", "content": prompt }]);
    let mut body = match api {
        Api::Chat => {
            json!({ "model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0, "stream": false })
        }
        Api::Completions => {
            json!({ "model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": false })
        }
        Api::LlamaNative => {
            json!({ "prompt": prompt, "n_predict": max_tokens, "temperature": 0, "stream": false })
        }
        Api::OllamaChat => {
            json!({ "model": model, "messages": messages, "stream": false, "options": { "temperature": 0, "num_predict": max_tokens } })
        }
        Api::OllamaGenerate => {
            json!({ "model": model, "prompt": prompt, "stream": false, "options": { "temperature": 0, "num_predict": max_tokens } })
        }
    };
    if let Some(b) = body.as_object_mut() {
        for (k, v) in extra {
            b.insert(k.clone(), v.clone());
        }
    }
    body
}

/// Opening tag of a reasoning block in answer text.
const OPEN: &str = "<think>";
/// Closing tag of a reasoning block in answer text.
const CLOSE: &str = "</think>";

/// A non-streamed reply, split into its answer and its reasoning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownAnswerReply {
    /// The answer: the content without any reasoning, trimmed.
    pub answer: String,
    /// Whether the reply held reasoning (a field of its own or a
    /// `<think>` block).
    pub reasoned: bool,
}

impl KnownAnswerReply {
    /// Whether the reply ended while still reasoning: reasoning, and no
    /// answer after it (the token budget ran out mid-thought).
    pub fn still_reasoning(&self) -> bool {
        self.reasoned && self.answer.is_empty()
    }
}

/// The reply of a non-streamed response of `api`; `None` when it holds
/// neither an answer nor reasoning.
pub fn known_answer_reply(api: Api, response: &Value) -> Option<KnownAnswerReply> {
    let (holder, content, reasoning): (&Value, &str, &[&str]) = match api {
        Api::Chat => (
            response.pointer("/choices/0/message")?,
            "content",
            &["reasoning_content", "reasoning"],
        ),
        Api::Completions => (response.pointer("/choices/0")?, "text", &[]),
        Api::LlamaNative => (response, "content", &[]),
        Api::OllamaChat => (response.get("message")?, "content", &["thinking"]),
        Api::OllamaGenerate => (response, "response", &["thinking"]),
    };
    let text = |key: &str| {
        holder
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
    };
    let parsed = reasoning.iter().any(|k| text(k).is_some());
    let content = text(content);
    match (content, parsed) {
        (None, false) => None,
        // The server's parser split the output: the content is the answer.
        (content, true) => Some(KnownAnswerReply {
            answer: content.unwrap_or_default().trim().to_string(),
            reasoned: true,
        }),
        (Some(raw), false) => Some(split_think(raw)),
    }
}

/// Raw output split at its `<think>` blocks: they are removed (one left
/// open runs to the end), and a `</think>` before any `<think>` closes a
/// block the chat template opened in the prompt.
fn split_think(raw: &str) -> KnownAnswerReply {
    let mut reasoned = false;
    let mut rest = raw;
    if let Some(close) = rest.find(CLOSE) {
        if rest.find(OPEN).map_or(true, |open| open > close) {
            rest = &rest[close + CLOSE.len()..];
            reasoned = true;
        }
    }
    let mut answer = String::new();
    while let Some(open) = rest.find(OPEN) {
        answer.push_str(&rest[..open]);
        reasoned = true;
        let inside = &rest[open + OPEN.len()..];
        rest = inside
            .find(CLOSE)
            .map_or("", |c| &inside[c + CLOSE.len()..]);
    }
    answer.push_str(rest);
    KnownAnswerReply {
        answer: answer.trim().to_string(),
        reasoned,
    }
}

/// Why a known-answer question got no answer text.
#[derive(Debug, thiserror::Error)]
pub enum KnownAnswerError {
    /// The API's path does not join onto the server root.
    #[error("{root} has no URL for {path}: {reason}")]
    Url {
        /// The server root.
        root: String,
        /// The API's path.
        path: &'static str,
        /// The URL parser's reason.
        reason: String,
    },
    /// The request got no response (or its body broke).
    #[error("POST {url}: {reason}")]
    Send {
        /// Where it went.
        url: String,
        /// The transport's reason.
        reason: String,
    },
    /// The server answered an error status.
    #[error("POST {url}: {status}: {body}")]
    Status {
        /// Where it went.
        url: String,
        /// The status.
        status: reqwest::StatusCode,
        /// The start of the server's body.
        body: String,
    },
    /// The answer is not JSON.
    #[error("POST {url}: the answer is not JSON ({reason})")]
    NotJson {
        /// Where it went.
        url: String,
        /// The parser's reason.
        reason: String,
    },
    /// The answer is JSON without text where `api` puts it.
    #[error("POST {url}: the response holds no answer text: {response}")]
    NoText {
        /// Where it went.
        url: String,
        /// The response.
        response: Value,
    },
}

/// Asks the question of the server `client` talks to and returns the
/// reply, or why there is none (the server's status and words).
pub async fn ask_known_answer(
    client: &ControlClient,
    api: Api,
    body: &Value,
) -> Result<KnownAnswerReply, KnownAnswerError> {
    let root = client.root();
    let url = root.join(api.path()).map_err(|e| KnownAnswerError::Url {
        root: root.to_string(),
        path: api.path(),
        reason: e.to_string(),
    })?;
    let send = |e: reqwest::Error| KnownAnswerError::Send {
        url: url.to_string(),
        reason: e.to_string(),
    };
    let resp = client
        .http()
        .post(url.clone())
        .timeout(TIMEOUT)
        .json(body)
        .send()
        .await
        .map_err(send)?;
    let status = resp.status();
    let text = resp.text().await.map_err(send)?;
    if !status.is_success() {
        return Err(KnownAnswerError::Status {
            url: url.to_string(),
            status,
            body: text.chars().take(300).collect(),
        });
    }
    let value: Value = serde_json::from_str(&text).map_err(|e| KnownAnswerError::NotJson {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    known_answer_reply(api, &value).ok_or_else(|| KnownAnswerError::NoText {
        url: url.to_string(),
        response: value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer of `response` on `api`, when it has a reply.
    fn answer(api: Api, response: &Value) -> Option<String> {
        known_answer_reply(api, response).map(|r| r.answer)
    }

    #[test]
    fn each_api_reads_its_own_shape() {
        let chat = json!({"choices":[{"message":{"role":"assistant","content":"Paris."}}]});
        assert_eq!(answer(Api::Chat, &chat).as_deref(), Some("Paris."));
        let native = json!({"content":" Paris","tokens_predicted":2});
        assert_eq!(answer(Api::LlamaNative, &native).as_deref(), Some("Paris"));
        let ollama = json!({"message":{"role":"assistant","content":"Paris"},"done":true});
        assert_eq!(answer(Api::OllamaChat, &ollama).as_deref(), Some("Paris"));
        let generate = json!({"response":"Paris","thinking":"France…"});
        assert_eq!(
            answer(Api::OllamaGenerate, &generate).as_deref(),
            Some("Paris")
        );
        assert_eq!(known_answer_reply(Api::Chat, &json!({"error":"x"})), None);
        let empty = json!({"choices":[{"message":{"content":"  "}}]});
        assert_eq!(known_answer_reply(Api::Chat, &empty), None);
    }

    #[test]
    fn the_reasoning_is_not_the_answer() {
        // "is it 391?" mid-thought, then a wrong answer.
        let split = json!({"choices":[{"message":{"content":"It is 17.","reasoning_content":"is it 391?"}}]});
        assert_eq!(answer(Api::Chat, &split).as_deref(), Some("It is 17."));
        let raw = json!({"choices":[{"text":"<think>is it 391?</think>\n\nIt is 17."}]});
        assert_eq!(answer(Api::Completions, &raw).as_deref(), Some("It is 17."));
        // The template opened the block: only the close shows.
        let opened = json!({"content":"is it 391? yes.</think> It is 17."});
        assert_eq!(
            answer(Api::LlamaNative, &opened).as_deref(),
            Some("It is 17.")
        );
        let ollama = json!({"message":{"content":"","thinking":"is it 391?"},"done":true});
        assert_eq!(answer(Api::OllamaChat, &ollama).as_deref(), Some(""));
    }

    #[test]
    fn a_budget_that_ends_mid_thought_leaves_no_answer() {
        let field =
            json!({"choices":[{"message":{"content":null,"reasoning":"The capital is Paris"}}]});
        let unclosed = json!({"choices":[{"text":"<think>The capital is Paris"}]});
        for (api, response) in [(Api::Chat, field), (Api::Completions, unclosed)] {
            let reply = known_answer_reply(api, &response).expect("a reply");
            assert!(reply.still_reasoning(), "{reply:?}");
        }
        let answered = split_think("a <think>b</think> c <think>d");
        assert_eq!(answered.answer, "a  c");
        assert!(answered.reasoned && !answered.still_reasoning());
        let plain = split_think("391");
        assert!(!plain.reasoned && !plain.still_reasoning());
    }

    #[test]
    fn bodies_are_greedy_and_take_the_stack_extras() {
        let mut extra = serde_json::Map::new();
        extra.insert(
            "chat_template_kwargs".into(),
            json!({"enable_thinking": false}),
        );
        let b = known_answer_body(Api::Chat, "m", "q", 16, &extra);
        assert_eq!(b["temperature"], 0);
        assert_eq!(b["stream"], false);
        assert_eq!(b["chat_template_kwargs"]["enable_thinking"], false);
        let o = known_answer_body(Api::OllamaGenerate, "m", "q", 16, &serde_json::Map::new());
        assert_eq!(o["options"]["num_predict"], 16);
    }
}
