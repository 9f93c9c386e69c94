//! Fault injection: every n-th request fails in a chosen way, so tests can
//! check that the client records failures and carries on.

use std::str::FromStr;

/// How a request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer HTTP 500 with the flavor's error body before streaming.
    Http500,
    /// Close the connection abruptly after a few tokens.
    Reset,
    /// Send one chunk of truncated JSON after a few tokens, then go on.
    Malformed,
    /// Send the flavor's in-stream error object after a few tokens.
    StreamError,
}

/// A fault applied to every `every`-th request (1-based request counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// What happens.
    pub kind: FaultKind,
    /// Period in requests.
    pub every: u64,
}

/// A `--fault` value that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault '{0}': expected KIND:EVERY with KIND one of http500, reset, malformed, stream-error and EVERY a positive integer (e.g. reset:10)")]
pub struct FaultParseError(pub String);

impl FromStr for Fault {
    type Err = FaultParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || FaultParseError(s.to_string());
        let (kind, every) = s.split_once(':').ok_or_else(err)?;
        let kind = match kind {
            "http500" => FaultKind::Http500,
            "reset" => FaultKind::Reset,
            "malformed" => FaultKind::Malformed,
            "stream-error" => FaultKind::StreamError,
            _ => return Err(err()),
        };
        let every: u64 = every.parse().map_err(|_| err())?;
        if every == 0 {
            return Err(err());
        }
        Ok(Self { kind, every })
    }
}

/// The fault for the `n`-th request (1-based), if any.
pub(crate) fn fault_for(faults: &[Fault], n: u64) -> Option<FaultKind> {
    faults.iter().find(|f| n % f.every == 0).map(|f| f.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            "reset:10".parse::<Fault>().unwrap(),
            Fault {
                kind: FaultKind::Reset,
                every: 10
            }
        );
        assert!("reset:0".parse::<Fault>().is_err());
        assert!("boom:3".parse::<Fault>().is_err());
        assert!("reset".parse::<Fault>().is_err());
    }

    #[test]
    fn first_matching_fault_wins() {
        let f = [
            Fault {
                kind: FaultKind::Http500,
                every: 3,
            },
            Fault {
                kind: FaultKind::Reset,
                every: 2,
            },
        ];
        assert_eq!(fault_for(&f, 1), None);
        assert_eq!(fault_for(&f, 2), Some(FaultKind::Reset));
        assert_eq!(fault_for(&f, 6), Some(FaultKind::Http500));
    }
}
