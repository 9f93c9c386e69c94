//! What identifies each kind of server: its own answers, of its own shape.
//!
//! A server is named only on positive evidence. Many OpenAI-compatible
//! servers answer every unknown path with 200 and some JSON, so "it
//! answered" proves nothing; what counts is a field only that server
//! fills, in the form it fills it (checked against real captures in
//! `crates/wire/tests/fixtures` and `docs/server-apis.md`):
//!
//! - vLLM: `GET /version` → `{"version": "0.32.0"}` (a version number).
//! - Ollama: `GET /api/version` → `{"version": "0.17.4"}`, or `GET
//!   /api/tags` → `{"models": [{"name", "model", "digest", "size", …}]}`.
//! - llama-server: `GET /props` with `total_slots` (a count) and
//!   `default_generation_settings` (an object), or its `build_info` under
//!   the `Server: llama.cpp` header.
//! - `/metrics`: a Prometheus text page with at least one sample.
//! - `/tokenize`: `tokens`, a non-empty array of token ids (vLLM adds
//!   `count`; llama-server may give `{id, piece}` objects).

use serde_json::Value;

/// True for a version number as servers print them: digits, a dot, a
/// digit, then anything (`0.32.0`, `0.6.4.post1`, `0.11.0rc2.dev3+g1a2b`).
pub(crate) fn version_like(s: &str) -> bool {
    let mut parts = s.split('.');
    let major = parts.next().unwrap_or_default();
    let minor = parts.next().unwrap_or_default();
    !major.is_empty()
        && major.len() <= 6
        && major.bytes().all(|b| b.is_ascii_digit())
        && minor.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && s.len() <= 64
}

/// `{"version": "<version number>"}`: vLLM's `/version`, Ollama's
/// `/api/version`.
pub(crate) fn version_answer(v: &Value) -> Option<&str> {
    v.get("version")
        .and_then(Value::as_str)
        .filter(|s| version_like(s))
}

/// Ollama's `/api/tags`: a `models` array whose every entry is an object
/// with Ollama's fields (`name`, `model`, `digest` as strings, `size` as a
/// number). Returns how many models it lists; an empty list is no evidence.
pub(crate) fn ollama_tags(v: &Value) -> Option<usize> {
    let models = v.get("models")?.as_array()?;
    let ollama_entry = |m: &Value| {
        ["name", "model", "digest"]
            .iter()
            .all(|k| m.get(*k).is_some_and(Value::is_string))
            && m.get("size").is_some_and(Value::is_u64)
    };
    (!models.is_empty() && models.iter().all(ollama_entry)).then_some(models.len())
}

/// llama-server's `/props`: `total_slots` and `default_generation_settings`
/// (every build since slots were added), or `build_info` under its own
/// `Server` header.
pub(crate) fn llama_props(v: &Value, server_header: Option<&str>) -> bool {
    let slots = v.get("total_slots").is_some_and(Value::is_u64)
        && v.get("default_generation_settings")
            .is_some_and(Value::is_object);
    let build = v.get("build_info").is_some_and(Value::is_string)
        && server_header.is_some_and(|h| h.starts_with("llama.cpp"));
    slots || build
}

/// Why a `/metrics` answer is not a Prometheus page with samples.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NotPrometheus {
    /// It parsed, but holds no sample.
    #[error("a page with no sample")]
    Empty,
    /// It is not Prometheus text.
    #[error("not Prometheus text ({0})")]
    Unparsed(String),
}

/// Samples on a Prometheus text page, or why it is not one.
pub(crate) fn prometheus_samples(text: &str) -> Result<usize, NotPrometheus> {
    match stackbench_wire::prometheus::parse_prometheus(text) {
        Ok(s) if s.is_empty() => Err(NotPrometheus::Empty),
        Ok(s) => Ok(s.len()),
        Err(e) => Err(NotPrometheus::Unparsed(e.to_string())),
    }
}

/// `tokens`: a non-empty array of token ids (numbers, or `{id, piece}`
/// objects with `with_pieces`).
pub(crate) fn tokenize_answer(v: &Value) -> Option<usize> {
    let tokens = v.get("tokens")?.as_array()?;
    let id = |t: &Value| t.is_u64() || t.get("id").is_some_and(Value::is_u64);
    (!tokens.is_empty() && tokens.iter().all(id)).then_some(tokens.len())
}

/// A short, one-line picture of an answer for the probe's evidence.
pub(crate) fn glimpse(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(80)
        .collect();
    if text.chars().count() > 80 {
        format!("{one_line}…")
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn capture(path: &str) -> Value {
        let text = std::fs::read_to_string(path).expect("fixture");
        let body = text
            .split_once("\r\n\r\n")
            .map_or(text.as_str(), |(_, b)| b);
        serde_json::from_str(body).expect("JSON")
    }

    #[test]
    fn real_servers_show_their_signatures() {
        let fx = "../wire/tests/fixtures";
        assert_eq!(
            version_answer(&capture(&format!("{fx}/ollama-0.17.4/version.http"))),
            Some("0.17.4")
        );
        assert_eq!(
            ollama_tags(&capture(&format!("{fx}/ollama-0.17.4/tags.http"))),
            Some(1)
        );
        let props = capture(&format!("{fx}/props.json"));
        assert!(llama_props(&props, None));
        assert!(version_answer(&json!({"version": "0.32.0"})).is_some());
        let page = std::fs::read_to_string(format!("{fx}/metrics.prom")).unwrap();
        assert!(prometheus_samples(&page).unwrap() > 5);
        assert_eq!(
            tokenize_answer(
                &json!({"count": 8, "max_model_len": 2048, "tokens": [19556, 905], "token_strs": null})
            ),
            Some(2)
        );
        assert_eq!(
            tokenize_answer(&json!({"tokens": [{"id": 19556, "piece": "Hello"}]})),
            Some(1)
        );
    }

    #[test]
    fn an_answer_to_everything_is_no_signature() {
        let ok = json!({"status": "ok"});
        assert_eq!(version_answer(&ok), None);
        assert_eq!(ollama_tags(&ok), None);
        assert!(!llama_props(&ok, Some("uvicorn")));
        assert_eq!(tokenize_answer(&ok), None);
        assert!(prometheus_samples(r#"{"status":"ok"}"#).is_err());
        assert!(prometheus_samples("# HELP x nothing\n").is_err());
        // Near misses.
        assert_eq!(version_answer(&json!({"version": "latest"})), None);
        assert_eq!(version_answer(&json!({"version": ""})), None);
        assert_eq!(version_answer(&json!({"version": 3})), None);
        assert_eq!(ollama_tags(&json!({"models": []})), None);
        assert_eq!(ollama_tags(&json!({"models": [{"name": "x"}]})), None);
        assert!(!llama_props(&json!({"build_info": "b1"}), None));
        assert_eq!(tokenize_answer(&json!({"tokens": []})), None);
        assert_eq!(tokenize_answer(&json!({"tokens": ["a"]})), None);
    }

    #[test]
    fn version_numbers() {
        for ok in ["0.32.0", "0.6.4.post1", "0.11.0rc2.dev3+g1a2b", "1.0"] {
            assert!(version_like(ok), "{ok}");
        }
        for bad in ["", "ok", "v1.2", "1", ".1", "1.x", "null"] {
            assert!(!version_like(bad), "{bad}");
        }
    }
}
