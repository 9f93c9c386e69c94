//! `--set KEY=VALUE` overrides: parsed from the command line, and applied
//! to a file's TOML table before it is deserialized again. `stack.NAME.KEY`
//! targets one stack, `suite.KEY` the suite; VALUE is a TOML value, or a
//! plain string when it does not parse as one. Under `launch`, the kind's
//! table may be left out (`launch.image` means `launch.container.image`),
//! and an array of tables is entered by a member's name
//! (`suite.scenario.c32.duration`).

use std::path::Path;

use crate::config::diagnostics::key_of;
use crate::error::ConfigError;

/// One `--set KEY=VALUE`.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// As typed.
    pub raw: String,
    /// `suite` or `stack.NAME`.
    target: Target,
    /// The key path below the target.
    path: Vec<String>,
    /// The value.
    value: toml::Value,
}

#[derive(Debug, Clone, PartialEq)]
enum Target {
    Suite,
    Stack(String),
}

impl std::str::FromStr for Override {
    type Err = ConfigError;

    fn from_str(raw: &str) -> Result<Self, ConfigError> {
        let bad = |m: &str| ConfigError::Override {
            key: raw.to_string(),
            message: m.to_string(),
        };
        let (key, value) = raw.split_once('=').ok_or_else(|| {
            bad("expected KEY=VALUE, e.g. stack.vllm.launch.image=vllm/vllm-openai:v0.33.0")
        })?;
        let parts: Vec<String> = key.trim().split('.').map(str::to_string).collect();
        let (target, path) = match parts.first().map(String::as_str) {
            Some("suite") if parts.len() >= 2 => (Target::Suite, parts[1..].to_vec()),
            Some("stack") if parts.len() >= 3 => {
                (Target::Stack(parts[1].clone()), parts[2..].to_vec())
            }
            _ => return Err(bad("the key must start with stack.NAME. or suite.")),
        };
        if path.iter().any(String::is_empty) {
            return Err(bad("empty key segment"));
        }
        let value = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_string()));
        Ok(Self {
            raw: raw.to_string(),
            target,
            path,
            value,
        })
    }
}

impl Override {
    /// Whether it targets the suite file.
    pub(crate) fn targets_suite(&self) -> bool {
        self.target == Target::Suite
    }

    /// The stack it targets, if any.
    pub(crate) fn stack(&self) -> Option<&str> {
        match &self.target {
            Target::Stack(name) => Some(name),
            Target::Suite => None,
        }
    }
}

/// Sets `path` to `value` in `table`; under `launch`, the kind's table may
/// be skipped when there is one.
fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Err("empty key".into());
    };
    let mut cur = table;
    let mut i = 0;
    while i < parents.len() {
        let seg = &parents[i];
        let entry = cur
            .entry(seg.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        // An array of tables is entered by a member's `name`:
        // `scenario.c32.duration`.
        if let toml::Value::Array(items) = entry {
            let name = parents
                .get(i + 1)
                .or(Some(last))
                .filter(|_| i + 1 < parents.len())
                .ok_or_else(|| format!("{seg} is a list: name a member, e.g. {seg}.NAME.KEY"))?;
            let found = items.iter_mut().find_map(|v| match v {
                toml::Value::Table(t) if t.get("name").and_then(|n| n.as_str()) == Some(name) => {
                    Some(t)
                }
                _ => None,
            });
            cur = found.ok_or_else(|| format!("no {seg} named '{name}'"))?;
            i += 2;
            continue;
        }
        let toml::Value::Table(t) = entry else {
            return Err(format!("{seg} is not a table"));
        };
        cur = t;
        let is_launch = i == 0 && seg == "launch";
        let next = path.get(i + 1).map(String::as_str);
        let kinds = ["container", "process", "simulator"];
        if is_launch && !next.is_some_and(|n| kinds.contains(&n)) && cur.len() == 1 {
            let kind = cur.keys().next().cloned().unwrap_or_default();
            if kinds.contains(&kind.as_str()) {
                match cur.get_mut(&kind) {
                    Some(toml::Value::Table(t)) => cur = t,
                    _ => return Err(format!("launch.{kind} is not a table")),
                }
            }
        }
        i += 1;
    }
    cur.insert(last.clone(), value);
    Ok(())
}

/// Applies `overrides` to `text` (the contents of `file`, already known to
/// deserialize as `T`) and deserializes the result, naming the overrides
/// in any error.
pub(crate) fn apply<T: serde::de::DeserializeOwned>(
    file: &Path,
    text: &str,
    overrides: &[&Override],
) -> Result<T, ConfigError> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Invalid {
        file: file.to_path_buf(),
        line: 1,
        column: 1,
        key: "(syntax)".into(),
        message: e.message().to_string(),
    })?;
    for o in overrides {
        set_path(&mut table, &o.path, o.value.clone()).map_err(|message| {
            ConfigError::Override {
                key: o.raw.clone(),
                message,
            }
        })?;
    }
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().message().to_string();
        ConfigError::Override {
            key: overrides
                .iter()
                .map(|o| o.raw.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            message: format!(
                "{} (in {}): {message}",
                key_of(&path, &message),
                file.display()
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_parse_values_as_toml_or_text() {
        let o: Override = "stack.a.launch.image=localhost/x:2".parse().expect("valid");
        assert_eq!(o.value, toml::Value::String("localhost/x:2".into()));
        let o: Override = "suite.box.bandwidth-gb-s=19.5".parse().expect("valid");
        assert_eq!(o.value, toml::Value::Float(19.5));
        assert!("stack.a=1".parse::<Override>().is_err());
        assert!("nothing".parse::<Override>().is_err());
    }

    #[test]
    fn scenarios_are_addressed_by_name() {
        let mut t: toml::Table = toml::from_str(
            "[[scenario]]\nname = \"c1\"\n[[scenario]]\nname = \"c32\"\nduration = \"60s\"\n",
        )
        .expect("toml");
        let o: Override = "suite.scenario.c32.duration=10s".parse().expect("valid");
        set_path(&mut t, &o.path, o.value).expect("set");
        assert_eq!(t["scenario"][1]["duration"].as_str(), Some("10s"));
        let o: Override = "suite.scenario.c64.duration=10s".parse().expect("valid");
        let e = set_path(&mut t, &o.path, o.value).expect_err("no such scenario");
        assert!(e.contains("no scenario named 'c64'"), "{e}");
    }

    #[test]
    fn launch_kind_may_be_skipped_in_a_path() {
        let mut t: toml::Table =
            toml::from_str("[launch.container]\nimage = \"a\"\n").expect("toml");
        let o: Override = "stack.x.launch.image=b".parse().expect("valid");
        set_path(&mut t, &o.path, o.value).expect("set");
        assert_eq!(t["launch"]["container"]["image"].as_str(), Some("b"));
    }
}
