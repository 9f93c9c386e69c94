//! Requests from a dataset file instead of generated prompts: real prompt
//! and output lengths, as `vllm bench serve --dataset-name sharegpt` and
//! GuideLLM use them.
//!
//! Two formats, told apart by the first character:
//! * ShareGPT (`[` first): a JSON array of `{"conversations": [{"from":
//!   "human", "value": …}, {"from": "gpt", "value": …}, …]}`; the first
//!   human turn is the prompt, the reply after it sets the output length
//!   (its token count). A multi-turn run (`--turns`) takes the whole
//!   conversation: each human turn is a turn of it (the dataset's replies
//!   only set the output length; the server's own answers are resent);
//! * JSONL: one object a line, `{"prompt": "…"}` or `{"messages": [{"role",
//!   "content"}, …]}`, with an optional `"output_tokens": N` (else
//!   `--output-tokens`).
//!
//! Entries are taken in file order, or with `--dataset-sample N` in an
//! order shuffled by the run seed (a suite: a seed of its scenario) until
//! N pass the length filters. The
//! selection's SHA-256 goes into `run.json`, so two runs can prove they
//! sent the same workload. Everything is read and counted before the run:
//! the measured phase only clones a pointer per request. A length the
//! tokenizer (or the server's endpoint) cannot count stops the selection,
//! naming the entry: `run.json` names the counter, so no length is
//! estimated behind its back.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use stackbench_backends::RequestError;
use stackbench_core::run_file::DatasetInfo;
use stackbench_wire::body::{Prompt, Request};

use crate::prompt_size::Counter;

/// What the user asked of a dataset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatasetSpec {
    /// The file.
    pub path: PathBuf,
    /// Entries to draw (seeded); `None`: all, in file order.
    pub sample: Option<u64>,
    /// The seed of that draw; `None`: the run's seed. A suite fixes it
    /// per scenario, so every stack and repeat (and both sides of an
    /// upgrade check) draws the same entries: one workload.
    pub sample_seed: Option<u64>,
    /// Take whole conversations (a multi-turn run): a ShareGPT entry's
    /// every turn, not only its first.
    pub whole_conversations: bool,
    /// Leave out prompts shorter than this many tokens (text only).
    pub min_prompt_tokens: Option<u32>,
    /// Leave out prompts longer than this.
    pub max_prompt_tokens: Option<u32>,
    /// Leave out entries asking for more output tokens than this.
    pub max_output_tokens: Option<u32>,
}

/// Why a dataset cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The file cannot be read.
    #[error("cannot read dataset {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a dataset of either format.
    #[error("{path}{at}: {why}", at = line.map_or_else(String::new, |l| format!(":{l}")))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The 1-based line (JSONL).
        line: Option<usize>,
        /// What is wrong.
        why: String,
    },
    /// Nothing is left after the filters.
    #[error("no entry of {path} passes the filters ({entries} read, {skipped} left out)")]
    Empty {
        /// The file.
        path: PathBuf,
        /// Entries read.
        entries: u64,
        /// Entries left out.
        skipped: u64,
    },
    /// The length counter failed on an entry whose length a filter or the
    /// output length needs (nothing is estimated behind its back).
    #[error("{path}{at}: cannot count the tokens of {excerpt:?} with {counter}: {source}")]
    Count {
        /// The file.
        path: PathBuf,
        /// Where the entry is in the file.
        at: Origin,
        /// The start of the text that could not be counted.
        excerpt: String,
        /// What counted ([`LengthCounter`]'s name).
        counter: String,
        /// Why.
        #[source]
        source: Box<CountError>,
    },
    /// A chat conversation cannot go to a completions endpoint.
    #[error("{0} holds chat messages; use --api chat or ollama-chat")]
    NeedsChat(PathBuf),
}

