//! A run's identity, once: which stack it measured, under which label the
//! tables show it, which scenario and load level it ran, which repeat it
//! was; and the one grouping of runs into stacks and into repeats of a
//! scenario that `report`, `compare`, `html` and `merge` all use.
//!
//! # The rule, and why
//!
//! A suite names each stack by its config `name` (`vllm-nvfp4-mtp1`): it is
//! unique in the suite, it is the key of `--only` and `--set stack.NAME`,
//! and the suite writes each run under `<out>/<name>/<scenario>[/r<K>]`.
//! The config's `label` (`vLLM`) is only the Stack column, which tables
//! show beside a Quantization column; the shipped configs give three
//! stacks the label `vLLM`, told apart only by that column. So:
//!
//! - the **stack** is the config `name` when the run has a stack config
//!   (suite runs), else the `--stack` label the run was given, else the
//!   model: what `compare` used (`stack_of`), and the only one of the three
//!   old rules that never merges two configs into one;
//! - the **label** is the config's label (else its name), else the
//!   `--stack` label, else the model: what `report` printed (`stack_label`)
//!   — and when two stacks among the runs shown would read the same (same
//!   label and quantization, different stack) each shows its stack name
//!   instead, so no two rows look alike. Where there is no Quantization
//!   column (chart legends, `.hgrm` folders) it is shown with the
//!   quantization, `vLLM NVFP4` ([`StackEntry::display`]): `html`'s
//!   `stack_name`, which was also its grouping key and so merged two
//!   configs that read alike;
//! - a stack is told apart by its **stack and quantization** together: an
//!   ad-hoc `run --stack vllm` at two `--quantization`s is two stacks
//!   (`compare` used to pool them as repeats), and in a suite the
//!   quantization follows the name; so is the **API**: one server driven
//!   through `chat` and through its native API is two stacks, each
//!   labelled with its API (`table` used to pool them as repeats, which
//!   the same-workload check of `stackbench_core::workload` exposed);
//! - the **scenario** is the suite's scenario, else the level label
//!   (`c8`, `r4`), as `compare` and `html` had it; `report` grouped by
//!   concurrency and so pooled open-loop runs of different rates.
//!
//! - the **side** of an upgrade check (`baseline`, `candidate`) is part of
//!   the stack: both sides carry the same config name, and `table` used to
//!   pool the baseline's and the candidate's runs as repeats of one row (a
//!   15 % slower candidate read as one row with a wide range). Each side
//!   is labelled with it, `vLLM (baseline)`. Only `history`, which follows
//!   one stack through time, and `compare`, which pairs one side's runs
//!   with the other's, take the two sides as one stack
//!   ([`group_runs_across_sides`], [`GroupKey::across_sides`]).
//!
//! Runs with the same stack, quantization, API, side and scenario are
//! repeats of one thing and form one [`Group`]. `merge` checks its shards
//! share a stack, side and scenario by the same rule.
//!
//! The fields are read through the small accessors at the bottom of this
//! file, so a change of `run.json`'s field types touches only them.

use crate::kinds::{Recorded, Side};
use crate::run_file::{LoadConfig, RunFile};

/// The load level a run applied: users (closed loop) or a request rate
/// (open loop, with its cap on requests in flight).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Level {
    /// Closed loop: this many users, each sending its next request when
    /// the last one ends.
    Users(u32),
    /// Open loop: requests per second, and the most in flight (0: none).
    Rate {
        /// Requests per second offered.
        per_s: f64,
        /// The concurrency cap.
        cap: u32,
    },
}

impl Level {
    /// The level of `load`.
    pub fn of(load: &LoadConfig) -> Self {
        match load.request_rate {
            Some(per_s) => Self::Rate {
                per_s,
                cap: load.concurrency,
            },
            None => Self::Users(load.concurrency),
        }
    }

    /// The short label: `c8` or `r4`.
    pub fn label(&self) -> String {
        match self {
            Self::Users(c) => format!("c{c}"),
            Self::Rate { per_s, .. } => format!("r{per_s}"),
        }
    }

    /// The number of users of a closed-loop level.
    pub fn users(&self) -> Option<u32> {
        match self {
            Self::Users(c) => Some(*c),
            Self::Rate { .. } => None,
        }
    }
}

/// What a run is, as every table, chart and comparison names it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunIdentity {
    /// The stack: its config name, else the `--stack` label, else the model.
    pub stack: String,
    /// The Stack column: the config's label (or name), else the `--stack`
    /// label, else the model.
    pub label: String,
    /// The quantization label (empty when none was given).
    pub quantization: String,
    /// The API driven (`chat`, `native`, ...): one server driven through
    /// two APIs is two stacks (a suite's stack has one).
    pub api: String,
    /// The side of an upgrade check, when the run was one.
    pub side: Option<Recorded<Side>>,
    /// The suite's scenario, when the run is part of a suite.
    pub scenario: Option<String>,
    /// The load level.
    pub level: Level,
    /// The context depth, tokens (0: none).
    pub depth: u32,
    /// At a depth, whether each user's context was cached.
    pub depth_cached: bool,
    /// The repeat number, from 1 (1 outside a `--repeat` suite).
    pub repeat: u32,
}

