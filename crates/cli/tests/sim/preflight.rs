//! `stackbench preflight` against stand-ins: a `docker` first on `PATH`
//! (images pulled or not, in the registry for this machine's architecture
//! or not, a GPU inside or not), a Hugging Face hub (`HF_ENDPOINT`) and an
//! Ollama registry on a local port. Every verdict is seen: ok, PROBLEM and
//! `?` (offline, or the hub unreachable), and the exit code says whether
//! the suite can start.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;

use crate::common::server_proc::free_port;
use crate::common::{stackbench, write_suite};

/// This machine's architecture as images name it.
fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    }
}

/// The stand-in `docker`: images named `pulled*` are local; `in-registry`
/// is in its registry for this machine, `other-arch` only for s390x,
/// `missing` nowhere, `unreachable` behind a registry that cannot be
/// reached; `pulled-gpu` sees a GPU inside, `pulled-nogpu` does not.
fn fake_docker(dir: &Path) {
    let a = arch();
    let script = format!(
        r#"#!/bin/sh
last=""; for x in "$@"; do last2="$last"; last="$x"; done
case "$1 $2" in
"image inspect") case "$last" in
  pulled*) echo "linux/{a}";;
  daemon-down) echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1;;
  *) echo "Error: No such image: $last" >&2; exit 1;;
  esac;;
"manifest inspect") case "$last" in
  in-registry) echo '{{"manifests":[{{"platform":{{"architecture":"{a}","os":"linux"}}}}]}}';;
  other-arch) echo '{{"manifests":[{{"platform":{{"architecture":"s390x","os":"linux"}}}}]}}';;
  missing) echo "manifest unknown" >&2; exit 1;;
  *) echo "dial tcp: lookup registry: no such host" >&2; exit 1;;
  esac;;
run*) case "$last2" in
  pulled-gpu) echo "GPU 0: NVIDIA GB10 (UUID: GPU-fake)";;
  *) echo "docker: Error response from daemon: could not select device driver \"\" with capabilities: [[gpu]]." >&2; exit 125;;
  esac;;
*) echo "unexpected: $*" >&2; exit 9;;
esac
"#
    );
    let p = dir.join("docker");
    std::fs::write(&p, script).unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// A hub and registry on a local port: `o/r` at `abc` holds one GGUF of
/// 1000 bytes; the Ollama tag `m:t` has layers of 5 and 7 bytes; anything
/// else is 404. Returns its URL.
fn fake_hub() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap_or(0);
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let (status, body) = match path.as_str() {
                "/api/models/o/r/revision/abc?blobs=true" => (
                    "200 OK",
                    r#"{"siblings":[{"rfilename":"r-Q4_K_M.gguf","size":1000}]}"#,
                ),
                "/v2/library/m/manifests/t" => ("200 OK", r#"{"layers":[{"size":5},{"size":7}]}"#),
                "/api/models/o/gated/revision/main?blobs=true" => (
                    "200 OK",
                    r#"{"gated":"manual","siblings":[{"rfilename":"g.gguf","size":9}]}"#,
                ),
                _ => ("404 Not Found", r#"{"error":"not found"}"#),
            };
            let mut conn = conn;
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// A container stack `name` of `image` on `port`, fetching `file` of
/// `o/r` at `abc` (expected under `hub/`), needing `need` GiB.
fn stack(name: &str, image: &str, port: u16, file: &str, need: &str) -> String {
    format!(
        r#"name = "{name}"
flavor = "llamacpp"
memory-need-gib = {need}
fetch = ["docker", "run", "--rm", "--entrypoint", "hf", "img", "download", "o/r", "{file}", "--revision", "abc"]
fetch-expects = ["hub/models--o--r/snapshots/abc/{file}"]
[launch.container]
engine = "docker"
image = "{image}"
gpus = "all"
ports = ["127.0.0.1:{port}:8080"]
"#
    )
}

/// An Ollama stack of `image` for the tag `model`.
fn ollama(name: &str, image: &str, model: &str) -> String {
    let port = free_port();
    format!(
        "name = \"{name}\"\nflavor = \"ollama\"\nmodel = \"{model}\"\n[launch.container]\nengine = \"docker\"\nimage = \"{image}\"\nports = [\"127.0.0.1:{port}:11434\"]\n"
    )
}

/// `stackbench preflight SUITE ARGS` with the stand-ins, no `HF_TOKEN`
/// and the Hugging Face cache under `dir/hf`: (exit code, stdout).
fn preflight(dir: &Path, suite: &Path, hub: &str, args: &[&str]) -> (Option<i32>, String) {
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = stackbench(["preflight"])
        .arg(suite)
        .args(args)
        .env("PATH", path)
        .env("HF_ENDPOINT", hub)
        .env("HF_TOKEN", "")
        .env("HF_HOME", dir.join("hf"))
        .env("STACKBENCH_OLLAMA_REGISTRY", hub)
        .run();
    (out.status.code(), out.stdout)
}

/// The line of `stack`'s check `what` in `text`.
fn line<'a>(text: &'a str, stack: &str, what: &str) -> &'a str {
    let block = text
        .split(&format!("[{stack}]\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no [{stack}]:\n{text}"));
    let block = block.split("\n\n").next().unwrap();
    block
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(what))
        .unwrap_or_else(|| panic!("no {what} line for {stack}:\n{text}"))
}

