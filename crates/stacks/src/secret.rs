//! Keeping secrets (a Hugging Face token, an API key) out of everything
//! stackbench shows or keeps: `--dry-run`, `run.json`, `suite.json`, error
//! messages and the log tails quoted in them.
//!
//! The first line of defence is structural: a container's environment is
//! passed by name (`docker run -e HF_TOKEN`, the engine reads the value
//! from its own environment), so no value is on a command line at all. The
//! second is [`redact`] / [`redact_args`], applied wherever a launch
//! command, an engine's error or a server's log is shown.
//!
//! The shown command is provenance (`run.json` keeps it), so redaction is
//! exact: what it hides is a secret, and everything else is shown byte for
//! byte. Issue 31 came from the opposite choice, matching substrings:
//! `--enable-prompt-tokens-details` (a boolean flag with `tokens` in its
//! name) hid the value of the flag after it, and `TOKENIZERS_PARALLELISM=
//! false` in the environment hid every `false`. So:
//!
//! * A **secret environment variable** is one of [`KNOWN_SECRET_ENV`], a
//!   name a stack config lists in `secret-env` or that `--api-key-env`
//!   names ([`mark_secret_env`]), or a name whose last `_`-separated words
//!   are one of [`SECRET_NAME_ENDINGS`] (`*_TOKEN`, `*_API_KEY`,
//!   `*_SECRET`, `*_PASSWORD`, …). The shape rule stays because a secret
//!   stackbench was not told about (`MY_REGISTRY_TOKEN`) should not leak,
//!   and it is safe because it matches whole words at the end only:
//!   `TOKENIZERS_PARALLELISM`, `MAX_NUM_BATCHED_TOKENS` and `HF_TOKEN_PATH`
//!   are not secret. A name with a character an environment variable
//!   cannot have (a flag, `--…`) is never one.
//! * A **secret flag** is one of [`SECRET_FLAGS`], matched whole; the
//!   argument after it is hidden unless it is itself a flag, and so is the
//!   value of `--flag=value`.
//! * **Values of secret variables** are hidden wherever they appear, but
//!   only when a value could not be ordinary text: at least
//!   [`MIN_HIDDEN_VALUE_LEN`] characters, and neither a number nor a
//!   boolean (`false`, `1`, `on`, …). A shorter or ordinary value is still
//!   hidden where its name says it is secret (`HF_TOKEN=…`).
//! * **Token-shaped words** (`hf_…`, `sk-…`, `ghp_…`, …) are hidden
//!   anywhere, whoever set them.
//!
//! Names marked by configs go into one set for the whole process, never
//! removed: redaction happens deep in code that does not know which stack
//! a log tail or an engine error belongs to, and hiding one stack's secret
//! in another's output costs nothing.

use std::collections::BTreeSet;
use std::sync::Mutex;

/// What a hidden value is replaced with.
pub const HIDDEN: &str = "***";

/// Environment variables known to hold secrets: the Hugging Face token
/// (`huggingface_hub` reads `HF_TOKEN`, older versions
/// `HUGGING_FACE_HUB_TOKEN`), the servers' API keys (`VLLM_API_KEY`,
/// llama-server's `LLAMA_API_KEY`, the OpenAI client's `OPENAI_API_KEY`),
/// NVIDIA NGC's, and the cloud and forge credentials a fetch may use.
pub const KNOWN_SECRET_ENV: &[&str] = &[
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_API_TOKEN",
    "OPENAI_API_KEY",
    "VLLM_API_KEY",
    "LLAMA_API_KEY",
    "OLLAMA_API_KEY",
    "NGC_API_KEY",
    "NGC_CLI_API_KEY",
    "ANTHROPIC_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GITLAB_TOKEN",
    "WANDB_API_KEY",
];

/// The last `_`-separated words that make any environment variable's name
/// secret (`MY_REGISTRY_TOKEN`, `DB_PASSWORD`).
pub const SECRET_NAME_ENDINGS: &[&[&str]] = &[
    &["TOKEN"],
    &["API", "KEY"],
    &["APIKEY"],
    &["SECRET"],
    &["SECRET", "KEY"],
    &["PASSWORD"],
    &["PASSWD"],
];

