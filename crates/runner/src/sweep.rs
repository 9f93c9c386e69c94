//! Several runs of one workload at different load levels, into one folder:
//! a list of concurrencies or request rates run in turn (stopping early
//! once a level fails too often or answers too slowly), or a search for
//! the highest concurrency that still meets an SLO.
//!
//! Both are a [`LevelPlan`]: it names the next level and learns from each
//! level's summary, so the caller (`stackbench run`, a suite) runs every
//! level through the same [`crate::execute`] and the stopping and search
//! rules are tested without a server. `sweep.json` lists the levels and
//! the outcome; each level is an ordinary run folder (`c8/`, `r2.5/`) that
//! `table`, `report` and `compare` read like any other.

use std::path::Path;

use serde::{Deserialize, Serialize};
use stackbench_core::summary::Summary;

use crate::error::RunnerError;

/// `sweep.json`'s format version.
pub const SWEEP_SCHEMA_VERSION: u32 = 1;

/// One load level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Closed-loop workers.
    Concurrency(u32),
    /// Open-loop requests per second.
    Rate(f64),
}

impl Level {
    /// The level's folder name: `c8`, `r2.5`.
    pub fn folder(&self) -> String {
        match self {
            Self::Concurrency(c) => format!("c{c}"),
            Self::Rate(r) => format!("r{r}"),
        }
    }
}

/// When a list sweep stops before its last level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StopRules {
    /// Failed requests above this share of a level, %.
    pub error_pct: f64,
    /// p99 TTFT above this, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_p99_ms: Option<f64>,
}

impl StopRules {
    /// Why a level with `s` ends the sweep, if it does.
    pub fn reason(&self, s: &Summary) -> Option<String> {
        let err = s.requests.failed_pct();
        if err > self.error_pct {
            return Some(format!(
                "{err:.1}% of requests failed (limit {}%)",
                self.error_pct
            ));
        }
        let p99 = s.ttft_ms.p99?;
        let limit = self.ttft_p99_ms?;
        (p99 > limit).then(|| format!("p99 TTFT {p99:.0} ms (limit {limit} ms)"))
    }
}

/// One finished level, as `sweep.json` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelResult {
    /// The level.
    pub level: Level,
    /// Its run folder, relative to the sweep folder.
    pub folder: String,
    /// Steady-state total output tok/s.
    pub output_tok_s: f64,
    /// Per-request decode tok/s, median.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_tok_s_p50: Option<f64>,
    /// TTFT p50 and p99, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_p50_ms: Option<f64>,
    /// TTFT p99, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_p99_ms: Option<f64>,
    /// OK requests per second.
    pub requests_per_s: f64,
    /// Failed requests, % of OK and failed.
    pub error_pct: f64,
    /// Share of requests meeting the SLO, % (with an SLO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_met_pct: Option<f64>,
    /// Search: whether the level met the SLO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
}

impl LevelResult {
    /// The result of `level` from its run's summary.
    pub fn new(level: Level, s: &Summary, passed: Option<bool>) -> Self {
        Self {
            level,
            folder: level.folder(),
            output_tok_s: s.output_tok_s,
            decode_tok_s_p50: s.decode_tok_s.p50,
            ttft_p50_ms: s.ttft_ms.p50,
            ttft_p99_ms: s.ttft_ms.p99,
            requests_per_s: s.requests_per_s,
            error_pct: s.requests.failed_pct(),
            slo_met_pct: s.goodput.map(|g| g.share_pct),
            passed,
        }
    }
}

/// `sweep.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepFile {
    /// [`SWEEP_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `"list"` or `"max_concurrency_search"`.
    pub kind: String,
    /// The levels run, in the order they ran.
    pub levels: Vec<LevelResult>,
    /// Why a list sweep stopped before its last level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
    /// Search: the share of requests that had to meet the SLO, %.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_attainment_pct: Option<f64>,
    /// Search: the highest concurrency that met the SLO (0: not even 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    /// False while the sweep is running or when it was interrupted.
    pub complete: bool,
}

/// Which level runs next, given the ones that ran.
pub trait LevelPlan {
    /// The next level, or `None` when done.
    fn next_level(&mut self) -> Option<Level>;
    /// Learns the summary of the level just run; returns whether it passed
    /// (searches) for `sweep.json`.
    fn learn(&mut self, level: Level, s: &Summary) -> Option<bool>;
    /// What `sweep.json` says so far.
    fn file(&self, levels: Vec<LevelResult>, complete: bool) -> SweepFile;
}

/// Every level of a list, in order, until one breaks a [`StopRules`].
#[derive(Debug, Clone)]
pub struct ListSweep {
    levels: std::collections::VecDeque<Level>,
    rules: StopRules,
    stopped: Option<String>,
}

impl ListSweep {
    /// A sweep over `levels`.
    pub fn new(levels: Vec<Level>, rules: StopRules) -> Self {
        Self {
            levels: levels.into(),
            rules,
            stopped: None,
        }
    }
}

impl LevelPlan for ListSweep {
    fn next_level(&mut self) -> Option<Level> {
        if self.stopped.is_some() {
            return None;
        }
        self.levels.pop_front()
    }

    fn learn(&mut self, level: Level, s: &Summary) -> Option<bool> {
        if let Some(why) = self.rules.reason(s) {
            if !self.levels.is_empty() {
                self.stopped = Some(format!("stopped after {}: {why}", level.folder()));
            }
        }
        None
    }

    fn file(&self, levels: Vec<LevelResult>, complete: bool) -> SweepFile {
        SweepFile {
            schema_version: SWEEP_SCHEMA_VERSION,
            kind: "list".into(),
            levels,
            stopped_early: self.stopped.clone(),
            slo_attainment_pct: None,
            max_concurrency: None,
            complete,
        }
    }
}

