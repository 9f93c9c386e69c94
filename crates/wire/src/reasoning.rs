//! Splitting a stream's output into reasoning and answer.
//!
//! A reasoning model thinks before it answers, and servers stream the
//! thinking four ways: a field of its own (`delta.reasoning` in vLLM and
//! Ollama's `/v1`, `delta.reasoning_content` in llama-server, `thinking` in
//! Ollama's native APIs), or as `<think>`…`</think>` inside the answer text
//! when no reasoning parser is on — and then the opening tag may be in the
//! prompt (the chat template opened the block), so only `</think>` shows.
//!
//! The split is a prefix: the reasoning tokens of a request are the output
//! tokens before its first answer token (delimiters included), the answer
//! tokens the rest, so the two add up exactly to the output. The first
//! answer token is the first content event whose answer text, outside any
//! `<think>` block, has a non-whitespace character (the `"\n\n"` a parser
//! leaves after `</think>` is not an answer yet), or that carries a tool
//! call (a call is what the reasoning led to). An event that carries
//! both the end of the reasoning and the start of the answer counts as
//! answer: the boundary inside one event is unknowable from the stream.
//! Where the server reports its own reasoning count
//! (`usage.completion_tokens_details.reasoning_tokens`) it is kept beside.

/// Opening tag of a reasoning block in answer text.
const OPEN: &str = "<think>";
/// Closing tag of a reasoning block in answer text.
const CLOSE: &str = "</think>";

/// The reasoning/answer state of one stream.
#[derive(Debug, Default)]
pub struct ReasoningSplit {
    /// Tokens of the content events seen so far.
    tokens_before: u64,
    /// Content events seen so far.
    events: usize,
    /// Reasoning was seen: a reasoning field, or a think tag.
    saw_reasoning: bool,
    /// Reasoning came in a field of its own: the server's parser split
    /// the output, and the answer text is answer whatever it says (a model
    /// may write `<think>` in its answer).
    parsed: bool,
    /// Inside a `<think>` block opened in the answer text.
    in_block: bool,
    /// A `<think>` was opened in the answer text (a later `</think>` closes
    /// it, not one the template opened).
    opened_in_text: bool,
    /// The first answer event: its index and the tokens before it.
    first_answer: Option<(usize, u64)>,
    /// The answer text as the server sent it, when kept.
    text: Option<String>,
    /// The end of the last answer text, held back because it may begin a
    /// tag that the next event completes.
    pending: String,
}

/// How one stream divided into reasoning and answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReasoningOutcome {
    /// Output tokens before the first answer token, when the stream showed
    /// reasoning (all of them when no answer came).
    pub reasoning_tokens: Option<u64>,
    /// Index (among content events) of the first answer event, when the
    /// stream showed reasoning and then answered.
    pub first_answer_event: Option<usize>,
    /// The answer text as the server sent it, when it was kept.
    pub answer_text: Option<String>,
}

impl ReasoningSplit {
    /// A split that also keeps the answer text (a conversation resends it).
    pub fn keeping_text() -> Self {
        Self {
            text: Some(String::new()),
            ..Self::default()
        }
    }

    /// Takes one content event: its tokens, its bytes of reasoning-field
    /// text, its answer text, and whether it carried a tool call.
    pub fn event(
        &mut self,
        tokens: u64,
        reasoning_bytes: usize,
        answer: Option<&str>,
        tool_call: bool,
    ) {
        if reasoning_bytes > 0 {
            self.saw_reasoning = true;
            self.parsed = true;
        }
        let answer = answer.unwrap_or("");
        if let Some(t) = &mut self.text {
            t.push_str(answer);
        }
        let visible = if self.parsed {
            has_text(answer)
        } else {
            self.visible_answer(answer)
        } || tool_call;
        if visible && self.first_answer.is_none() {
            self.first_answer = Some((self.events, self.tokens_before));
        }
        self.tokens_before += tokens;
        self.events += 1;
    }

