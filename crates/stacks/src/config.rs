//! Suite and stack files: read, checked with the file, line and key of any
//! mistake, and overridden from the command line (`--set`).
//!
//! A suite names its stacks by path (relative to the suite file); each
//! stack file is one [`StackConfig`]. `--set stack.NAME.KEY=VALUE` and
//! `--set suite.KEY=VALUE` change any key after reading (VALUE is a TOML
//! value, or a plain string when it does not parse as one), so the same
//! suite can run against another image: `--set
//! stack.llama-server.launch.image=localhost/llama:new`. Under `launch`,
//! the kind's table may be left out (`launch.image` means
//! `launch.container.image`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stackbench_core::stack::{DurationText, StackConfig};

use crate::error::ConfigError;

/// A suite file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SuiteConfig {
    /// Suite name (folder names, `run.json`).
    pub name: String,
    /// What the suite is for.
    #[serde(default)]
    pub description: String,
    /// Stack files, relative to the suite file, run in this order.
    pub stacks: Vec<String>,
    /// Run each scenario on every stack at once instead of one stack after
    /// another: only for stacks that do not share a box (simulated stacks,
    /// or servers on separate machines), as stacks on one box would
    /// compete for it.
    #[serde(default)]
    pub parallel: bool,
    /// Run every scenario this many times (`--repeat` overrides). Repeats
    /// go in rounds: each round launches every stack in turn (all at once
    /// with `parallel`), runs each scenario once and tears it down, so
    /// drift over time (heat, background load) hits every stack alike and
    /// the spread includes the launch-to-launch variance an upgrade
    /// changes. Runs land in `<stack>/<scenario>/r<K>/`.
    #[serde(default = "default_repeat")]
    pub repeat: u32,
    /// Regression thresholds for `stackbench compare`, % by metric key
    /// (`decode_tok_s_p50 = 3`); recorded in `suite.json`, where
    /// `compare` finds them. `--threshold` overrides.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub compare: std::collections::BTreeMap<String, f64>,
    /// Facts about the box under test.
    #[serde(default, rename = "box")]
    pub box_facts: BoxFacts,
    /// Scenario defaults.
    #[serde(default)]
    pub defaults: ScenarioDefaults,
    /// The scenarios, run in this order on each stack.
    #[serde(rename = "scenario")]
    pub scenarios: Vec<Scenario>,
}

/// What the roofline needs to know about the box, and how to keep it
/// fair between stacks (hygiene before each launch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BoxFacts {
    /// Memory bandwidth, GB/s (GB10: 273).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_gb_s: Option<f64>,
    /// Where that figure comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_source: Option<String>,
    /// Before each launch, drop the page cache (`sync; echo 3 >
    /// /proc/sys/vm/drop_caches`, root only; noted when not permitted):
    /// on unified memory (GB10) the previous stack's weights in the page
    /// cache count as used and fail vLLM's start-up memory check.
    #[serde(default)]
    pub drop_page_cache: bool,
    /// Before each launch, wait until available memory (and GPU memory,
    /// where `nvidia-smi` reports it) is back within `memory-tolerance-gib`
    /// of its level before the first stack.
    #[serde(default)]
    pub settle_memory: bool,
    /// How far below the first level memory may stay, GiB.
    #[serde(default = "default_memory_tolerance")]
    pub memory_tolerance_gib: f64,
    /// How long to wait for memory to come back before the stack fails.
    #[serde(default = "default_settle_timeout")]
    pub settle_timeout: stackbench_core::stack::DurationText,
    /// A pause before each launch after the first (heat, clocks), e.g. `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<stackbench_core::stack::DurationText>,
    /// A command run before each launch (`STACKBENCH_STACK` names the
    /// stack); the stack fails when it fails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before_launch: Vec<String>,
}

fn default_memory_tolerance() -> f64 {
    2.0
}

fn default_settle_timeout() -> stackbench_core::stack::DurationText {
    "5m".parse()
        .unwrap_or_else(|_| unreachable!("a valid duration"))
}

impl Default for BoxFacts {
    fn default() -> Self {
        Self {
            bandwidth_gb_s: None,
            bandwidth_source: None,
            drop_page_cache: false,
            settle_memory: false,
            memory_tolerance_gib: default_memory_tolerance(),
            settle_timeout: default_settle_timeout(),
            cooldown: None,
            before_launch: Vec::new(),
        }
    }
}

