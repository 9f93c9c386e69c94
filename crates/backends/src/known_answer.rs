//! One greedy, non-streamed question to a ready server, for a suite's
//! correctness probe: a stack that is fast but answers wrong (a kernel
//! that computes garbage on a new GPU, a broken quantization) must not
//! pass for a result. Each API's own non-streamed shape is read; a
//! reasoning model's answer is its content, or its reasoning text when
//! the token budget ended before any content.

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

/// The answer text of a non-streamed response of `api`.
pub fn known_answer_text(api: Api, response: &Value) -> Option<String> {
    let first_of = |v: &Value, keys: &[&str]| {
        keys.iter()
            .filter_map(|k| v.get(*k).and_then(Value::as_str))
            .find(|s| !s.trim().is_empty())
            .map(str::to_string)
    };
    match api {
        Api::Chat => first_of(
            response.pointer("/choices/0/message")?,
            &["content", "reasoning_content", "reasoning"],
        ),
        Api::Completions => first_of(response.pointer("/choices/0")?, &["text"]),
        Api::LlamaNative => first_of(response, &["content"]),
        Api::OllamaChat => first_of(response.get("message")?, &["content", "thinking"]),
        Api::OllamaGenerate => first_of(response, &["response", "thinking"]),
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
/// answer text, or why there is none (the server's status and words).
pub async fn ask_known_answer(
    client: &ControlClient,
    api: Api,
    body: &Value,
) -> Result<String, KnownAnswerError> {
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
    known_answer_text(api, &value).ok_or_else(|| KnownAnswerError::NoText {
        url: url.to_string(),
        response: value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_api_reads_its_own_shape() {
        let chat = json!({"choices":[{"message":{"role":"assistant","content":"Paris."}}]});
        assert_eq!(
            known_answer_text(Api::Chat, &chat).as_deref(),
            Some("Paris.")
        );
        // A reasoning model whose budget ended while thinking.
        let thinking = json!({"choices":[{"message":{"content":null,"reasoning_content":"The capital is Paris"}}]});
        assert_eq!(
            known_answer_text(Api::Chat, &thinking).as_deref(),
            Some("The capital is Paris")
        );
        let native = json!({"content":" Paris","tokens_predicted":2});
        assert_eq!(
            known_answer_text(Api::LlamaNative, &native).as_deref(),
            Some(" Paris")
        );
        let ollama = json!({"message":{"role":"assistant","content":"Paris"},"done":true});
        assert_eq!(
            known_answer_text(Api::OllamaChat, &ollama).as_deref(),
            Some("Paris")
        );
        assert_eq!(known_answer_text(Api::Chat, &json!({"error":"x"})), None);
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
