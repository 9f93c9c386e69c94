//! Optional real prompt counting for the simulator: with a model's
//! `tokenizer.json` (and its chat template), prompt token counts are what
//! a server of that model would report, instead of a word count. Written
//! apart from the client's local tokenizer (`stackbench-tokenize`), on the
//! same libraries, so that a mistake in one is not copied into the other:
//! the client's path is checked against the real llama-server, this one
//! against the client.
//!
//! Ollama renders chat messages (and `/api/generate` prompts, unless
//! `raw`) through the model's template; OpenAI-style chat likewise; plain
//! completions are tokenized as sent, special tokens added.

use std::path::Path;

use serde_json::Value;

use crate::error::TokenizerError;

/// A tokenizer and the model's chat template.
pub struct SimTokenizer {
    tokenizer: tokenizers::Tokenizer,
    /// The chat template, compiled once (not per request).
    env: minijinja::Environment<'static>,
}

impl std::fmt::Debug for SimTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimTokenizer")
    }
}

/// The bytes of `path`; `None` when there is no such file (any other
/// failure to read it is an error naming it).
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, TokenizerError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TokenizerError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The `chat_template` of a `tokenizer_config.json`, if the file is there
/// and has one; a file that is not JSON is an error that says so.
fn config_template(path: &Path) -> Result<Option<String>, TokenizerError> {
    let Some(bytes) = read_optional(path)? else {
        return Ok(None);
    };
    let config: Value =
        serde_json::from_slice(&bytes).map_err(|source| TokenizerError::ConfigJson {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(config
        .get("chat_template")
        .and_then(Value::as_str)
        .map(str::to_string))
}

impl SimTokenizer {
    /// Loads the `tokenizer.json` in `dir` (or at `dir`) and the chat
    /// template beside it (`chat_template.jinja`, or `chat_template` in
    /// `tokenizer_config.json`).
    pub fn load(path: &Path) -> Result<Self, TokenizerError> {
        let (file, dir) = if path.is_dir() {
            (path.join("tokenizer.json"), path.to_path_buf())
        } else {
            let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
            (path.to_path_buf(), dir)
        };
        let tokenizer =
            tokenizers::Tokenizer::from_file(&file).map_err(|e| TokenizerError::Load {
                file: file.clone(),
                reason: e.to_string(),
            })?;
        let template = match read_optional(&dir.join("chat_template.jinja"))? {
            Some(t) => Some(String::from_utf8_lossy(&t).into_owned()),
            None => config_template(&dir.join("tokenizer_config.json"))?,
        }
        .ok_or_else(|| TokenizerError::NoTemplate { file: file.clone() })?;
        let mut env = minijinja::Environment::new();
        env.add_template_owned("t", template)
            .map_err(TokenizerError::Template)?;
        Ok(Self { tokenizer, env })
    }

    fn ids(&self, text: &str, add_special: bool) -> Result<Vec<u32>, TokenizerError> {
        self.tokenizer
            .encode(text, add_special)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| TokenizerError::Encode(e.to_string()))
    }

    /// The token ids of generated `text` (no special tokens added): what
    /// the prefix cache appends to a prompt once its answer is done.
    pub(crate) fn text_ids(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        self.ids(text, false)
    }

    /// Token ids of `messages` rendered through the chat template with
    /// the generation prompt.
    fn chat_ids(&self, messages: &Value) -> Result<Vec<u32>, TokenizerError> {
        let text = self
            .env
            .get_template("t")
            .and_then(|t| {
                t.render(minijinja::context! {
                    messages => messages,
                    add_generation_prompt => true,
                })
            })
            .map_err(TokenizerError::Render)?;
        self.ids(&text, false)
    }

    /// Tokens of `messages` rendered through the chat template with the
    /// generation prompt.
    pub fn chat(&self, messages: &Value) -> Result<u64, TokenizerError> {
        self.chat_ids(messages).map(|ids| ids.len() as u64)
    }

    /// Token ids of a request body: chat `messages`, or a `prompt`
    /// (through the template when `templated`, as Ollama's
    /// `/api/generate` does); `None` when it has neither.
    pub(crate) fn body_ids(
        &self,
        v: &Value,
        templated: bool,
    ) -> Result<Option<Vec<u32>>, TokenizerError> {
        if let Some(m) = v.get("messages") {
            return self.chat_ids(m).map(Some);
        }
        match v.get("prompt").and_then(Value::as_str) {
            Some(p) if templated && v.get("raw") != Some(&Value::Bool(true)) => self
                .chat_ids(&serde_json::json!([{"role": "user", "content": p}]))
                .map(Some),
            Some(p) => self.ids(p, true).map(Some),
            None => Ok(None),
        }
    }

    /// Tokens of a request body: chat `messages`, or a `prompt` (through
    /// the template when `templated`, as Ollama's `/api/generate` does).
    pub fn count_body(&self, v: &Value, templated: bool) -> Result<Option<u64>, TokenizerError> {
        Ok(self.body_ids(v, templated)?.map(|ids| ids.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizer_dir(config: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tokenize/tests/fixtures/smollm2-135m-instruct/tokenizer.json");
        std::fs::copy(fixture, dir.path().join("tokenizer.json")).expect("copy tokenizer.json");
        std::fs::write(dir.path().join("tokenizer_config.json"), config).expect("write config");
        dir
    }

    #[test]
    fn a_malformed_tokenizer_config_is_an_error_that_says_so() {
        let dir = tokenizer_dir("{\"chat_template\": ");
        let e = SimTokenizer::load(dir.path()).expect_err("malformed config");
        assert!(
            matches!(&e, TokenizerError::ConfigJson { path, .. } if path.ends_with("tokenizer_config.json")),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .contains("tokenizer_config.json is not valid JSON"),
            "{e}"
        );
        let dir = tokenizer_dir("{\"chat_template\": \"{{ messages[0].content }}\"}");
        let t = SimTokenizer::load(dir.path()).expect("a valid config");
        assert!(t
            .chat(&serde_json::json!([{"role": "user", "content": "Hello world"}]))
            .is_ok());
        std::fs::remove_file(dir.path().join("tokenizer_config.json")).expect("remove");
        let e = SimTokenizer::load(dir.path()).expect_err("no template anywhere");
        assert!(matches!(e, TokenizerError::NoTemplate { .. }), "{e:?}");
        assert!(e.to_string().contains("no chat template beside"), "{e}");
    }
}
