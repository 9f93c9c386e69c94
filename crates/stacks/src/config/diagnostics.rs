//! Where a config mistake is: `file:line:col` and the dotted key, for
//! errors serde finds (from its span and path) and for errors the checks
//! across keys find (by locating the key's line in the text).

use std::path::Path;

use crate::error::ConfigError;

/// 1-based line and column of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// Deserializes `text` (the contents of `file`) with the key path and
/// position of any error.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    file: &Path,
    text: &str,
) -> Result<T, ConfigError> {
    let de = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let (line, column) = inner.span().map_or((1, 1), |s| line_col(text, s.start));
        let message = inner.message().trim().to_string();
        ConfigError::Invalid {
            file: file.to_path_buf(),
            line,
            column,
            key: key_of(&path, &message),
            message,
        }
    })
}

/// The dotted key an error is about: the path, plus the field an
/// "unknown field" or "missing field" message names.
pub(crate) fn key_of(path: &str, message: &str) -> String {
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|rest| rest.split('`').next());
    let path = if path == "." { "" } else { path };
    match (named, path.is_empty()) {
        (Some(f), true) => f.to_string(),
        (Some(f), false) => format!("{path}.{f}"),
        (None, true) => "(syntax)".into(),
        (None, false) => path.to_string(),
    }
}

/// An error about `key` of `file`, placed where `key` is written in `text`.
pub(crate) fn invalid_at(file: &Path, text: &str, key: &str, message: String) -> ConfigError {
    let (line, column) = locate(text, key);
    ConfigError::Invalid {
        file: file.to_path_buf(),
        line,
        column,
        key: key.to_string(),
        message,
    }
}

/// Where `key` (dotted) is written in `text`: the line assigning its last
/// segment, else the header of its table, else line 1.
fn locate(text: &str, key: &str) -> (usize, usize) {
    let segs: Vec<&str> = key.split('.').collect();
    let last = segs.last().copied().unwrap_or(key);
    let last = last.split('[').next().unwrap_or(last);
    let table = segs[..segs.len().saturating_sub(1)].join(".");
    let table = table.split('[').next().unwrap_or(&table).to_string();
    let find = |hit: &dyn Fn(&str) -> bool| {
        let mut offset = 0;
        for l in text.split_inclusive('\n') {
            let t = l.trim_start();
            if hit(t) {
                return Some(line_col(text, offset + (l.len() - t.len())));
            }
            offset += l.len();
        }
        None
    };
    let assigns = |t: &str| {
        t.strip_prefix(last)
            .is_some_and(|r| r.trim_start().starts_with('='))
    };
    let header = |t: &str| {
        let name = t.trim().trim_matches(|c| c == '[' || c == ']').trim();
        t.starts_with('[') && (name == last || (!table.is_empty() && name == table))
    };
    find(&assigns).or_else(|| find(&header)).unwrap_or((1, 1))
}