/// The highest concurrency in `1..=upper` at which at least
/// `attainment` % of requests meet the run's SLO: double from 1 until a
/// level fails (or `upper` passes), then bisect between the last pass and
/// the first failure. A level also fails when it breaks the stop rules'
/// error limit.
#[derive(Debug, Clone)]
pub struct MaxSearch {
    attainment: f64,
    error_pct: f64,
    upper: u32,
    /// Highest level known to pass (0: none).
    pass: u32,
    /// Lowest level known to fail.
    fail: Option<u32>,
    next: Option<u32>,
}

impl MaxSearch {
    /// A search up to `upper` (at least 1).
    pub fn new(attainment: f64, error_pct: f64, upper: u32) -> Self {
        Self {
            attainment,
            error_pct,
            upper: upper.max(1),
            pass: 0,
            fail: None,
            next: Some(1),
        }
    }

    /// The answer so far: the highest concurrency that passed.
    pub fn best(&self) -> u32 {
        self.pass
    }

    fn passes(&self, s: &Summary) -> bool {
        let met = s.goodput.map_or(0.0, |g| g.share_pct);
        met >= self.attainment && s.requests.failed_pct() <= self.error_pct && s.requests.ok > 0
    }
}

impl LevelPlan for MaxSearch {
    fn next_level(&mut self) -> Option<Level> {
        self.next.map(Level::Concurrency)
    }

    fn learn(&mut self, level: Level, s: &Summary) -> Option<bool> {
        let Level::Concurrency(c) = level else {
            return None;
        };
        let ok = self.passes(s);
        if ok {
            self.pass = self.pass.max(c);
        } else {
            self.fail = Some(self.fail.map_or(c, |f| f.min(c)));
        }
        self.next = match self.fail {
            None if c >= self.upper => None,
            None => Some(c.saturating_mul(2).min(self.upper)),
            Some(f) if f - self.pass > 1 => Some(self.pass + (f - self.pass) / 2),
            Some(_) => None,
        };
        Some(ok)
    }

    fn file(&self, levels: Vec<LevelResult>, complete: bool) -> SweepFile {
        SweepFile {
            schema_version: SWEEP_SCHEMA_VERSION,
            kind: "max_concurrency_search".into(),
            levels,
            stopped_early: None,
            slo_attainment_pct: Some(self.attainment),
            max_concurrency: Some(self.pass),
            complete,
        }
    }
}

/// Writes `sweep.json` into `dir` (atomically: a reader never sees half).
pub fn write_sweep_file(dir: &Path, file: &SweepFile) -> Result<(), RunnerError> {
    std::fs::create_dir_all(dir).map_err(crate::error::io_at(dir))?;
    let bytes = serde_json::to_vec_pretty(file)?;
    let path = dir.join("sweep.json");
    stackbench_engine::write_atomic(&path, &bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackbench_core::slo::{Goodput, Slo};

    fn summary(ok: u64, failed: u64, ttft_p99: f64, met_pct: f64) -> Summary {
        let mut s = Summary::default();
        s.requests.ok = ok;
        s.requests.failed = failed;
        s.ttft_ms.p99 = Some(ttft_p99);
        let judged = ok + failed;
        let met = (met_pct / 100.0 * judged as f64).round() as u64;
        s.goodput = Some(Goodput::new(Slo::default(), met, judged, 1.0));
        s
    }

    #[test]
    fn a_list_stops_after_the_level_that_breaks_a_rule() {
        let rules = StopRules {
            error_pct: 10.0,
            ttft_p99_ms: Some(1000.0),
        };
        let levels = [1, 2, 4, 8].map(Level::Concurrency).to_vec();
        let mut sweep = ListSweep::new(levels.clone(), rules);
        let mut ran = Vec::new();
        while let Some(l) = sweep.next_level() {
            ran.push(l);
            let slow = l == Level::Concurrency(4);
            sweep.learn(
                l,
                &summary(100, 0, if slow { 1500.0 } else { 100.0 }, 100.0),
            );
        }
        assert_eq!(ran, levels[..3].to_vec());
        let f = sweep.file(Vec::new(), true);
        assert!(f.stopped_early.unwrap().contains("p99 TTFT 1500 ms"));
        let mut errors = ListSweep::new(levels.clone(), rules);
        let first = errors.next_level().unwrap();
        errors.learn(first, &summary(80, 20, 1.0, 100.0));
        assert_eq!(errors.next_level(), None);
    }

    /// The search finds the true threshold for any capacity in range, in
    /// about 2·log2(upper) runs.
    #[test]
    fn the_search_finds_the_highest_passing_concurrency() {
        for capacity in [0, 1, 2, 3, 5, 17, 31, 32, 33, 64, 100] {
            let mut search = MaxSearch::new(90.0, 10.0, 64);
            let mut runs = 0;
            while let Some(l) = search.next_level() {
                let Level::Concurrency(c) = l else { panic!() };
                runs += 1;
                let met = if c <= capacity { 95.0 } else { 50.0 };
                search.learn(l, &summary(100, 0, 1.0, met));
            }
            assert_eq!(search.best(), capacity.min(64), "capacity {capacity}");
            assert!(runs <= 13, "capacity {capacity}: {runs} runs");
        }
    }

    #[test]
    fn levels_name_their_folders() {
        assert_eq!(Level::Rate(2.5).folder(), "r2.5");
        assert_eq!(Level::Concurrency(8).folder(), "c8");
    }
}
