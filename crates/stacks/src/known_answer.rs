//! A stack's known-answer request (`[known-answer]`), asked once the
//! server is ready and before the benchmark: the answer and whether it
//! passed go into `run.json`, and the tables mark a stack that answered
//! wrong. A question that gets no answer at all (an error) counts as
//! wrong, with the error as the answer.
//!
//! Only the answer is judged, never the reasoning: a thinking model that
//! wonders "is it 391?" and then answers 17 is wrong. The expected word or
//! number must stand whole (`391` is not in `3910`), or the answer must
//! match the stack's pattern; a reply whose budget ended mid-thought has
//! no answer, and fails saying so.

use stackbench_backends::{ControlClient, KnownAnswerReply};
use stackbench_core::kinds::{FlavorChoice, ServerKind};
use stackbench_core::run_file::KnownAnswerResult;
use stackbench_core::stack::{KnownAnswer, StackConfig};

/// Characters of the answer kept in `run.json`.
const KEEP_CHARS: usize = 500;

/// Why a reply with reasoning and no answer after it fails.
pub(crate) const STILL_REASONING: &str =
    "the reply ended while still reasoning: raise max tokens ([known-answer] max-tokens) / lower thinking budget";

/// Asks `check` of the server `control` talks to, as `stack` is
/// configured.
pub async fn check_known_answer(
    stack: &StackConfig,
    check: &KnownAnswer,
    control: &ControlClient,
    progress: &(dyn Fn(&str) + Sync),
) -> KnownAnswerResult {
    let (answer, failure) = match ask(stack, check, control, progress).await {
        Ok(reply) => {
            let failure = judge(&reply, check).err();
            (reply.answer, failure)
        }
        Err(e) => (format!("error: {e}"), Some(e)),
    };
    KnownAnswerResult {
        prompt: check.prompt.clone(),
        expect: check.expect.clone().unwrap_or_default(),
        expect_pattern: check.expect_pattern.clone(),
        answer: answer.chars().take(KEEP_CHARS).collect(),
        passed: failure.is_none(),
        reason: failure,
    }
}

/// Whether `reply` passes `check`, or why not.
fn judge(reply: &KnownAnswerReply, check: &KnownAnswer) -> Result<(), String> {
    if reply.still_reasoning() {
        return Err(STILL_REASONING.into());
    }
    match (&check.expect_pattern, &check.expect) {
        (Some(pattern), _) => match regex::Regex::new(pattern) {
            Ok(re) if re.is_match(&reply.answer) => Ok(()),
            Ok(_) => Err(format!("the answer does not match `{pattern}`")),
            Err(e) => Err(format!("expect-pattern is not a valid pattern: {e}")),
        },
        (None, Some(word)) if holds_whole(&reply.answer, word) => Ok(()),
        (None, Some(word)) => Err(format!("the answer does not hold '{word}' whole")),
        (None, None) => Err("the check expects nothing: give expect or expect-pattern".into()),
    }
}

/// Whether `answer` holds `expect` as a whole word, number or phrase,
/// case-insensitively: not as part of a longer one (`391` is not in
/// `3910`, `1391`, `391.5`, `0.391` or `1,391`).
fn holds_whole(answer: &str, expect: &str) -> bool {
    let answer = answer.to_lowercase();
    let expect = expect.trim().to_lowercase();
    let (Some(first), Some(last)) = (expect.chars().next(), expect.chars().last()) else {
        return false;
    };
    answer.match_indices(&expect).any(|(at, m)| {
        let before = answer[..at].chars().rev();
        let after = answer[at + m.len()..].chars();
        !continues(before, first) && !continues(after, last)
    })
}

/// Whether the text beside a match (`side`, nearest character first)
/// continues the word or number whose character at that edge is `edge`:
/// a letter or digit beside a letter or digit, or a digit beyond a `.` or
/// `,` beside a digit (`391.5`, `1,391`).
fn continues(mut side: impl Iterator<Item = char>, edge: char) -> bool {
    if !edge.is_alphanumeric() {
        return false;
    }
    match side.next() {
        Some(c) if c.is_alphanumeric() || c == '_' => true,
        Some('.' | ',') if edge.is_ascii_digit() => side.next().is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    }
}