/// Why a length could not be counted.
#[derive(Debug, thiserror::Error)]
pub enum CountError {
    /// The local tokenizer failed (e.g. a word it cannot encode).
    #[error(transparent)]
    Tokenizer(#[from] stackbench_tokenize::TokenizeError),
    /// The server's tokenize endpoint failed.
    #[error(transparent)]
    Server(#[from] RequestError),
}

/// Where an entry is in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A JSONL line, from 1.
    Line(usize),
    /// A ShareGPT array's item, from 1.
    Item(usize),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Line(n) => write!(f, ":{n}"),
            Self::Item(n) => write!(f, ", entry {n}"),
        }
    }
}

/// One entry as read.
#[derive(Debug, Clone, PartialEq)]
struct Raw {
    at: Origin,
    prompt: Prompt,
    output_tokens: Option<u32>,
    /// ShareGPT: the reply, whose length sets the output length.
    reply: Option<String>,
}

/// Reads `path`: its format name, its usable entries, and how many it
/// skipped as unusable.
fn read(path: &Path, whole: bool) -> Result<(&'static str, Vec<Raw>, u64), DatasetError> {
    let text = std::fs::read_to_string(path).map_err(|source| DatasetError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |line: Option<usize>, why: String| DatasetError::Invalid {
        path: path.to_path_buf(),
        line,
        why,
    };
    if text.trim_start().starts_with('[') {
        let items: Vec<Value> = serde_json::from_str(&text)
            .map_err(|e| invalid(None, format!("not a ShareGPT JSON array: {e}")))?;
        let total = items.len() as u64;
        let raws: Vec<Raw> = items
            .iter()
            .enumerate()
            .filter_map(|(n, i)| sharegpt_entry(i, whole, Origin::Item(n + 1)))
            .collect();
        let skipped = total - raws.len() as u64;
        return Ok(("sharegpt", raws, skipped));
    }
    let mut raws = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| invalid(Some(i + 1), format!("not JSON: {e}")))?;
        raws.push(jsonl_entry(&v, Origin::Line(i + 1)).map_err(|why| invalid(Some(i + 1), why))?);
    }
    Ok(("jsonl", raws, 0))
}

/// The first human turn and the reply after it, if the item has both;
/// with `whole`, the whole conversation as chat messages (the first
/// reply still sets the output length).
fn sharegpt_entry(item: &Value, whole: bool, at: Origin) -> Option<Raw> {
    let turns = item["conversations"].as_array()?;
    let human = turns
        .iter()
        .position(|t| matches!(t["from"].as_str(), Some("human" | "user")))?;
    let prompt = turns[human]["value"].as_str().filter(|s| !s.is_empty())?;
    let reply = turns.get(human + 1)?["value"].as_str()?;
    let prompt = if whole {
        Prompt::Messages(Arc::new(Value::Array(
            turns.iter().filter_map(sharegpt_message).collect(),
        )))
    } else {
        Prompt::Text(Arc::from(prompt))
    };
    Some(Raw {
        at,
        prompt,
        output_tokens: None,
        reply: Some(reply.to_string()),
    })
}

/// One ShareGPT turn as a chat message (`human` → `user`, `gpt` →
/// `assistant`); turns of other speakers or without text are left out.
fn sharegpt_message(t: &Value) -> Option<Value> {
    let role = match t["from"].as_str()? {
        "human" | "user" => "user",
        "gpt" | "assistant" | "chatgpt" | "bard" | "bing" => "assistant",
        "system" => "system",
        _ => return None,
    };
    let text = t["value"].as_str().filter(|s| !s.is_empty())?;
    Some(json!({"role": role, "content": text}))
}

fn jsonl_entry(v: &Value, at: Origin) -> Result<Raw, String> {
    let output_tokens = match &v["output_tokens"] {
        Value::Null => None,
        n => Some(
            n.as_u64()
                .filter(|n| *n >= 1)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or("output_tokens must be a whole number >= 1")?,
        ),
    };
    let prompt = match (&v["prompt"], &v["messages"]) {
        (Value::String(p), Value::Null) if !p.is_empty() => Prompt::Text(Arc::from(p.as_str())),
        (Value::Null, Value::Array(m)) if !m.is_empty() => {
            let ok = m
                .iter()
                .all(|x| x["role"].is_string() && x["content"].is_string());
            if !ok {
                return Err("every message needs a string role and content".into());
            }
            Prompt::Messages(Arc::new(Value::Array(m.clone())))
        }
        _ => return Err("expected a non-empty \"prompt\" string or \"messages\" array".into()),
    };
    Ok(Raw {
        at,
        prompt,
        output_tokens,
        reply: None,
    })
}

