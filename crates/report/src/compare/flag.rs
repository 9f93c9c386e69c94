//! What makes a pair's numbers untrustworthy, whatever their verdict: a
//! client that was the bottleneck, failed requests, client and server
//! disagreeing on the decode rate, a run that did not finish. Each is a
//! [`FlagKind`] with a name the command line uses (`--allow saturated`),
//! so a gate can fail on a flag unless the user accepts that kind.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::measure::RunData;

/// A candidate with more failed requests than this (%) is flagged.
const ERROR_FLAG_PCT: f64 = 5.0;
/// Client and server pooled decode rates further apart than this (%): the
/// client (or the box) was short of CPU; flagged. Wider than the run
/// summary's 2 % hint: in a duration-bounded run the two windows do not
/// hold quite the same requests (the server counts the tokens of requests
/// cut off at the end, up to 1 % of them at c=4), and the real
/// llama-server, idle, read -1.5 % to +2.5 % at c=4 that way (A/A,
/// 2026-12-02, scripts/bench-upgrade-check-aa.sh), which a gate must not
/// fail on; a client short of CPU read +5.5 %.
const SATURATION_FLAG_PCT: f64 = 4.0;

/// The kinds of flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlagKind {
    /// The client reported itself saturated (either side).
    Saturated,
    /// More than 5 % of the candidate's requests failed.
    Errors,
    /// Client and server decode rates differ by more than 4 %.
    Disagree,
    /// A candidate run did not complete.
    Incomplete,
    /// A run's prompts were in the server's cache, or its reset was not
    /// proven (`hygiene.flags`).
    Cache,
    /// A run's measured window was not steady.
    Unsteady,
    /// The GPU throttled during a run.
    Throttled,
    /// A trace replay fell short of its trace (`replay.shortfalls`).
    Replay,
}

/// A flag name `--allow` does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown flag '{0}' (known: {known})", known = FlagKind::ALL.map(FlagKind::name).join(", "))]
pub struct UnknownFlag(pub String);

impl FlagKind {
    /// Every kind.
    pub const ALL: [Self; 8] = [
        Self::Saturated,
        Self::Errors,
        Self::Disagree,
        Self::Incomplete,
        Self::Cache,
        Self::Unsteady,
        Self::Throttled,
        Self::Replay,
    ];

    /// The name `--allow` takes and JSON writes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Saturated => "saturated",
            Self::Errors => "errors",
            Self::Disagree => "disagree",
            Self::Incomplete => "incomplete",
            Self::Cache => "cache",
            Self::Unsteady => "unsteady",
            Self::Throttled => "throttled",
            Self::Replay => "replay",
        }
    }

    /// What it means, for `--help`.
    pub fn help(self) -> &'static str {
        match self {
            Self::Saturated => "the client reported itself saturated (either side)",
            Self::Errors => "more than 5% of the candidate's requests failed",
            Self::Disagree => "client and server decode rates differ by more than 4%",
            Self::Incomplete => "a candidate run did not complete",
            Self::Cache => "a run's prompts were already in the server's cache, or its cache reset was not proven",
            Self::Unsteady => "a run's measured window was not steady (first and last thirds' decode rates more than 15% apart)",
            Self::Throttled => "the GPU throttled for heat or power during a run",
            Self::Replay => "a trace replay fell short of its trace (requests dropped or late, lengths off, or fewer prefix-cache hits than its blocks imply)",
        }
    }
}

impl FromStr for FlagKind {
    type Err = UnknownFlag;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownFlag(s.to_string()))
    }
}

impl fmt::Display for FlagKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for FlagKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// One reason to distrust a pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flag {
    /// Its kind.
    pub kind: FlagKind,
    /// What was seen, for people.
    pub text: String,
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.text, self.kind)
    }
}

/// The flags of a pair, each once: the candidate's runs', a saturated
/// baseline client and either side's hygiene flags (a baseline from a warm
/// cache is as wrong as a candidate from one).
pub fn flags(base: &[&RunData], candidate: &[&RunData]) -> Vec<Flag> {
    let mut out: Vec<Flag> = Vec::new();
    let base_flags = base
        .iter()
        .filter_map(|b| saturation_flag("baseline", b))
        .chain(base.iter().flat_map(|b| hygiene_flags("baseline", b)));
    for f in candidate
        .iter()
        .flat_map(|c| run_flags(c))
        .chain(base_flags)
    {
        if !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

/// A run whose client was the bottleneck measured the client too.
fn saturation_flag(side: &str, run: &RunData) -> Option<Flag> {
    let c = run.file.summary.client.as_ref().filter(|c| c.saturated)?;
    Some(Flag {
        kind: FlagKind::Saturated,
        text: format!(
            "the client was saturated in the {side} run {} ({}): its latencies are partly the client's",
            run.dir,
            c.reasons.join("; ")
        ),
    })
}

fn run_flags(c: &RunData) -> Vec<Flag> {
    let mut out = Vec::new();
    let pct = c.file.summary.requests.failed_pct();
    if pct > ERROR_FLAG_PCT {
        out.push(Flag {
            kind: FlagKind::Errors,
            text: format!("{pct:.1}% of the candidate's requests failed"),
        });
    }
    let diff = c
        .file
        .server_metrics
        .as_ref()
        .and_then(|m| m.decode_diff_pct);
    if let Some(d) = diff.filter(|d| d.abs() > SATURATION_FLAG_PCT) {
        out.push(Flag {
            kind: FlagKind::Disagree,
            text: format!(
                "client and server decode rates differ by {d:+.1}%: the client or the box was short of CPU"
            ),
        });
    }
    if !c.file.complete {
        out.push(Flag {
            kind: FlagKind::Incomplete,
            text: format!("the candidate run {} did not complete", c.dir),
        });
    }
    out.extend(saturation_flag("candidate", c));
    out.extend(hygiene_flags("candidate", c));
    out
}

/// A run's own `hygiene.flags` (cache, unsteady, throttled).
fn hygiene_flags(side: &str, run: &RunData) -> Vec<Flag> {
    use stackbench_core::hygiene::RunFlagKind;
    let Some(h) = run.file.hygiene.as_ref() else {
        return Vec::new();
    };
    h.flags
        .iter()
        .map(|f| Flag {
            kind: match f.kind {
                RunFlagKind::Cache => FlagKind::Cache,
                RunFlagKind::Unsteady => FlagKind::Unsteady,
                RunFlagKind::Throttled => FlagKind::Throttled,
                RunFlagKind::Replay => FlagKind::Replay,
            },
            text: format!("the {side} run {}: {}", run.dir, f.text),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_and_unknown_names_are_refused() {
        for k in FlagKind::ALL {
            assert_eq!(k.name().parse::<FlagKind>(), Ok(k));
        }
        let e = "slow".parse::<FlagKind>().err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("unknown flag 'slow' (known: saturated, errors, disagree, incomplete, cache, unsteady, throttled, replay)")
        );
    }
}
