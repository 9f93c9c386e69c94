//! Prompts built from a trace's blocks (`--trace`): equal hash-id chains
//! become identical tokens and distinct ones distinct tokens, so a
//! server's prefix cache sees the sharing the trace recorded, and every
//! prompt is exactly its recorded length as the server counts it.
//!
//! The words are the synthetic prompts' one-token words
//! ([`crate::prompt::WORDS`]) after the same instruction, so the runner's
//! prompt sizing applies unchanged: a prompt of L tokens is the fixed
//! overhead (template and instruction) and L − overhead words. The blocks
//! lie on a grid over the whole prompt as the server sees it: block k
//! covers tokens `[k·B, (k+1)·B)`, the template's head counted as the
//! start of block 0 (the same in every prompt), so two prompts that share
//! their first m blocks share their first m·B tokens. The overhead is
//! measured as one number, head and tail together (a chat template also
//! closes the user's turn and opens the assistant's after the content:
//! five tokens in ChatML and Llama 3); the grid takes all but
//! [`TAIL_ALLOWANCE`] of it as the head, so a shared prefix ends at or
//! just past its block boundary, never short of it (short of it, vLLM,
//! which caches whole blocks, would lose one block per request). A block's words are drawn
//! from its key with every block before it (`stackbench_trace::cache::chain`)
//! and the run's nonce: the same chain in the same run is the same text, a
//! new run (even with the same `--seed`) sends new text, and cannot ride
//! on an earlier run's cache. Words past the recorded blocks are the
//! request's own.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::prompt::{mix, push_word, INSTRUCTION, WORDS};

/// Tokens of the overhead taken to follow the content (a chat template's
/// closing of the user turn and opening of the assistant's), at most.
pub const TAIL_ALLOWANCE: u32 = 8;

/// Builds the prompt of a trace entry from its blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockPrompts {
    /// Tokens of the template and instruction (measured per run).
    pub overhead: u32,
    /// Tokens per block (after `--trace-scale`).
    pub block_tokens: u32,
    /// The run's seed.
    pub seed: u64,
    /// A fresh number per run.
    pub nonce: u64,
}

impl BlockPrompts {
    /// Words a prompt of `tokens` tokens has: at least one (a shorter
    /// recorded prompt than the overhead is sent one word long, and its
    /// length is then not exact).
    pub fn words(&self, tokens: u32) -> u32 {
        tokens.saturating_sub(self.overhead).max(1)
    }

    /// Whether a prompt of `tokens` tokens can be exactly that long.
    pub fn exact(&self, tokens: u32) -> bool {
        tokens > self.overhead
    }

    /// The prompt of entry `index`: `tokens` tokens over `blocks`.
    pub fn prompt(&self, index: u64, blocks: &[u64], tokens: u32) -> String {
        let words = self.words(tokens);
        let b = self.block_tokens.max(1);
        let chain = stackbench_trace::cache::chain(blocks);
        let mut s = String::with_capacity(INSTRUCTION.len() + words as usize * 6);
        s.push_str(INSTRUCTION);
        let head = self.overhead.saturating_sub(TAIL_ALLOWANCE);
        let end = head + words;
        let mut pos = head;
        for (k, key) in chain.iter().enumerate() {
            let (from, to) = (k as u32 * b, (k as u32 + 1).saturating_mul(b));
            if from >= end {
                break;
            }
            let mut rng = SmallRng::seed_from_u64(mix(self.seed ^ self.nonce, *key));
            for p in from..to.min(end) {
                let w = rng.gen_range(0..WORDS.len());
                if p >= pos {
                    push_word(&mut s, w);
                }
            }
            pos = pos.max(to.min(end));
        }
        let mut own = SmallRng::seed_from_u64(mix(self.seed ^ self.nonce ^ 0x0BB5, index));
        for _ in pos..end {
            push_word(&mut s, own.gen_range(0..WORDS.len()));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<&str> {
        s.split(' ').collect()
    }

    fn common(a: &str, b: &str) -> usize {
        words(a)
            .iter()
            .zip(words(b))
            .take_while(|(x, y)| **x == *y)
            .count()
    }

    const P: BlockPrompts = BlockPrompts {
        overhead: 20,
        block_tokens: 64,
        seed: 5,
        nonce: 9,
    };

    #[test]
    fn a_prompt_has_its_length_in_words_after_the_overhead() {
        let instruction = INSTRUCTION.split(' ').count();
        for (blocks, tokens) in [
            (vec![1, 2, 3], 150),
            (vec![1], 300),
            (vec![], 77),
            (vec![4, 5], 21),
        ] {
            let p = P.prompt(0, &blocks, tokens);
            assert_eq!(
                words(&p).len() - instruction,
                (tokens - 20) as usize,
                "{blocks:?}"
            );
        }
        assert_eq!(P.words(10), 1);
        assert!(!P.exact(20) && P.exact(21));
    }

    #[test]
    fn prompts_share_exactly_their_common_leading_blocks() {
        let instruction = INSTRUCTION.split(' ').count();
        let a = P.prompt(0, &[1, 2, 3], 180);
        let b = P.prompt(1, &[1, 2, 7], 190);
        // Blocks 0 and 1 cover tokens 0..128: the head (overhead less
        // the tail allowance, 12) and 116 words.
        let shared = common(&a, &b) - instruction;
        assert!((116..=118).contains(&shared), "{shared}");
        let c = P.prompt(2, &[2, 1], 180);
        assert!(
            common(&a, &c) - instruction <= 2,
            "block 2 first is another chain"
        );
        assert_eq!(
            P.prompt(0, &[1, 2, 3], 180),
            a,
            "the same entry, the same text"
        );
        let next_run = BlockPrompts { nonce: 10, ..P };
        assert!(common(&a, &next_run.prompt(0, &[1, 2, 3], 180)) - instruction <= 2);
        // Past the blocks, words are the request's own.
        let d = P.prompt(3, &[1], 200);
        let e = P.prompt(4, &[1], 200);
        let shared = common(&d, &e) - instruction;
        assert!((52..=54).contains(&shared), "{shared}");
    }
}
