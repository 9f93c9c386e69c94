//! Which runs make one point of a history, and in which order: runs are
//! ordered by their start (`run.json`'s `started_at`), and the runs of one
//! stack and scenario (one `stackbench_core::identity` group) that lie in
//! one folder — a suite's repeats `r1..rN`, or a single run — pool into
//! one point. The folder, not the stack name, tells points apart, so the
//! `baseline/` and `candidate/` sides of one upgrade check, which carry
//! the same stack name, are two points.

use std::cmp::Ordering;
use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;
use stackbench_core::run_file::RunFile;

use crate::compare::RunData;

/// One point: what was measured, when, where and with which image.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// 1, 2, … in time order within its stack and scenario.
    pub number: usize,
    /// The earliest `started_at` of its runs (RFC 3339 UTC).
    pub started_at: String,
    /// The folder its runs share (a run folder, or the folder above a
    /// suite's `r<K>` repeats).
    pub folder: String,
    /// Its run folders, in time order.
    pub dirs: Vec<String>,
    /// The image as configured (`launch.image`), when stackbench launched
    /// a container; repeats that disagree are listed `a | b`.
    pub image: Option<String>,
    /// The image ID (`launch.image_id`).
    pub image_id: Option<String>,
    /// The registry digests (`launch.image_digests`).
    pub image_digests: Vec<String>,
    /// The engine version the server reported (`server.version`).
    pub version: Option<String>,
    /// The client machine (`host.hostname`).
    pub host: String,
}

/// The order of two runs: by start (`started_at`, to the second), then
/// by their first request's start (to the microsecond, so runs started
/// within one second still order by time), then by end, then by folder
/// path (stable, repeatable).
fn by_time(a: &RunData, b: &RunData) -> Ordering {
    let t = |s: &str| humantime::parse_rfc3339_weak(s).ok();
    let first_us = |d: &RunData| d.records.iter().map(|r| r.start_unix_us).min();
    let key = |d: &RunData| -> (Option<SystemTime>, Option<u64>, Option<SystemTime>) {
        (
            t(&d.file.started_at),
            first_us(d),
            d.file.finished_at.as_deref().and_then(t),
        )
    };
    key(a)
        .cmp(&key(b))
        .then_with(|| a.file.started_at.cmp(&b.file.started_at))
        .then_with(|| a.dir.cmp(&b.dir))
}

/// `runs` in time order (see [`by_time`]).
pub fn in_time_order(runs: &[RunData]) -> Vec<&RunData> {
    let mut v: Vec<&RunData> = runs.iter().collect();
    v.sort_by(|a, b| by_time(a, b));
    v
}

/// The folder a run's point is: its own folder, or, for a suite repeat
/// written as `…/r<K>` with K its repeat number, the folder above.
pub fn point_folder(dir: &str, file: &RunFile) -> String {
    let path = Path::new(dir);
    let repeat_dir = file.suite.as_ref().map(|s| format!("r{}", s.repeat));
    match (path.file_name(), path.parent(), repeat_dir) {
        (Some(name), Some(parent), Some(r)) if name.to_str() == Some(r.as_str()) => {
            parent.display().to_string()
        }
        _ => dir.to_string(),
    }
}

/// The runs of one group (already in time order) split into points by
/// folder, in the order of each point's first run.
pub fn split<'a>(group: &[&'a RunData]) -> Vec<Vec<&'a RunData>> {
    let mut out: Vec<(String, Vec<&'a RunData>)> = Vec::new();
    for &d in group {
        let folder = point_folder(&d.dir, &d.file);
        match out.iter_mut().find(|(f, _)| *f == folder) {
            Some((_, runs)) => runs.push(d),
            None => out.push((folder, vec![d])),
        }
    }
    out.into_iter().map(|(_, runs)| runs).collect()
}

/// The distinct values `f` gives over `runs`, joined `a | b`.
fn distinct(runs: &[&RunData], f: impl Fn(&RunFile) -> Option<String>) -> Option<String> {
    let mut seen: Vec<String> = Vec::new();
    for v in runs.iter().filter_map(|d| f(&d.file)) {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    (!seen.is_empty()).then(|| seen.join(" | "))
}

/// The point `runs` (one folder's runs, in time order, at least one) make.
pub fn describe(number: usize, runs: &[&RunData]) -> Point {
    let launch = |f: &RunFile| f.launch.clone();
    let mut digests: Vec<String> = Vec::new();
    for d in runs.iter().filter_map(|d| launch(&d.file)) {
        for g in d.image_digests {
            if !digests.contains(&g) {
                digests.push(g);
            }
        }
    }
    Point {
        number,
        started_at: runs
            .first()
            .map(|d| d.file.started_at.clone())
            .unwrap_or_default(),
        folder: runs
            .first()
            .map(|d| point_folder(&d.dir, &d.file))
            .unwrap_or_default(),
        dirs: runs.iter().map(|d| d.dir.clone()).collect(),
        image: distinct(runs, |f| launch(f).and_then(|l| l.image)),
        image_id: distinct(runs, |f| launch(f).and_then(|l| l.image_id)),
        image_digests: digests,
        version: distinct(runs, |f| f.server.version.clone()),
        host: distinct(runs, |f| Some(f.host.hostname.clone())).unwrap_or_default(),
    }
}

impl Point {
    /// How the point reads beside a change: `#4 img:v4 (sha256:0123456789ab)
    /// · 0.11.0 · host` (what is known of it).
    pub fn label(&self) -> String {
        let mut parts = vec![format!("#{}", self.number)];
        if let Some(i) = &self.image {
            parts.push(match self.short_id() {
                Some(id) => format!("{i} ({id})"),
                None => i.clone(),
            });
        } else if let Some(id) = self.short_id() {
            parts.push(id);
        }
        if let Some(v) = &self.version {
            parts.push(v.clone());
        }
        if !self.host.is_empty() {
            parts.push(self.host.clone());
        }
        parts.join(" · ")
    }

    /// The image ID shortened to `sha256:` and 12 hex digits, else the
    /// first registry digest's.
    pub fn short_id(&self) -> Option<String> {
        let id = self.image_id.clone().or_else(|| {
            self.image_digests
                .first()
                .and_then(|d| d.split_once('@').map(|(_, h)| h.to_string()))
        })?;
        let (algo, hex) = id.split_once(':').unwrap_or(("", id.as_str()));
        let hex: String = hex.chars().take(12).collect();
        Some(if algo.is_empty() {
            hex
        } else {
            format!("{algo}:{hex}")
        })
    }
}