impl RunIdentity {
    /// The identity of `r`, by the rule of this module.
    pub fn of(r: &RunFile) -> Self {
        let fallback = || {
            target_label(r)
                .unwrap_or_else(|| target_model(r))
                .to_string()
        };
        Self {
            stack: config_name(r).map_or_else(fallback, str::to_string),
            label: config_label(r).map_or_else(fallback, str::to_string),
            quantization: quantization(r).unwrap_or_default().to_string(),
            api: r.target.api.to_string(),
            side: side(r),
            scenario: scenario(r).map(str::to_string),
            level: Level::of(&r.load),
            depth: r.load.depth.as_ref().map_or(0, |d| d.tokens),
            depth_cached: r.load.depth.as_ref().map_or(true, |d| d.cached),
            repeat: repeat(r),
        }
    }

    /// The scenario, or outside a suite the level label (`c8`, `r4`) and
    /// the depth when there is one (`c1-d4096`, `c1-d4096-uncached`).
    pub fn scenario_or_level(&self) -> String {
        self.scenario
            .clone()
            .unwrap_or_else(|| match (self.depth, self.depth_cached) {
                (0, _) => self.level.label(),
                (d, true) => format!("{}-d{d}", self.level.label()),
                (d, false) => format!("{}-d{d}-uncached", self.level.label()),
            })
    }

    /// Which stack this is.
    pub fn stack_key(&self) -> StackKey {
        StackKey {
            stack: self.stack.clone(),
            quantization: self.quantization.clone(),
            api: self.api.clone(),
            side: self.side.clone(),
        }
    }

    /// Which group of repeats this run belongs to.
    pub fn group_key(&self) -> GroupKey {
        GroupKey {
            stack: self.stack_key(),
            scenario: self.scenario_or_level(),
        }
    }
}

/// One stack: its name, quantization, API and upgrade side.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StackKey {
    /// See [`RunIdentity::stack`].
    pub stack: String,
    /// See [`RunIdentity::quantization`].
    pub quantization: String,
    /// See [`RunIdentity::api`].
    pub api: String,
    /// See [`RunIdentity::side`].
    pub side: Option<Recorded<Side>>,
}

/// One stack at one scenario: the runs that are repeats of each other.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    /// The stack.
    pub stack: StackKey,
    /// See [`RunIdentity::scenario_or_level`].
    pub scenario: String,
}

impl GroupKey {
    /// The key with the side left out: the baseline's group and the
    /// candidate's group of one stack and scenario have the same one
    /// (how `compare` pairs them).
    pub fn across_sides(&self) -> GroupKey {
        let mut k = self.clone();
        k.stack.side = None;
        k
    }
}

/// A stack among a set of runs, with the label to show it under.
#[derive(Debug, Clone, PartialEq)]
pub struct StackEntry {
    /// Which stack.
    pub key: StackKey,
    /// The Stack column: [`RunIdentity::label`], or the stack name when
    /// another stack of the set has the same label and quantization; then
    /// its API when one server was driven through two, and its side, in
    /// brackets: `vLLM (baseline)`, `ollama (chat, candidate)`.
    pub label: String,
    /// The label without the bracket.
    name: String,
    /// The bracket's words (empty: no bracket).
    qualifiers: Vec<String>,
}

impl StackEntry {
    fn new(key: StackKey, name: String, qualifiers: Vec<String>) -> Self {
        Self {
            label: with_qualifiers(&name, &qualifiers),
            key,
            name,
            qualifiers,
        }
    }

    /// The label with the quantization, for legends and file names where
    /// there is no Quantization column: `vLLM NVFP4 (baseline)`.
    pub fn display(&self) -> String {
        if self.key.quantization.is_empty() {
            self.label.clone()
        } else {
            let name = format!("{} {}", self.name, self.key.quantization);
            with_qualifiers(&name, &self.qualifiers)
        }
    }
}

/// `name (a, b)`, or `name` when there are no qualifiers.
fn with_qualifiers(name: &str, qualifiers: &[String]) -> String {
    if qualifiers.is_empty() {
        name.to_string()
    } else {
        format!("{name} ({})", qualifiers.join(", "))
    }
}

/// The runs of one stack at one scenario: one run, or a suite's repeats.
#[derive(Debug, Clone)]
pub struct Group<'a, T: ?Sized> {
    /// The stack and scenario.
    pub key: GroupKey,
    /// The first run's identity.
    pub identity: RunIdentity,
    /// The stack's label among the runs grouped (see [`StackEntry`]).
    pub label: String,
    /// The runs, in the order given.
    pub runs: Vec<&'a T>,
}