async fn ask(
    stack: &StackConfig,
    check: &KnownAnswer,
    control: &ControlClient,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<KnownAnswerReply, String> {
    let model = match &stack.model {
        Some(m) => m.clone(),
        None => stackbench_backends::list_models(control)
            .await
            .map_err(|e| format!("no model named and none listed: {e}"))?
            .into_iter()
            .next()
            .ok_or("no model named and the server lists none")?,
    };
    if stack.flavor == FlavorChoice::Fixed(ServerKind::Ollama) {
        stackbench_backends::ollama_ensure_model(control, &model, progress)
            .await
            .map_err(|e| e.to_string())?;
    }
    let api = stack.api;
    let extra: serde_json::Map<String, serde_json::Value> = stack
        .extra_body
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let body = stackbench_backends::known_answer_body(
        api,
        &model,
        &check.prompt,
        check.max_tokens,
        &extra,
    );
    stackbench_backends::ask_known_answer(control, api, &body)
        .await
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use stackbench_backends::known_answer_reply;
    use stackbench_core::kinds::Api;

    fn expecting(expect: &str) -> KnownAnswer {
        KnownAnswer {
            prompt: "What is 17 * 23?".into(),
            expect: Some(expect.into()),
            expect_pattern: None,
            max_tokens: 32,
        }
    }

    fn matching(pattern: &str) -> KnownAnswer {
        KnownAnswer {
            expect: None,
            expect_pattern: Some(pattern.into()),
            ..expecting("")
        }
    }

    /// Whether a reply with `answer` and no reasoning passes `check`.
    fn holds(answer: &str, check: &KnownAnswer) -> bool {
        let reply = KnownAnswerReply {
            answer: answer.into(),
            reasoned: false,
        };
        judge(&reply, check).is_ok()
    }

    #[test]
    fn a_number_matches_only_as_a_whole_number() {
        let check = expecting("391");
        for answer in ["391", "The answer is 391.", "17 * 23 = **391**", "(391)"] {
            assert!(holds(answer, &check), "{answer}");
        }
        for answer in [
            "3910",
            "1391",
            "The answer is 3912.",
            "391.5",
            "0.391",
            "1,391",
        ] {
            assert!(!holds(answer, &check), "{answer}");
        }
    }

    #[test]
    fn a_word_matches_only_as_a_whole_word_in_any_case() {
        let check = expecting("Paris");
        assert!(holds("The capital of France is paris.", &check));
        assert!(!holds("Parisian cafés", &check));
        assert!(!holds("Comparison", &check));
    }

    #[test]
    fn a_pattern_is_matched_against_the_answer() {
        let check = matching(r"(?i)\b391\b|three hundred (and )?ninety-one");
        assert!(holds("It is Three hundred and ninety-one.", &check));
        assert!(holds("391", &check));
        assert!(!holds("3910", &check));
        let reply = KnownAnswerReply {
            answer: "17".into(),
            reasoned: false,
        };
        let why = judge(&reply, &check).expect_err("17 is wrong");
        assert!(why.contains("does not match"), "{why}");
    }

    #[test]
    fn a_reply_that_ended_while_still_reasoning_fails_saying_so() {
        let cut = known_answer_reply(
            Api::Chat,
            &json!({"choices":[{"message":{"content":null,"reasoning_content":"17 * 23 is 391, let me check"}}]}),
        )
        .expect("a reply");
        let why = judge(&cut, &expecting("391")).expect_err("no answer yet");
        assert!(
            why.starts_with("the reply ended while still reasoning: raise max tokens"),
            "{why}"
        );
        let open = known_answer_reply(
            Api::Completions,
            &json!({"choices":[{"text":"<think>17 * 23 is 391"}]}),
        )
        .expect("a reply");
        assert_eq!(judge(&open, &expecting("391")), Err(STILL_REASONING.into()));
    }

    #[test]
    fn only_the_answer_is_judged() {
        // "is it 391?" mid-thought, then a wrong answer: wrong.
        let wrong = known_answer_reply(
            Api::Completions,
            &json!({"choices":[{"text":"<think>is it 391?</think>It is 17."}]}),
        )
        .expect("a reply");
        assert!(judge(&wrong, &expecting("391")).is_err());
        // Reasoning, then the right answer: right.
        let right = known_answer_reply(
            Api::OllamaChat,
            &json!({"message":{"content":"391","thinking":"17 * 20 + 17 * 3"}}),
        )
        .expect("a reply");
        assert_eq!(judge(&right, &expecting("391")), Ok(()));
    }
}
