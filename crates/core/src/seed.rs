//! The run seed: one number that makes a run's prompts and sampling
//! reproducible, and that every server accepts.
//!
//! It is sent in every request body and stored in `run.json`, so its range
//! is the narrowest that all of them take:
//! * vLLM validates `seed` as a signed 64-bit integer (HTTP 400 above
//!   2^63 − 1: a seed drawn from the full `u64` range failed every request
//!   in half of all runs);
//! * llama-server reads it into a `uint32_t`, where 0xFFFFFFFF
//!   (`LLAMA_DEFAULT_SEED`) means "pick a random seed";
//! * Ollama reads `options.seed` into a Go `int`; other OpenAI-compatible
//!   servers commonly take a 32-bit integer;
//! * JSON readers that hold numbers as doubles (JavaScript, jq) are exact
//!   only below 2^53.
//!
//! Hence 0 ..= 2^31 − 1: a non-negative `int32`, exact everywhere.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A seed in `0..=Seed::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct Seed(u32);

/// A seed outside `0..=Seed::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "seed {0} is out of range: seeds go up to {max} (2^31 − 1), the largest that vLLM, llama-server and Ollama all accept",
    max = Seed::MAX
)]
pub struct SeedOutOfRange(pub u64);

impl Seed {
    /// The largest seed: 2^31 − 1.
    pub const MAX: u64 = (1 << 31) - 1;

    /// `value` as a seed, if it is in range.
    pub fn new(value: u64) -> Result<Self, SeedOutOfRange> {
        match u32::try_from(value) {
            Ok(v) if value <= Self::MAX => Ok(Self(v)),
            _ => Err(SeedOutOfRange(value)),
        }
    }

    /// A seed made from 32 random bits (the top bit is dropped), so any
    /// source of random `u32`s gives a valid, uniformly drawn seed.
    pub fn from_random_bits(bits: u32) -> Self {
        Self(bits & 0x7FFF_FFFF)
    }

    /// The seed's value.
    pub fn get(self) -> u64 {
        u64::from(self.0)
    }

    /// The seed of run `k` of a series given this seed (a sweep's levels):
    /// run 0 keeps it, the others get their own (SplitMix64 of the pair),
    /// so no run of the series sends another's prompts, which a server's
    /// cache would serve; the same seed gives the same series.
    pub fn nth(self, k: u64) -> Self {
        if k == 0 {
            return self;
        }
        let mut z = (self.get() << 32 | k).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self::from_random_bits((z ^ (z >> 31)) as u32)
    }
}

impl TryFrom<u64> for Seed {
    type Error = SeedOutOfRange;
    fn try_from(v: u64) -> Result<Self, Self::Error> {
        Self::new(v)
    }
}

impl From<Seed> for u64 {
    fn from(s: Seed) -> u64 {
        s.get()
    }
}

impl fmt::Display for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for Seed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v: u64 = s
            .parse()
            .map_err(|_| format!("'{s}' is not a whole number from 0 to {}", Self::MAX))?;
        Self::new(v).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_ends_at_i32_max() {
        assert_eq!(Seed::MAX, i32::MAX as u64);
        assert_eq!(Seed::new(0).map(Seed::get), Ok(0));
        assert_eq!(Seed::new(Seed::MAX).map(Seed::get), Ok(Seed::MAX));
        assert_eq!(Seed::new(Seed::MAX + 1), Err(SeedOutOfRange(Seed::MAX + 1)));
        assert!(Seed::new(u64::MAX).is_err());
        // llama-server's "random seed" sentinel is never produced.
        assert!(Seed::new(0xFFFF_FFFF).is_err());
    }

    #[test]
    fn random_bits_always_give_a_valid_seed() {
        for bits in [0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0xDEAD_BEEF] {
            let s = Seed::from_random_bits(bits);
            assert!(s.get() <= Seed::MAX, "{bits:#x}");
            assert_eq!(Seed::new(s.get()), Ok(s));
        }
    }

    #[test]
    fn parsing_explains_the_range() {
        assert_eq!("42".parse::<Seed>().map(Seed::get), Ok(42));
        let err = "9223372036854775808".parse::<Seed>().unwrap_err();
        assert!(err.contains("2^31"), "{err}");
        assert!("-1".parse::<Seed>().is_err());
        assert!("x".parse::<Seed>().is_err());
    }

    #[test]
    fn json_round_trip_rejects_out_of_range() {
        let s = Seed::new(123).unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), "123");
        assert_eq!(serde_json::from_str::<Seed>("123").unwrap(), s);
        assert!(serde_json::from_str::<Seed>("4294967295").is_err());
    }
}
