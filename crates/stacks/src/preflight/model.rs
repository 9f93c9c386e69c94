//! The model side of a preflight: the files the launch loads
//! (`fetch-expects`) are here, or the repository the fetch downloads
//! (`hf download REPO [FILE] [--revision R]`) has them at that revision,
//! with their size; an Ollama tag is in its registry; and the disk has
//! room for what is still to download.

use std::path::{Path, PathBuf};

use stackbench_core::kinds::{FlavorChoice, ServerKind};
use stackbench_core::stack::StackConfig;

use super::remote::{hf_files, ollama_tag_bytes, Lookup};
use super::{gb, PreflightOptions, Verdict};
use crate::expand::expand;

/// One check's result.
type Found = (&'static str, Verdict, String);

/// What an `hf download` fetch names.
#[derive(Debug, PartialEq)]
struct HubRef {
    repo: String,
    files: Vec<String>,
    revision: String,
    /// `--include` patterns (none: every file).
    include: Vec<String>,
    /// `--exclude` patterns.
    exclude: Vec<String>,
}

/// `hf download REPO [FILE…] [--revision R] [--include P…] [--exclude
/// P…]` in `args`, if it is one. `--include` and `--exclude` take every
/// word up to the next flag, as the `hf` CLI reads them.
fn hub_ref(args: &[String]) -> Option<HubRef> {
    const WITH_VALUE: [&str; 6] = [
        "--revision",
        "--local-dir",
        "--cache-dir",
        "--repo-type",
        "--token",
        "--max-workers",
    ];
    let at = args.iter().position(|a| a == "download")?;
    let (mut words, mut include, mut exclude) = (Vec::new(), Vec::new(), Vec::new());
    let mut revision = "main".to_string();
    let mut rest = args[at + 1..].iter().peekable();
    while let Some(a) = rest.next() {
        let patterns = match a.as_str() {
            "--include" => &mut include,
            "--exclude" => &mut exclude,
            "--revision" => {
                revision = rest.next()?.clone();
                continue;
            }
            f if WITH_VALUE.contains(&f) => {
                rest.next();
                continue;
            }
            f if f.starts_with('-') => continue,
            _ => {
                words.push(a.clone());
                continue;
            }
        };
        while let Some(p) = rest.next_if(|p| !p.starts_with('-')) {
            patterns.push(p.clone());
        }
    }
    let (repo, files) = words.split_first()?;
    Some(HubRef {
        repo: repo.clone(),
        files: files.to_vec(),
        revision,
        include,
        exclude,
    })
}

/// A shell-style pattern (`*`, `?`, `[…]`, as `fnmatch`: `*` crosses `/`)
/// as an anchored regular expression.
fn glob(pattern: &str) -> Option<regex::Regex> {
    let mut re = String::from("^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => re += ".*",
            '?' => re += ".",
            '[' => {
                re.push('[');
                if chars.next_if_eq(&'!').is_some() {
                    re.push('^');
                }
                for c in chars.by_ref() {
                    re.push(c);
                    if c == ']' {
                        break;
                    }
                }
            }
            c => re += &regex::escape(&c.to_string()),
        }
    }
    regex::Regex::new(&(re + "$")).ok()
}

/// The files of `files` that `h`'s patterns keep.
fn kept<'a>(h: &HubRef, files: &'a [(String, u64)]) -> Vec<&'a (String, u64)> {
    let compile = |ps: &[String]| ps.iter().filter_map(|p| glob(p)).collect::<Vec<_>>();
    let (inc, exc) = (compile(&h.include), compile(&h.exclude));
    files
        .iter()
        .filter(|f| inc.is_empty() || inc.iter().any(|r| r.is_match(&f.0)))
        .filter(|f| !exc.iter().any(|r| r.is_match(&f.0)))
        .collect()
}

/// The model checks of `s` (whose file is in `folder`).
pub(super) async fn model_checks(
    s: &StackConfig,
    folder: &Path,
    opts: &PreflightOptions,
) -> Vec<Found> {
    let mut out = Vec::new();
    let expected: Vec<PathBuf> = s
        .fetch_expects
        .iter()
        .filter_map(|p| expand(p).ok().map(|p| folder.join(p)))
        .collect();
    let missing: Vec<&PathBuf> = expected
        .iter()
        .filter(|p| file_bytes(p).is_none())
        .collect();
    for p in expected.iter().filter(|p| !missing.contains(p)) {
        let bytes = file_bytes(p).unwrap_or(0);
        out.push((
            "model",
            Verdict::Ok,
            format!("{} is here ({})", p.display(), gb(bytes)),
        ));
    }
    let fetch: Vec<String> = s.fetch.iter().filter_map(|a| expand(a).ok()).collect();
    let to_download = match hub_ref(&fetch) {
        // Everything the launch loads is here: nothing to ask or download.
        Some(_) if !expected.is_empty() && missing.is_empty() => Some(0),
        Some(h) => hub_check(&h, opts, &mut out).await,
        None if s.flavor == FlavorChoice::Fixed(ServerKind::Ollama) => {
            ollama_check(s, opts, &mut out).await;
            return out;
        }
        None => return out,
    };
    let at = expected.first().cloned().unwrap_or_else(hf_hub_dir);
    out.push(disk_check(&at, to_download).await);
    out
}

