//! Meeting `--prompt-tokens` exactly, as the server counts: measure the
//! fixed overhead of a prompt (chat template, special tokens, the
//! instruction) once before the run, check that every word of the
//! generator's list adds exactly one token, and size the prompts' words
//! as target − overhead (see `stackbench_engine::prompt` for why a
//! prompt's count is then exact).
//!
//! The counter is, in order of preference, the server's own tokenizer
//! endpoints (vLLM `/tokenize`, llama-server `/apply-template` +
//! `/tokenize`), the model's `tokenizer.json` and chat template given with
//! `--tokenizer`, or the counts the server reports for two short
//! calibration requests (`usage.prompt_tokens`, Ollama's
//! `prompt_eval_count`).

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use stackbench_backends::{RequestError, ServerTokenizer, StreamDriver};
use stackbench_core::run_file::PromptSizing;
use stackbench_core::Seed;
use stackbench_engine::prompt::{INSTRUCTION, WORDS};
use stackbench_engine::PromptGenerator;
use stackbench_wire::body::Api;

use crate::error::RunnerError;

/// Why prompts could not be sized.
#[derive(Debug)]
pub enum SizeError {
    /// The counter failed: try another, or run approximate.
    Count(String),
    /// The target cannot be met (too short): the run must not start.
    Invalid(RunnerError),
}

/// Words in the short probe prompt.
const BASE_WORDS: usize = 8;
/// Fewest words a prompt may have: 4 base-100 digits of its seed and id
/// (the generator uses up to 8 when the length allows).
const MIN_WORDS: u32 = 4;

/// Something that says how many tokens the server will count for a
/// request with a given prompt.
pub enum Counter {
    /// The server's tokenizer endpoints.
    Endpoint(ServerTokenizer),
    /// The model's tokenizer.json and chat template, on this machine.
    Local(Box<stackbench_tokenize::LocalTokenizer>, Api),
    /// Real requests (one output token each), read back from the counts
    /// the server reports.
    Requests(Box<StreamDriver>),
}

impl Counter {
    pub(crate) fn source(&self) -> String {
        match self {
            Self::Endpoint(t) => t.source().to_string(),
            Self::Local(t, _) => format!("the local tokenizer {}", t.path().display()),
            Self::Requests(_) => "the server's reported prompt count of two calibration requests (usage.prompt_tokens / prompt_eval_count)".into(),
        }
    }

    pub(crate) async fn count(&self, content: &str) -> Result<u32, RequestError> {
        match self {
            Self::Endpoint(t) => t.count(content).await,
            Self::Local(t, api) => {
                // Chat APIs and Ollama's /api/generate go through the
                // model's template; plain completions do not.
                let counted = match api {
                    Api::Completions | Api::LlamaNative => t.count_completion(content),
                    _ => t.count_chat(content),
                };
                counted.map_err(|e| RequestError::Server(e.to_string()))
            }
            Self::Requests(d) => {
                let mut events = Vec::new();
                let out = d
                    .send(
                        &stackbench_wire::body::Request::text(content),
                        Instant::now(),
                        &mut events,
                        &AtomicU64::new(0),
                    )
                    .await?;
                let n = out.prompt_tokens.ok_or_else(|| {
                    RequestError::Server("the server reported no prompt token count".into())
                })?;
                Ok(u32::try_from(n).unwrap_or(u32::MAX))
            }
        }
    }
}

fn probe_text(words: &[&str]) -> String {
    let mut s = INSTRUCTION.to_string();
    for w in words {
        s.push(' ');
        s.push_str(w);
    }
    s
}

/// What the two probe counts say.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Measured {
    /// Tokens besides the words.
    overhead: u32,
    /// Tokens per word of the list (1 when every word is one token).
    per_word: f64,
}

fn measure(base: u32, with_list: u32) -> Option<Measured> {
    let overhead = base.checked_sub(BASE_WORDS as u32)?;
    let added = with_list.checked_sub(base)?;
    Some(Measured {
        overhead,
        per_word: f64::from(added) / WORDS.len() as f64,
    })
}

