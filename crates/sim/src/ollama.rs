//! Ollama's native NDJSON streams (`/api/generate`, `/api/chat`), written
//! from server-apis.md §2.3: one object per line, text in `response` or
//! `message.content`, no metrics until the final `done: true` object, which
//! carries `done_reason` and the counts and nanosecond durations.
//!
//! Held to the real Ollama 0.17.4 (its source and
//! `crates/wire/tests/fixtures/ollama-0.17.4`): `eval_count` counts the
//! end-of-generation token that stops a stream (sampled, never sent), and
//! `eval_duration` the decode steps after the first token, that one's step
//! included; `prompt_eval_duration` runs up to the first token. The real
//! `eval_duration` also leaves out each step's sampling (~0.3 ms here),
//! which the simulator, having none, cannot. A load or unload request is
//! answered by one object without durations.

use serde_json::{json, Value};

use crate::flavor::{Flavor, Piece, StreamWriter, Timings};
use crate::tools::{self, ToolCall};

/// Writes one native Ollama stream.
pub(crate) struct OllamaWriter {
    pub chat: bool,
    pub model: String,
    pub prompt_tokens: u64,
}

pub(crate) fn now() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

fn push_line(out: &mut Vec<u8>, v: &Value) {
    let _ = serde_json::to_writer(&mut *out, v);
    out.push(b'\n');
}

fn ns(ms: f64) -> u64 {
    (ms * 1e6).round() as u64
}

impl OllamaWriter {
    /// One object with the answer `text` and, when not empty, `thinking`
    /// (`message.thinking` in chat, top-level `thinking` in generate).
    fn object(&self, thinking: &str, text: &str, done: bool) -> Value {
        let mut v = json!({ "model": self.model, "created_at": now() });
        if self.chat {
            v["message"] = json!({ "role": "assistant", "content": text });
            if !thinking.is_empty() {
                v["message"]["thinking"] = json!(thinking);
            }
        } else {
            v["response"] = json!(text);
            if !thinking.is_empty() {
                v["thinking"] = json!(thinking);
            }
        }
        v["done"] = json!(done);
        v
    }

    fn final_object(
        &self,
        thinking: &str,
        text: &str,
        finish: &str,
        completion: u64,
        t: &Timings,
    ) -> Value {
        let mut v = self.object(thinking, text, true);
        v["done_reason"] = json!(finish);
        // A stream that stopped at end-of-generation sampled one more
        // token, in one more decode step, than it sent.
        let eos = u64::from(finish == "stop");
        let eval_ms = t.predicted_ms + eos as f64 * t.first_token_ms;
        if !self.chat {
            // The prompt's and the sent tokens' ids (the stop token is not
            // kept), as the real `context`.
            let n = self.prompt_tokens + completion;
            v["context"] = json!((0..n).map(|i| 1000 + i % 1000).collect::<Vec<_>>());
        }
        v["total_duration"] = json!(ns(t.load_ms + t.prompt_ms + eval_ms));
        // Zero fields are omitted (`omitempty`).
        if t.load_ms > 0.0 {
            v["load_duration"] = json!(ns(t.load_ms));
        }
        v["prompt_eval_count"] = json!(self.prompt_tokens);
        v["prompt_eval_duration"] = json!(ns(t.prompt_ms));
        if completion + eos > 0 {
            v["eval_count"] = json!(completion + eos);
            v["eval_duration"] = json!(ns(eval_ms));
        }
        v
    }
}

impl StreamWriter for OllamaWriter {
    fn open(&self, _out: &mut Vec<u8>) {}

    fn content(&self, out: &mut Vec<u8>, piece: &Piece<'_>, _t: &Timings) {
        let v = match (piece.tool, piece.reasoning) {
            (Some(part), _) => {
                let mut v = self.object("", "", false);
                v["message"] = tools::ollama_message(&part, piece.text);
                v
            }
            (None, true) => self.object(piece.text, "", false),
            (None, false) => self.object("", piece.text, false),
        };
        push_line(out, &v);
    }

    fn close(&self, out: &mut Vec<u8>, finish: &str, completion: u64, t: &Timings) {
        push_line(out, &self.final_object("", "", finish, completion, t));
    }

    fn stream_error(&self, out: &mut Vec<u8>, message: &str) {
        push_line(out, &json!({ "error": message }));
    }

    fn whole(
        &self,
        reasoning: &str,
        text: &str,
        finish: &str,
        completion: u64,
        t: &Timings,
    ) -> Value {
        self.final_object(reasoning, text, finish, completion, t)
    }

    fn one_event_per_token(&self) -> bool {
        false
    }

    fn reasoning_field(&self) -> bool {
        true
    }

    fn load_answer(&self, reason: &str) -> Vec<u8> {
        let mut v = self.object("", "", true);
        v["done_reason"] = json!(reason);
        let mut out = serde_json::to_vec(&v).unwrap_or_default();
        out.push(b'\n');
        out
    }

    fn content_type(&self) -> &'static str {
        "application/x-ndjson"
    }

    fn whole_tool_call(&self) -> bool {
        true
    }

    fn tool_finish(&self, call: &ToolCall) -> &'static str {
        tools::finish_reason(Flavor::Ollama, call, true)
    }
}
