//! Why the simulator refuses a request or cannot start. Each variant names
//! what failed with its data; its text is the message the real server puts
//! in its error body (vLLM, llama-server and Ollama each word their own),
//! so a test can match the variant and the client still sees the server's
//! own words.

use std::path::PathBuf;

/// Why a request body is refused with a 400 (Ollama's bad options: a 500).
#[derive(Debug, thiserror::Error)]
pub(crate) enum BadRequest {
    /// The body is not JSON.
    #[error("invalid JSON body: {0}")]
    Json(#[source] serde_json::Error),
    /// An Ollama native request without `model`.
    #[error("model is required")]
    NoModel,
    /// A chat request whose `messages` is not an array.
    #[error("'messages' must be an array")]
    MessagesNotArray,
    /// An OpenAI completions request whose `prompt` is neither a string
    /// nor an array.
    #[error("'prompt' must be a string")]
    PromptNotString,
    /// A llama-server native `/completion` without a `prompt`.
    #[error("\"prompt\" must be provided")]
    NoPrompt,
    /// vLLM: a `cache_salt` too long or with a forbidden character.
    #[error("Parameter 'cache_salt' must be at most 128 characters and must not contain '@', '/', '\\\\', or NUL.")]
    CacheSaltForbidden,
    /// vLLM: a `cache_salt` that is empty or not a string.
    #[error("Parameter 'cache_salt' must be a non-empty string if provided.")]
    CacheSaltEmpty,
    /// vLLM: `max_tokens` (or `max_completion_tokens`) of 0.
    #[error("max_tokens must be at least 1")]
    ZeroMaxTokens,
    /// vLLM: `stream_options` on a request that does not stream.
    #[error("Stream options can only be defined when `stream=True`.")]
    StreamOptionsWithoutStream,
    /// llama-server: `chat_template_kwargs.enable_thinking` not a bool.
    #[error("invalid type for \"enable_thinking\" (expected boolean, got {got})")]
    EnableThinkingType {
        /// The JSON type sent.
        got: &'static str,
    },
    /// Ollama native: a `think` string that is not a level.
    #[error("invalid think value: {0:?} (must be \"high\", \"medium\", \"low\", true, or false)")]
    ThinkValue(String),
    /// Ollama native: a `think` neither bool nor string.
    #[error("think must be a boolean or string (\"high\", \"medium\", \"low\", true, or false)")]
    ThinkType,
    /// Ollama's OpenAI layer: a reasoning effort it does not know.
    #[error("invalid reasoning value: '{0}' (must be \"high\", \"medium\", \"low\", or \"none\")")]
    ReasoningValue(String),
    /// Ollama native: an `options` value of the wrong Go type (a 500).
    #[error("option \"{key}\" must be of type {expected}")]
    OptionType {
        /// The option.
        key: String,
        /// `integer` or `float32`.
        expected: &'static str,
    },
    /// vLLM: `tools: []`.
    #[error("`tools` must not be an empty array. Either provide at least one tool or omit the field entirely.")]
    ToolsEmpty,
    /// vLLM: a `tool_choice` without `tools`.
    #[error("When using `tool_choice`, `tools` must be set.")]
    ToolChoiceWithoutTools,
    /// vLLM: a `tool_choice` string other than `none`, `auto`, `required`.
    #[error("Invalid value for `tool_choice`: {0}! Only named tools, \"none\", \"auto\" or \"required\" are supported.")]
    ToolChoiceValue(String),
    /// vLLM: a named `tool_choice` that is none of the `tools`.
    #[error("The tool specified in `tool_choice` does not match any of the specified `tools`")]
    NoSuchTool,
    /// The real tokenizer could not count the prompt.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
}

/// Why the simulator's real tokenizer could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A file beside the tokenizer exists but cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `tokenizer_config.json` is not JSON.
    #[error("{} is not valid JSON: {source}", path.display())]
    ConfigJson {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// `tokenizer.json` cannot be loaded.
    #[error("cannot load {}: {reason}", file.display())]
    Load {
        /// The file.
        file: PathBuf,
        /// What the tokenizers library said.
        reason: String,
    },
    /// Neither `chat_template.jinja` nor a `chat_template` in
    /// `tokenizer_config.json`.
    #[error("no chat template beside {}", file.display())]
    NoTemplate {
        /// The `tokenizer.json`.
        file: PathBuf,
    },
    /// The chat template does not compile.
    #[error("the chat template does not compile: {0}")]
    Template(#[source] minijinja::Error),
    /// The chat template failed on a request's messages.
    #[error("{0}")]
    Render(#[source] minijinja::Error),
    /// The tokenizer failed on a text.
    #[error("{0}")]
    Encode(String),
}

/// Why a PEM certificate and key cannot serve TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate PEM does not parse.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The certificate PEM holds no `CERTIFICATE` block.
    #[error("certificate: no CERTIFICATE block")]
    NoCertificate,
    /// The key PEM does not parse.
    #[error("key: {0}")]
    Key(String),
    /// rustls refused the certificate, the key or the protocol versions.
    #[error("{0}")]
    Rustls(#[source] tokio_rustls::rustls::Error),
}