impl BoxFacts {
    /// Whether any hygiene step is asked for.
    pub fn hygiene(&self) -> bool {
        self.drop_page_cache
            || self.settle_memory
            || self.cooldown.is_some()
            || !self.before_launch.is_empty()
    }
}

/// Values scenarios inherit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ScenarioDefaults {
    /// Approximate prompt length, tokens.
    #[serde(default = "default_prompt_tokens")]
    pub prompt_tokens: u32,
    /// `max_tokens` per request.
    #[serde(default = "default_output_tokens")]
    pub output_tokens: u32,
    /// Warm-up requests before each scenario.
    #[serde(default = "default_warmup")]
    pub warmup_requests: u64,
    /// Leading prompt tokens every request shares (`--shared-prefix-tokens`).
    #[serde(default)]
    pub shared_prefix_tokens: u32,
}

impl Default for ScenarioDefaults {
    fn default() -> Self {
        Self {
            prompt_tokens: default_prompt_tokens(),
            output_tokens: default_output_tokens(),
            warmup_requests: default_warmup(),
            shared_prefix_tokens: 0,
        }
    }
}

fn default_repeat() -> u32 {
    1
}
fn default_prompt_tokens() -> u32 {
    128
}
fn default_output_tokens() -> u32 {
    128
}
fn default_warmup() -> u64 {
    1
}

/// A value or a list of them (`concurrency = 8` or `[1, 2, 4, 8]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// One value.
    One(T),
    /// A list.
    Many(Vec<T>),
}

impl<T: Copy> OneOrMany<T> {
    /// The values, in order.
    pub fn values(&self) -> Vec<T> {
        match self {
            Self::One(v) => vec![*v],
            Self::Many(v) => v.clone(),
        }
    }
}

/// One load level, or a list of levels that the loader expands into one
/// scenario per level (`<name>-c<N>` / `<name>-r<R>`), run in order.
/// Suites run every level on every stack (no early stop, unlike `run`'s
/// sweeps) so that stacks compare at the same levels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Scenario {
    /// Name (folder name): e.g. `c1`, `c32`.
    pub name: String,
    /// Closed-loop users, or a list of them (give this or `request-rate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<OneOrMany<u32>>,
    /// Open loop: requests per second, or a list of rates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_rate: Option<OneOrMany<f64>>,
    /// Open loop: `poisson` (default) or `constant`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival: Option<stackbench_core::open_loop::Arrival>,
    /// Open loop: at most this many requests in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    /// Latency limits for goodput, as `run --slo` takes them
    /// (`"ttft_ms=500,tpot_ms=50"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<String>,
    /// Requests from this dataset file (relative to the suite file), as
    /// `run --dataset` takes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// Draw this many dataset entries, shuffled by the run seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_sample: Option<u64>,
    /// Measured requests (or give `duration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// Measured duration, e.g. `60s` (or give `requests`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<DurationText>,
    /// Overrides the suite default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u32>,
    /// Overrides the suite default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u32>,
    /// Overrides the suite default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_requests: Option<u64>,
    /// Overrides the suite default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_prefix_tokens: Option<u32>,
}

/// One stack of a loaded suite.
#[derive(Debug, Clone, PartialEq)]
pub struct StackEntry {
    /// The file it came from.
    pub file: PathBuf,
    /// The config, overrides applied.
    pub config: StackConfig,
}

/// A suite, read and checked, with its stacks.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    /// The suite file.
    pub file: PathBuf,
    /// The suite config, overrides applied.
    pub config: SuiteConfig,
    /// Its stacks, in order (filtered by `--only`).
    pub stacks: Vec<StackEntry>,
}

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

