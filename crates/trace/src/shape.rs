//! A trace fitted to the machine at hand, and said so: a time slice
//! (`--window`), a speed (`--speed`), prompt lengths scaled with their
//! blocks (`--trace-scale`) and capped (`--trace-max-input`,
//! `--trace-max-output`), and a request limit. Every change is counted,
//! so the replay's report says how far it is from the recorded trace.
//!
//! Scaling multiplies a prompt's length and the format's block size by
//! the same factor, so the share of each prompt that repeats an earlier
//! one stays what the trace recorded (a 512-token block at 0.125 is a
//! 64-token block). A cap keeps the prompt's first blocks: its start, and
//! so its sharing with other prompts, is kept.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::{Entry, Trace};

/// What a replay does to a trace before sending it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shaping {
    /// The slice of trace time replayed, seconds from the first entry:
    /// `[from, to)`; `None`: all of it. The slice's first entry is sent
    /// at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_s: Option<(f64, f64)>,
    /// Time runs this many times faster than recorded (think time too).
    pub speed: f64,
    /// Prompt lengths and the block size, times this.
    pub scale: f64,
    /// Prompt lengths (after scaling) cut to this many tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_input: Option<u32>,
    /// Output lengths cut to this many tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output: Option<u32>,
    /// Only the first this many entries of the slice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

impl Default for Shaping {
    fn default() -> Self {
        Self {
            window_s: None,
            speed: 1.0,
            scale: 1.0,
            max_input: None,
            max_output: None,
            limit: None,
        }
    }
}

/// A shaping no replay can use: what is wrong, naming the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShapeError(pub String);

/// What shaping changed, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    /// Entries of the file.
    pub file_entries: u64,
    /// Entries left out by the window or the limit.
    pub left_out: u64,
    /// Prompts cut by `max_input`.
    pub inputs_capped: u64,
    /// Outputs cut by `max_output`.
    pub outputs_capped: u64,
    /// Session links cut (the parent was left out, or not in the file):
    /// those entries start at their own time.
    pub links_cut: u64,
}

impl Shaping {
    /// Why the shaping cannot be used, if it cannot.
    pub fn check(&self) -> Result<(), ShapeError> {
        self.why_not().map_err(ShapeError)
    }

    fn why_not(&self) -> Result<(), String> {
        if !(self.speed.is_finite() && self.speed > 0.0) {
            return Err(format!(
                "--speed must be a positive number, got {}",
                self.speed
            ));
        }
        if !(self.scale.is_finite() && self.scale > 0.0 && self.scale <= 1.0) {
            return Err(format!(
                "--trace-scale must be in (0, 1], got {}",
                self.scale
            ));
        }
        if let Some((from, to)) = self.window_s {
            if !(from.is_finite() && to.is_finite() && from >= 0.0 && to > from) {
                return Err(format!(
                    "--window must be FROM..TO seconds with 0 <= FROM < TO, got {from}..{to}"
                ));
            }
        }
        if self.max_input == Some(0) || self.max_output == Some(0) || self.limit == Some(0) {
            return Err("a trace cap or limit of 0 leaves nothing to send".into());
        }
        Ok(())
    }

    /// `trace` as this shaping replays it, and what changed.
    pub fn apply(&self, trace: &Trace) -> (Trace, Changed) {
        let mut changed = Changed {
            file_entries: trace.entries.len() as u64,
            links_cut: trace.orphans,
            ..Changed::default()
        };
        let kept = self.kept(trace);
        changed.left_out = changed.file_entries - kept.len() as u64;
        let first_at = kept.first().map_or(0, |i| trace.entries[*i].at_us);
        let new_index: HashMap<usize, usize> =
            kept.iter().enumerate().map(|(n, o)| (*o, n)).collect();
        let block = trace.block_tokens.map(|b| scaled(b, self.scale));
        let entries = kept
            .iter()
            .map(|&old| {
                let e = &trace.entries[old];
                let mut out = self.entry(e, first_at, block, &mut changed);
                if let Some(link) = &mut out.link {
                    let parent = link.parent.and_then(|p| new_index.get(&p).copied());
                    changed.links_cut += u64::from(link.parent.is_some() && parent.is_none());
                    link.parent = parent;
                }
                out
            })
            .collect();
        let shaped = Trace {
            format: trace.format,
            block_tokens: block,
            entries,
            orphans: changed.links_cut,
        };
        (shaped, changed)
    }

