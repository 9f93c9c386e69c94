//! The wire formats of the three servers, written from server-apis.md
//! independently of the client's parsers.
//!
//! Quirks reproduced (server-apis.md §2, §9):
//! * vLLM: chat opens with a role chunk `{"role":"assistant","content":""}`
//!   sent with the first token; the last token chunk carries
//!   `finish_reason` and `stop_reason`; usage comes in a `choices: []` chunk
//!   only when `include_usage` is set, and on every chunk (cumulative) with
//!   `continuous_usage_stats`; `token_ids` with `return_token_ids`.
//! * llama-server: a role chunk with `content: null` flushed with the first
//!   token; one event per token even for speculative bursts; a separate
//!   empty-delta finish chunk; `timings` on the last chunk (and on every
//!   partial with `timings_per_token`); completions always end with usage.
//! * Ollama (as the real 0.17.4 sends it, `crates/wire/tests/fixtures/ollama-0.17.4`):
//!   no role-only chunk, the role repeated in every chunk's delta; a
//!   separate finish chunk whose delta is `{"role":"assistant","content":""}`;
//!   completions with `include_usage` carry zero usage on every chunk, the
//!   finish chunk too, and no `logprobs`; `system_fingerprint: "fp_ollama"`.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use stackbench_core::kinds::{parse_name, Closed, ServerKind};

use crate::tools::{self, ToolCall, ToolPart};

/// Which server to imitate: the kinds of
/// [`stackbench_core::kinds::ServerKind`] that have a wire format of their
/// own (every one but the generic `openai`, which is defined by what it
/// lacks). Names, aliases and help are the server kind's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// vLLM (`vllm serve`).
    Vllm,
    /// llama.cpp's llama-server.
    Llamacpp,
    /// Ollama.
    Ollama,
}

impl Flavor {
    /// The server kind imitated.
    pub fn kind(self) -> ServerKind {
        match self {
            Self::Vllm => ServerKind::Vllm,
            Self::Llamacpp => ServerKind::Llamacpp,
            Self::Ollama => ServerKind::Ollama,
        }
    }

    /// The flavor imitating `kind`, if the simulator has one.
    pub fn of(kind: ServerKind) -> Option<Self> {
        Self::ALL.iter().copied().find(|f| f.kind() == kind)
    }

    /// Parses a server kind's name or alias (`vllm`, `llamacpp`,
    /// `llama-server`, `llama.cpp`, `ollama`).
    pub fn parse(s: &str) -> Option<Self> {
        Self::lookup(s)
    }

    /// The canonical name (the server kind's).
    pub fn name(self) -> &'static str {
        self.kind().name()
    }

    /// Every flavor.
    pub const ALL: &'static [Self] = &[Self::Vllm, Self::Llamacpp, Self::Ollama];
}

impl Closed for Flavor {
    const WHAT: &'static str = "simulated flavor";
    const ALL: &'static [Self] = Flavor::ALL;
    fn name(self) -> &'static str {
        self.kind().name()
    }
    fn aliases(self) -> &'static [&'static str] {
        Closed::aliases(self.kind())
    }
    fn help(self) -> &'static str {
        match self {
            Self::Vllm => "vLLM",
            Self::Llamacpp => "llama.cpp's llama-server",
            Self::Ollama => "Ollama",
        }
    }
}

impl<'de> Deserialize<'de> for Flavor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_name(&s).map_err(serde::de::Error::custom)
    }
}

/// Which of the two OpenAI-compatible routes a request came to (the
/// simulator's own dispatch; the API a client picks is
/// [`stackbench_core::kinds::Api`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Chat,
    Completions,
}

/// Server-side timings of one request (llama-server `timings`, Ollama's
/// durations).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Timings {
    pub prompt_n: u64,
    pub prompt_ms: f64,
    pub predicted_n: u64,
    pub predicted_ms: f64,
    pub load_ms: f64,
    /// The decode step that made the first token, ms: inside `prompt_ms`
    /// and outside `predicted_ms` on llama-server (measured there:
    /// `predicted_ms` equals the client's first-to-last-token span, and
    /// `prompt_ms` the TTFT). Ollama's `eval_duration` has it once more
    /// for the end-of-generation step of a stream that stopped (see
    /// `ollama.rs`).
    pub first_token_ms: f64,
    /// Prompt tokens served from the prefix cache (outside `prompt_n`,
    /// which counts the tokens processed).
    pub cache_n: u64,
    /// The stream's reasoning tokens, in all (in a reasoning field; 0 when
    /// the reasoning is `<think>` text or there is none).
    pub reasoning_n: u64,
}

