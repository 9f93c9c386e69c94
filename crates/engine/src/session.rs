//! Multi-turn conversations (`--turns K`): each closed-loop worker holds
//! one conversation at a time. Turn k sends the history so far — every
//! earlier user message and the answers as the server returned them — and
//! one new user message: the next generated prompt (of the asked length),
//! or the next user turn of a dataset conversation. A conversation ends
//! after its turns, or when a turn fails (its history would be wrong), and
//! the worker starts the next one.
//!
//! The answer resent is the stream's answer text (a reasoning parser's
//! reasoning is not resent, as chat clients do not resend it; a `<think>`
//! block the server left in the content is resent as it came).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use stackbench_wire::body::{Prompt, Request};

/// The multi-turn part of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPlan {
    /// Turns per conversation (a dataset conversation with fewer user
    /// turns has fewer).
    pub turns: u32,
    /// Pause between a turn's answer and the next turn (the user reading
    /// and typing); not part of any request's time.
    pub think_time: Duration,
}

/// Where a request sits in its conversation (its record carries it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TurnOf {
    /// The conversation, unique in the run.
    pub(crate) session: u64,
    /// The turn, from 1.
    pub(crate) turn: u32,
}

/// One worker's conversation.
#[derive(Debug)]
pub(crate) struct Conversation {
    session: u64,
    /// Turns sent so far.
    sent: u32,
    /// Turns this conversation has.
    turns: u32,
    /// A dataset conversation's user turns (each: the messages up to and
    /// including its user message, the dataset's own answers left out);
    /// `None`: each turn's message is the next generated prompt.
    script: Option<Vec<Vec<Value>>>,
    /// A dataset conversation's output length per turn.
    script_max_tokens: Option<u32>,
    /// The messages sent and answered so far.
    history: Vec<Value>,
}

impl Conversation {
    /// Conversation `session` of at most `turns` turns, starting from the
    /// first request's `base` (a dataset conversation brings its own
    /// user turns).
    pub(crate) fn start(session: u64, turns: u32, base: &Request) -> Self {
        let script = match &base.prompt {
            Prompt::Messages(m) => Some(user_turns(m)),
            Prompt::Text(_) => None,
        };
        let turns = match &script {
            Some(s) => turns.min(u32::try_from(s.len()).unwrap_or(u32::MAX)).max(1),
            None => turns.max(1),
        };
        Self {
            session,
            sent: 0,
            turns,
            script_max_tokens: base.max_tokens,
            script,
            history: Vec::new(),
        }
    }

    /// Whether every turn has been sent.
    pub(crate) fn done(&self) -> bool {
        self.sent >= self.turns
    }

    /// The next turn's request: the history plus `base`'s new user
    /// message, and where it sits.
    pub(crate) fn next(&mut self, base: Request) -> (Request, TurnOf) {
        let new: Vec<Value> = match (&self.script, &base.prompt) {
            (Some(s), _) => s.get(self.sent as usize).cloned().unwrap_or_default(),
            (None, Prompt::Text(t)) => vec![json!({"role": "user", "content": &**t})],
            (None, Prompt::Messages(m)) => m.as_array().cloned().unwrap_or_default(),
        };
        self.history.extend(new);
        self.sent += 1;
        let at = TurnOf {
            session: self.session,
            turn: self.sent,
        };
        let max_tokens = match self.script {
            Some(_) => self.script_max_tokens,
            None => base.max_tokens,
        };
        let request = Request {
            prompt: Prompt::Messages(Arc::new(Value::Array(self.history.clone()))),
            keep_answer: !self.done(),
            max_tokens,
            ..base
        };
        (request, at)
    }

    /// The server's answer to the last turn: it joins the history.
    pub(crate) fn answered(&mut self, answer: String) {
        self.history
            .push(json!({"role": "assistant", "content": answer}));
    }
}

/// A conversation's user turns: each user message with the system and
/// other non-assistant messages before it; the dataset's assistant
/// messages are dropped (the server's own answers take their place).
fn user_turns(messages: &Value) -> Vec<Vec<Value>> {
    let mut turns = Vec::new();
    let mut pending = Vec::new();
    for m in messages.as_array().map(Vec::as_slice).unwrap_or_default() {
        match m["role"].as_str() {
            Some("assistant") => {}
            Some("user") => {
                pending.push(m.clone());
                turns.push(std::mem::take(&mut pending));
            }
            _ => pending.push(m.clone()),
        }
    }
    if turns.is_empty() && !pending.is_empty() {
        turns.push(pending);
    }
    turns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: &Request) -> Value {
        match &r.prompt {
            Prompt::Messages(m) => (**m).clone(),
            Prompt::Text(t) => json!(t.to_string()),
        }
    }

    #[test]
    fn each_turn_resends_the_history_with_the_answers_as_returned() {
        let mut c = Conversation::start(7, 3, &Request::text("a"));
        let (r1, at1) = c.next(Request::text("a"));
        assert_eq!(
            at1,
            TurnOf {
                session: 7,
                turn: 1
            }
        );
        assert!(r1.keep_answer);
        c.answered("A!".into());
        let (r2, _) = c.next(Request::text("b"));
        assert_eq!(
            text(&r2),
            json!([
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "A!"},
                {"role": "user", "content": "b"}
            ])
        );
        c.answered("B".into());
        let (r3, at3) = c.next(Request::text("c"));
        assert_eq!(at3.turn, 3);
        assert!(!r3.keep_answer, "the last turn's answer is not needed");
        assert!(c.done());
    }

    #[test]
    fn a_dataset_conversation_brings_its_user_turns_and_drops_its_answers() {
        let convo = Request::new(
            Prompt::Messages(Arc::new(json!([
                {"role": "system", "content": "s"},
                {"role": "user", "content": "u1"},
                {"role": "assistant", "content": "theirs"},
                {"role": "user", "content": "u2"},
            ]))),
            Some(5),
        );
        let mut c = Conversation::start(1, 10, &convo);
        let (r1, _) = c.next(convo.clone());
        assert_eq!(
            text(&r1),
            json!([{"role": "system", "content": "s"}, {"role": "user", "content": "u1"}])
        );
        assert_eq!(r1.max_tokens, Some(5));
        c.answered("ours".into());
        let (r2, at) = c.next(convo);
        assert_eq!(
            text(&r2)[2],
            json!({"role": "assistant", "content": "ours"})
        );
        assert_eq!(text(&r2)[3]["content"], "u2");
        assert_eq!(at.turn, 2);
        assert!(c.done(), "two user turns: two turns, whatever --turns says");
    }
}