/// The bytes of the non-empty file at `p`.
fn file_bytes(p: &Path) -> Option<u64> {
    std::fs::metadata(p)
        .ok()
        .filter(|m| m.is_file() && m.len() > 0)
        .map(|m| m.len())
}

/// The Hugging Face cache's `hub` folder on this machine.
fn hf_hub_dir() -> PathBuf {
    match std::env::var_os("HF_HOME") {
        Some(h) => PathBuf::from(h).join("hub"),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/huggingface/hub")
        }
    }
}

/// Asks the hub for `h`; pushes the model line and returns the bytes to
/// download (`None`: unknown).
async fn hub_check(h: &HubRef, opts: &PreflightOptions, out: &mut Vec<Found>) -> Option<u64> {
    let what = format!("{} at {}", h.repo, h.revision);
    if opts.offline {
        out.push((
            "model",
            Verdict::Unchecked,
            format!("{what}: offline, the hub was not asked"),
        ));
        return None;
    }
    let files = match hf_files(&h.repo, &h.revision).await {
        Lookup::Found(f) => f,
        Lookup::Refused(m) => {
            out.push(("model", Verdict::Problem, format!("{what}: {m}")));
            return None;
        }
        Lookup::Unreachable(m) => {
            out.push(("model", Verdict::Unchecked, format!("{what}: {m}")));
            return None;
        }
    };
    let files: Vec<(String, u64)> = kept(h, &files).into_iter().cloned().collect();
    let (line, bytes) = named_files(&what, &h.files, &files);
    out.push(line);
    let cached = cached_bytes(h, &files);
    bytes.map(|b| b.saturating_sub(cached))
}

/// Bytes of `files` (the ones `h` downloads) already in this machine's
/// Hugging Face cache at `h`'s revision.
fn cached_bytes(h: &HubRef, files: &[(String, u64)]) -> u64 {
    let repo = hf_hub_dir().join(format!("models--{}", h.repo.replace('/', "--")));
    let hex = h.revision.len() == 40 && h.revision.chars().all(|c| c.is_ascii_hexdigit());
    let commit = if hex {
        h.revision.clone()
    } else {
        let r = std::fs::read_to_string(repo.join("refs").join(&h.revision)).unwrap_or_default();
        r.trim().to_string()
    };
    if commit.is_empty() {
        return 0;
    }
    let snapshot = repo.join("snapshots").join(commit);
    let wanted = |name: &str| h.files.is_empty() || h.files.iter().any(|f| f == name);
    files
        .iter()
        .filter(|(name, _)| wanted(name) && file_bytes(&snapshot.join(name)).is_some())
        .map(|f| f.1)
        .sum()
}

/// The model line for `wanted` files (all of the repository when none is
/// named) among `files`, and their bytes (`None` when one is missing).
fn named_files(what: &str, wanted: &[String], files: &[(String, u64)]) -> (Found, Option<u64>) {
    if wanted.is_empty() {
        let bytes: u64 = files.iter().map(|f| f.1).sum();
        let m = format!("{what}: {} files, {}", files.len(), gb(bytes));
        return (("model", Verdict::Ok, m), Some(bytes));
    }
    let mut bytes = 0;
    for w in wanted {
        match files.iter().find(|f| &f.0 == w) {
            Some(f) => bytes += f.1,
            None => {
                let mut names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
                names.retain(|n| {
                    n.ends_with(".gguf") || n.ends_with(".safetensors") || names_few(files)
                });
                let m = format!("{what} has no {w} (it has: {})", names.join(", "));
                return (("model", Verdict::Problem, m), None);
            }
        }
    }
    let m = format!("{what}: {} ({})", wanted.join(", "), gb(bytes));
    (("model", Verdict::Ok, m), Some(bytes))
}

/// Whether a listing is short enough to show whole.
fn names_few(files: &[(String, u64)]) -> bool {
    files.len() <= 12
}

/// Asks the Ollama registry for the stack's model tag.
async fn ollama_check(s: &StackConfig, opts: &PreflightOptions, out: &mut Vec<Found>) {
    let Some(model) = &s.model else { return };
    if opts.offline {
        out.push((
            "model",
            Verdict::Unchecked,
            format!("{model}: offline, the registry was not asked"),
        ));
        return;
    }
    out.push(match ollama_tag_bytes(model).await {
        Lookup::Found(b) => (
            "model",
            Verdict::Ok,
            format!(
                "{model}: {} in the registry (pulled at the run if missing)",
                gb(b)
            ),
        ),
        Lookup::Refused(m) => ("model", Verdict::Problem, format!("{model}: {m}")),
        Lookup::Unreachable(m) => ("model", Verdict::Unchecked, format!("{model}: {m}")),
    });
}

