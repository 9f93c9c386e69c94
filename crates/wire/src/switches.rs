//! The run's switches (`--thinking`, `--cache-salt`) in each server's own
//! words: one table, so that a run against vLLM, llama-server or Ollama
//! asks the same thing however the server spells it.
//!
//! Sources (read in each server's code of the versions we support; see
//! `docs/server-apis.md`):
//! * vLLM 0.32: `chat_template_kwargs.enable_thinking` reaches the chat
//!   template, and the qwen3 reasoning parser starts in its reasoning state
//!   unless it is false (`vllm/parser/qwen3.py`); `cache_salt` enters the
//!   hash of a prompt's first block (`vllm/v1/core/kv_cache_utils.py`),
//!   at most 128 characters without `@ / \` or NUL
//!   (`vllm/entrypoints/generate/base/protocol.py`).
//! * llama-server (llama.cpp b11434): `chat_template_kwargs.enable_thinking`
//!   (a JSON bool) sets the template's variable
//!   (`tools/server/server-common.cpp`). Its per-request budget
//!   (`thinking_budget_tokens`) is not used for `off`: a budget of 0 ends
//!   the block with a garbled tag in that build and the rest still streams
//!   as reasoning (seen on the real server). `cache_prompt: false` keeps a
//!   request off the slot's cache.
//! * Ollama 0.17.4: `think` on `/api/chat` and `/api/generate`
//!   (`api/types.go`; a model without thinking answers 400 "does not
//!   support thinking"); on `/v1/chat/completions` only
//!   `reasoning_effort: "none"` turns thinking off, and a thinking model
//!   thinks by default (`openai/openai.go`), so `on` sends nothing there.
//!   It has no per-request cache switch.

use serde_json::{json, Map, Value};
use stackbench_core::kinds::{Api, ServerKind, Thinking};

/// What the switches add to every request body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Switches {
    /// Top-level body fields.
    pub fields: Map<String, Value>,
    /// Send each request's salt as `cache_salt`.
    pub salt_field: bool,
    /// What the run should say about a switch this server cannot honour
    /// fully (run warnings).
    pub notes: Vec<String>,
}

/// A switch the run's API cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwitchError {
    /// `--thinking-budget` on a server without a per-request budget.
    #[error(
        "--thinking-budget: {kind} has no per-request thinking budget (vLLM has \
         thinking_token_budget, llama-server thinking_budget_tokens)"
    )]
    NoBudget {
        /// The server kind.
        kind: ServerKind,
    },
    /// `--thinking on|off` on an API without a chat template.
    #[error(
        "--thinking {thinking} needs a chat API (chat, ollama-chat or ollama-generate): \
         the {api} API applies no chat template, so no server can switch thinking there; \
         use --api chat or --thinking default"
    )]
    ThinkingNeedsChat {
        /// The setting asked for.
        thinking: Thinking,
        /// The run's API.
        api: Api,
    },
}

/// What the run asks of the server's thinking and its prompt cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Asked {
    /// `--thinking`.
    pub thinking: Thinking,
    /// `--thinking-budget`: reasoning tokens allowed before the server
    /// forces the end of the block.
    pub budget: Option<u32>,
    /// `--cache-salt`.
    pub cache_salt: bool,
}

/// The body fields that ask `kind`'s server, through `api`, for what
/// `asked` says.
pub fn switches(kind: ServerKind, api: Api, asked: Asked) -> Result<Switches, SwitchError> {
    let mut s = Switches::default();
    let thinking = asked.thinking;
    if let Some(on) = thinking.wanted() {
        thinking_fields(kind, api, on, &mut s.fields)
            .ok_or(SwitchError::ThinkingNeedsChat { thinking, api })?;
    }
    if let Some(n) = asked.budget {
        // vLLM: `thinking_token_budget` (chat and completions protocol);
        // llama-server: `thinking_budget_tokens`, which counts the
        // template's `<think>\n` prefill token (N yields N − 1 generated
        // reasoning tokens, seen on the real server).
        let field = match kind {
            ServerKind::Vllm => "thinking_token_budget",
            ServerKind::Llamacpp => "thinking_budget_tokens",
            _ => return Err(SwitchError::NoBudget { kind }),
        };
        s.fields.insert(field.into(), json!(n));
    }
    let cache_salt = asked.cache_salt;
    if cache_salt {
        salt(kind, api, &mut s);
    }
    Ok(s)
}