/// 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// Deserializes `text` (the contents of `file`) with the key path and
/// position of any error.
fn parse<T: serde::de::DeserializeOwned>(file: &Path, text: &str) -> Result<T, ConfigError> {
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
fn key_of(path: &str, message: &str) -> String {
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

/// Reads a config file: from disk, or from files built into the binary
/// (the demo's suite).
pub type Reader<'a> = &'a dyn Fn(&Path) -> std::io::Result<String>;

fn read(reader: Reader<'_>, file: &Path) -> Result<String, ConfigError> {
    reader(file).map_err(|source| ConfigError::Read {
        file: file.to_path_buf(),
        source,
    })
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

/// Reads `file` as `T`, applies the overrides that target it, and checks
/// the result again.
fn load_with<T: serde::de::DeserializeOwned>(
    reader: Reader<'_>,
    file: &Path,
    overrides: &[&Override],
) -> Result<T, ConfigError> {
    let text = read(reader, file)?;
    let parsed: T = parse(file, &text)?;
    if overrides.is_empty() {
        return Ok(parsed);
    }
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
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

/// Reads a suite and its stacks, applies `overrides`, keeps only the
/// stacks named in `only` (all when empty), and checks what the types
/// cannot: scenario bounds, unique names, a base URL or port per stack.
pub fn load_suite(
    file: &Path,
    overrides: &[Override],
    only: &[String],
) -> Result<Suite, ConfigError> {
    load_suite_from(
        &|p: &Path| std::fs::read_to_string(p),
        file,
        overrides,
        only,
    )
}

/// Checks a scenario's load keys: `(key, message)` of the first mistake.
fn check_load(s: &Scenario) -> Result<(), (&'static str, String)> {
    match (&s.concurrency, &s.request_rate) {
        (Some(_), Some(_)) => {
            return Err((
                "request-rate",
                format!(
                    "scenario '{}': give concurrency or request-rate, not both",
                    s.name
                ),
            ))
        }
        (None, None) => {
            return Err((
                "concurrency",
                format!("scenario '{}': give concurrency or request-rate", s.name),
            ))
        }
        (Some(c), None) => {
            let c = c.values();
            if c.is_empty() || c.contains(&0) {
                return Err(("concurrency", "levels must be at least 1".into()));
            }
            if s.arrival.is_some() || s.max_concurrency.is_some() {
                return Err((
                    "arrival",
                    "arrival and max-concurrency go with request-rate".into(),
                ));
            }
        }
        (None, Some(r)) => {
            let r = r.values();
            if r.is_empty() || r.iter().any(|x| !(x.is_finite() && *x > 0.0)) {
                return Err((
                    "request-rate",
                    "rates must be positive numbers of requests per second".into(),
                ));
            }
            if s.max_concurrency == Some(0) {
                return Err(("max-concurrency", "must be at least 1".into()));
            }
        }
    }
    if let Some(slo) = &s.slo {
        slo.parse::<stackbench_core::slo::Slo>()
            .map_err(|e| ("slo", e.to_string()))?;
    }
    Ok(())
}

/// One scenario per level: a list becomes `<name>-c<N>` / `<name>-r<R>`.
fn expand_levels(scenarios: &[Scenario]) -> Vec<Scenario> {
    let mut out = Vec::new();
    for s in scenarios {
        match (&s.concurrency, &s.request_rate) {
            (Some(OneOrMany::Many(levels)), _) => {
                out.extend(levels.iter().map(|&c| Scenario {
                    name: format!("{}-c{c}", s.name),
                    concurrency: Some(OneOrMany::One(c)),
                    ..s.clone()
                }));
            }
            (_, Some(OneOrMany::Many(rates))) => {
                out.extend(rates.iter().map(|&r| Scenario {
                    name: format!("{}-r{r}", s.name),
                    request_rate: Some(OneOrMany::One(r)),
                    ..s.clone()
                }));
            }
            _ => out.push(s.clone()),
        }
    }
    out
}

fn duplicate_name(scenarios: &[Scenario]) -> Option<&str> {
    scenarios.iter().enumerate().find_map(|(i, s)| {
        scenarios[..i]
            .iter()
            .any(|o| o.name == s.name)
            .then_some(s.name.as_str())
    })
}

impl Scenario {
    /// Closed-loop users of an expanded scenario (its first level); for an
    /// open-loop one, its cap (0: none).
    pub fn users(&self) -> u32 {
        match (&self.concurrency, self.max_concurrency) {
            (Some(c), _) => c.values().first().copied().unwrap_or(1),
            (None, cap) => cap.unwrap_or(0),
        }
    }

    /// Requests per second of an expanded open-loop scenario.
    pub fn rate(&self) -> Option<f64> {
        self.request_rate
            .as_ref()
            .and_then(|r| r.values().first().copied())
    }
}

/// [`load_suite`] with the files read through `reader`.
pub fn load_suite_from(
    reader: Reader<'_>,
    file: &Path,
    overrides: &[Override],
    only: &[String],
) -> Result<Suite, ConfigError> {
    let suite_overrides: Vec<&Override> = overrides
        .iter()
        .filter(|o| o.target == Target::Suite)
        .collect();
    let config: SuiteConfig = load_with(reader, file, &suite_overrides)?;
    let text = read(reader, file)?;
    let invalid = |key: &str, message: String| invalid_at(file, &text, key, message);
    if config.repeat == 0 {
        return Err(invalid("repeat", "must be at least 1".into()));
    }
    if let Some((k, v)) = config
        .compare
        .iter()
        .find(|(_, v)| !v.is_finite() || **v < 0.0)
    {
        return Err(invalid(
            &format!("compare.{k}"),
            format!("a threshold is a percentage >= 0, not {v}"),
        ));
    }
    if config.scenarios.is_empty() {
        return Err(invalid(
            "scenario",
            "a suite needs at least one [[scenario]]".into(),
        ));
    }
    for (i, s) in config.scenarios.iter().enumerate() {
        let key = format!("scenario[{i}]");
        if let Err((field, message)) = check_load(s) {
            return Err(invalid(&format!("{key}.{field}"), message));
        }
        match (s.requests, &s.duration) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(invalid(
                    &key,
                    format!(
                        "scenario '{}': give exactly one of requests and duration",
                        s.name
                    ),
                ))
            }
            (Some(0), None) => {
                return Err(invalid(
                    &format!("{key}.requests"),
                    "must be at least 1".into(),
                ))
            }
            _ => {}
        }
        if config.scenarios[..i].iter().any(|o| o.name == s.name) {
            return Err(invalid(
                &format!("{key}.name"),
                format!("scenario name '{}' is used twice", s.name),
            ));
        }
    }
    let mut config = config;
    config.scenarios = expand_levels(&config.scenarios);
    if let Some(name) = duplicate_name(&config.scenarios) {
        return Err(invalid(
            "scenario",
            format!("two scenarios are named '{name}' once lists are expanded"),
        ));
    }
    let base = file.parent().unwrap_or(Path::new("."));
    let mut stacks = Vec::new();
    for rel in &config.stacks {
        let stack_file = base.join(rel);
        let stack_text = read(reader, &stack_file)?;
        let stack: StackConfig = parse(&stack_file, &stack_text)?;
        let mine: Vec<&Override> = overrides
            .iter()
            .filter(|o| o.target == Target::Stack(stack.name.clone()))
            .collect();
        let stack: StackConfig = if mine.is_empty() {
            stack
        } else {
            load_with(reader, &stack_file, &mine)?
        };
        check_stack(&stack_file, &stack_text, &stack)?;
        if stacks
            .iter()
            .any(|e: &StackEntry| e.config.name == stack.name)
        {
            return Err(invalid(
                "stacks",
                format!("two stacks are named '{}'", stack.name),
            ));
        }
        stacks.push(StackEntry {
            file: stack_file,
            config: stack,
        });
    }
    for o in overrides {
        if let Target::Stack(name) = &o.target {
            if !stacks.iter().any(|s| &s.config.name == name) {
                return Err(ConfigError::Override {
                    key: o.raw.clone(),
                    message: format!(
                        "no stack named '{name}' in {} (stacks: {})",
                        file.display(),
                        names(&stacks)
                    ),
                });
            }
        }
    }
    for name in only {
        if !stacks.iter().any(|s| &s.config.name == name) {
            return Err(ConfigError::UnknownStack {
                name: name.clone(),
                known: names(&stacks),
            });
        }
    }
    if !only.is_empty() {
        stacks.retain(|s| only.contains(&s.config.name));
    }
    Ok(Suite {
        file: file.to_path_buf(),
        config,
        stacks,
    })
}

fn names(stacks: &[StackEntry]) -> String {
    stacks
        .iter()
        .map(|s| s.config.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// An error about `key` of `file`, placed where `key` is written in `text`.
fn invalid_at(file: &Path, text: &str, key: &str, message: String) -> ConfigError {
    let (line, column) = locate(text, key);
    ConfigError::Invalid {
        file: file.to_path_buf(),
        line,
        column,
        key: key.to_string(),
        message,
    }
}

/// Checks across keys that serde cannot.
fn check_stack(file: &Path, text: &str, s: &StackConfig) -> Result<(), ConfigError> {
    use stackbench_core::stack::Launch;
    let invalid = |key: &str, message: String| invalid_at(file, text, key, message);
    if s.name.trim().is_empty() {
        return Err(invalid("name", "must not be empty".into()));
    }
    let port = match &s.launch {
        Some(Launch::Container(c)) => {
            if c.image.trim().is_empty() {
                return Err(invalid(
                    "launch.container.image",
                    "must not be empty".into(),
                ));
            }
            for p in &c.ports {
                if crate::container::host_port(p).is_none() {
                    return Err(invalid(
                        "launch.container.ports",
                        format!("'{p}' is not HOST:CONTAINER (e.g. 8000:8000)"),
                    ));
                }
            }
            c.ports.first().and_then(|p| crate::container::host_port(p))
        }
        Some(Launch::Process(p)) => {
            if p.command.is_empty() {
                return Err(invalid(
                    "launch.process.command",
                    "must name a program".into(),
                ));
            }
            p.port
        }
        Some(Launch::Simulator(sim)) => {
            if stackbench_sim::Profile::load(&sim.profile).is_err() {
                return Err(invalid(
                    "launch.simulator.profile",
                    format!("unknown profile '{}'", sim.profile),
                ));
            }
            Some(0)
        }
        None => None,
    };
    if s.base_url.is_none() && port.is_none() {
        return Err(invalid(
            "base-url",
            "give base-url, or a launch that publishes a port (container ports, process port)"
                .into(),
        ));
    }
    if let Some(r) = &s.reference {
        if r.single_user_tok_s.is_none() && r.total_tok_s.is_none() {
            return Err(invalid(
                "reference",
                "give single-user-tok-s or total-tok-s".into(),
            ));
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn suite_with(scenarios: &str) -> Result<Suite, ConfigError> {
        let files = move |p: &Path| -> std::io::Result<String> {
            Ok(match p.file_name().and_then(|n| n.to_str()) {
                Some("suite.toml") => format!("name = \"t\"\nstacks = [\"s.toml\"]\n{scenarios}"),
                _ => "name = \"s\"\nflavor = \"vllm\"\nquantization = \"q\"\n[launch.simulator]\nprofile = \"vllm-fp8\"\n".into(),
            })
        };
        load_suite_from(&files, Path::new("suite.toml"), &[], &[])
    }

    #[test]
    fn level_lists_expand_into_one_scenario_per_level() {
        let suite = suite_with(
            "[[scenario]]\nname = \"sweep\"\nconcurrency = [1, 4]\nrequests = 8\n\
             [[scenario]]\nname = \"open\"\nrequest-rate = [0.5, 2]\narrival = \"constant\"\nmax-concurrency = 4\nslo = \"ttft_ms=500\"\nduration = \"10s\"\n\
             [[scenario]]\nname = \"one\"\nconcurrency = 2\nrequests = 2\n",
        )
        .expect("valid suite");
        let names: Vec<(&str, u32, Option<f64>)> = suite
            .config
            .scenarios
            .iter()
            .map(|s| (s.name.as_str(), s.users(), s.rate()))
            .collect();
        assert_eq!(
            names,
            [
                ("sweep-c1", 1, None),
                ("sweep-c4", 4, None),
                ("open-r0.5", 4, Some(0.5)),
                ("open-r2", 4, Some(2.0)),
                ("one", 2, None)
            ]
        );
    }

    #[test]
    fn load_keys_are_checked_where_they_are_written() {
        for (scenario, needle) in [
            ("concurrency = 1\nrequest-rate = 2.0", "not both"),
            ("", "give concurrency or request-rate"),
            ("concurrency = [1, 0]", "at least 1"),
            ("request-rate = -1.0", "positive"),
            (
                "concurrency = 2\narrival = \"poisson\"",
                "go with request-rate",
            ),
            ("request-rate = 1.0\nslo = \"ttft=1\"", "unknown limit"),
        ] {
            let e = suite_with(&format!(
                "[[scenario]]\nname = \"x\"\nrequests = 4\n{scenario}\n"
            ))
            .expect_err(scenario)
            .to_string();
            assert!(e.contains(needle), "{scenario}: {e}");
        }
        let e = suite_with(
            "[[scenario]]\nname = \"a-c2\"\nconcurrency = 2\nrequests = 1\n[[scenario]]\nname = \"a\"\nconcurrency = [2]\nrequests = 1\n",
        )
        .expect_err("duplicate after expansion")
        .to_string();
        assert!(e.contains("'a-c2'"), "{e}");
    }

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