    /// The indices of the entries in the window, up to the limit.
    fn kept(&self, trace: &Trace) -> Vec<usize> {
        let limit = self
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        trace
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                self.window_s.map_or(true, |(from, to)| {
                    let s = e.at_us as f64 / 1e6;
                    s >= from && s < to
                })
            })
            .map(|(i, _)| i)
            .take(limit)
            .collect()
    }

    /// One entry, rebased on `first_at`, sped up, scaled and capped.
    fn entry(&self, e: &Entry, first_at: u64, block: Option<u32>, changed: &mut Changed) -> Entry {
        let mut out = e.clone();
        out.at_us = ((e.at_us - first_at) as f64 / self.speed).round() as u64;
        if let Some(link) = &mut out.link {
            link.think_us = link
                .think_us
                .map(|t| (t as f64 / self.speed).round() as u64);
        }
        let input = scaled(e.input_tokens, self.scale);
        out.input_tokens = match self.max_input {
            Some(cap) if input > cap => {
                changed.inputs_capped += 1;
                cap
            }
            _ => input,
        };
        if let Some(cap) = self.max_output.filter(|c| e.output_tokens > *c) {
            changed.outputs_capped += 1;
            out.output_tokens = cap;
        }
        if let Some(b) = block {
            let blocks = out.input_tokens.div_ceil(b) as usize;
            out.blocks.truncate(blocks);
        }
        out
    }
}

/// `n × scale`, rounded, at least 1 (a scaled block or prompt is never
/// empty).
fn scaled(n: u32, scale: f64) -> u32 {
    ((f64::from(n) * scale).round() as u32).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{read, Format};

    fn bailian() -> Trace {
        let line = |chat: i64, parent: i64, t: f64, input: u32, ids: &str| {
            format!(
                r#"{{"chat_id": {chat}, "parent_chat_id": {parent}, "timestamp": {t}, "input_length": {input}, "output_length": 100, "turn": 1, "hash_ids": [{ids}]}}"#
            )
        };
        let text = [
            line(1, -1, 0.0, 64, "1,2,3,4"),
            line(2, 1, 1.0, 80, "1,2,3,4,5"),
            line(3, -1, 2.0, 20, "9,10"),
            line(4, 3, 3.0, 40, "9,10,11"),
        ]
        .join("\n");
        read(Format::Bailian, text.as_bytes()).unwrap()
    }

    #[test]
    fn a_window_keeps_its_slice_rebased_and_cuts_the_links_it_leaves_out() {
        let s = Shaping {
            window_s: Some((1.0, 3.5)),
            speed: 2.0,
            ..Shaping::default()
        };
        let (t, changed) = s.apply(&bailian());
        let got: Vec<_> = t
            .entries
            .iter()
            .map(|e| (e.line, e.at_us, e.link.as_ref().unwrap().parent))
            .collect();
        assert_eq!(
            got,
            vec![(2, 0, None), (3, 500_000, None), (4, 1_000_000, Some(1))]
        );
        assert_eq!((changed.left_out, changed.links_cut), (1, 1));
    }

    #[test]
    fn scaling_shrinks_prompts_and_blocks_together_and_caps_keep_the_first_blocks() {
        let s = Shaping {
            scale: 0.5,
            max_input: Some(30),
            max_output: Some(60),
            limit: Some(3),
            ..Shaping::default()
        };
        let (t, changed) = s.apply(&bailian());
        assert_eq!(t.block_tokens, Some(8));
        let got: Vec<_> = t
            .entries
            .iter()
            .map(|e| (e.input_tokens, e.output_tokens, e.blocks.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (30, 60, vec![1, 2, 3, 4]),
                (30, 60, vec![1, 2, 3, 4]),
                (10, 60, vec![9, 10])
            ]
        );
        assert_eq!(
            (
                changed.inputs_capped,
                changed.outputs_capped,
                changed.left_out
            ),
            (2, 3, 1)
        );
    }

    #[test]
    fn a_shaping_that_leaves_nothing_or_runs_backwards_is_refused() {
        assert!(Shaping::default().check().is_ok());
        for bad in [
            Shaping {
                speed: 0.0,
                ..Shaping::default()
            },
            Shaping {
                scale: 2.0,
                ..Shaping::default()
            },
            Shaping {
                window_s: Some((5.0, 5.0)),
                ..Shaping::default()
            },
            Shaping {
                max_input: Some(0),
                ..Shaping::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