/// The thinking switch of `kind` on `api`; `None` where there is none.
fn thinking_fields(
    kind: ServerKind,
    api: Api,
    on: bool,
    fields: &mut Map<String, Value>,
) -> Option<()> {
    match (api, kind) {
        (Api::OllamaChat | Api::OllamaGenerate, _) => {
            fields.insert("think".into(), Value::Bool(on));
        }
        (Api::Chat, ServerKind::Ollama) => {
            if !on {
                fields.insert("reasoning_effort".into(), json!("none"));
            }
        }
        (Api::Chat, _) => {
            fields.insert(
                "chat_template_kwargs".into(),
                json!({ "enable_thinking": on }),
            );
        }
        (Api::Completions | Api::LlamaNative, _) => return None,
    }
    Some(())
}

/// `--cache-salt`: each request in its own cache namespace where the
/// server has one, the cache off where it has a switch, a note where
/// neither exists.
fn salt(kind: ServerKind, api: Api, s: &mut Switches) {
    match kind {
        ServerKind::Vllm => s.salt_field = true,
        ServerKind::Llamacpp => {
            if api != Api::LlamaNative {
                s.fields.insert("cache_prompt".into(), Value::Bool(false));
            }
        }
        ServerKind::Ollama => s.notes.push(
            "--cache-salt: Ollama has no per-request prompt-cache switch; prompts differ from \
             earlier runs' (salted), but a conversation's later turns and the chat template's \
             fixed head can still come from its cache"
                .into(),
        ),
        _ => s.notes.push(format!(
            "--cache-salt: a {kind} server has no known prompt-cache switch; prompts differ \
             from earlier runs' (salted), nothing else is sent"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(kind: ServerKind, api: Api, t: Thinking) -> Value {
        let asked = Asked {
            thinking: t,
            ..Asked::default()
        };
        Value::Object(switches(kind, api, asked).unwrap().fields)
    }

    #[test]
    fn the_thinking_budget_in_each_stacks_words() {
        let asked = Asked {
            budget: Some(6),
            ..Asked::default()
        };
        let f = |k| switches(k, Api::Chat, asked).map(|s| Value::Object(s.fields));
        assert_eq!(
            f(ServerKind::Vllm).unwrap(),
            json!({"thinking_token_budget": 6})
        );
        assert_eq!(
            f(ServerKind::Llamacpp).unwrap(),
            json!({"thinking_budget_tokens": 6})
        );
        assert!(f(ServerKind::Ollama).is_err());
    }

    #[test]
    fn thinking_off_in_each_stacks_words() {
        assert_eq!(
            on(ServerKind::Vllm, Api::Chat, Thinking::Off),
            json!({"chat_template_kwargs": {"enable_thinking": false}})
        );
        assert_eq!(
            on(ServerKind::Llamacpp, Api::Chat, Thinking::Off),
            json!({"chat_template_kwargs": {"enable_thinking": false}})
        );
        assert_eq!(
            on(ServerKind::Llamacpp, Api::Chat, Thinking::On),
            json!({"chat_template_kwargs": {"enable_thinking": true}})
        );
        assert_eq!(
            on(ServerKind::Ollama, Api::OllamaChat, Thinking::Off),
            json!({"think": false})
        );
        assert_eq!(
            on(ServerKind::Ollama, Api::Chat, Thinking::Off),
            json!({"reasoning_effort": "none"})
        );
        assert_eq!(
            on(ServerKind::Vllm, Api::Chat, Thinking::Default),
            json!({})
        );
    }

    #[test]
    fn thinking_on_a_completions_api_is_refused() {
        let off = Asked {
            thinking: Thinking::Off,
            ..Asked::default()
        };
        let e = switches(ServerKind::Vllm, Api::Completions, off).unwrap_err();
        assert!(e.to_string().contains("--api chat"), "{e}");
        let salt = Asked {
            cache_salt: true,
            ..Asked::default()
        };
        assert!(switches(ServerKind::Vllm, Api::Completions, salt).is_ok());
    }

    #[test]
    fn the_cache_salt_in_each_stacks_words() {
        let asked = Asked {
            cache_salt: true,
            ..Asked::default()
        };
        let s = |k| switches(k, Api::Chat, asked).unwrap();
        assert!(s(ServerKind::Vllm).salt_field);
        assert_eq!(s(ServerKind::Llamacpp).fields["cache_prompt"], false);
        assert!(!s(ServerKind::Ollama).notes.is_empty());
    }
}
