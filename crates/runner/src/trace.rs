//! `--trace`: which trace a run replays and how it is fitted to the
//! machine. A trace is a file (`--trace FILE --trace-format F`) or one of
//! the slices shipped under `datasets/traces/` (`--trace mooncake`), which
//! are compiled in, so a replay works offline from a fresh clone. The file
//! is read whole and checked before anything is sent: a line that cannot
//! be read fails the run, naming file and line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use stackbench_core::replay::TraceLoad;
use stackbench_engine::{BlockPrompts, ReplayPlan};
use stackbench_trace::shape::Shaping;
use stackbench_trace::{Format, Trace};

use crate::error::RunnerError;

/// A slice shipped with stackbench: its name, format and bytes.
struct Embedded {
    name: &'static str,
    format: Format,
    bytes: &'static [u8],
}

/// The slices under `datasets/traces/` (their README says where each
/// comes from, its licence and how it was cut).
const EMBEDDED: &[Embedded] = &[
    Embedded {
        name: "mooncake",
        format: Format::Mooncake,
        bytes: include_bytes!("../../../datasets/traces/mooncake.jsonl"),
    },
    Embedded {
        name: "azure",
        format: Format::Azure,
        bytes: include_bytes!("../../../datasets/traces/azure.csv"),
    },
    Embedded {
        name: "agentic",
        format: Format::Agentic,
        bytes: include_bytes!("../../../datasets/traces/agentic.jsonl"),
    },
];

/// The names `--trace` takes for the shipped slices.
pub fn embedded_names() -> Vec<&'static str> {
    EMBEDDED.iter().map(|e| e.name).collect()
}

/// What a run replays.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSpec {
    /// A shipped slice's name, or a file.
    pub source: PathBuf,
    /// The file's format (`None`: a shipped slice's own, else an error).
    pub format: Option<Format>,
    /// Window, speed, scale, caps and limit.
    pub shaping: Shaping,
    /// At most this many requests in flight.
    pub max_concurrency: Option<u32>,
    /// Send recorded chats without their tools (`--trace-no-tools`): for
    /// a model or server that refuses tools (Ollama answers HTTP 400 "does
    /// not support tools" for a model whose template has none).
    pub no_tools: bool,
}

/// A trace read and shaped, with what `run.json` says of it.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    pub(crate) trace: Trace,
    pub(crate) info: TraceLoad,
}

impl TraceSpec {
    /// The bytes, format and `run.json` name of the source.
    fn bytes(&self) -> Result<(std::borrow::Cow<'static, [u8]>, Format, String), RunnerError> {
        let name = self.source.to_string_lossy();
        if let Some(e) = EMBEDDED.iter().find(|e| e.name == name) {
            if self.format.is_some_and(|f| f != e.format) {
                return Err(RunnerError::Config(format!(
                    "--trace {name} is the shipped {} slice; --trace-format {} does not apply (give a file for another format)",
                    e.format,
                    self.format.map_or("", Format::name)
                )));
            }
            return Ok((e.bytes.into(), e.format, format!("embedded:{name}")));
        }
        let format = self.format.ok_or_else(|| {
            RunnerError::Config(format!(
                "--trace {name}: not a shipped slice ({}); a file needs --trace-format ({})",
                embedded_names().join(", "),
                Format::ALL.map(Format::name).join(", ")
            ))
        })?;
        let bytes = std::fs::read(&self.source)
            .map_err(|e| RunnerError::Config(format!("cannot read trace {name}: {e}")))?;
        Ok((bytes.into(), format, self.source.display().to_string()))
    }

    /// Reads and shapes the trace; the first bad line is the error.
    pub(crate) fn load(&self) -> Result<Loaded, RunnerError> {
        self.shaping
            .check()
            .map_err(|e| RunnerError::Config(e.to_string()))?;
        let (bytes, format, source) = self.bytes()?;
        let raw = stackbench_trace::read(format, &bytes).map_err(|e| {
            RunnerError::Config(format!(
                "trace {}:{}: {}",
                display(&self.source),
                e.line,
                e.why
            ))
        })?;
        let (mut trace, changed) = self.shaping.apply(&raw);
        if self.no_tools {
            for chat in trace.entries.iter_mut().filter_map(|e| e.chat.as_mut()) {
                chat.tools = None;
            }
        }
        if trace.entries.is_empty() {
            return Err(RunnerError::Config(format!(
                "trace {}: no request falls in the window {:?} s (the trace spans {:.1} s)",
                display(&self.source),
                self.shaping.window_s.unwrap_or_default(),
                raw.entries.last().map_or(0.0, |e| e.at_us as f64 / 1e6)
            )));
        }
        let s = &self.shaping;
        let info = TraceLoad {
            format: format.name().into(),
            source,
            sha256: crate::dataset::hex(&Sha256::digest(&bytes)),
            file_entries: changed.file_entries,
            entries: trace.entries.len() as u64,
            window_s: s.window_s.map(|(a, b)| [a, b]),
            speed: s.speed,
            scale: s.scale,
            max_input: s.max_input,
            max_output: s.max_output,
            inputs_capped: changed.inputs_capped,
            outputs_capped: changed.outputs_capped,
            links_cut: changed.links_cut,
            block_tokens: trace.block_tokens,
            span_s: trace.entries.iter().map(|e| e.at_us).max().unwrap_or(0) as f64 / 1e6,
            no_tools: self.no_tools,
        };
        Ok(Loaded { trace, info })
    }
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

impl Loaded {
    /// Whether an entry carries a recorded chat (so the run needs a chat
    /// API).
    pub(crate) fn has_chats(&self) -> bool {
        self.trace.entries.iter().any(|e| e.chat.is_some())
    }

    /// The replay of this trace: prompts built over `overhead` tokens of
    /// template and instruction, seeded by `seed`, new text per run.
    pub(crate) fn plan(
        &self,
        overhead: u32,
        seed: u64,
        max_concurrency: Option<u32>,
    ) -> Arc<ReplayPlan> {
        Arc::new(ReplayPlan {
            trace: self.trace.clone(),
            prompts: BlockPrompts {
                overhead,
                block_tokens: self.trace.block_tokens.unwrap_or(u32::MAX),
                seed,
                nonce: rand::random(),
            },
            max_concurrency,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(source: &str, format: Option<Format>) -> TraceSpec {
        TraceSpec {
            source: source.into(),
            format,
            shaping: Shaping::default(),
            max_concurrency: None,
            no_tools: false,
        }
    }

    #[test]
    fn every_shipped_slice_reads_whole() {
        for name in embedded_names() {
            let l = spec(name, None).load().unwrap();
            assert!(l.info.entries >= 15, "{name}: {}", l.info.entries);
            assert_eq!(l.info.entries, l.info.file_entries);
            assert!(l.info.source.starts_with("embedded:"));
            assert_eq!(l.info.sha256.len(), 64);
        }
    }

    #[test]
    fn a_bad_line_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let good = r#"{"timestamp": 0, "input_length": 10, "output_length": 2, "hash_ids": [1]}"#;
        std::fs::write(&path, format!("{good}\n{good}\n{{\"timestamp\": 1}}\n")).unwrap();
        let e = spec(path.to_str().unwrap(), Some(Format::Mooncake))
            .load()
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.jsonl:3: missing field"), "{e}");
        let e = spec(path.to_str().unwrap(), None)
            .load()
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs --trace-format"), "{e}");
        let e = spec("mooncake", Some(Format::Azure))
            .load()
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not apply"), "{e}");
    }
}