fn assert_line(text: &str, stack: &str, what: &str, verdict: &str, words: &str) {
    let l = line(text, stack, what);
    assert!(
        l.trim_start().starts_with(verdict) && l.contains(words),
        "{stack} {what}: want {verdict} …{words}…, got {l}\n{text}"
    );
}

#[test]
fn every_verdict_is_reached_and_a_problem_fails_the_preflight() {
    let dir = tempfile::tempdir().unwrap();
    fake_docker(dir.path());
    let hub = fake_hub();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let stacks = [
        (
            "a.toml",
            stack("ready", "pulled-gpu", free_port(), "r-Q4_K_M.gguf", "0.01"),
        ),
        (
            "b.toml",
            stack("broken", "other-arch", busy_port, "r-NVFP4.gguf", "100000"),
        ),
        (
            "c.toml",
            stack(
                "no-gpu",
                "pulled-nogpu",
                free_port(),
                "r-Q4_K_M.gguf",
                "0.01",
            ),
        ),
        ("d.toml", ollama("ollama-ok", "in-registry", "m:t")),
        ("e.toml", ollama("ollama-missing", "missing", "m:nope")),
    ];
    let body = "[[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 1\n";
    let suite = write_suite(dir.path(), "pre", &stacks, body);
    let (code, text) = preflight(dir.path(), &suite, &hub, &[]);
    assert_eq!(code, Some(1), "{text}");
    let a = arch();
    assert_line(
        &text,
        "ready",
        "image",
        "ok",
        &format!("pulled-gpu is pulled (linux/{a})"),
    );
    assert_line(&text, "ready", "gpu", "ok", "GPU 0: NVIDIA GB10");
    assert_line(
        &text,
        "ready",
        "model",
        "ok",
        "o/r at abc: r-Q4_K_M.gguf (0.0 GB)",
    );
    assert_line(&text, "ready", "disk", "ok", "to download");
    assert_line(&text, "ready", "memory", "ok", "0.01 GiB needed");
    assert_line(&text, "ready", "port", "ok", "is free");
    assert_line(
        &text,
        "broken",
        "image",
        "PROBLEM",
        &format!("no {a} build in its registry (it has: s390x)"),
    );
    assert_line(&text, "broken", "gpu", "?", "not pulled yet");
    assert_line(
        &text,
        "broken",
        "model",
        "PROBLEM",
        "has no r-NVFP4.gguf (it has: r-Q4_K_M.gguf)",
    );
    assert_line(&text, "broken", "memory", "PROBLEM", "needs 100000.0 GiB");
    assert_line(
        &text,
        "broken",
        "port",
        "PROBLEM",
        &format!("{busy_port} is in use"),
    );
    assert_line(
        &text,
        "no-gpu",
        "gpu",
        "PROBLEM",
        "could not select device driver",
    );
    assert_line(
        &text,
        "ollama-ok",
        "image",
        "ok",
        &format!("has it for {a}"),
    );
    assert_line(
        &text,
        "ollama-ok",
        "model",
        "ok",
        "m:t: 0.0 GB in the registry",
    );
    assert_line(
        &text,
        "ollama-missing",
        "image",
        "PROBLEM",
        "no such image in its registry",
    );
    assert_line(&text, "ollama-missing", "model", "PROBLEM", "HTTP 404");
    assert!(text.contains("problems (PROBLEM above)"), "{text}");
    drop(busy);
}

