//! The prefix-cache hits a trace's blocks imply.
//!
//! A request's leading blocks that an earlier request already sent (the
//! same hash ids, in the same order from the start: the formats hash each
//! block with the ones before it, so an equal id is an equal prefix) are
//! in the cache of a server whose cache holds everything; the rest is
//! computed. A server caches in blocks of its own: vLLM only whole blocks
//! of its `block_size`, and never the whole prompt (at least one token is
//! computed); llama-server any number of tokens (a block of 1). So the
//! expected hit of a request is its shared prefix, capped one token short
//! of the prompt, rounded down to the server's block. The expectation
//! assumes nothing is evicted; [`Expected::distinct_tokens`] is what the
//! cache must hold for that to be true.

use std::collections::HashSet;

use crate::Trace;

/// What the blocks of a replayed trace imply.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    /// Each entry's expected cached tokens, in entry order.
    pub per_entry: Vec<u64>,
    /// Tokens of the distinct blocks (by position in their prompt): what
    /// a cache that evicts nothing holds at the end.
    pub distinct_tokens: u64,
}

impl Expected {
    /// The expected hit share of the entries in `sent` (indices), as
    /// cached over prompt tokens; `None` when they have no prompt tokens.
    pub fn share(&self, trace: &Trace, sent: impl IntoIterator<Item = usize>) -> Option<f64> {
        let (mut cached, mut prompt) = (0u64, 0u64);
        for i in sent {
            if let (Some(c), Some(e)) = (self.per_entry.get(i), trace.entries.get(i)) {
                cached += c;
                prompt += u64::from(e.input_tokens);
            }
        }
        (prompt > 0).then(|| cached as f64 / prompt as f64)
    }
}

/// Each block's key with every block before it: two prompts share the
/// block at position k only when they share the ids at 0..=k (the prompt
/// builder gives a block the same tokens wherever it is, so a block seen
/// at another position is not a prefix hit, and neither is one after an
/// unseen block).
pub fn chain(blocks: &[u64]) -> Vec<u64> {
    let mut h = 0xCBF2_9CE4_8422_2325u64;
    blocks
        .iter()
        .map(|b| {
            h = (h ^ b).wrapping_mul(0x0000_0100_0000_01B3).rotate_left(29)
                ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            h
        })
        .collect()
}

/// The hits `trace` implies on a server that caches in blocks of
/// `server_block` tokens, the entries sent in order; `None` when the
/// trace has no blocks.
pub fn expected(trace: &Trace, server_block: u32) -> Option<Expected> {
    let block = u64::from(trace.block_tokens?);
    let server_block = u64::from(server_block.max(1));
    let mut seen: HashSet<u64> = HashSet::new();
    let mut per_entry = Vec::with_capacity(trace.entries.len());
    for e in &trace.entries {
        let chain = chain(&e.blocks);
        let leading = chain.iter().take_while(|c| seen.contains(c)).count() as u64;
        let prompt = u64::from(e.input_tokens);
        let shared = (leading * block).min(prompt.saturating_sub(1));
        per_entry.push(shared / server_block * server_block);
        seen.extend(chain);
    }
    Some(Expected {
        per_entry,
        distinct_tokens: seen.len() as u64 * block,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{read, Format};

    fn trace(lines: &[(u32, &str)]) -> Trace {
        let text: Vec<String> = lines
            .iter()
            .enumerate()
            .map(|(i, (input, ids))| {
                format!(r#"{{"timestamp": {i}, "input_length": {input}, "output_length": 1, "hash_ids": [{ids}]}}"#)
            })
            .collect();
        read(Format::Mooncake, text.join("\n").as_bytes()).unwrap()
    }

    #[test]
    fn a_request_hits_the_leading_blocks_sent_before_it() {
        let t = trace(&[
            (1500, "1,2,3"),
            (1100, "1,2,4"),
            (1024, "1,2"),
            (600, "5,2"),
            (700, "1,3"),
        ]);
        let e = expected(&t, 1).unwrap();
        // 2 shared blocks; a prompt of exactly 2 blocks keeps 1 token to
        // compute; 5 is new (2 after it does not count); 3 was seen, but
        // after 2, not after 1.
        assert_eq!(e.per_entry, vec![0, 1024, 1023, 0, 512]);
        assert_eq!(e.distinct_tokens, 7 * 512);
        let share = e.share(&t, 0..5).unwrap();
        assert!((share - 2559.0 / 4924.0).abs() < 1e-12, "{share}");
        assert_eq!(e.share(&t, [3]), Some(0.0));
    }

    #[test]
    fn the_server_block_rounds_each_hit_down() {
        let t = trace(&[(1500, "1,2,3"), (1100, "1,2,4"), (1024, "1,2")]);
        assert_eq!(expected(&t, 128).unwrap().per_entry, vec![0, 1024, 896]);
        assert_eq!(expected(&t, 1000).unwrap().per_entry, vec![0, 1000, 1000]);
        let azure = read(
            Format::Azure,
            b"TIMESTAMP,ContextTokens,GeneratedTokens\n1,2,3",
        )
        .unwrap();
        assert_eq!(expected(&azure, 16), None, "no blocks, no expectation");
    }
}
