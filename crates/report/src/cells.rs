//! What a table reads from a run or a group of repeats: the marks beside
//! a stack, the figures only completed requests give, published figures
//! and the roofline, and the median and range over repeats.

use stackbench_core::run_file::RunFile;

use crate::table::{Cell, Mark};

/// The marks beside a stack for `runs`: `†` when the client was saturated
/// in any of them, `✗` when the stack failed its known-answer check, `¶`
/// when one is flagged (cache, unsteady, throttled).
pub fn row_marks(runs: &[&RunFile]) -> Vec<Mark> {
    let mut marks = Vec::new();
    if runs.iter().any(|r| client_saturated(r)) {
        marks.push(Mark::Saturated);
    }
    if runs.iter().any(|r| answered_wrong(r)) {
        marks.push(Mark::WrongAnswer);
    }
    if runs.iter().any(|r| flagged(r)) {
        marks.push(Mark::Flagged);
    }
    marks
}

/// Whether the run carries a hygiene flag (cache, unsteady, throttled).
pub fn flagged(r: &RunFile) -> bool {
    r.hygiene.as_ref().is_some_and(|h| !h.flags.is_empty())
}

/// Whether the stack failed its known-answer check before this run.
pub fn answered_wrong(r: &RunFile) -> bool {
    r.launch
        .as_ref()
        .and_then(|l| l.known_answer.as_ref())
        .is_some_and(|k| !k.passed)
}

/// Whether the client was the bottleneck of the run.
pub fn client_saturated(r: &RunFile) -> bool {
    r.summary.client.as_ref().is_some_and(|c| c.saturated)
}

/// Whether no measured request of `g` completed.
pub fn none_completed(g: &[&RunFile]) -> bool {
    g.iter().all(|r| r.summary.requests.ok == 0)
}

/// A figure only completed requests give: no figure and `‡` when none
/// completed.
pub fn completed_only(g: &[&RunFile], x: Option<f64>, digits: usize) -> Cell {
    match x {
        None if none_completed(g) => Cell::missing().marked([Mark::NoneCompleted]),
        _ => Cell::num(x, digits),
    }
}

/// The `requests` column: completed requests, and those cut off after
/// their first token when there were any.
pub fn requests_cell(g: &[&RunFile]) -> Cell {
    let ok: u64 = g.iter().map(|r| r.summary.requests.ok).sum();
    let partial: u64 = g.iter().map(|r| r.summary.requests.partial).sum();
    if partial > 0 {
        Cell::text(format!("{ok} (+{partial} partial)"))
    } else {
        Cell::figure(ok.to_string())
    }
}

/// The measured value's difference from the published one, in percent.
pub fn diff_pct(measured: Option<f64>, published: Option<f64>) -> Cell {
    match (measured, published) {
        (Some(m), Some(p)) if p > 0.0 => Cell::figure(format!("{:+.1}%", (m - p) / p * 100.0)),
        _ => Cell::missing(),
    }
}

/// The single-user bound memory bandwidth sets, and whether the stack
/// decodes speculatively (the bound is then per step).
pub fn roofline(r: &RunFile) -> Option<(f64, bool)> {
    let facts = r.stack.as_ref()?.model_facts.as_ref()?;
    let bw = r.suite.as_ref()?.bandwidth_gb_s?;
    let bound = facts.roofline_steps_per_s(bw)?;
    Some((bound, facts.speculative_tokens.unwrap_or(0) > 0))
}

/// The published single-user figure of the run's stack.
pub fn published_single(r: &RunFile) -> Option<f64> {
    published(r)?.single_user_tok_s
}

/// The run's stack's published figures; none for a run at a context
/// depth (the published figures are taken without one).
fn published(r: &RunFile) -> Option<&stackbench_core::stack::Reference> {
    if r.load.depth.as_ref().is_some_and(|d| d.tokens > 0) {
        return None;
    }
    r.stack.as_ref()?.reference.as_ref()
}