#[test]
fn offline_or_unreachable_hubs_are_not_problems_and_a_present_file_needs_no_hub() {
    let dir = tempfile::tempdir().unwrap();
    fake_docker(dir.path());
    let stacks = [
        (
            "a.toml",
            stack("ready", "pulled-gpu", free_port(), "r-Q4_K_M.gguf", "0.01"),
        ),
        (
            "b.toml",
            stack(
                "registry-down",
                "unreachable",
                free_port(),
                "r-Q4_K_M.gguf",
                "0.01",
            ),
        ),
    ];
    let body = "[[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 1\n";
    let suite = write_suite(dir.path(), "pre", &stacks, body);
    let closed = format!("http://127.0.0.1:{}", free_port());
    let (code, text) = preflight(dir.path(), &suite, &closed, &["--offline"]);
    assert_eq!(code, Some(0), "{text}");
    assert_line(&text, "ready", "image", "ok", "is pulled");
    assert_line(
        &text,
        "ready",
        "model",
        "?",
        "offline, the hub was not asked",
    );
    assert_line(&text, "ready", "disk", "?", "size is not known");
    assert_line(
        &text,
        "registry-down",
        "image",
        "?",
        "offline: its registry was not asked",
    );
    assert!(
        text.contains("no problem found") && text.contains("the suite can start"),
        "{text}"
    );

    // Online with the hub and the registry unreachable: still not problems.
    let (code, text) = preflight(dir.path(), &suite, &closed, &["--only", "registry-down"]);
    assert_eq!(code, Some(0), "{text}");
    assert_line(
        &text,
        "registry-down",
        "image",
        "?",
        "could not ask its registry",
    );
    assert_line(&text, "registry-down", "model", "?", "could not reach");

    // The file the launch loads is already here: no hub needed, nothing to download.
    let snap = dir.path().join("hub/models--o--r/snapshots/abc");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::write(snap.join("r-Q4_K_M.gguf"), b"gguf").unwrap();
    let (code, text) = preflight(dir.path(), &suite, &closed, &["--only", "ready"]);
    assert_eq!(code, Some(0), "{text}");
    assert_line(&text, "ready", "model", "ok", "r-Q4_K_M.gguf is here");
    assert_line(&text, "ready", "disk", "ok", "nothing left to download");
}

/// A stack fetching the whole repository `repo` at `revision` (as the vLLM
/// rows do), with no file named and none expected.
fn whole_repo(name: &str, image: &str, repo: &str, revision: &str) -> String {
    let port = free_port();
    format!(
        "name = \"{name}\"\nflavor = \"vllm\"\nfetch = [\"hf\", \"download\", \"{repo}\", \"--revision\", \"{revision}\"]\n\
         [launch.container]\nengine = \"docker\"\nimage = \"{image}\"\nports = [\"127.0.0.1:{port}:8000\"]\n"
    )
}

#[test]
fn an_engine_that_cannot_answer_a_gated_repo_and_a_cached_download_are_judged_right() {
    let dir = tempfile::tempdir().unwrap();
    fake_docker(dir.path());
    let hub = fake_hub();
    let stacks = [
        (
            "a.toml",
            whole_repo("no-daemon", "daemon-down", "o/r", "abc"),
        ),
        (
            "b.toml",
            whole_repo("gated", "pulled-gpu", "o/gated", "main"),
        ),
        ("c.toml", whole_repo("cached", "pulled-gpu", "o/r", "abc")),
    ];
    let body = "[[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 1\n";
    let suite = write_suite(dir.path(), "pre", &stacks, body);
    let (code, text) = preflight(dir.path(), &suite, &hub, &[]);
    assert_eq!(code, Some(1), "{text}");
    // Not "not pulled": the engine could not be asked, so no launch would work.
    assert_line(
        &text,
        "no-daemon",
        "image",
        "PROBLEM",
        "Cannot connect to the Docker daemon",
    );
    assert_line(
        &text,
        "gated",
        "model",
        "PROBLEM",
        "o/gated is gated: accept its terms on the hub and set HF_TOKEN",
    );
    assert_line(
        &text,
        "cached",
        "model",
        "ok",
        "o/r at abc: 1 files, 0.0 GB",
    );
    assert_line(&text, "cached", "disk", "ok", "to download");

    // The revision's file is already in the Hugging Face cache, as `hf`
    // leaves it: refs/<revision> names the commit, snapshots/<commit> holds it.
    let repo = dir.path().join("hf/hub/models--o--r");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/abc"), commit).unwrap();
    let snap = repo.join("snapshots").join(commit);
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::write(snap.join("r-Q4_K_M.gguf"), b"gguf").unwrap();
    let (code, text) = preflight(dir.path(), &suite, &hub, &["--only", "cached"]);
    assert_eq!(code, Some(0), "{text}");
    assert_line(&text, "cached", "disk", "ok", "nothing left to download");
}