/// Flags whose value is a secret, matched whole: the servers' API key
/// (vLLM, llama-server), the Hugging Face token (vLLM's `--hf-token`,
/// llama.cpp's `--hf-token` / `-hft`, `hf download --token`), and generic
/// credentials.
pub const SECRET_FLAGS: &[&str] = &[
    "--api-key",
    "--hf-token",
    "-hft",
    "--token",
    "--auth-token",
    "--access-token",
    "--password",
    "--passwd",
    "--secret",
    "--client-secret",
];

/// A secret variable's value shorter than this is not hidden in text
/// (only where its name is): `abc` would hide ordinary words. Keys and
/// tokens issued by any service are longer.
pub const MIN_HIDDEN_VALUE_LEN: usize = 8;

/// What a value means when it is one of these words (any case): a
/// boolean, never hidden in text.
const BOOLEANS: &[&str] = &[
    "true", "false", "yes", "no", "on", "off", "y", "n", "t", "f", "enable", "enabled", "disable",
    "disabled", "none", "null",
];

/// Names marked secret by configs (`secret-env`) and `--api-key-env`.
static MARKED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Prefixes of well-known token formats (Hugging Face, OpenAI, GitHub,
/// GitLab, Slack, AWS access keys).
const TOKEN_PREFIXES: &[&str] = &[
    "hf_",
    "sk-",
    "ghp_",
    "gho_",
    "ghs_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "AKIA",
];

/// Marks environment variable `names` secret for the rest of this
/// process (a stack's `secret-env`, the variable `--api-key-env` names).
pub fn mark_secret_env<S: AsRef<str>>(names: impl IntoIterator<Item = S>) {
    let mut marked = MARKED.lock().unwrap_or_else(|e| e.into_inner());
    marked.extend(names.into_iter().map(|n| n.as_ref().to_string()));
}

/// Whether `name` can be an environment variable's name: letters, digits
/// and `_`, not starting with a digit.
pub fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether the environment variable `name` holds a secret (see the
/// module comment for the rule).
pub fn is_secret_name(name: &str) -> bool {
    if !is_env_name(name) {
        return false;
    }
    let upper = name.to_ascii_uppercase();
    let words: Vec<&str> = upper.split('_').collect();
    KNOWN_SECRET_ENV.contains(&upper.as_str())
        || SECRET_NAME_ENDINGS.iter().any(|e| words.ends_with(e))
        || MARKED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(name)
}

/// Whether `arg` is a flag whose value is a secret (whole name only).
pub fn is_secret_flag(arg: &str) -> bool {
    SECRET_FLAGS.contains(&arg)
}

/// Whether a secret variable's `value` is hidden wherever it appears in
/// text: long enough, and not a number or a boolean.
fn hidden_in_text(value: &str) -> bool {
    let v = value.trim();
    v.chars().count() >= MIN_HIDDEN_VALUE_LEN
        && v.parse::<f64>().is_err()
        && !BOOLEANS.iter().any(|b| v.eq_ignore_ascii_case(b))
}

/// A word shaped like a known token: a prefix and at least 8 more
/// token characters.
fn looks_like_token(word: &str) -> bool {
    TOKEN_PREFIXES.iter().any(|p| {
        word.strip_prefix(p).is_some_and(|rest| {
            rest.len() >= 8
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
    })
}

/// The values of `vars`' secret variables that are hidden in text,
/// longest first so that one value containing another is hidden whole.
fn secret_values(vars: impl IntoIterator<Item = (String, String)>) -> Vec<String> {
    let mut v: Vec<String> = vars
        .into_iter()
        .filter(|(k, v)| is_secret_name(k) && hidden_in_text(v))
        .map(|(_, v)| v)
        .collect();
    v.sort_by_key(|s| std::cmp::Reverse(s.len()));
    v.dedup();
    v
}

/// `text` with every secret hidden: the values of this process's secret
/// variables, token-shaped words, and the value of `NAME=value` where
/// NAME is a secret variable or flag.
pub fn redact(text: &str) -> String {
    redact_with(text, &secret_values(std::env::vars()))
}

/// A command line as it may be shown: every argument [`redact`]ed, and
/// the argument after a secret flag (`--api-key KEY`) hidden unless it is
/// itself a flag.
pub fn redact_args(args: &[String]) -> Vec<String> {
    redact_args_with(args, &secret_values(std::env::vars()))
}

/// [`redact`] with the secret `values` given.
fn redact_with(text: &str, values: &[String]) -> String {
    let mut out = text.to_string();
    for value in values {
        out = out.replace(value.as_str(), HIDDEN);
    }
    let mut result = String::with_capacity(out.len());
    let mut word = String::new();
    for c in out.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '=') {
            word.push(c);
        } else {
            result.push_str(&redact_word(&word));
            word.clear();
            result.push(c);
        }
    }
    result.push_str(&redact_word(&word));
    result
}

/// One word: a token, or `NAME=value` with a secret name or flag.
fn redact_word(word: &str) -> String {
    if let Some((name, value)) = word.split_once('=') {
        let secret_name = is_secret_name(name) || is_secret_flag(name);
        if !value.is_empty() && (secret_name || looks_like_token(value)) {
            return format!("{name}={HIDDEN}");
        }
        return word.to_string();
    }
    if looks_like_token(word) {
        HIDDEN.to_string()
    } else {
        word.to_string()
    }
}

/// [`redact_args`] with the secret `values` given.
fn redact_args_with(args: &[String], values: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut after_secret_flag = false;
    for a in args {
        if after_secret_flag && !a.starts_with('-') {
            out.push(HIDDEN.to_string());
            after_secret_flag = false;
            continue;
        }
        after_secret_flag = is_secret_flag(a);
        out.push(redact_with(a, values));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn token_shaped_words_and_secret_assignments_are_hidden() {
        assert_eq!(
            redact("401: token hf_AbCdEfGhIjKlMnOp rejected"),
            "401: token *** rejected"
        );
        assert_eq!(redact("-e HF_TOKEN=abc123"), "-e HF_TOKEN=***");
        assert_eq!(redact("OPENAI_API_KEY=x1"), "OPENAI_API_KEY=***");
        // Ordinary words and short prefixes stay.
        assert_eq!(
            redact("sk-1 hf_x --max-model-len=8192"),
            "sk-1 hf_x --max-model-len=8192"
        );
        assert_eq!(redact("HF_HOME=/root/.cache"), "HF_HOME=/root/.cache");
    }

    #[test]
    fn the_value_after_a_secret_flag_is_hidden() {
        let shown = redact_args(&strings(&[
            "vllm",
            "serve",
            "m",
            "--api-key",
            "s3cret-value",
            "--port",
            "8000",
        ]));
        assert_eq!(
            shown,
            strings(&["vllm", "serve", "m", "--api-key", HIDDEN, "--port", "8000"])
        );
        assert_eq!(
            redact_args(&strings(&["--hf-token=abcdefgh"])),
            strings(&["--hf-token=***"])
        );
    }

    /// The reproduction of issue 31: a boolean flag whose name holds
    /// `tokens` hid the value of the flag after it.
    #[test]
    fn a_boolean_flag_with_tokens_in_its_name_hides_nothing() {
        let args = strings(&[
            "vllm",
            "serve",
            "m",
            "--enable-prompt-tokens-details",
            "--max-num-batched-tokens",
            "8192",
        ]);
        assert_eq!(redact_args(&args), args);
    }

    #[test]
    fn the_value_after_a_secret_flag_is_kept_when_it_is_a_flag() {
        let args = strings(&["llama-server", "--api-key", "--port", "8080"]);
        assert_eq!(redact_args(&args), args);
    }

    #[test]
    fn names_that_only_contain_a_secret_word_are_not_secret() {
        for n in [
            "TOKENIZERS_PARALLELISM",
            "MAX_NUM_BATCHED_TOKENS",
            "--enable-prompt-tokens-details",
            "--max-num-batched-tokens",
            "HF_TOKEN_PATH",
            "CACHE_KEY",
            "SECRETS_DIR",
        ] {
            assert!(!is_secret_name(n), "{n}");
        }
        assert_eq!(
            redact("-e TOKENIZERS_PARALLELISM=false"),
            "-e TOKENIZERS_PARALLELISM=false"
        );
    }

    fn env(vars: &[(&str, &str)]) -> Vec<String> {
        secret_values(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn a_secret_variable_s_value_is_hidden_in_text_unless_ordinary() {
        let values = env(&[
            ("HF_TOKEN", "correct-horse-battery"),
            ("TOKENIZERS_PARALLELISM", "false"),
            ("MY_SERVICE_TOKEN", "false"),
            ("DB_PASSWORD", "8192"),
            ("GITHUB_TOKEN", "short"),
            ("HF_HOME", "/root/.cache/huggingface"),
        ]);
        assert_eq!(values, strings(&["correct-horse-battery"]));
        let text = "serve --max-num-batched-tokens 8192 --trust false -v \
                    /root/.cache/huggingface short correct-horse-battery";
        assert_eq!(
            redact_with(text, &values),
            text.replace("correct-horse-battery", HIDDEN)
        );
        // Where the name says it is secret, any value is hidden.
        assert_eq!(redact_with("GITHUB_TOKEN=short", &[]), "GITHUB_TOKEN=***");
    }

    #[test]
    fn booleans_and_numbers_are_never_hidden_as_values() {
        for v in [
            "true", "FALSE", "yes", "no", "on", "off", "0", "1", "12345678", "0.85",
        ] {
            assert!(!hidden_in_text(v), "{v}");
        }
        for v in ["s3cret-value", "correct-horse-battery"] {
            assert!(hidden_in_text(v), "{v}");
        }
    }

    #[test]
    fn only_whole_secret_flags_hide_the_next_argument() {
        let values = env(&[("HF_TOKEN", "plain-secret-value")]);
        let args = strings(&[
            "llama-server",
            "--hf-token",
            "plain-secret-value",
            "--api-key-file",
            "/etc/keys",
            "--token",
            "abc",
            "--password=pw",
        ]);
        assert_eq!(
            redact_args_with(&args, &values),
            strings(&[
                "llama-server",
                "--hf-token",
                HIDDEN,
                "--api-key-file",
                "/etc/keys",
                "--token",
                HIDDEN,
                "--password=***",
            ])
        );
    }

    #[test]
    fn names_a_config_marks_are_secret() {
        assert!(!is_secret_name("SB_UNIT_MARKED_PAT"));
        mark_secret_env(["SB_UNIT_MARKED_PAT"]);
        assert!(is_secret_name("SB_UNIT_MARKED_PAT"));
        let values = env(&[("SB_UNIT_MARKED_PAT", "registry-pat-value")]);
        assert_eq!(
            redact_with("login registry-pat-value", &values),
            "login ***"
        );
    }

    #[test]
    fn secret_names() {
        for n in [
            "HF_TOKEN",
            "VLLM_API_KEY",
            "AWS_SECRET_ACCESS_KEY",
            "DB_PASSWORD",
            "MY_REGISTRY_TOKEN",
            "GITLAB_TOKEN",
            "hf_token",
        ] {
            assert!(is_secret_name(n), "{n}");
        }
        for n in [
            "HF_HOME",
            "--port",
            "OLLAMA_KEEP_ALIVE",
            "--max-model-len",
            "KEYS",
            "--api-key",
        ] {
            assert!(!is_secret_name(n), "{n}");
        }
        assert!(is_secret_flag("--api-key"));
        assert!(!is_secret_flag("--api-key-file"));
        assert!(!is_secret_flag("--enable-prompt-tokens-details"));
    }
}
