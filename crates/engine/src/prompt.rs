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
//!
//! At a context depth (`--depth D`) a prompt is the instruction, then D
//! words of context, then the request's own words, all in one message:
//! D + own words is exact for the same reason. The context is keyed
//! ([`ContextKey`]): one per user when the run caches it (each user's
//! requests share their context, and no other user's), one per request
//! when it does not (no two requests share more than the instruction).
//! Contexts are built per request (about 6 bytes a word: a 100k-token
//! context is ~0.6 MB and a millisecond, against the seconds its prefill
//! takes), so a run at depth keeps only the own words in its pool.

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
    /// Context words before the own words (`--depth`).
    depth_words: u32,
    /// Mixed into every context key: contexts differ between runs even
    /// when `--seed` is the same (a second run must not ride on the
    /// first's cache).
    depth_nonce: u64,
    built: Arc<Vec<Arc<str>>>,
}

/// Whose context a prompt at depth carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextKey {
    /// A user's (closed-loop worker's) own context, sent with each of its
    /// requests: cached after its first.
    User(u32),
    /// A context of this request alone: nothing to take from a cache.
    Request(u64),
}

impl ContextKey {
    /// The key's number, users and requests kept apart.
    fn code(self) -> u64 {
        match self {
            Self::User(u) => 0xC0DE_0000_0000_0000 ^ u64::from(u),
            Self::Request(id) => id.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x5EED,
        }
    }
}

pub(crate) fn mix(seed: u64, id: u64) -> u64 {
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
            depth_words: 0,
            depth_nonce: 0,
            built: Arc::new(Vec::new()),
        }
    }

    /// The same prompts preceded by `words` context words (one token
    /// each), keyed under `nonce` (a fresh number per run).
    pub fn at_depth(mut self, words: u32, nonce: u64) -> Self {
        self.depth_words = words;
        self.depth_nonce = nonce;
        self
    }

    /// Context words before each prompt's own words (0: none).
    pub fn depth_words(&self) -> u32 {
        self.depth_words
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

    /// The prompt of request `id` with the context of `key` before its own
    /// words; without a depth, [`Self::prompt`].
    pub fn prompt_at(&self, id: u64, key: ContextKey) -> Arc<str> {
        if self.depth_words == 0 {
            return self.prompt(id);
        }
        let own = self.prompt(id);
        let mut s = self.context(key, own.len());
        s.push_str(&own[INSTRUCTION.len()..]);
        Arc::from(s)
    }

    /// The instruction and the context of `key` alone: what a user sends
    /// once to put its context in the server's cache.
    pub fn context_only(&self, key: ContextKey) -> Arc<str> {
        Arc::from(self.context(key, 0))
    }

    /// The instruction and `depth_words` context words, with room for
    /// `more` bytes.
    fn context(&self, key: ContextKey, more: usize) -> String {
        let n = self.depth_words as usize;
        let mut s = String::with_capacity(INSTRUCTION.len() + n * 6 + more);
        s.push_str(INSTRUCTION);
        let k = key.code() ^ self.depth_nonce;
        let mut code = mix(self.seed.get() ^ 0xDE97, k);
        for _ in 0..UNIQUE_WORDS.min(self.depth_words) {
            push_word(&mut s, (code % 100) as usize);
            code /= 100;
        }
        let mut rng = SmallRng::seed_from_u64(mix(self.seed.get() ^ 0xC7C7, k));
        for _ in 0..self.depth_words.saturating_sub(UNIQUE_WORDS) {
            push_word(&mut s, rng.gen_range(0..WORDS.len()));
        }
        s
    }

    fn make(&self, id: u64) -> String {
        let mut s = String::with_capacity(INSTRUCTION.len() + self.words as usize * 6);
        s.push_str(INSTRUCTION);
        let push = push_word;
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

/// Appends word `k` of [`WORDS`] (modulo its length), space first.
pub(crate) fn push_word(s: &mut String, k: usize) {
    s.push(' ');
    s.push_str(WORDS[k % WORDS.len()]);
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
    fn a_prompt_at_depth_is_its_context_then_its_own_words() {
        let g = PromptGenerator::new(seed(6), 20, 0).at_depth(300, 9);
        let instruction = INSTRUCTION.split_whitespace().count();
        let a = g.prompt_at(3, ContextKey::User(1));
        assert_eq!(a.split_whitespace().count(), instruction + 300 + 20);
        let ctx = g.context_only(ContextKey::User(1));
        assert_eq!(ctx.split_whitespace().count(), instruction + 300);
        // A user's requests share its context and no more; its context is
        // nobody else's, and a request's own context is its alone.
        assert!(a.starts_with(&*ctx));
        assert!(g.prompt_at(4, ContextKey::User(1)).starts_with(&*ctx));
        assert!(a.ends_with(&g.prompt(3)[INSTRUCTION.len()..]));
        let words = |p: &str| p.split(' ').map(str::to_string).collect::<Vec<_>>();
        let common = |a: &str, b: &str| {
            words(a)
                .iter()
                .zip(words(b))
                .take_while(|(x, y)| **x == *y)
                .count()
        };
        let base = INSTRUCTION.split(' ').count();
        let other_user = g.prompt_at(3, ContextKey::User(2));
        assert!(common(&a, &other_user) <= base + 2);
        let alone = g.prompt_at(3, ContextKey::Request(3));
        assert!(common(&alone, &g.prompt_at(4, ContextKey::Request(4))) <= base + 2);
        assert!(common(&alone, &a) <= base + 2);
        // Another run (nonce) has other contexts, even with the same seed.
        let next_run = PromptGenerator::new(seed(6), 20, 0).at_depth(300, 10);
        assert!(common(&a, &next_run.prompt_at(3, ContextKey::User(1))) <= base + 2);
        // No depth: the plain prompt.
        let flat = PromptGenerator::new(seed(6), 20, 0);
        assert_eq!(flat.prompt_at(3, ContextKey::User(1)), flat.prompt(3));
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
