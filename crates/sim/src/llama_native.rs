//! llama-server's native `/completion` stream, from server-apis.md §2.2:
//! one `data:` event per token with its id in `tokens` and the cumulative
//! `tokens_predicted`; a final `stop: true` event with `stop_type` and
//! `timings`; no `[DONE]`.

use serde_json::{json, Value};

use crate::flavor::{Piece, Renderer, StreamWriter, Timings};

/// Writes one native llama-server stream.
pub(crate) struct LlamaNativeWriter {
    pub model: String,
    pub prompt_tokens: u64,
}

fn push_event(out: &mut Vec<u8>, v: &Value) {
    out.extend_from_slice(b"data: ");
    let _ = serde_json::to_writer(&mut *out, v);
    out.extend_from_slice(b"\n\n");
}

fn stop_type(finish: &str) -> &'static str {
    if finish == "length" {
        "limit"
    } else {
        "eos"
    }
}

impl LlamaNativeWriter {
    fn last(&self, text: &str, finish: &str, completion: u64, t: &Timings) -> Value {
        json!({
            "index": 0, "content": text, "tokens": [], "id_slot": 0, "stop": true,
            "model": self.model, "tokens_predicted": completion,
            "tokens_evaluated": self.prompt_tokens, "generation_settings": {},
            "prompt": "", "has_new_line": false, "truncated": false,
            "stop_type": stop_type(finish), "stopping_word": "",
            "tokens_cached": self.prompt_tokens + completion,
            "timings": Renderer::timings_value(t),
        })
    }
}

impl StreamWriter for LlamaNativeWriter {
    fn open(&self, _out: &mut Vec<u8>) {}

    fn content(&self, out: &mut Vec<u8>, piece: &Piece<'_>, _t: &Timings) {
        push_event(
            out,
            &json!({
                "index": 0, "content": piece.text, "tokens": piece.ids, "stop": false,
                "id_slot": 0, "tokens_predicted": piece.cumulative,
                "tokens_evaluated": self.prompt_tokens,
            }),
        );
    }

    fn close(&self, out: &mut Vec<u8>, finish: &str, completion: u64, t: &Timings) {
        push_event(out, &self.last("", finish, completion, t));
    }

    fn stream_error(&self, out: &mut Vec<u8>, message: &str) {
        push_event(
            out,
            &json!({"error": {"code": 500, "message": message, "type": "server_error"}}),
        );
    }

    fn whole(
        &self,
        _reasoning: &str,
        text: &str,
        finish: &str,
        completion: u64,
        t: &Timings,
    ) -> Value {
        self.last(text, finish, completion, t)
    }

    fn one_event_per_token(&self) -> bool {
        true
    }
}