/// The stacks among `runs`, in first-seen order (a stack keeps its place
/// and colour everywhere), each with a label no other stack shares.
pub fn stacks<'a>(runs: impl IntoIterator<Item = &'a RunFile>) -> Vec<StackEntry> {
    let ids: Vec<RunIdentity> = runs.into_iter().map(RunIdentity::of).collect();
    entries(&ids)
}

/// The stacks among `ids` (see [`stacks`]).
fn entries(ids: &[RunIdentity]) -> Vec<StackEntry> {
    let mut seen: Vec<(StackKey, String)> = Vec::new();
    for id in ids {
        let key = id.stack_key();
        if !seen.iter().any(|(k, _)| *k == key) {
            seen.push((key, id.label.clone()));
        }
    }
    let clash = |k: &StackKey, label: &str| {
        seen.iter()
            .any(|(o, l)| l == label && o.quantization == k.quantization && o.stack != k.stack)
    };
    // One stack driven through two APIs: each says its API.
    let two_apis = |k: &StackKey| {
        seen.iter()
            .any(|(o, _)| o.stack == k.stack && o.quantization == k.quantization && o.api != k.api)
    };
    seen.iter()
        .map(|(k, label)| {
            let name = if clash(k, label) { &k.stack } else { label };
            let api = two_apis(k).then(|| k.api.clone());
            let side = k.side.as_ref().map(ToString::to_string);
            StackEntry::new(
                k.clone(),
                name.clone(),
                api.into_iter().chain(side).collect(),
            )
        })
        .collect()
}

/// `runs` grouped by stack, quantization, API, side and scenario (repeats
/// together), groups in first-seen order; `file` reaches each item's
/// `run.json`.
pub fn group_runs<'a, T: ?Sized>(
    runs: &[&'a T],
    file: impl Fn(&T) -> &RunFile,
) -> Vec<Group<'a, T>> {
    let ids: Vec<RunIdentity> = runs.iter().map(|r| RunIdentity::of(file(r))).collect();
    group(runs, ids)
}

/// As [`group_runs`], but the two sides of an upgrade check are one stack
/// (their identities have no side): for `history`, which follows a stack
/// through time and tells its points apart by folder.
pub fn group_runs_across_sides<'a, T: ?Sized>(
    runs: &[&'a T],
    file: impl Fn(&T) -> &RunFile,
) -> Vec<Group<'a, T>> {
    let ids: Vec<RunIdentity> = runs
        .iter()
        .map(|r| RunIdentity {
            side: None,
            ..RunIdentity::of(file(r))
        })
        .collect();
    group(runs, ids)
}

/// `runs` grouped by the group keys of `ids` (one identity per run).
fn group<'a, T: ?Sized>(runs: &[&'a T], ids: Vec<RunIdentity>) -> Vec<Group<'a, T>> {
    let labels = entries(&ids);
    let mut out: Vec<Group<'a, T>> = Vec::new();
    for (&r, identity) in runs.iter().zip(ids) {
        let key = identity.group_key();
        match out.iter_mut().find(|g| g.key == key) {
            Some(g) => g.runs.push(r),
            None => {
                let label = labels
                    .iter()
                    .find(|s| s.key == key.stack)
                    .map_or_else(|| identity.label.clone(), |s| s.label.clone());
                out.push(Group {
                    key,
                    identity,
                    label,
                    runs: vec![r],
                });
            }
        }
    }
    out
}

/// The closed-loop concurrency levels among `runs`, ascending, once each
/// (open-loop runs have a rate, not a number of users).
pub fn closed_levels<'a>(runs: impl IntoIterator<Item = &'a RunFile>) -> Vec<u32> {
    let mut c: Vec<u32> = runs
        .into_iter()
        .filter_map(|r| Level::of(&r.load).users())
        .collect();
    c.sort_unstable();
    c.dedup();
    c
}

// The fields the identity is read from (see the module doc).

fn config_name(r: &RunFile) -> Option<&str> {
    r.stack.as_ref().map(|s| s.name.as_str())
}

fn config_label(r: &RunFile) -> Option<&str> {
    r.stack.as_ref().map(|s| s.display())
}

fn target_label(r: &RunFile) -> Option<&str> {
    r.target.stack.as_deref()
}

fn target_model(r: &RunFile) -> &str {
    &r.target.model
}

fn quantization(r: &RunFile) -> Option<&str> {
    r.target.quantization.as_deref()
}

fn scenario(r: &RunFile) -> Option<&str> {
    r.suite.as_ref().map(|s| s.scenario.as_str())
}

fn side(r: &RunFile) -> Option<Recorded<Side>> {
    r.suite.as_ref().and_then(|s| s.side.clone())
}

fn repeat(r: &RunFile) -> u32 {
    r.suite.as_ref().map_or(1, |s| s.repeat)
}

#[cfg(test)]
#[path = "identity_tests.rs"]
mod tests;
