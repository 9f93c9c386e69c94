//! Keeping secrets (a Hugging Face token, an API key) out of everything
//! stackbench shows or keeps: `--dry-run`, `run.json`, `suite.json`, error
//! messages and the log tails quoted in them.
//!
//! The first line of defence is structural: a container's environment is
//! passed by name (`docker run -e HF_TOKEN`, the engine reads the value
//! from its own environment), so no value is on a command line at all. The
//! second is [`redact`], applied wherever a launch command, an engine's
//! error or a server's log is shown: it hides the values of this process's
//! secret-named environment variables, words shaped like well-known
//! tokens, and the value after a secret-named flag.

/// What a hidden value is replaced with.
pub const HIDDEN: &str = "***";

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

/// Whether an environment variable or flag name names a secret.
pub fn is_secret_name(name: &str) -> bool {
    let n = name
        .trim_start_matches('-')
        .to_ascii_uppercase()
        .replace('-', "_");
    [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "API_KEY",
        "APIKEY",
        "CREDENTIAL",
    ]
    .iter()
    .any(|w| n.contains(w))
        || n.ends_with("_KEY")
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

/// Values of this process's secret-named environment variables (4
/// characters or more: shorter ones would hide ordinary text), longest
/// first so that one value containing another is hidden whole.
fn secret_env_values() -> Vec<String> {
    let mut v: Vec<String> = std::env::vars()
        .filter(|(k, v)| is_secret_name(k) && v.len() >= 4)
        .map(|(_, v)| v)
        .collect();
    v.sort_by_key(|s| std::cmp::Reverse(s.len()));
    v
}

/// `text` with every secret hidden: secret environment values anywhere,
/// token-shaped words, `NAME=value` where NAME is secret-named.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    for value in secret_env_values() {
        out = out.replace(&value, HIDDEN);
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

/// One word: a token, or `NAME=value` with a secret name.
fn redact_word(word: &str) -> String {
    if let Some((name, value)) = word.split_once('=') {
        if !value.is_empty() && (is_secret_name(name) || looks_like_token(value)) {
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

/// A command line as it may be shown: every argument [`redact`]ed, and
/// the argument after a secret-named flag (`--api-key KEY`) hidden.
pub fn redact_args(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut hide_next = false;
    for a in args {
        if hide_next {
            out.push(HIDDEN.to_string());
            hide_next = false;
            continue;
        }
        hide_next = a.starts_with('-') && !a.contains('=') && is_secret_name(a);
        out.push(redact(a));
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

    #[test]
    fn secret_names() {
        for n in [
            "HF_TOKEN",
            "--api-key",
            "VLLM_API_KEY",
            "AWS_SECRET_ACCESS_KEY",
            "DB_PASSWORD",
        ] {
            assert!(is_secret_name(n), "{n}");
        }
        for n in [
            "HF_HOME",
            "--port",
            "OLLAMA_KEEP_ALIVE",
            "--max-model-len",
            "KEYS",
        ] {
            assert!(!is_secret_name(n), "{n}");
        }
    }
}
