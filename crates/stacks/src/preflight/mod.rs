//! `stackbench preflight SUITE`: a minute of checks that saves a two-hour
//! run. For each stack: its image exists for this machine's architecture
//! and sees the GPU, the model files or repository its launch needs exist
//! (and their size), the disk has room for what is missing, the box has
//! the memory the stack needs, and its port is free. Every check says
//! [`Verdict::Ok`], [`Verdict::Problem`] or [`Verdict::Unchecked`] (offline,
//! or nothing to ask), with the details; a problem means the suite should
//! not start.

mod box_checks;
mod image;
mod model;
mod remote;

use std::path::Path;

use stackbench_core::stack::{Launch, StackConfig};

use crate::config::{StackEntry, Suite};

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// As the suite needs it.
    Ok,
    /// The suite would fail or mislead on this.
    Problem,
    /// Could not be checked here (offline, not pulled yet, no size known).
    Unchecked,
}

impl Verdict {
    /// As printed: `ok`, `PROBLEM`, `?`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Problem => "PROBLEM",
            Self::Unchecked => "?",
        }
    }
}

/// One line of the preflight.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The stack it is about.
    pub stack: String,
    /// What was checked: `image`, `gpu`, `model`, `disk`, `memory`, `port`.
    pub what: &'static str,
    /// What it found.
    pub verdict: Verdict,
    /// The details (sizes, names, what to do).
    pub detail: String,
}

/// How the preflight may look things up.
#[derive(Debug, Clone, Default)]
pub struct PreflightOptions {
    /// Ask no registry or hub: what needs them is [`Verdict::Unchecked`].
    pub offline: bool,
}

/// The checks of every stack of `suite`, in order; `progress` hears which
/// stack is being checked.
pub async fn preflight(
    suite: &Suite,
    opts: &PreflightOptions,
    progress: &dyn Fn(&str),
) -> Vec<Check> {
    let mut out = Vec::new();
    for entry in &suite.stacks {
        progress(&format!("checking {}", entry.config.name));
        out.extend(stack_checks(entry, opts).await);
    }
    out
}

/// The checks of one stack.
async fn stack_checks(entry: &StackEntry, opts: &PreflightOptions) -> Vec<Check> {
    let s = &entry.config;
    let folder = entry.file.parent().unwrap_or(Path::new("."));
    let mut found: Vec<(&'static str, Verdict, String)> = Vec::new();
    if let Some(Launch::Container(c)) = &s.launch {
        let (verdict, detail, present) = image::image_check(c.engine, &c.image, opts).await;
        found.push(("image", verdict, detail));
        if let Some(gpus) = &c.gpus {
            let (v, d) = image::gpu_check(c.engine, &c.image, gpus, present).await;
            found.push(("gpu", v, d));
        }
    }
    found.extend(model::model_checks(s, folder, opts).await);
    found.extend(box_checks::memory_check(s));
    found.extend(box_checks::port_check(s));
    found
        .into_iter()
        .map(|(what, verdict, detail)| Check {
            stack: s.name.clone(),
            what,
            verdict,
            detail,
        })
        .collect()
}

/// GB with one decimal, as Hugging Face and registries show sizes.
fn gb(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

/// The host port a stack's server will listen on, when it has one.
fn host_port(s: &StackConfig) -> Option<u16> {
    match &s.launch {
        Some(Launch::Container(c)) => c.ports.first().and_then(|p| crate::container::host_port(p)),
        Some(Launch::Process(p)) => p.port,
        _ => None,
    }
}