/// Room for `bytes` on the file system holding `at` (its nearest existing
/// folder).
async fn disk_check(at: &Path, bytes: Option<u64>) -> Found {
    let Some(dir) = at.ancestors().find(|d| d.is_dir()) else {
        return (
            "disk",
            Verdict::Unchecked,
            format!("no folder of {} exists", at.display()),
        );
    };
    // `df` blocks (a hung network mount would hang it): off the runtime,
    // and bounded.
    let owned = dir.to_path_buf();
    let free = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::task::spawn_blocking(move || free_bytes(&owned)),
    )
    .await
    .ok()
    .and_then(Result::ok)
    .flatten();
    match (bytes, free) {
        (Some(0), _) => ("disk", Verdict::Ok, "nothing left to download".into()),
        (Some(need), Some(free)) if free >= need => (
            "disk",
            Verdict::Ok,
            format!(
                "{} free at {}, {} to download",
                gb(free),
                dir.display(),
                gb(need)
            ),
        ),
        (Some(need), Some(free)) => (
            "disk",
            Verdict::Problem,
            format!(
                "{} free at {}, but {} to download",
                gb(free),
                dir.display(),
                gb(need)
            ),
        ),
        (None, Some(free)) => (
            "disk",
            Verdict::Unchecked,
            format!(
                "{} free at {}; the download's size is not known",
                gb(free),
                dir.display()
            ),
        ),
        (_, None) => (
            "disk",
            Verdict::Unchecked,
            format!("df could not read {}", dir.display()),
        ),
    }
}

/// Bytes free to an unprivileged user on the file system of `dir` (`df`).
fn free_bytes(dir: &Path) -> Option<u64> {
    let out = std::process::Command::new("df")
        .arg("-Pk")
        .arg(dir)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let kib: u64 = text
        .lines()
        .nth(1)?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn an_hf_download_names_its_repo_files_and_revision() {
        let f = words(
            "docker run --rm -e HF_TOKEN --entrypoint hf img download o/r f.gguf --revision abc",
        );
        assert_eq!(
            hub_ref(&f),
            Some(HubRef {
                repo: "o/r".into(),
                files: vec!["f.gguf".into()],
                revision: "abc".into(),
                include: vec![],
                exclude: vec![],
            })
        );
        let r = hub_ref(&words("hf download o/r --include *.json --exclude x")).unwrap();
        assert_eq!((r.files.len(), r.revision.as_str()), (0, "main"));
        assert_eq!(hub_ref(&words("bash scripts/get.sh")), None);
    }

    #[test]
    fn include_and_exclude_patterns_pick_the_files_the_fetch_downloads() {
        let args = words("hf download o/r --revision abc --exclude [mo]*/* *.md --include *");
        let h = hub_ref(&args).unwrap();
        assert_eq!((h.exclude.len(), h.include.len(), h.files.len()), (2, 1, 0));
        let files: Vec<(String, u64)> = [
            "model.safetensors",
            "original/model.bin",
            "metal/m.bin",
            "README.md",
        ]
        .iter()
        .map(|n| (n.to_string(), 1))
        .collect();
        let names: Vec<&str> = kept(&h, &files).iter().map(|f| f.0.as_str()).collect();
        assert_eq!(names, ["model.safetensors"]);
        assert!(
            glob("*.gguf").unwrap().is_match("sub/x.gguf"),
            "* crosses /, as fnmatch"
        );
        assert!(!glob("[!a]x").unwrap().is_match("ax"));
    }

    #[test]
    fn a_listing_without_the_named_file_is_a_problem_naming_what_it_has() {
        let files = vec![
            ("a-Q4_K_M.gguf".to_string(), 20_000_000_000),
            ("README.md".into(), 10),
        ];
        let (line, bytes) = named_files("o/r at main", &["a-NVFP4.gguf".into()], &files);
        assert_eq!(line.1, Verdict::Problem);
        assert!(
            line.2
                .contains("has no a-NVFP4.gguf (it has: a-Q4_K_M.gguf, README.md)"),
            "{}",
            line.2
        );
        assert_eq!(bytes, None);
        let (line, bytes) = named_files("o/r at main", &["a-Q4_K_M.gguf".into()], &files);
        assert_eq!((line.1, bytes), (Verdict::Ok, Some(20_000_000_000)));
        assert!(line.2.ends_with("(20.0 GB)"), "{}", line.2);
    }
}
