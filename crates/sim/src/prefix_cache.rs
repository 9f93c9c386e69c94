//! The simulated prefix (prompt) cache: why a later turn of a chat is
//! faster than the first, and how many of its prompt tokens each server
//! reports as cached.
//!
//! The cache keeps the token sequences of recently served requests (the
//! prompt, extended by the answer text once the stream ends, since a
//! multi-turn client resends that answer in its next prompt), evicting the
//! least recently used beyond a capacity in tokens. A request's hit is the
//! longest common token prefix with any kept sequence under the same salt
//! (vLLM's `cache_salt`), then cut as the server cuts it
//! ([`usable_hit`]). Sequences are word tokens (see [`word_ids`]) unless the
//! simulator counts with a real tokenizer.

use crate::flavor::Flavor;

/// One kept sequence.
#[derive(Debug)]
struct Entry {
    salt: Option<String>,
    tokens: Vec<u64>,
    /// When last hit or stored (a logical clock).
    used: u64,
}

/// The cache: kept sequences, at most `capacity` tokens together.
#[derive(Debug)]
pub(crate) struct PrefixCache {
    capacity: u64,
    entries: Vec<Entry>,
    held: u64,
    clock: u64,
}

fn common_prefix(a: &[u64], b: &[u64]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl PrefixCache {
    /// An empty cache of `capacity` tokens.
    pub(crate) fn new(capacity: u64) -> Self {
        Self {
            capacity,
            entries: Vec::new(),
            held: 0,
            clock: 0,
        }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// The longest prefix of `tokens` kept under `salt`, in tokens; marks
    /// the entry it came from as used.
    pub(crate) fn longest_prefix(&mut self, salt: Option<&str>, tokens: &[u64]) -> u64 {
        let best = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.salt.as_deref() == salt)
            .map(|(i, e)| (i, common_prefix(&e.tokens, tokens)))
            .max_by_key(|(_, n)| *n);
        match best {
            Some((i, n)) if n > 0 => {
                let now = self.tick();
                self.entries[i].used = now;
                n as u64
            }
            _ => 0,
        }
    }

    /// Keeps `tokens` under `salt` (cut to the capacity). A kept sequence
    /// that is a prefix of it is replaced; one that already starts with it
    /// is only marked used. Then the least recently used go until the
    /// cache fits.
    pub(crate) fn insert(&mut self, salt: Option<&str>, mut tokens: Vec<u64>) {
        if self.capacity == 0 || tokens.is_empty() {
            return;
        }
        tokens.truncate(usize::try_from(self.capacity).unwrap_or(usize::MAX));
        let now = self.tick();
        let same_salt = |e: &Entry| e.salt.as_deref() == salt;
        if let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| same_salt(e) && e.tokens.starts_with(&tokens))
        {
            e.used = now;
            return;
        }
        let before = self.entries.len();
        self.entries
            .retain(|e| !(same_salt(e) && tokens.starts_with(&e.tokens)));
        if self.entries.len() != before {
            self.held = self.entries.iter().map(|e| e.tokens.len() as u64).sum();
        }
        self.held += tokens.len() as u64;
        self.entries.push(Entry {
            salt: salt.map(str::to_string),
            tokens,
            used: now,
        });
        while self.held > self.capacity {
            let Some(oldest) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.used)
                .map(|(i, _)| i)
            else {
                break;
            };
            let gone = self.entries.swap_remove(oldest);
            self.held -= gone.tokens.len() as u64;
        }
    }

    /// Forgets everything (the model was unloaded).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.held = 0;
    }
}

/// The cached tokens a server reports for a common prefix of `prefix`
/// tokens with a prompt of `prompt` tokens. Every server computes at least
/// the prompt's last token again to get its logits (vLLM v1
/// `kv_cache_manager.py`: the hit is capped at `num_tokens − 1`;
/// llama-server and Ollama likewise step back one token on a full hit);
/// vLLM then caches only whole blocks of `block` tokens, while
/// llama-server and Ollama reuse any prefix length.
pub(crate) fn usable_hit(flavor: Flavor, prefix: u64, prompt: u64, block: u64) -> u64 {
    let hit = prefix.min(prompt.saturating_sub(1));
    match flavor {
        Flavor::Vllm => hit / block.max(1) * block.max(1),
        Flavor::Llamacpp | Flavor::Ollama => hit,
    }
}

/// FNV-1a of `bytes`, salted by `kind` so that a word and a role never
/// share an id.
fn fnv(kind: u8, bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ u64::from(kind);
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The word tokens of `text`: one id per whitespace-separated word, as the
/// simulator counts prompt tokens without a tokenizer.
pub(crate) fn word_ids(text: &str) -> impl Iterator<Item = u64> + '_ {
    text.split_whitespace().map(|w| fnv(0, w.as_bytes()))
}

