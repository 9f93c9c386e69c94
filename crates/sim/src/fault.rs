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
    /// Answer HTTP 429 (rate limited) with `Retry-After: 1`.
    Http429,
    /// Answer HTTP 503 (overloaded) with `Retry-After: 1`.
    Http503,
    /// End the stream after the last token: no closing chunk, no usage, no
    /// `[DONE]`.
    NoDone,
    /// Send a chunk whose bytes are not UTF-8 after a few tokens.
    InvalidUtf8,
    /// Send one 12 MB data line after a few tokens.
    HugeLine,
    /// Stop sending after a few tokens and hold the connection open.
    Stall,
    /// Never send the response headers; hold the connection open.
    StallHeaders,
}

impl FaultKind {
    /// Every kind, by the name `--fault` takes.
    pub const NAMES: &'static [(&'static str, FaultKind)] = &[
        ("http500", FaultKind::Http500),
        ("http429", FaultKind::Http429),
        ("http503", FaultKind::Http503),
        ("reset", FaultKind::Reset),
        ("malformed", FaultKind::Malformed),
        ("stream-error", FaultKind::StreamError),
        ("no-done", FaultKind::NoDone),
        ("invalid-utf8", FaultKind::InvalidUtf8),
        ("huge-line", FaultKind::HugeLine),
        ("stall", FaultKind::Stall),
        ("stall-headers", FaultKind::StallHeaders),
    ];

    /// The HTTP status answered instead of a stream, for status faults.
    pub fn status(self) -> Option<u16> {
        match self {
            Self::Http500 => Some(500),
            Self::Http429 => Some(429),
            Self::Http503 => Some(503),
            _ => None,
        }
    }
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
#[error("invalid fault '{0}': expected KIND:EVERY with KIND one of http500, http429, http503, reset, malformed, stream-error, no-done, invalid-utf8, huge-line, stall, stall-headers and EVERY a positive integer (e.g. reset:10)")]
pub struct FaultParseError(pub String);

impl FromStr for Fault {
    type Err = FaultParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || FaultParseError(s.to_string());
        let (kind, every) = s.split_once(':').ok_or_else(err)?;
        let kind = FaultKind::NAMES
            .iter()
            .find(|(n, _)| *n == kind)
            .map(|(_, k)| *k)
            .ok_or_else(err)?;
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
        for (name, kind) in FaultKind::NAMES {
            let f: Fault = format!("{name}:3").parse().unwrap();
            assert_eq!((f.kind, f.every), (*kind, 3));
        }
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