/// The words for `target` tokens, and the record of how.
fn plan(
    target: u32,
    shared: u32,
    m: Measured,
    source: String,
) -> Result<PromptSizing, RunnerError> {
    let exact = (m.per_word - 1.0).abs() < f64::EPSILON;
    let min = m.overhead + MIN_WORDS + shared;
    if target < min {
        return Err(RunnerError::Config(format!(
            "--prompt-tokens {target} is too short: this server's fixed overhead is {} tokens (chat template, special tokens, instruction), and a prompt needs {} more words to be unique{}",
            m.overhead,
            MIN_WORDS,
            if shared > 0 { format!(" after {shared} shared-prefix tokens") } else { String::new() }
        )));
    }
    let room = f64::from(target - m.overhead);
    let words = if exact {
        target - m.overhead
    } else {
        (room / m.per_word).round().max(1.0) as u32
    };
    Ok(PromptSizing {
        source,
        overhead_tokens: Some(m.overhead),
        words,
        exact,
        note: (!exact).then(|| {
            format!(
                "the generator's words cost {:.3} tokens each with this tokenizer, not 1: prompt lengths are close to the target, not exact",
                m.per_word
            )
        }),
    })
}

/// Sizes the prompts of a run: the generator and the record of how.
pub async fn size_prompts(
    counter: &Counter,
    target: u32,
    shared: u32,
    seed: Seed,
) -> Result<(PromptGenerator, PromptSizing), SizeError> {
    let failed = |e: RequestError| SizeError::Count(format!("{}: {e}", counter.source()));
    let base = counter
        .count(&probe_text(&WORDS[..BASE_WORDS]))
        .await
        .map_err(failed)?;
    let mut all = WORDS[..BASE_WORDS].to_vec();
    all.extend_from_slice(WORDS);
    let with_list = counter.count(&probe_text(&all)).await.map_err(failed)?;
    let m = measure(base, with_list).ok_or_else(|| {
        SizeError::Count(format!(
            "{} counted {base} tokens for {BASE_WORDS} words and {with_list} after adding {} more: not a token count",
            counter.source(),
            WORDS.len()
        ))
    })?;
    let sizing = plan(target, shared, m, counter.source()).map_err(SizeError::Invalid)?;
    Ok((PromptGenerator::new(seed, sizing.words, shared), sizing))
}

/// The record of a run whose prompts could not be measured.
pub fn approximate(target: u32, seed: Seed, why: &str) -> (PromptGenerator, PromptSizing) {
    let g = PromptGenerator::approximate(seed, target);
    let sizing = PromptSizing {
        source: "none".into(),
        overhead_tokens: None,
        words: g.words(),
        exact: false,
        note: Some(format!(
            "{why}: the prompts are about {target} tokens, assuming {} tokens of template and instruction",
            stackbench_engine::prompt::ASSUMED_OVERHEAD
        )),
    };
    (g, sizing)
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: u32 = WORDS.len() as u32;

    #[test]
    fn one_token_per_word_is_exact_and_sizes_to_the_target() {
        let m = measure(31, 31 + N).unwrap();
        assert_eq!(
            m,
            Measured {
                overhead: 23,
                per_word: 1.0
            }
        );
        let p = plan(512, 0, m, "t".into()).unwrap();
        assert!(p.exact);
        assert_eq!(p.words, 489);
        assert_eq!(p.overhead_tokens, Some(23));
    }

    #[test]
    fn words_of_several_tokens_are_flagged_and_scaled() {
        let m = measure(31, 31 + 2 * N).unwrap();
        let p = plan(512, 0, m, "t".into()).unwrap();
        assert!(!p.exact);
        assert_eq!(p.words, 245); // 489 / 2, rounded
        assert!(p.note.unwrap().contains("2.000 tokens each"));
    }

    #[test]
    fn a_target_below_the_overhead_is_refused() {
        let m = measure(31, 31 + N).unwrap();
        let e = plan(26, 0, m, "t".into()).unwrap_err().to_string();
        assert!(e.contains("--prompt-tokens 26 is too short"), "{e}");
        assert!(e.contains("overhead is 23 tokens"), "{e}");
        assert!(plan(27, 0, m, "t".into()).is_ok());
        assert!(plan(27, 4, m, "t".into()).is_err());
    }

    #[test]
    fn counts_that_shrink_are_not_counts() {
        assert!(measure(5, 200).is_none());
        assert!(measure(40, 30).is_none());
    }
}