    /// Walks the think tags of `text`; true when some of it, outside a
    /// reasoning block, is not whitespace. A tag may arrive split over
    /// events (llama-server without a reasoning parser streams `</`,
    /// `think`, `>`): a trailing piece of text that could begin a tag is
    /// held back and judged with the next event's text.
    fn visible_answer(&mut self, text: &str) -> bool {
        let joined;
        let mut rest = if self.pending.is_empty() {
            text
        } else {
            joined = std::mem::take(&mut self.pending) + text;
            joined.as_str()
        };
        let mut visible = false;
        loop {
            if self.in_block {
                match rest.find(CLOSE) {
                    Some(i) => {
                        self.in_block = false;
                        rest = &rest[i + CLOSE.len()..];
                        continue;
                    }
                    None => {
                        let held = partial_tag(rest, &[CLOSE]);
                        self.pending = rest[rest.len() - held..].to_string();
                        return visible;
                    }
                }
            }
            let open = rest.find(OPEN);
            let close = rest.find(CLOSE).filter(|_| !self.opened_in_text);
            match (open, close) {
                (_, Some(c)) if open.map_or(true, |o| c < o) => {
                    // The template opened the block: everything so far
                    // was reasoning.
                    self.saw_reasoning = true;
                    self.opened_in_text = true;
                    self.first_answer = None;
                    visible = false;
                    rest = &rest[c + CLOSE.len()..];
                }
                (Some(o), _) => {
                    visible |= has_text(&rest[..o]);
                    self.saw_reasoning = true;
                    self.in_block = true;
                    self.opened_in_text = true;
                    rest = &rest[o + OPEN.len()..];
                }
                _ => {
                    let tags: &[&str] = if self.opened_in_text {
                        &[OPEN]
                    } else {
                        &[OPEN, CLOSE]
                    };
                    let held = partial_tag(rest, tags);
                    let (judged, kept) = rest.split_at(rest.len() - held);
                    self.pending = kept.to_string();
                    return visible || has_text(judged);
                }
            }
        }
    }

    /// Ends the stream: `output_tokens` is the request's output count.
    pub fn finish(self, output_tokens: u64) -> ReasoningOutcome {
        let reasoning_tokens = self.saw_reasoning.then(|| match self.first_answer {
            Some((_, before)) => before.min(output_tokens),
            None => output_tokens,
        });
        ReasoningOutcome {
            reasoning_tokens,
            first_answer_event: self
                .first_answer
                .filter(|_| self.saw_reasoning)
                .map(|(i, _)| i),
            answer_text: self.text,
        }
    }
}

/// The length of the longest end of `s` that is the beginning (not the
/// whole) of one of `tags`.
fn partial_tag(s: &str, tags: &[&str]) -> usize {
    tags.iter()
        .flat_map(|t| (1..t.len()).rev().map(move |k| &t[..k]))
        .filter(|p| s.ends_with(p))
        .map(str::len)
        .max()
        .unwrap_or(0)
}

