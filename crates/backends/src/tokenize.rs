//! Counting a prompt's tokens the way the server will: through its own
//! tokenizer endpoints, with the chat template applied for chat requests.
//!
//! - vLLM: `POST /tokenize` with `messages` (templated, generation prompt
//!   added) or `prompt` (special tokens added, as `/v1/completions` does);
//!   the answer's `count`.
//! - llama-server: chat requests are rendered by `POST /apply-template`,
//!   then `POST /tokenize` with `add_special` and `parse_special` (how the
//!   server tokenizes a prompt it is sent); `tokens.len()`.
//! - Ollama and unknown servers have no such endpoint: `None`, and the
//!   caller calibrates from the counts the server reports instead.

use std::time::Duration;

use serde_json::{json, Value};
use stackbench_wire::body::Api;

use crate::control::ControlClient;
use crate::error::RequestError;
use stackbench_core::kinds::ServerKind;

const TIMEOUT: Duration = Duration::from_secs(30);

/// Counts prompts through a server's tokenizer endpoints.
#[derive(Debug, Clone)]
pub struct ServerTokenizer {
    client: ControlClient,
    kind: ServerKind,
    api: Api,
    model: String,
    /// The run's `chat_template_kwargs` (`--thinking`): a template renders
    /// differently with them (Qwen3's `enable_thinking: false` adds an
    /// empty think block), so the count must see them too.
    template_kwargs: Option<Value>,
}

impl ServerTokenizer {
    /// A counter for `api` requests to the server of `kind` that `client`
    /// talks to, or `None` when that server has no tokenizer endpoint for
    /// that API.
    pub fn new(client: &ControlClient, kind: ServerKind, api: Api, model: &str) -> Option<Self> {
        let supported = match kind {
            ServerKind::Vllm => matches!(api, Api::Chat | Api::Completions),
            ServerKind::Llamacpp => matches!(api, Api::Chat | Api::Completions | Api::LlamaNative),
            _ => false,
        };
        supported.then(|| Self {
            client: client.clone(),
            kind,
            api,
            model: model.to_string(),
            template_kwargs: None,
        })
    }

    /// This counter, rendering chat templates with `kwargs` as the run's
    /// requests do.
    pub fn with_template_kwargs(mut self, kwargs: Option<Value>) -> Self {
        self.template_kwargs = kwargs;
        self
    }

    /// `body` with the run's template kwargs, when it has any.
    fn templated(&self, mut body: Value) -> Value {
        if let (Some(k), Value::Object(map)) = (&self.template_kwargs, &mut body) {
            map.insert("chat_template_kwargs".into(), k.clone());
        }
        body
    }

    /// What it asks, for `run.json`.
    pub fn source(&self) -> &'static str {
        match (self.kind, self.api) {
            (ServerKind::Vllm, Api::Chat) => "vLLM POST /tokenize with messages",
            (ServerKind::Vllm, _) => "vLLM POST /tokenize with prompt",
            (_, Api::Chat) => "llama-server POST /apply-template, then /tokenize",
            _ => "llama-server POST /tokenize",
        }
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, RequestError> {
        self.client.post_json(path, &body, TIMEOUT).await
    }

    fn malformed(path: &str, v: &Value) -> RequestError {
        let mut text = v.to_string();
        text.truncate(200);
        RequestError::Server(format!("/{path} answered without a token count: {text}"))
    }

    /// The tokens of a request whose prompt (or user message) is `content`.
    pub async fn count(&self, content: &str) -> Result<u32, RequestError> {
        let n = match self.kind {
            ServerKind::Vllm => {
                let body = if self.api == Api::Chat {
                    self.templated(
                        json!({"model": self.model, "messages": [{"role": "user", "content": content}]}),
                    )
                } else {
                    json!({"model": self.model, "prompt": content})
                };
                let v = self.post("tokenize", body).await?;
                v.get("count")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| Self::malformed("tokenize", &v))?
            }
            _ => {
                let prompt = if self.api == Api::Chat {
                    let v = self
                        .post(
                            "apply-template",
                            self.templated(
                                json!({"messages": [{"role": "user", "content": content}]}),
                            ),
                        )
                        .await?;
                    v.get("prompt")
                        .and_then(Value::as_str)
                        .ok_or_else(|| Self::malformed("apply-template", &v))?
                        .to_string()
                } else {
                    content.to_string()
                };
                let v = self
                    .post(
                        "tokenize",
                        json!({"content": prompt, "add_special": true, "parse_special": true}),
                    )
                    .await?;
                v.get("tokens")
                    .and_then(Value::as_array)
                    .ok_or_else(|| Self::malformed("tokenize", &v))?
                    .len() as u64
            }
        };
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }
}