/// Writes one stream in some server's format.
pub(crate) trait StreamWriter: Send + Sync + 'static {
    /// Chunks sent together with the first token, before it.
    fn open(&self, out: &mut Vec<u8>);
    /// One content event.
    fn content(&self, out: &mut Vec<u8>, piece: &Piece<'_>, timings: &Timings);
    /// Everything after the last token.
    fn close(&self, out: &mut Vec<u8>, finish: &str, completion: u64, timings: &Timings);
    /// An error inside the stream; ends the stream.
    fn stream_error(&self, out: &mut Vec<u8>, message: &str);
    /// A non-streamed response body: `reasoning` (in the reasoning
    /// field; empty when none) and the answer `text`.
    fn whole(
        &self,
        reasoning: &str,
        text: &str,
        finish: &str,
        completion: u64,
        timings: &Timings,
    ) -> Value;
    /// True when every token is its own event even in a burst (llama-server).
    fn one_event_per_token(&self) -> bool;
    /// True when this stream has a reasoning field (chat, Ollama's native
    /// APIs); completions put reasoning in the text as `<think>` tags.
    fn reasoning_field(&self) -> bool {
        false
    }
    /// The answer to an Ollama load request (`reason` `load`); other
    /// servers have none, and get the stream's end with no tokens.
    fn load_answer(&self, reason: &str) -> Vec<u8> {
        let mut out = Vec::new();
        self.close(&mut out, reason, 0, &Timings::default());
        out
    }
    /// The streaming Content-Type.
    fn content_type(&self) -> &'static str {
        "text/event-stream"
    }
    /// True when a tool call is sent whole once it is complete (Ollama),
    /// not in pieces as it is generated.
    fn whole_tool_call(&self) -> bool {
        false
    }
    /// The finish reason of a stream that ends with `call`.
    fn tool_finish(&self, _call: &ToolCall) -> &'static str {
        "tool_calls"
    }
}

impl StreamWriter for Renderer {
    fn open(&self, out: &mut Vec<u8>) {
        Renderer::open(self, out);
    }
    fn content(&self, out: &mut Vec<u8>, piece: &Piece<'_>, timings: &Timings) {
        Renderer::content(self, out, piece, timings);
    }
    fn close(&self, out: &mut Vec<u8>, finish: &str, completion: u64, timings: &Timings) {
        Renderer::close(self, out, finish, completion, timings);
    }
    fn stream_error(&self, out: &mut Vec<u8>, message: &str) {
        Renderer::stream_error(self, out, message);
    }
    fn whole(
        &self,
        reasoning: &str,
        text: &str,
        finish: &str,
        completion: u64,
        timings: &Timings,
    ) -> Value {
        Renderer::whole(self, reasoning, text, finish, completion, timings)
    }
    fn one_event_per_token(&self) -> bool {
        self.flavor == Flavor::Llamacpp
    }
    fn reasoning_field(&self) -> bool {
        self.api == Route::Chat
    }
    fn whole_tool_call(&self) -> bool {
        self.flavor == Flavor::Ollama
    }
    fn tool_finish(&self, call: &ToolCall) -> &'static str {
        tools::finish_reason(self.flavor, call, false)
    }
}

/// Stream options a request asked for.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StreamOpts {
    pub include_usage: bool,
    pub continuous_usage: bool,
    pub timings_per_token: bool,
    pub return_token_ids: bool,
}

/// One content event: `text` made of token `ids`, `cumulative` tokens sent
/// so far including these, `finish` set on the last one (vLLM puts it on the last token chunk).
/// `reasoning`: the text goes in the reasoning field (an event never mixes
/// reasoning and answer tokens). `tool`: the tokens are a tool call's, the
/// text its arguments (see `tools.rs`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Piece<'a> {
    pub text: &'a str,
    pub ids: &'a [u32],
    pub cumulative: u64,
    pub finish: Option<&'a str>,
    pub reasoning: bool,
    pub tool: Option<ToolPart<'a>>,
}