/// The id of a chat template token (`kind` 1: a turn's start, 2: its
/// end, 3: the newline after the role) or of a role name (4).
fn template_id(kind: u8, role: &str) -> u64 {
    fnv(kind, role.as_bytes())
}

/// The tokens of a chat prompt as the simulator counts it: per message a
/// start token, its role, a newline, its content's words and an end
/// token, then the generation prompt (start, `assistant`, newline): 3 +
/// Σ (4 + words), the count `request.rs` gives. A later turn's prompt
/// therefore starts with an earlier turn's prompt followed by its answer's
/// words.
pub(crate) fn chat_ids(messages: &[serde_json::Value]) -> Vec<u64> {
    let mut ids = Vec::new();
    let turn = |ids: &mut Vec<u64>, role: &str| {
        ids.push(template_id(1, ""));
        ids.push(template_id(4, role));
        ids.push(template_id(3, ""));
    };
    for m in messages {
        let role = m
            .get("role")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        turn(&mut ids, role);
        if let Some(text) = m.get("content").and_then(serde_json::Value::as_str) {
            ids.extend(word_ids(text));
        }
        ids.push(template_id(2, ""));
    }
    turn(&mut ids, "assistant");
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(r: std::ops::Range<u64>) -> Vec<u64> {
        r.collect()
    }

    #[test]
    fn the_longest_prefix_under_the_same_salt_is_found() {
        let mut c = PrefixCache::new(1000);
        c.insert(None, seq(0..50));
        c.insert(None, seq(100..130));
        assert_eq!(c.longest_prefix(None, &seq(0..80)), 50);
        assert_eq!(c.longest_prefix(None, &seq(0..20)), 20);
        assert_eq!(c.longest_prefix(None, &seq(100..110)), 10);
        assert_eq!(c.longest_prefix(Some("s"), &seq(0..80)), 0);
        c.insert(Some("s"), seq(0..10));
        assert_eq!(c.longest_prefix(Some("s"), &seq(0..80)), 10);
        assert_eq!(c.longest_prefix(Some("t"), &seq(0..80)), 0);
    }

    #[test]
    fn least_recently_used_goes_first_and_extensions_replace() {
        let mut c = PrefixCache::new(100);
        c.insert(None, seq(0..40));
        c.insert(None, seq(0..60)); // replaces 0..40
        assert_eq!(c.held, 60);
        c.insert(None, seq(200..230));
        assert_eq!(c.longest_prefix(None, &seq(0..60)), 60); // touches 0..60
        c.insert(None, seq(300..330)); // 120 > 100: 200..230 goes
        assert_eq!(c.longest_prefix(None, &seq(200..230)), 0);
        assert_eq!(c.longest_prefix(None, &seq(0..60)), 60);
        assert_eq!(c.held, 90);
        let mut none = PrefixCache::new(0);
        none.insert(None, seq(0..10));
        assert_eq!(none.longest_prefix(None, &seq(0..10)), 0);
    }

    #[test]
    fn hits_are_cut_as_each_server_cuts_them() {
        assert_eq!(usable_hit(Flavor::Vllm, 40, 100, 16), 32);
        assert_eq!(usable_hit(Flavor::Vllm, 100, 100, 16), 96);
        assert_eq!(usable_hit(Flavor::Vllm, 15, 100, 16), 0);
        assert_eq!(usable_hit(Flavor::Vllm, 300, 400, 128), 256);
        assert_eq!(usable_hit(Flavor::Llamacpp, 40, 100, 16), 40);
        assert_eq!(usable_hit(Flavor::Llamacpp, 100, 100, 16), 99);
        assert_eq!(usable_hit(Flavor::Ollama, 100, 100, 16), 99);
        assert_eq!(usable_hit(Flavor::Ollama, 5, 0, 16), 0);
    }

    #[test]
    fn a_later_turn_starts_with_the_earlier_prompt_and_its_answer() {
        use serde_json::json;
        let turn1 = [json!({"role": "user", "content": "hello there"})];
        let answer = " the quick model.";
        let mut kept = chat_ids(&turn1);
        kept.extend(word_ids(answer));
        let turn2 = [
            turn1[0].clone(),
            json!({"role": "assistant", "content": answer}),
            json!({"role": "user", "content": "and then"}),
        ];
        let ids2 = chat_ids(&turn2);
        assert_eq!(common_prefix(&kept, &ids2), kept.len());
        assert_eq!(chat_ids(&turn1).len(), 3 + 4 + 2);
    }
}
