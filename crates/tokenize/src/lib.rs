//! Counting a prompt's tokens without the server: the model's Hugging Face
//! `tokenizer.json` and its chat template (`chat_template.jinja` beside
//! it, or `chat_template` in `tokenizer_config.json`), rendered with
//! `minijinja` as `apply_chat_template` does (one user message, the
//! generation prompt added). For servers with no tokenizer endpoint
//! (Ollama), given `--tokenizer PATH`.
//!
//! Chat prompts are encoded without adding special tokens (the template
//! writes them); completion prompts with them (the tokenizer's
//! post-processor adds BOS where the model wants one), as servers do.

use std::path::{Path, PathBuf};

use minijinja::{context, Environment};

/// Why the tokenizer could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    /// `tokenizer.json` is missing or invalid.
    #[error("cannot load the tokenizer {path}: {message}")]
    Load {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// `tokenizer_config.json` or `chat_template.jinja` is there but cannot
    /// be read or is not valid (a missing one is fine).
    #[error("cannot use {path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// No chat template was found for a chat count.
    #[error("no chat template beside {0} (chat_template.jinja, or chat_template in tokenizer_config.json)")]
    NoTemplate(PathBuf),
    /// The template did not render.
    #[error("the chat template does not render: {0}")]
    Template(String),
    /// Encoding failed.
    #[error("cannot encode: {0}")]
    Encode(String),
}

/// A tokenizer and chat template read from disk.
pub struct LocalTokenizer {
    path: PathBuf,
    tokenizer: tokenizers::Tokenizer,
    template: Option<String>,
    bos: String,
    eos: String,
}

impl std::fmt::Debug for LocalTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTokenizer")
            .field("path", &self.path)
            .finish()
    }
}

/// A special token as `tokenizer_config.json` writes it: a string, or an
/// object with `content`.
fn special(config: &serde_json::Value, key: &str) -> String {
    match config.get(key) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v
            .get("content")
            .and_then(|c| c.as_str())
            .unwrap_or_default()
            .to_string(),
        None => String::new(),
    }
}

/// The bytes of `path`; `None` when there is no such file (any other
/// failure to read it is an error).
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, TokenizeError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TokenizeError::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        }),
    }
}

impl LocalTokenizer {
    /// Loads `path` (a `tokenizer.json`, or the folder holding it).
    pub fn load(path: &Path) -> Result<Self, TokenizeError> {
        let file = if path.is_dir() {
            path.join("tokenizer.json")
        } else {
            path.to_path_buf()
        };
        let tokenizer =
            tokenizers::Tokenizer::from_file(&file).map_err(|e| TokenizeError::Load {
                path: file.clone(),
                message: e.to_string(),
            })?;
        let dir = file.parent().unwrap_or(Path::new("."));
        let config_file = dir.join("tokenizer_config.json");
        let config: serde_json::Value = match read_optional(&config_file)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| TokenizeError::Config {
                path: config_file.clone(),
                message: format!("not valid JSON: {e}"),
            })?,
            None => serde_json::Value::Null,
        };
        let template_file = dir.join("chat_template.jinja");
        let template = read_optional(&template_file)?
            .map(|b| {
                String::from_utf8(b).map_err(|e| TokenizeError::Config {
                    path: template_file.clone(),
                    message: format!("not UTF-8: {e}"),
                })
            })
            .transpose()?
            .or_else(|| {
                config
                    .get("chat_template")
                    .and_then(|t| t.as_str())
                    .map(str::to_string)
            });
        Ok(Self {
            path: file,
            tokenizer,
            template,
            bos: special(&config, "bos_token"),
            eos: special(&config, "eos_token"),
        })
    }

    /// Where it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The chat prompt a server renders for one user message `content`.
    pub fn render_chat(&self, content: &str) -> Result<String, TokenizeError> {
        let template = self
            .template
            .as_deref()
            .ok_or_else(|| TokenizeError::NoTemplate(self.path.clone()))?;
        let mut env = Environment::new();
        env.add_template("chat", template)
            .map_err(|e| TokenizeError::Template(e.to_string()))?;
        env.get_template("chat")
            .and_then(|t| {
                t.render(context! {
                    messages => vec![context! { role => "user", content => content }],
                    add_generation_prompt => true,
                    bos_token => self.bos.clone(),
                    eos_token => self.eos.clone(),
                })
            })
            .map_err(|e| TokenizeError::Template(e.to_string()))
    }

    fn encode(&self, text: &str, add_special: bool) -> Result<u32, TokenizeError> {
        let e = self
            .tokenizer
            .encode(text, add_special)
            .map_err(|e| TokenizeError::Encode(e.to_string()))?;
        Ok(u32::try_from(e.len()).unwrap_or(u32::MAX))
    }

    /// Tokens of a chat request whose one user message is `content`.
    pub fn count_chat(&self, content: &str) -> Result<u32, TokenizeError> {
        self.encode(&self.render_chat(content)?, false)
    }

    /// Tokens of a completion request whose prompt is `content`.
    pub fn count_completion(&self, content: &str) -> Result<u32, TokenizeError> {
        self.encode(content, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smollm2() -> LocalTokenizer {
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smollm2-135m-instruct");
        LocalTokenizer::load(&dir).unwrap()
    }

    /// The ids llama-server's `/tokenize` returned for "Hello world"
    /// (shared fixture `llama-server/tokenize.json`).
    #[test]
    fn counts_like_the_server_that_serves_the_model() {
        let t = smollm2();
        assert_eq!(t.count_completion("Hello world").unwrap(), 2);
    }

    /// The prompt llama-server's `/apply-template` rendered for one user
    /// message "Hello" (shared fixture `llama-server/apply-template.json`).
    #[test]
    fn renders_the_chat_template_as_the_server_does() {
        let t = smollm2();
        assert_eq!(
            t.render_chat("Hello").unwrap(),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
        );
        // Special tokens in the template are single tokens.
        let bare = t.count_completion("Hello").unwrap();
        assert!(t.count_chat("Hello").unwrap() > bare + 10);
    }

    /// A copy of the fixture's `tokenizer.json` beside `config` as its
    /// `tokenizer_config.json`.
    fn with_config(config: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let fixture =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smollm2-135m-instruct");
        std::fs::copy(
            fixture.join("tokenizer.json"),
            dir.path().join("tokenizer.json"),
        )
        .unwrap();
        std::fs::write(dir.path().join("tokenizer_config.json"), config).unwrap();
        dir
    }

    #[test]
    fn a_malformed_tokenizer_config_is_an_error_that_says_so() {
        let dir = with_config("{\"chat_template\": ");
        let e = LocalTokenizer::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("tokenizer_config.json"), "{e}");
        assert!(e.contains("not valid JSON"), "{e}");
        // Absent is fine: no template, counts still work.
        std::fs::remove_file(dir.path().join("tokenizer_config.json")).unwrap();
        let t = LocalTokenizer::load(dir.path()).unwrap();
        assert_eq!(t.count_completion("Hello world").unwrap(), 2);
        assert!(matches!(
            t.count_chat("Hello"),
            Err(TokenizeError::NoTemplate(_))
        ));
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let e = LocalTokenizer::load(Path::new("/nonexistent/tokenizer.json")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/tokenizer.json"), "{e}");
    }
}