/// Counts text tokens for the filters: a tokenizer, or an estimate.
pub enum LengthCounter {
    /// A local tokenizer or the server's endpoint, counting raw text.
    Exact(Box<Counter>),
    /// Four characters a token.
    Estimate,
}

impl LengthCounter {
    /// The tokens of `text`; an exact counter that fails is an error, never
    /// an estimate, since `run.json` names it as the counter.
    async fn count(&self, text: &str) -> Result<u32, CountError> {
        match self {
            // Raw text: a local tokenizer counts it as a completion prompt.
            Self::Exact(c) => match &**c {
                Counter::Local(t, _) => Ok(t.count_completion(text)?),
                c => Ok(c.count(text).await?),
            },
            Self::Estimate => {
                Ok(u32::try_from(text.chars().count().div_ceil(4)).unwrap_or(u32::MAX))
            }
        }
    }

    fn name(&self) -> String {
        match self {
            Self::Exact(c) => c.source(),
            Self::Estimate => "an estimate of 4 characters a token (no tokenizer)".into(),
        }
    }
}

/// The selected requests and what `run.json` says of them.
#[derive(Debug, Clone)]
pub struct Selected {
    /// The requests, in the order sent.
    pub requests: Arc<Vec<Request>>,
    /// The record.
    pub info: DatasetInfo,
}

/// Reads, filters and samples `spec` for a run with `seed`, sending to a
/// chat API or not (`chat`), `default_output` tokens where an entry says
/// none.
pub async fn select(
    spec: &DatasetSpec,
    seed: u64,
    chat: bool,
    default_output: u32,
    counter: &LengthCounter,
) -> Result<Selected, DatasetError> {
    let (format, mut raws, unusable) = read(&spec.path, spec.whole_conversations)?;
    let entries = raws.len() as u64 + unusable;
    if !chat && raws.iter().any(|r| matches!(r.prompt, Prompt::Messages(_))) {
        return Err(DatasetError::NeedsChat(spec.path.clone()));
    }
    if spec.sample.is_some() {
        raws.shuffle(&mut SmallRng::seed_from_u64(
            spec.sample_seed.unwrap_or(seed),
        ));
    }
    let want = spec.sample.unwrap_or(u64::MAX);
    let mut requests = Vec::new();
    let mut filtered = 0u64;
    for r in raws {
        if requests.len() as u64 >= want {
            break;
        }
        match kept(&r, spec, default_output, counter).await? {
            Some(output) => requests.push(Request::new(r.prompt, Some(output))),
            None => filtered += 1,
        }
    }
    if requests.is_empty() {
        return Err(DatasetError::Empty {
            path: spec.path.clone(),
            entries,
            skipped: unusable + filtered,
        });
    }
    let info = DatasetInfo {
        path: spec.path.display().to_string(),
        format: format.into(),
        sha256: digest(&requests),
        entries,
        skipped: unusable + filtered,
        selected: requests.len() as u64,
        sample: spec.sample,
        min_prompt_tokens: spec.min_prompt_tokens,
        max_prompt_tokens: spec.max_prompt_tokens,
        max_output_tokens: spec.max_output_tokens,
        lengths_counted_by: counter.name(),
        output_tokens_total: requests
            .iter()
            .map(|r| u64::from(r.max_tokens.unwrap_or(0)))
            .sum(),
        repeated: false,
    };
    Ok(Selected {
        requests: Arc::new(requests),
        info,
    })
}

