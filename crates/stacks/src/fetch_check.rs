//! After a stack's `fetch`: the files its launch loads (`fetch-expects`)
//! are there. A fetch can succeed and bring nothing the launch needs
//! (`hf download REPO --include PATTERN` that matches no file downloads
//! nothing and exits 0), and the launch then fails minutes later with a
//! message about something else, or a server that resolves the model by
//! itself downloads a different file. Checking the files right after the
//! fetch names the one missing and what its folder holds instead.

use std::path::{Path, PathBuf};

use stackbench_core::run_file::FetchedFile;
use stackbench_core::stack::StackConfig;

use crate::error::LaunchError;
use crate::expand::expand;

/// Entries of a folder named in the message about a missing file.
const LISTED: usize = 12;

/// Why a file the launch loads is not there after the fetch.
#[derive(Debug, thiserror::Error)]
pub enum ExpectError {
    /// A `fetch-expects` path could not be formed (a `${VAR}` unset).
    #[error("fetch-expects: {0}")]
    Path(#[from] LaunchError),
    /// The file is missing (or empty, or not a file).
    #[error("{} is not there ({why}); {}", path.display(), listing)]
    Missing {
        /// The file expected.
        path: PathBuf,
        /// `missing`, `empty`, `a folder`.
        why: &'static str,
        /// What its nearest existing folder holds.
        listing: String,
    },
}

/// Checks the files `stack.fetch_expects` names, relative to `folder` (the
/// stack file's): each must be a non-empty file. Returns them with their
/// sizes.
pub fn check_expected(stack: &StackConfig, folder: &Path) -> Result<Vec<FetchedFile>, ExpectError> {
    stack
        .fetch_expects
        .iter()
        .map(|p| {
            let path = folder.join(expand(p)?);
            let bytes = present_bytes(&path)?;
            Ok(FetchedFile {
                path: path.display().to_string(),
                bytes,
            })
        })
        .collect()
}

/// The size of the non-empty file at `path`.
fn present_bytes(path: &Path) -> Result<u64, ExpectError> {
    let missing = |why| ExpectError::Missing {
        path: path.to_path_buf(),
        why,
        listing: listing(path),
    };
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(missing("a folder, not a file")),
        Ok(m) if m.len() == 0 => Err(missing("empty")),
        Ok(m) => Ok(m.len()),
        Err(_) => Err(missing("missing")),
    }
}

/// What the nearest existing folder above `path` holds: the names (with
/// sizes of files), sorted, at most [`LISTED`].
fn listing(path: &Path) -> String {
    let Some(dir) = path.ancestors().skip(1).find(|d| d.is_dir()) else {
        return "no folder above it exists".into();
    };
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.flatten().map(|e| entry_name(&e)).collect(),
        Err(e) => return format!("{} cannot be listed: {e}", dir.display()),
    };
    if names.is_empty() {
        return format!("{} is empty", dir.display());
    }
    names.sort();
    let more = names.len().saturating_sub(LISTED);
    names.truncate(LISTED);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("{} holds: {}{tail}", dir.display(), names.join(", "))
}

/// `name/` for a folder, `name (N bytes)` for a file.
fn entry_name(e: &std::fs::DirEntry) -> String {
    let name = e.file_name().to_string_lossy().into_owned();
    match e.metadata() {
        Ok(m) if m.is_dir() => format!("{name}/"),
        Ok(m) => format!("{name} ({} bytes)", m.len()),
        Err(_) => name,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn stack(expects: &[&str]) -> StackConfig {
        let list: Vec<String> = expects.iter().map(|e| format!("{e:?}")).collect();
        toml::from_str(&format!(
            "name = \"s\"\nbase-url = \"http://127.0.0.1:1\"\nfetch = [\"true\"]\nfetch-expects = [{}]\n",
            list.join(", ")
        ))
        .unwrap()
    }

    #[test]
    fn a_listing_without_the_file_names_it_and_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let snap = dir.path().join("hub/models--o--r/snapshots/abc");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::write(snap.join("r-Q4_K_M.gguf"), b"gguf").unwrap();
        let s = stack(&["hub/models--o--r/snapshots/abc/r-NVFP4.gguf"]);
        let e = check_expected(&s, dir.path()).unwrap_err().to_string();
        assert!(e.contains("r-NVFP4.gguf is not there (missing)"), "{e}");
        assert!(e.contains("abc holds: r-Q4_K_M.gguf (4 bytes)"), "{e}");

        std::fs::write(snap.join("r-NVFP4.gguf"), b"nvfp4!").unwrap();
        let found = check_expected(&s, dir.path()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].bytes, 6);
        assert!(found[0].path.ends_with("snapshots/abc/r-NVFP4.gguf"));
    }

    #[test]
    fn an_empty_file_a_folder_and_a_missing_snapshot_fail() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("empty.gguf"), b"").unwrap();
        std::fs::create_dir(dir.path().join("a-folder")).unwrap();
        for (p, words) in [
            ("empty.gguf", "(empty)"),
            ("a-folder", "(a folder, not a file)"),
            (
                "hub/snapshots/rev/m.gguf",
                "holds: a-folder/, empty.gguf (0 bytes)",
            ),
        ] {
            let e = check_expected(&stack(&[p]), dir.path())
                .unwrap_err()
                .to_string();
            assert!(e.contains(words), "{p}: {e}");
        }
    }
}
