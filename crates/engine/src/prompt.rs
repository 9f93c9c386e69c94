//! Synthetic prompts of an exact token length.
//!
//! A prompt is a short fixed instruction followed by words from a list of
//! common English words, each written with a leading space. Tokenizers
//! split text into such space-led words before applying BPE (GPT-2, Llama
//! 3, Qwen, SmolLM2 and Mistral's pre-tokenizers all do), so every word is
//! tokenized on its own, and these words are each a single token in the
//! usual vocabularies. A prompt of W words is therefore exactly
//! `overhead + W` tokens, where the overhead (chat template, BOS, the
//! instruction) is the same for every prompt of a run: the runner measures
//! it once against the server's own count and checks that the count grows
//! by exactly one per word (see `stackbench_runner::prompt_size`).
//!
//! Each prompt is unique: after an optional prefix shared by every request
//! (`--shared-prefix-tokens`, to measure prefix caching on purpose) come
//! eight words that spell the run seed and request id in base 100, so no
//! two requests of a run or of two runs share more than the intended
//! prefix; the rest are words drawn from a seeded RNG. Prompts of a
//! count-bounded run are built before it starts; a timed run builds them
//! ahead in a pool and, past it, the same way on demand (a string of a
//! few thousand bytes: microseconds, no tokenizer involved).

use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use stackbench_core::Seed;

/// 98 words that are one token each, with a leading space, in the common BPE
/// vocabularies (checked per run against the server's count).
pub const WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "is", "you", "that", "it", "he", "was", "for", "on", "are",
    "as", "with", "his", "they", "at", "be", "this", "have", "from", "or", "one", "had", "by",
    "word", "but", "not", "what", "all", "were", "we", "when", "your", "can", "said", "there",
    "use", "an", "each", "which", "she", "do", "how", "their", "if", "will", "up", "other",
    "about", "out", "many", "then", "them", "these", "so", "some", "her", "would", "make", "like",
    "him", "into", "time", "has", "look", "two", "more", "write", "go", "see", "number", "no",
    "way", "could", "people", "my", "than", "first", "water", "been", "call", "who", "oil", "its",
    "now", "find", "long", "down", "day", "did", "get", "come", "made", "may", "part",
];

/// The fixed start of every prompt.
pub const INSTRUCTION: &str = "Continue this text:";

/// Words that make a prompt unique: base-100 digits of a 64-bit mix of
/// seed and request id (100^8 > 10^16 prompts per seed).
const UNIQUE_WORDS: u32 = 8;

/// Prompts built ahead for a timed run.
const POOL: usize = 4096;

/// The approximate token cost of the instruction and template when no
/// counter measured it (`--prompt-tokens` is then approximate).
pub const ASSUMED_OVERHEAD: u32 = 16;

/// Makes the prompt of request `id` for a run with `seed`.
#[derive(Debug, Clone)]
pub struct PromptGenerator {
    seed: Seed,
    words: u32,
    shared_words: u32,
    built: Arc<Vec<Arc<str>>>,
}

fn mix(seed: u64, id: u64) -> u64 {
    // SplitMix64's finaliser over seed and id.
    let mut z = seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl PromptGenerator {
    /// Prompts of `words` words after the instruction, the first
    /// `shared_words` of them the same in every request.
    pub fn new(seed: Seed, words: u32, shared_words: u32) -> Self {
        Self {
            seed,
            words: words.max(1),
            shared_words: shared_words.min(words),
            built: Arc::new(Vec::new()),
        }
    }

    /// Prompts of about `tokens` tokens, for a run whose overhead was not
    /// measured.
    pub fn approximate(seed: Seed, tokens: u32) -> Self {
        Self::new(seed, tokens.saturating_sub(ASSUMED_OVERHEAD).max(1), 0)
    }

    /// Words after the instruction.
    pub fn words(&self) -> u32 {
        self.words
    }

    /// Builds the prompts of ids `0..n` now (all of a count-bounded run;
    /// a pool for a timed one), so that requests only clone a pointer.
    pub fn prebuild(mut self, n: Option<u64>) -> Self {
        let n = n.map_or(POOL, |n| usize::try_from(n).unwrap_or(usize::MAX));
        self.built = Arc::new((0..n as u64).map(|id| Arc::from(self.make(id))).collect());
        self
    }

    /// The prompt of request `id`.
    pub fn prompt(&self, id: u64) -> Arc<str> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.built.get(i))
            .cloned()
            .unwrap_or_else(|| Arc::from(self.make(id)))
    }

    fn make(&self, id: u64) -> String {
        let mut s = String::with_capacity(INSTRUCTION.len() + self.words as usize * 6);
        s.push_str(INSTRUCTION);
        let push = |s: &mut String, k: usize| {
            s.push(' ');
            s.push_str(WORDS[k % WORDS.len()]);
        };
        let mut shared = SmallRng::seed_from_u64(mix(self.seed.get(), u64::MAX));
        for _ in 0..self.shared_words {
            push(&mut s, shared.gen_range(0..WORDS.len()));
        }
        let rest = self.words - self.shared_words;
        let mut code = mix(self.seed.get(), id);
        for _ in 0..UNIQUE_WORDS.min(rest) {
            push(&mut s, (code % 100) as usize);
            code /= 100;
        }
        let mut rng = SmallRng::seed_from_u64(mix(self.seed.get() ^ 0x5eed, id));
        for _ in 0..rest.saturating_sub(UNIQUE_WORDS) {
            push(&mut s, rng.gen_range(0..WORDS.len()));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(n: u64) -> Seed {
        Seed::new(n).unwrap()
    }

    #[test]
    fn prompts_are_unique_per_request_and_per_seed() {
        let g = PromptGenerator::new(seed(1), 64, 0);
        assert_ne!(g.prompt(1), g.prompt(2));
        assert_ne!(g.prompt(1), PromptGenerator::new(seed(2), 64, 0).prompt(1));
        assert_eq!(g.prompt(5), g.prompt(5));
    }

    #[test]
    fn a_prompt_has_exactly_the_words_asked_for() {
        let g = PromptGenerator::new(seed(3), 1000, 0);
        let words = g.prompt(0).split_whitespace().count();
        let instruction = INSTRUCTION.split_whitespace().count();
        assert_eq!(words, instruction + 1000);
        assert_eq!(
            PromptGenerator::new(seed(3), 3, 0)
                .prompt(9)
                .split_whitespace()
                .count(),
            instruction + 3
        );
    }

    #[test]
    fn no_two_prompts_share_more_than_the_instruction_and_the_shared_prefix() {
        let common = |a: &str, b: &str| {
            a.split(' ')
                .zip(b.split(' '))
                .take_while(|(x, y)| x == y)
                .count()
        };
        let g = PromptGenerator::new(seed(4), 200, 0);
        let base = INSTRUCTION.split(' ').count();
        let most = (0..300)
            .map(|i| common(&g.prompt(i), &g.prompt(i + 1)))
            .max()
            .unwrap();
        assert!(most <= base + 2, "{most}");
        let s = PromptGenerator::new(seed(4), 200, 50);
        let shared = common(&s.prompt(1), &s.prompt(2));
        assert!((base + 50..=base + 52).contains(&shared), "{shared}");
    }

    #[test]
    fn prebuilt_prompts_are_the_ones_made_on_demand() {
        let g = PromptGenerator::new(seed(5), 32, 4);
        let built = g.clone().prebuild(Some(10));
        for id in [0, 9, 10, 11] {
            assert_eq!(built.prompt(id), g.prompt(id));
        }
    }
}