/// Renders the chunks of one stream.
pub(crate) struct Renderer {
    pub flavor: Flavor,
    pub api: Route,
    pub id: String,
    pub created: u64,
    pub model: String,
    pub opts: StreamOpts,
    pub prompt_tokens: u64,
    /// vLLM `--enable-prompt-tokens-details`: the final usage carries
    /// `prompt_tokens_details.cached_tokens`.
    pub prompt_details: bool,
    /// vLLM with a reasoning parser: usage carries
    /// `completion_tokens_details.reasoning_tokens`.
    pub reasoning_details: bool,
}

fn push_event(out: &mut Vec<u8>, v: &Value) {
    out.extend_from_slice(b"data: ");
    // Serializing a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
    out.extend_from_slice(b"\n\n");
}

impl Renderer {
    /// Usage after `completion` tokens of which `reasoning` reasoned;
    /// `last`: the final usage (vLLM's cached-token details ride there
    /// only).
    fn usage(&self, completion: u64, reasoning: u64, t: &Timings, last: bool) -> Value {
        let mut u = json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        });
        match self.flavor {
            Flavor::Vllm => {
                // vLLM 0.32 `chat_completion/serving.py`: reasoning details
                // whenever a reasoning parser runs (continuous usage too),
                // prompt details on the final usage with the server flag.
                if self.reasoning_details && self.api == Route::Chat {
                    u["completion_tokens_details"] = json!({ "reasoning_tokens": reasoning });
                }
                if self.prompt_details && last {
                    u["prompt_tokens_details"] = json!({ "cached_tokens": t.cache_n });
                }
            }
            // llama.cpp b11434 `server-task.cpp` usage_json_oaicompat.
            Flavor::Llamacpp => {
                u["prompt_tokens_details"] = json!({ "cached_tokens": t.cache_n });
            }
            Flavor::Ollama => {}
        }
        u
    }

    pub(crate) fn timings_value(t: &Timings) -> Value {
        let per_s = |n: u64, ms: f64| {
            if ms > 0.0 {
                n as f64 * 1000.0 / ms
            } else {
                0.0
            }
        };
        let per_tok = |n: u64, ms: f64| if n > 0 { ms / n as f64 } else { 0.0 };
        json!({
            "cache_n": t.cache_n,
            "prompt_n": t.prompt_n,
            "prompt_ms": t.prompt_ms,
            "prompt_per_token_ms": per_tok(t.prompt_n, t.prompt_ms),
            "prompt_per_second": per_s(t.prompt_n, t.prompt_ms),
            "predicted_n": t.predicted_n,
            "predicted_ms": t.predicted_ms,
            "predicted_per_token_ms": per_tok(t.predicted_n, t.predicted_ms),
            "predicted_per_second": per_s(t.predicted_n, t.predicted_ms),
        })
    }

    /// A chunk envelope with one choice (or none when `choice` is None).
    fn chunk(&self, choice: Option<Value>) -> Map<String, Value> {
        let object = match self.api {
            Route::Chat => "chat.completion.chunk",
            Route::Completions => "text_completion",
        };
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("object".into(), json!(object));
        m.insert("created".into(), json!(self.created));
        m.insert("model".into(), json!(self.model));
        match self.flavor {
            Flavor::Llamacpp => {
                m.insert("system_fingerprint".into(), json!("b7079-sim0000"));
            }
            Flavor::Ollama => {
                m.insert("system_fingerprint".into(), json!("fp_ollama"));
            }
            Flavor::Vllm => {}
        }
        m.insert("choices".into(), Value::Array(choice.into_iter().collect()));
        m
    }

    fn choice(&self, delta_or_text: Value, finish: Option<&str>) -> Value {
        let mut c = Map::new();
        c.insert("index".into(), json!(0));
        match self.api {
            Route::Chat => c.insert("delta".into(), delta_or_text),
            Route::Completions => c.insert("text".into(), delta_or_text),
        };
        if self.flavor != Flavor::Ollama {
            c.insert("logprobs".into(), Value::Null);
        }
        c.insert(
            "finish_reason".into(),
            finish.map_or(Value::Null, |f| json!(f)),
        );
        if self.flavor == Flavor::Vllm && (finish.is_some() || self.api == Route::Completions) {
            c.insert("stop_reason".into(), Value::Null);
        }
        Value::Object(c)
    }

    /// Chunks sent together with the first token, before it.
    pub fn open(&self, out: &mut Vec<u8>) {
        if self.api != Route::Chat {
            return;
        }
        let content = match self.flavor {
            Flavor::Vllm => json!(""),
            Flavor::Llamacpp => Value::Null,
            Flavor::Ollama => return, // role rides on the first content chunk
        };
        let mut m = self.chunk(Some(
            self.choice(json!({"role": "assistant", "content": content}), None),
        ));
        if self.flavor == Flavor::Vllm && self.opts.continuous_usage {
            m.insert("usage".into(), self.usage(0, 0, &Timings::default(), false));
        }
        push_event(out, &Value::Object(m));
    }

    /// One content event (see [`Piece`]).
    pub fn content(&self, out: &mut Vec<u8>, piece: &Piece<'_>, timings: &Timings) {
        let Piece {
            text,
            ids,
            cumulative,
            finish,
            reasoning,
            tool,
        } = *piece;
        let payload = match (self.api, tool) {
            (Route::Chat, Some(part)) => tools::openai_delta(self.flavor, &part, text),
            (Route::Chat, None) => self.delta(text, reasoning),
            (Route::Completions, _) => json!(text),
        };
        let finish = if self.flavor == Flavor::Vllm {
            finish
        } else {
            None
        };
        let mut choice = self.choice(payload, finish);
        if self.flavor == Flavor::Vllm && self.opts.return_token_ids {
            if let Value::Object(c) = &mut choice {
                c.insert("token_ids".into(), json!(ids));
            }
        }
        let mut m = self.chunk(Some(choice));
        match self.flavor {
            Flavor::Vllm if self.opts.continuous_usage => {
                let reasoned = cumulative.min(timings.reasoning_n);
                m.insert(
                    "usage".into(),
                    self.usage(cumulative, reasoned, timings, false),
                );
            }
            Flavor::Llamacpp if self.opts.timings_per_token => {
                m.insert("timings".into(), Self::timings_value(timings));
            }
            Flavor::Ollama if self.api == Route::Completions && self.opts.include_usage => {
                m.insert(
                    "usage".into(),
                    json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}),
                );
            }
            _ => {}
        }
        push_event(out, &Value::Object(m));
    }

    /// A chat delta: the answer `text` in `content`, or reasoning in the
    /// flavor's field (vLLM 0.32 `reasoning`; llama-server
    /// `reasoning_content`; Ollama's OpenAI layer `reasoning` beside an
    /// empty content). Ollama 0.17 repeats the role in every chunk.
    fn delta(&self, text: &str, reasoning: bool) -> Value {
        let mut d = Map::new();
        if self.flavor == Flavor::Ollama {
            d.insert("role".into(), json!("assistant"));
        }
        match (reasoning, self.flavor) {
            (false, _) => {
                d.insert("content".into(), json!(text));
            }
            (true, Flavor::Vllm) => {
                d.insert("reasoning".into(), json!(text));
            }
            (true, Flavor::Llamacpp) => {
                d.insert("reasoning_content".into(), json!(text));
            }
            (true, Flavor::Ollama) => {
                d.insert("content".into(), json!(""));
                d.insert("reasoning".into(), json!(text));
            }
        }
        Value::Object(d)
    }

    /// Everything after the last token: finish chunk, usage, `[DONE]`.
    pub fn close(&self, out: &mut Vec<u8>, finish: &str, completion: u64, timings: &Timings) {
        let usage_chunk = |r: &Self| {
            let mut m = r.chunk(None);
            m.insert(
                "usage".into(),
                r.usage(completion, timings.reasoning_n, timings, true),
            );
            m
        };
        match self.flavor {
            Flavor::Vllm => {
                if self.opts.include_usage {
                    push_event(out, &Value::Object(usage_chunk(self)));
                }
            }
            Flavor::Llamacpp => {
                let empty = match self.api {
                    Route::Chat => json!({}),
                    Route::Completions => json!(""),
                };
                let mut fin = self.chunk(Some(self.choice(empty, Some(finish))));
                let with_usage = self.api == Route::Completions;
                if with_usage {
                    fin.insert(
                        "usage".into(),
                        self.usage(completion, timings.reasoning_n, timings, true),
                    );
                }
                if self.api == Route::Chat && self.opts.include_usage {
                    push_event(out, &Value::Object(fin));
                    let mut u = usage_chunk(self);
                    u.insert("timings".into(), Self::timings_value(timings));
                    push_event(out, &Value::Object(u));
                } else {
                    fin.insert("timings".into(), Self::timings_value(timings));
                    push_event(out, &Value::Object(fin));
                }
            }
            Flavor::Ollama => {
                // 0.17: the finish chunk still carries the role and empty
                // content; completions' carries the all-zero usage too.
                let empty = match self.api {
                    Route::Chat => json!({"role": "assistant", "content": ""}),
                    Route::Completions => json!(""),
                };
                let mut fin = self.chunk(Some(self.choice(empty, Some(finish))));
                if self.api == Route::Completions && self.opts.include_usage {
                    fin.insert(
                        "usage".into(),
                        json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}),
                    );
                }
                push_event(out, &Value::Object(fin));
                if self.opts.include_usage {
                    push_event(out, &Value::Object(usage_chunk(self)));
                }
            }
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }

    /// An error inside the stream, in this flavor's shape; ends the stream.
    pub fn stream_error(&self, out: &mut Vec<u8>, message: &str) {
        match self.flavor {
            Flavor::Vllm => {
                push_event(
                    out,
                    &json!({"error": {"message": message, "type": "InternalServerError", "param": null, "code": 500}}),
                );
                out.extend_from_slice(b"data: [DONE]\n\n");
            }
            Flavor::Llamacpp => {
                push_event(
                    out,
                    &json!({"error": {"code": 500, "message": message, "type": "server_error"}}),
                );
            }
            Flavor::Ollama => {
                push_event(
                    out,
                    &json!({"error": {"message": message, "type": "api_error", "param": null, "code": null}}),
                );
            }
        }
    }

    /// A non-streamed response body: `reasoning` in the flavor's field
    /// (when not empty) and the answer `text`.
    pub fn whole(
        &self,
        reasoning: &str,
        text: &str,
        finish: &str,
        completion: u64,
        timings: &Timings,
    ) -> Value {
        let choice = match self.api {
            Route::Chat => {
                let mut message = json!({"role": "assistant", "content": text});
                if !reasoning.is_empty() {
                    let field = match self.flavor {
                        Flavor::Llamacpp => "reasoning_content",
                        Flavor::Vllm | Flavor::Ollama => "reasoning",
                    };
                    message[field] = json!(reasoning);
                }
                json!({"index": 0, "message": message, "finish_reason": finish})
            }
            Route::Completions => json!({"index": 0, "text": text, "finish_reason": finish}),
        };
        let object = match self.api {
            Route::Chat => "chat.completion",
            Route::Completions => "text_completion",
        };
        let mut v = json!({
            "id": self.id, "object": object, "created": self.created, "model": self.model,
            "choices": [choice], "usage": self.usage(completion, timings.reasoning_n, timings, true),
        });
        if self.flavor == Flavor::Llamacpp {
            v["timings"] = Self::timings_value(timings);
        }
        v
    }
}

/// An error body sent instead of a stream, in the flavor's shape.
pub(crate) fn error_body(flavor: Flavor, status: u16, message: &str) -> Value {
    match flavor {
        Flavor::Vllm => {
            json!({"error": {"message": message, "type": if status >= 500 { "InternalServerError" } else { "BadRequestError" }, "param": null, "code": status}})
        }
        Flavor::Llamacpp => {
            json!({"error": {"code": status, "message": message, "type": if status >= 500 { "server_error" } else { "invalid_request_error" }}})
        }
        Flavor::Ollama => {
            json!({"error": {"message": message, "type": if status >= 500 { "api_error" } else { "invalid_request_error" }, "param": null, "code": null}})
        }
    }
}