fn has_text(s: &str) -> bool {
    s.chars().any(|c| !c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (tokens, reasoning bytes, answer) per event.
    fn split(events: &[(u64, usize, &str)]) -> ReasoningOutcome {
        let mut s = ReasoningSplit::keeping_text();
        let mut total = 0;
        for &(t, r, a) in events {
            s.event(t, r, Some(a), false);
            total += t;
        }
        s.finish(total)
    }

    #[test]
    fn a_reasoning_field_then_the_answer() {
        let o = split(&[
            (1, 4, ""),
            (2, 6, ""),
            (1, 0, "\n\n"),
            (1, 0, "Paris"),
            (1, 0, "."),
        ]);
        assert_eq!(
            o.reasoning_tokens,
            Some(4),
            "the blank line is not an answer yet"
        );
        assert_eq!(o.first_answer_event, Some(3));
        assert_eq!(o.answer_text.as_deref(), Some("\n\nParis."));
    }

    /// Behind a reasoning parser, tags the model writes in its answer are
    /// answer text.
    #[test]
    fn a_parsed_stream_takes_its_content_as_the_answer() {
        let o = split(&[(1, 4, ""), (1, 0, "<think>"), (1, 0, " more")]);
        assert_eq!(
            (o.reasoning_tokens, o.first_answer_event),
            (Some(1), Some(1))
        );
    }

    #[test]
    fn no_reasoning_means_no_split() {
        let o = split(&[(1, 0, "Hello"), (1, 0, " world")]);
        assert_eq!(
            o,
            ReasoningOutcome {
                answer_text: Some("Hello world".into()),
                ..ReasoningOutcome::default()
            }
        );
    }

    #[test]
    fn think_tags_in_the_content() {
        let o = split(&[
            (1, 0, "<think>"),
            (3, 0, "hmm, so"),
            (1, 0, "</think>"),
            (1, 0, "\n\nYes"),
        ]);
        assert_eq!(
            (o.reasoning_tokens, o.first_answer_event),
            (Some(5), Some(3))
        );
        // Tags, reasoning and answer in one event: the event is the answer.
        let o = split(&[(4, 0, "<think>a</think>b")]);
        assert_eq!(
            (o.reasoning_tokens, o.first_answer_event),
            (Some(0), Some(0))
        );
    }

    #[test]
    fn a_close_without_an_open_makes_everything_before_it_reasoning() {
        let o = split(&[
            (2, 0, "Let me"),
            (3, 0, " think."),
            (1, 0, "</think>"),
            (1, 0, "42"),
        ]);
        assert_eq!(
            (o.reasoning_tokens, o.first_answer_event),
            (Some(6), Some(3))
        );
        // A second stray close is answer text, not a second reset.
        let o = split(&[
            (1, 0, "x"),
            (1, 0, "</think>"),
            (1, 0, "y"),
            (1, 0, "</think>z"),
        ]);
        assert_eq!(
            (o.reasoning_tokens, o.first_answer_event),
            (Some(2), Some(2))
        );
    }

    /// llama-server with `reasoning_format: none` and a template that opens
    /// the block: the tags come in pieces, as separate content chunks.
    #[test]
    fn tags_split_over_events() {
        let o = split(&[
            (1, 0, "<think>\n\n"),
            (2, 0, "The sky"),
            (1, 0, "</"),
            (1, 0, "think"),
            (1, 0, ">"),
            (1, 0, "\n\nBlue"),
        ]);
        assert_eq!(
            (o.reasoning_tokens, o.first_answer_event),
            (Some(6), Some(5))
        );
        let o = split(&[
            (1, 0, "<"),
            (1, 0, "think>"),
            (1, 0, "x</think"),
            (1, 0, ">y"),
        ]);
        assert_eq!(
            (o.reasoning_tokens, o.first_answer_event),
            (Some(3), Some(3))
        );
        // A '<' that begins no tag is answer text, judged one event late.
        let o = split(&[(3, 0, "<think>x</think>"), (1, 0, "a <"), (1, 0, "b")]);
        assert_eq!(o.first_answer_event, Some(1));
        let o = split(&[(3, 0, "<think>x</think>"), (1, 0, "<"), (1, 0, "b")]);
        assert_eq!(o.first_answer_event, Some(2));
    }

    /// Reasoning that ends in a tool call: the call is what follows the
    /// reasoning, as an answer would.
    #[test]
    fn a_tool_call_ends_the_reasoning() {
        let mut s = ReasoningSplit::default();
        s.event(3, 9, None, false);
        s.event(2, 0, None, true);
        let o = s.finish(5);
        assert_eq!(
            (o.reasoning_tokens, o.first_answer_event),
            (Some(3), Some(1))
        );
    }

    #[test]
    fn thinking_that_never_ends_is_all_reasoning() {
        let o = split(&[(1, 3, ""), (1, 3, "")]);
        assert_eq!((o.reasoning_tokens, o.first_answer_event), (Some(2), None));
        let o = split(&[(1, 0, "<think>"), (5, 0, "still going")]);
        assert_eq!((o.reasoning_tokens, o.first_answer_event), (Some(6), None));
    }

    #[test]
    fn reasoning_is_bounded_by_the_output_count() {
        let mut s = ReasoningSplit::default();
        s.event(3, 2, None, false);
        assert_eq!(s.finish(2).reasoning_tokens, Some(2));
    }
}
