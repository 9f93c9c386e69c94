//! `${VAR}` and `${VAR:-default}` in launch commands, so that one config
//! serves every box (`${HF_HOME}`, `${STACKBENCH_CACHE:-…}`).

use crate::error::LaunchError;

/// Expands `${VAR}` / `${VAR:-default}` in `s` through `lookup`.
pub fn expand_with(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, LaunchError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = closing_brace(after)
            .ok_or_else(|| LaunchError::Expand(format!("'{s}': unclosed ${{")))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        let value = lookup(name).filter(|v| !v.is_empty());
        match (value, default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(&expand_with(d, lookup)?),
            (None, None) => {
                return Err(LaunchError::Expand(format!(
                    "'{s}' needs the environment variable {name}, which is not set"
                )))
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The index of the `}` closing a `${` whose contents start `s`, counting
/// nested `${…}` in defaults.
fn closing_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// [`expand_with`] over the process environment.
pub fn expand(s: &str) -> Result<String, LaunchError> {
    expand_with(s, &|k| std::env::var(k).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_defaults_and_missing() {
        let env = |k: &str| (k == "HOME").then(|| "/home/u".to_string());
        assert_eq!(
            expand_with("${HF_HOME:-${HOME}/.cache/hf}:/root/.cache", &env).ok(),
            Some("/home/u/.cache/hf:/root/.cache".to_string())
        );
        assert_eq!(expand_with("plain", &env).ok(), Some("plain".into()));
        let e = expand_with("${NOPE}/x", &env).expect_err("unset");
        assert!(e.to_string().contains("NOPE"), "{e}");
        assert!(expand_with("${HOME", &env).is_err());
    }
}
