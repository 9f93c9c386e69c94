//! Synthetic prompts of approximately a given token length.
//!
//! Each prompt is a unique header (run seed and request id, so no two
//! requests of a run or of two runs share a prefix that a prompt cache could
//! reuse) followed by common English words drawn from a seeded RNG. Common
//! words are one token each in the usual BPE vocabularies, so the prompt is
//! close to the requested size; the exact count comes from the server's usage
//! and is recorded per request.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use stackbench_core::Seed;

const WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "is", "you", "that", "it", "he", "was", "for", "on", "are",
    "as", "with", "his", "they", "at", "be", "this", "have", "from", "or", "one", "had", "by",
    "word", "but", "not", "what", "all", "were", "we", "when", "your", "can", "said", "there",
    "use", "an", "each", "which", "she", "do", "how", "their", "if", "will", "up", "other",
    "about", "out", "many", "then", "them", "these", "so", "some", "her", "would", "make", "like",
    "him", "into", "time", "has", "look", "two", "more", "write", "go", "see", "number", "no",
    "way", "could", "people", "my", "than", "first", "water", "been", "call", "who", "oil", "its",
    "now", "find", "long", "down", "day", "did", "get", "come", "made", "may", "part",
];

/// Makes the prompt of request `id` for a run with `seed`.
#[derive(Debug, Clone)]
pub struct PromptGenerator {
    seed: Seed,
    tokens: u32,
}

impl PromptGenerator {
    /// Prompts of about `tokens` tokens for the run seeded with `seed`.
    pub fn new(seed: Seed, tokens: u32) -> Self {
        Self { seed, tokens }
    }

    /// The prompt of request `id`.
    pub fn prompt(&self, id: u64) -> String {
        let mut rng =
            SmallRng::seed_from_u64(self.seed.get() ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        // The header costs roughly 8 tokens; the instruction another 8.
        let mut s = format!(
            "Run {:x} request {id}. Continue this text:",
            self.seed.get()
        );
        let words = self.tokens.saturating_sub(16).max(1);
        s.reserve(words as usize * 6);
        for _ in 0..words {
            s.push(' ');
            s.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_unique_per_request_and_per_seed() {
        let g = PromptGenerator::new(Seed::new(1).unwrap(), 64);
        assert_ne!(g.prompt(1), g.prompt(2));
        assert_ne!(
            g.prompt(1),
            PromptGenerator::new(Seed::new(2).unwrap(), 64).prompt(1)
        );
        assert_eq!(g.prompt(5), g.prompt(5));
    }

    #[test]
    fn size_tracks_the_requested_tokens() {
        let words = |n| {
            PromptGenerator::new(Seed::new(3).unwrap(), n)
                .prompt(0)
                .split_whitespace()
                .count()
        };
        assert!(words(1000) > 950 && words(1000) < 1010, "{}", words(1000));
        assert!(words(16) < 12);
    }
}
