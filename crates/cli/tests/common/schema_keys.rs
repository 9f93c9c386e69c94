//! The written half of the results-schema check: with
//! `STACKBENCH_SCHEMA_KEYS_DIR` set, every `stackbench` command a test runs
//! through the harness lists, when it ends, the JSON key paths of the
//! result files it wrote (`run.json:load.dataset.sha256`,
//! `requests.jsonl:ttft_us`) into a file in that folder, and
//! `scripts/schema-check.py` compares them with `docs/results-schema.md`.
//! Test-only: the product binary knows nothing of it.
//!
//! The files are found from the command line: every argument (or the value
//! of `--flag=value`) that names a folder is searched for result files, one
//! that names a result file is taken, and so is the file after `--json` of
//! `compare` and `history`; the command's working folder is searched too.
//! Only files modified since the command started count, so the fixtures a
//! command reads are not taken for what it wrote. Arrays are written `[]`;
//! the objects keyed by data in [`KEYED_BY_DATA`] are collapsed to `*`.

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// The variable naming the folder the key paths go to.
pub const VAR: &str = "STACKBENCH_SCHEMA_KEYS_DIR";

/// The result files, by name.
const RESULT_FILES: [&str; 6] = [
    "run.json",
    "requests.jsonl",
    "server-metrics.jsonl",
    "sweep.json",
    "suite.json",
    "compare.json",
];

/// Objects whose keys are data (metric sample names, error reasons,
/// failure classes, turn numbers, thresholds by metric, vLLM's cache
/// labels): their keys are written as `*`.
const KEYED_BY_DATA: [&str; 6] = [
    "server-metrics.jsonl:samples",
    "run.json:summary.errors",
    "run.json:summary.failures",
    "run.json:histograms.turns",
    "run.json:server_metrics.cache_config",
    "suite.json:thresholds",
];

/// Folders never searched.
const SKIPPED_DIRS: [&str; 3] = [".git", "target", "node_modules"];

/// Lists the key paths of the result files a command with `args`, run in
/// `dir` and started at `started`, wrote; nothing unless [`VAR`] is set.
pub fn dump(args: &[OsString], dir: Option<&Path>, started: SystemTime) {
    let Some(out) = std::env::var_os(VAR) else {
        return;
    };
    // Coarse file-system clocks may stamp a file a little before `started`.
    let since = started - Duration::from_secs(1);
    let mut keys = Vec::new();
    for (kind, file) in written_files(args, dir, since) {
        for line in file_lines(&file) {
            let mut paths = HashSet::new();
            match serde_json::from_str::<serde_json::Value>(&line) {
                Ok(value) => walk(&kind, "", &value, &mut paths),
                Err(_) => continue,
            }
            keys.extend(paths.into_iter().map(|p| format!("{kind}:{p}")));
        }
    }
    append_new(Path::new(&out), keys);
}

/// `(kind, path)` of every result file the command wrote: `kind` is the
/// file name, or `compare.json` / `history.json` for `--json FILE`.
fn written_files(
    args: &[OsString],
    dir: Option<&Path>,
    since: SystemTime,
) -> Vec<(String, PathBuf)> {
    let resolve = |p: &Path| match dir {
        Some(d) if p.is_relative() => d.join(p),
        _ => p.to_path_buf(),
    };
    let mut found = Vec::new();
    if let Some((kind, file)) = json_flag(args) {
        let file = resolve(&file);
        if modified_since(&file, since) {
            found.push((kind, file));
        }
    }
    let mut roots: Vec<PathBuf> = args.iter().map(|a| resolve(&arg_path(a))).collect();
    roots.extend(dir.map(Path::to_path_buf));
    for root in roots {
        search(&root, since, &mut found);
    }
    found.sort();
    found.dedup();
    found
}

/// The path an argument names: the value of `--flag=value`, else itself.
fn arg_path(arg: &OsString) -> PathBuf {
    let text = arg.to_string_lossy();
    match text.strip_prefix("--").and_then(|t| t.split_once('=')) {
        Some((_, value)) => PathBuf::from(value),
        None => PathBuf::from(arg),
    }
}

/// The file after `--json` in `compare` and `history`, with its kind.
fn json_flag(args: &[OsString]) -> Option<(String, PathBuf)> {
    let kind = match args.first()?.to_str()? {
        "compare" => "compare.json",
        "history" => "history.json",
        _ => return None,
    };
    let at = args.iter().position(|a| a == "--json")?;
    Some((kind.to_string(), PathBuf::from(args.get(at + 1)?)))
}

/// Adds the result files at or under `path` modified since `since`.
fn search(path: &Path, since: SystemTime, found: &mut Vec<(String, PathBuf)>) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if meta.is_dir() {
        let skipped = path
            .file_name()
            .is_some_and(|n| SKIPPED_DIRS.iter().any(|s| n == *s));
        if skipped {
            return;
        }
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        for entry in entries.flatten() {
            search(&entry.path(), since, found);
        }
    } else if meta.is_file() && modified_since(path, since) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if RESULT_FILES.contains(&name) {
            found.push((name.to_string(), path.to_path_buf()));
        }
    }
}

fn modified_since(path: &Path, since: SystemTime) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= since)
}

/// The file's JSON texts: one per line for `.jsonl`, else the whole file.
fn file_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    if path.extension().is_some_and(|e| e == "jsonl") {
        text.lines().map(str::to_string).collect()
    } else {
        vec![text]
    }
}

/// Adds the key path of every member under `value` (at `path`) to `out`.
fn walk(kind: &str, path: &str, value: &serde_json::Value, out: &mut HashSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            let keyed_by_data = KEYED_BY_DATA.contains(&format!("{kind}:{path}").as_str());
            for (key, member) in map {
                let key = if keyed_by_data { "*" } else { key.as_str() };
                let child = if path.is_empty() {
                    key.to_string()
                } else {
                    format!("{path}.{key}")
                };
                out.insert(child.clone());
                walk(kind, &child, member, out);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                walk(kind, &format!("{path}[]"), item, out);
            }
        }
        _ => {}
    }
}

/// Appends the paths this process has not written yet to
/// `dir/keys-<pid>.txt`.
fn append_new(dir: &Path, keys: Vec<String>) {
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let seen = seen.get_or_insert_with(HashSet::new);
    let mut fresh: Vec<String> = keys
        .into_iter()
        .filter(|k| seen.insert(k.clone()))
        .collect();
    if fresh.is_empty() {
        return;
    }
    fresh.sort();
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join(format!("keys-{}.txt", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .unwrap_or_else(|e| panic!("{VAR}: cannot write {}: {e}", file.display()));
    f.write_all((fresh.join("\n") + "\n").as_bytes()).unwrap();
}
