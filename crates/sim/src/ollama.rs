//! Ollama's native NDJSON streams (`/api/generate`, `/api/chat`), written
//! from server-apis.md §2.3: one object per line, text in `response` or
//! `message.content`, no metrics until the final `done: true` object, which
//! carries `done_reason` and the counts and nanosecond durations.

use serde_json::{json, Value};

use crate::flavor::{Piece, StreamWriter, Timings};

/// Writes one native Ollama stream.
pub(crate) struct OllamaWriter {
    pub chat: bool,
    pub model: String,
    pub prompt_tokens: u64,
}

fn now() -> String {
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
    fn object(&self, text: &str, done: bool) -> Value {
        let mut v = json!({ "model": self.model, "created_at": now() });
        if self.chat {
            v["message"] = json!({ "role": "assistant", "content": text });
        } else {
            v["response"] = json!(text);
        }
        v["done"] = json!(done);
        v
    }

    fn final_object(&self, text: &str, finish: &str, completion: u64, t: &Timings) -> Value {
        let mut v = self.object(text, true);
        v["done_reason"] = json!(finish);
        v["total_duration"] = json!(ns(t.load_ms + t.prompt_ms + t.predicted_ms));
        v["load_duration"] = json!(ns(t.load_ms));
        v["prompt_eval_count"] = json!(self.prompt_tokens);
        v["prompt_eval_duration"] = json!(ns((t.prompt_ms - t.first_token_ms).max(0.0)));
        // Zero fields are omitted (`omitempty`).
        if completion > 0 {
            v["eval_count"] = json!(completion);
            v["eval_duration"] = json!(ns(t.predicted_ms + t.first_token_ms));
        }
        if !self.chat {
            let n = (self.prompt_tokens + completion).min(64);
            v["context"] = json!((0..n).map(|i| 1000 + i).collect::<Vec<_>>());
        }
        v
    }
}

impl StreamWriter for OllamaWriter {
    fn open(&self, _out: &mut Vec<u8>) {}

    fn content(&self, out: &mut Vec<u8>, piece: &Piece<'_>, _t: &Timings) {
        push_line(out, &self.object(piece.text, false));
    }

    fn close(&self, out: &mut Vec<u8>, finish: &str, completion: u64, t: &Timings) {
        push_line(out, &self.final_object("", finish, completion, t));
    }

    fn stream_error(&self, out: &mut Vec<u8>, message: &str) {
        push_line(out, &json!({ "error": message }));
    }

    fn whole(&self, text: &str, finish: &str, completion: u64, t: &Timings) -> Value {
        self.final_object(text, finish, completion, t)
    }

    fn one_event_per_token(&self) -> bool {
        false
    }

    fn content_type(&self) -> &'static str {
        "application/x-ndjson"
    }
}