/// The published total at `c` users of the run's stack.
pub fn published_total(r: &RunFile, c: u32) -> Option<f64> {
    let reference = published(r)?;
    (reference.concurrency == c)
        .then_some(reference.total_tok_s)
        .flatten()
}

/// A Published cell: `x` to one decimal, marked `°` when the stack's
/// reference figures come from an in-process tool.
pub fn published_cell(r: &RunFile, x: Option<f64>) -> Cell {
    let in_process = r
        .stack
        .as_ref()
        .and_then(|s| s.reference.as_ref())
        .is_some_and(|reference| reference.in_process);
    Cell::num(x, 1).marked((in_process && x.is_some()).then_some(Mark::InProcess))
}

/// Output tokens a completed request must average for the decode time to
/// say how many streams ran at once: shorter answers are mostly prefill.
const QUEUE_MIN_TOKENS: u64 = 16;

/// Whether `r`, run with `users` closed-loop users, was a queue: the
/// server decoded fewer than half as many streams at once as it had
/// users, judged from at least two completed requests of at least
/// [`QUEUE_MIN_TOKENS`] decode tokens each on average. Also fewer than
/// half the users were cut off mid-stream when a timed run ended (how many
/// were decoding at that moment: a server decoding them all at once has
/// nearly every user mid-stream, and their decode time is not in the
/// average). Conversations with a think time are not judged: users then
/// idle between turns by design.
pub fn queued(r: &RunFile, users: u32) -> bool {
    let s = &r.summary;
    let half = f64::from(users) / 2.0;
    let long_enough = s.requests.ok >= 2 && s.decode_tokens >= QUEUE_MIN_TOKENS * s.requests.ok;
    users >= 4
        && r.load.think_time_s == 0.0
        && long_enough
        && (s.requests.partial as f64) < half
        && s.streams_at_once().is_some_and(|n| n < half)
}

/// Whether any OK request of `r` reasoned before answering.
pub fn reasoned(r: &RunFile) -> bool {
    r.summary.reasoning_requests > 0
}

/// Whether the server reported cached prompt counts in `r`.
pub fn cache_reported(r: &RunFile) -> bool {
    r.summary.cache_reported_prompt_tokens > 0
}

/// The share of `r`'s output that was reasoning, %: 0 for a run whose
/// requests completed without reasoning, none for a file written before
/// reasoning was told apart.
pub fn reasoning_pct(r: &RunFile) -> Option<f64> {
    let s = &r.summary;
    match s.reasoning_share {
        Some(x) => Some(x * 100.0),
        None => (s.ok_output_tokens > 0).then_some(0.0),
    }
}

/// The share of `r`'s prompt tokens the server took from its cache, %.
pub fn cache_hit_pct(r: &RunFile) -> Option<f64> {
    r.summary.cache_hit_share.map(|x| x * 100.0)
}

/// The median of `values` (the table's figure for repeats), or `None`.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// `min–max (n=K)` over repeats; no figure for a single run.
pub fn spread(values: &[f64]) -> Cell {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.len() < 2 {
        return Cell::missing();
    }
    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Cell::text(format!("{lo:.1}–{hi:.1} (n={})", finite.len()))
}

/// The median over a group's runs of `f`.
pub fn med(g: &[&RunFile], f: impl Fn(&RunFile) -> Option<f64>) -> Option<f64> {
    median(g.iter().filter_map(|r| f(r)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_even_counts_is_the_midpoint() {
        assert_eq!(median(vec![1.0, 3.0]), Some(2.0));
        assert_eq!(median(vec![]), None);
    }

    #[test]
    fn a_range_needs_two_runs() {
        assert_eq!(spread(&[1.0]), Cell::missing());
        assert_eq!(spread(&[44.0, 40.0, 41.0]).plain(), "40.0–44.0 (n=3)");
    }
}