/// Entry `r`'s output length when it passes `spec`'s filters; `None`
/// when it is filtered out.
async fn kept(
    r: &Raw,
    spec: &DatasetSpec,
    default_output: u32,
    counter: &LengthCounter,
) -> Result<Option<u32>, DatasetError> {
    let count = |text: String| async move {
        counter
            .count(&text)
            .await
            .map_err(|source| DatasetError::Count {
                path: spec.path.clone(),
                at: r.at,
                excerpt: excerpt(&text),
                counter: counter.name(),
                source: Box::new(source),
            })
    };
    let output = match (&r.reply, r.output_tokens) {
        (_, Some(n)) => n,
        (Some(reply), None) => count(reply.clone()).await?.max(1),
        (None, None) => default_output,
    };
    if spec.min_prompt_tokens.is_some() || spec.max_prompt_tokens.is_some() {
        let n = count(r.prompt.flat().into_owned()).await?;
        if spec.min_prompt_tokens.is_some_and(|m| n < m)
            || spec.max_prompt_tokens.is_some_and(|m| n > m)
        {
            return Ok(None);
        }
    }
    Ok(spec
        .max_output_tokens
        .map_or(true, |m| output <= m)
        .then_some(output))
}

/// The first 40 characters of `text`, with an ellipsis when there is more.
fn excerpt(text: &str) -> String {
    const LEN: usize = 40;
    match text.char_indices().nth(LEN) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// SHA-256 of one canonical JSON line per request.
fn digest(requests: &[Request]) -> String {
    let mut h = Sha256::new();
    for r in requests {
        let line = match &r.prompt {
            Prompt::Text(t) => json!({ "prompt": &**t, "output_tokens": r.max_tokens }),
            Prompt::Messages(m) => json!({ "messages": &**m, "output_tokens": r.max_tokens }),
        };
        h.update(line.to_string().as_bytes());
        h.update(b"\n");
    }
    hex(&h.finalize())
}

/// Lower-case hex of `bytes` (the SHA-256s `run.json` records).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d");
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    fn spec(path: &Path) -> DatasetSpec {
        DatasetSpec {
            path: path.to_path_buf(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn sharegpt_takes_the_first_human_turn_and_sizes_output_by_the_reply() {
        let (_d, p) = write(
            r#"[{"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "hello there"}, {"from": "gpt", "value": "abcdefghijkl"}]},
                {"conversations": [{"from": "human", "value": "no reply"}]},
                {"id": "x"}]"#,
        );
        let s = select(&spec(&p), 1, true, 99, &LengthCounter::Estimate)
            .await
            .unwrap();
        assert_eq!(s.info.format, "sharegpt");
        assert_eq!((s.info.entries, s.info.skipped, s.info.selected), (3, 2, 1));
        assert_eq!(s.requests[0].prompt, Prompt::Text("hello there".into()));
        assert_eq!(s.requests[0].max_tokens, Some(3), "12 chars / 4");
    }

    /// A multi-turn run takes every human turn of a ShareGPT conversation.
    #[tokio::test]
    async fn sharegpt_gives_whole_conversations_to_a_multi_turn_run() {
        let (_d, p) = write(
            r#"[{"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "abcdefgh"}, {"from": "human", "value": "b"}, {"from": "gpt", "value": "x"}]}]"#,
        );
        let whole = DatasetSpec {
            whole_conversations: true,
            ..spec(&p)
        };
        let s = select(&whole, 1, true, 99, &LengthCounter::Estimate)
            .await
            .unwrap();
        let r = &s.requests[0];
        assert_eq!(r.max_tokens, Some(2), "the first reply sets the length");
        assert_eq!(
            r.prompt,
            Prompt::Messages(Arc::new(json!([
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "abcdefgh"},
                {"role": "user", "content": "b"},
                {"role": "assistant", "content": "x"},
            ])))
        );
        let first = select(&spec(&p), 1, true, 99, &LengthCounter::Estimate)
            .await
            .unwrap();
        assert_eq!(first.requests[0].prompt, Prompt::Text(Arc::from("a")));
    }

    #[tokio::test]
    async fn jsonl_takes_prompts_or_messages_and_filters_and_samples_by_seed() {
        let lines: Vec<String> = (1..=40)
            .map(|i| {
                format!(
                    r#"{{"prompt": "{}", "output_tokens": {i}}}"#,
                    "word ".repeat(i)
                )
            })
            .chain([r#"{"messages": [{"role": "user", "content": "hi"}]}"#.to_string()])
            .collect();
        let (_d, p) = write(&lines.join("\n"));
        let mut sp = spec(&p);
        sp.sample = Some(5);
        sp.max_output_tokens = Some(20);
        let a = select(&sp, 7, true, 64, &LengthCounter::Estimate)
            .await
            .unwrap();
        let b = select(&sp, 7, true, 64, &LengthCounter::Estimate)
            .await
            .unwrap();
        let c = select(&sp, 8, true, 64, &LengthCounter::Estimate)
            .await
            .unwrap();
        assert_eq!(a.info.selected, 5);
        assert!(a.requests.iter().all(|r| r.max_tokens.unwrap() <= 20));
        assert_eq!(a.info.sha256, b.info.sha256, "same seed, same workload");
        assert_ne!(a.info.sha256, c.info.sha256, "another seed, another sample");
        assert_eq!(a.info.sha256.len(), 64);
        let e = select(&spec(&p), 1, false, 64, &LengthCounter::Estimate)
            .await
            .unwrap_err();
        assert!(matches!(e, DatasetError::NeedsChat(_)), "{e}");
    }

    #[tokio::test]
    async fn bad_lines_are_named_and_empty_selections_refused() {
        let (_d, p) = write("{\"prompt\": \"a\"}\n{\"prompt\": 5}\n");
        let e = select(&spec(&p), 1, true, 8, &LengthCounter::Estimate)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2:") && e.contains("prompt"), "{e}");
        let (_d, p) = write("{\"prompt\": \"a\", \"output_tokens\": 0}\n");
        let e = select(&spec(&p), 1, true, 8, &LengthCounter::Estimate)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("output_tokens"), "{e}");
        let (_d, p) = write("{\"prompt\": \"a b c d e f g h\"}\n");
        let mut sp = spec(&p);
        sp.min_prompt_tokens = Some(100);
        let e = select(&sp, 1, true, 8, &LengthCounter::Estimate)
            .await
            .unwrap_err();
        assert!(matches!(e, DatasetError::Empty { skipped: 1, .. }), "{e}");
    }

    /// A tokenizer that knows three words and no unknown token, so that
    /// encoding any other word fails.
    fn three_words(dir: &Path) -> LengthCounter {
        let t = json!({
            "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
            "normalizer": null, "pre_tokenizer": {"type": "Whitespace"},
            "post_processor": null, "decoder": null,
            "model": {"type": "WordLevel", "vocab": {"hello": 0, "there": 1, "friend": 2}, "unk_token": "[UNK]"},
        });
        let path = dir.join("tokenizer.json");
        std::fs::write(&path, t.to_string()).unwrap();
        let local = stackbench_tokenize::LocalTokenizer::load(&path).unwrap();
        let api = stackbench_wire::body::Api::Completions;
        LengthCounter::Exact(Box::new(Counter::Local(Box::new(local), api)))
    }

    /// Bug: an entry the tokenizer could not count was measured at 4
    /// characters a token without a word while `run.json` named the
    /// tokenizer; now the selection fails, naming the line and the text.
    #[tokio::test]
    async fn an_entry_the_tokenizer_cannot_count_is_an_error_naming_it() {
        let (d, p) = write(
            "{\"prompt\": \"hello there\"}\n{\"prompt\": \"hello there friend, and a long tail of words nobody knows\"}\n",
        );
        let counter = three_words(d.path());
        let mut sp = spec(&p);
        sp.max_prompt_tokens = Some(100);
        let e = select(&sp, 1, true, 8, &counter).await.unwrap_err();
        assert!(
            matches!(
                e,
                DatasetError::Count {
                    at: Origin::Line(2),
                    ..
                }
            ),
            "{e}"
        );
        let e = e.to_string();
        assert!(
            e.contains(":2: cannot count the tokens of \"hello there friend, and a long tail of w…\" with the local tokenizer"),
            "{e}"
        );
        sp.max_prompt_tokens = None;
        let s = select(&sp, 1, true, 8, &counter).await.unwrap();
        assert_eq!(s.info.selected, 2, "nothing to count, nothing to fail");
    }
}
