//! Reading result folders back: any mix of run folders, suite folders and
//! folders of those, found by their `run.json`, read through the typed
//! [`RunFile`] (older schema versions upgraded). `table` reads results
//! through this, and so will comparisons.

use std::path::{Path, PathBuf};

use stackbench_core::run_file::{RunFile, RunFileError};

/// A run read from disk.
#[derive(Debug, Clone)]
pub struct LoadedRun {
    /// Its folder.
    pub dir: PathBuf,
    /// Its `run.json`.
    pub file: RunFile,
}

/// Why results could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A path could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A `run.json` is not valid.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        source: RunFileError,
    },
    /// A line of `requests.jsonl` is not a record.
    #[error("{path}:{line}: not a request record: {reason}")]
    Records {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// Why.
        reason: String,
    },
    /// No `run.json` under the paths.
    #[error("no run.json found under {0}")]
    Empty(String),
}

/// Every run under `paths` (a run folder, a `run.json`, or a folder
/// searched recursively), sorted by folder.
pub fn load_runs(paths: &[PathBuf]) -> Result<Vec<LoadedRun>, LoadError> {
    let mut files = Vec::new();
    for p in paths {
        find_run_files(p, &mut files)?;
    }
    files.sort();
    files.dedup();
    if files.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(LoadError::Empty(shown.join(", ")));
    }
    files
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(&f).map_err(|source| LoadError::Io {
                path: f.clone(),
                source,
            })?;
            let file = RunFile::from_json(&bytes).map_err(|source| LoadError::Invalid {
                path: f.clone(),
                source,
            })?;
            let dir = f.parent().map(Path::to_path_buf).unwrap_or_default();
            Ok(LoadedRun { dir, file })
        })
        .collect()
}

/// The records of a run folder's `requests.jsonl` (a torn last line, as
/// a killed run may leave, is skipped).
pub fn load_records(dir: &Path) -> Result<Vec<stackbench_core::RequestRecord>, LoadError> {
    let path = dir.join("requests.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Io {
        path: path.clone(),
        source,
    })?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        match serde_json::from_str(l) {
            Ok(r) => out.push(r),
            Err(_) if i + 1 == lines.len() => {}
            Err(e) => {
                return Err(LoadError::Records {
                    path,
                    line: i + 1,
                    reason: e.to_string(),
                })
            }
        }
    }
    Ok(out)
}

fn find_run_files(p: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: p.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(p).map_err(io)?;
    if meta.is_file() {
        out.push(p.to_path_buf());
        return Ok(());
    }
    let run = p.join("run.json");
    if run.is_file() {
        out.push(run);
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|e| e.is_dir())
        .collect();
    entries.sort();
    for e in entries {
        find_run_files(&e, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_run_with_the_demo_server_object_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = dir.path().join("a").join("b");
        std::fs::create_dir_all(&run).expect("mkdir");
        let path = format!(
            "{}/tests/fixtures/run-v1-demo.json",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::copy(&path, run.join("run.json")).expect("copy");
        let runs = load_runs(&[dir.path().to_path_buf()]).expect("readable");
        assert_eq!(runs.len(), 1);
        let sim = runs[0].file.server.simulated.as_ref().expect("simulated");
        assert_eq!(sim.profile, "vllm-fp8");
        assert_eq!(
            runs[0].file.server.flavor.as_ref().map(|f| f.as_str()),
            Some("vllm")
        );
        assert!(runs[0].file.stack.is_none());
    }

    #[test]
    fn newer_versions_and_empty_folders_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            load_runs(&[dir.path().to_path_buf()]),
            Err(LoadError::Empty(_))
        ));
        std::fs::write(dir.path().join("run.json"), r#"{"schema_version": 99}"#).expect("write");
        let e = load_runs(&[dir.path().to_path_buf()]).expect_err("too new");
        assert!(e.to_string().contains("newer"), "{e}");
    }
}
