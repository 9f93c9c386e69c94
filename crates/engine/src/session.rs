//! Multi-turn conversations (`--turns K`): each closed-loop worker holds
//! one conversation at a time. Turn k sends the history so far — every
//! earlier user message and the answers as the server returned them — and
//! one new user message: the next generated prompt (of the asked length),
//! or the next user turn of a dataset conversation. Conversation k of a
//! run (warm-up first) is dataset entry k, whichever worker holds it and
//! however the turns interleave (a `prompt` entry is a conversation of one
//! turn). A conversation ends
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

/// A phase's conversations: their numbers and, in a count-bounded phase,
/// the turns not yet promised to one. Each conversation takes its number
/// and its turns together when it starts, so conversation k is always
/// dataset entry k and a run of `-n` turns starts the same conversations
/// whatever the concurrency: a worker cannot start one that another
/// worker's later turns then leave unfinished.
#[derive(Debug)]
pub(crate) struct SessionBook {
    next: u64,
    turns_left: Option<u64>,
}

impl SessionBook {
    /// Conversations numbered from `first`, sharing `turns` turns (`None`:
    /// a timed phase, no limit).
    pub(crate) fn new(first: u64, turns: Option<u64>) -> Self {
        Self {
            next: first,
            turns_left: turns,
        }
    }

    /// The next conversation, of at most `turns` turns and of those still
    /// unpromised, from `entry` (a dataset's entry by conversation
    /// number; `None`: generated prompts); `None` when none are left.
    pub(crate) fn open(
        &mut self,
        turns: u32,
        entry: impl FnOnce(u64) -> Option<Request>,
    ) -> Option<Conversation> {
        let turns = match self.turns_left {
            Some(0) => return None,
            Some(left) => turns.min(u32::try_from(left).unwrap_or(u32::MAX)),
            None => turns,
        };
        let session = self.next;
        self.next += 1;
        let c = match entry(session) {
            Some(e) => Conversation::scripted(session, turns, &e),
            None => Conversation::generated(session, turns),
        };
        if let Some(left) = &mut self.turns_left {
            *left = left.saturating_sub(u64::from(c.turns));
        }
        Some(c)
    }

    /// Takes back the turns a conversation that ended early left unsent,
    /// for the next one.
    pub(crate) fn give_back(&mut self, c: &Conversation) {
        if let Some(left) = &mut self.turns_left {
            *left += u64::from(c.turns.saturating_sub(c.sent));
        }
    }
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
    /// Conversation `session` of `turns` turns, each a new generated
    /// prompt (the request each turn is sent as).
    pub(crate) fn generated(session: u64, turns: u32) -> Self {
        Self::new(session, turns.max(1), None, None)
    }

    /// Conversation `session` of dataset entry `entry`: its user turns, at
    /// most `turns` of them (a `prompt` entry is one user turn), each with
    /// the entry's output length.
    pub(crate) fn scripted(session: u64, turns: u32, entry: &Request) -> Self {
        let script = match &entry.prompt {
            Prompt::Messages(m) => user_turns(m),
            Prompt::Text(t) => vec![vec![json!({"role": "user", "content": &**t})]],
        };
        let turns = turns
            .min(u32::try_from(script.len()).unwrap_or(u32::MAX))
            .max(1);
        Self::new(session, turns, Some(script), entry.max_tokens)
    }

    fn new(
        session: u64,
        turns: u32,
        script: Option<Vec<Vec<Value>>>,
        script_max_tokens: Option<u32>,
    ) -> Self {
        Self {
            session,
            sent: 0,
            turns,
            script,
            script_max_tokens,
            history: Vec::new(),
        }
    }

    /// Whether every turn has been sent.
    pub(crate) fn done(&self) -> bool {
        self.sent >= self.turns
    }

    /// The next turn's request: the history plus the next user message
    /// (the script's, else `base`'s generated prompt), sent as `base`
    /// (its salt), and where it sits.
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
        let mut c = Conversation::generated(7, 3);
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
        let mut c = Conversation::scripted(1, 10, &convo);
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

    /// Conversations take their numbers and turns in order until the
    /// phase's turns are promised; a failed one hands its unsent turns on.
    #[test]
    fn conversations_are_numbered_and_given_the_phase_turns_in_order() {
        let mut book = SessionBook::new(10, Some(5));
        let entry = |k: u64| {
            Some(Request::new(
                Prompt::Text(format!("entry {k}").into()),
                None,
            ))
        };
        let a = book.open(2, |_| None).unwrap();
        let mut b = book.open(2, entry).unwrap();
        let c = book.open(3, |_| None).unwrap();
        assert_eq!(
            (a.session, a.turns, b.session, b.turns, c.session, c.turns),
            (10, 2, 11, 1, 12, 2),
            "a prompt entry is one turn; the last gets what is left"
        );
        let (r, _) = b.next(Request::text("x"));
        assert_eq!(text(&r)[0]["content"], "entry 11");
        assert!(book.open(2, entry).is_none(), "5 turns promised");
        book.give_back(&c);
        let d = book.open(3, |_| None).unwrap();
        assert_eq!((d.session, d.turns), (13, 2), "c's two unsent turns");
        assert!(SessionBook::new(0, None).open(100, |_| None).is_some());
    }

    #[test]
    fn a_dataset_prompt_is_a_conversation_of_one_turn() {
        let mut c = Conversation::scripted(3, 4, &Request::new(Prompt::Text("p".into()), Some(7)));
        let (r, at) = c.next(Request::text("another entry's prompt"));
        assert_eq!(text(&r), json!([{"role": "user", "content": "p"}]));
        assert_eq!((at.turn, r.max_tokens), (1, Some(7)));
        assert!(c.done() && !r.keep_answer);
    }
}
