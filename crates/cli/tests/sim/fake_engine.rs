//! What a suite records of a container stack, without a container engine:
//! a stand-in `podman` first on `PATH` (a shell script keeping its state
//! in files: "running" a container starts `stackbench sim` on the stack's
//! port) answers each engine command stackbench makes. A launch records
//! the engine's version, the image, its ID and registry digests and the
//! container; an orphan of a dead stackbench is swept first; and a
//! container whose removal the engine refuses after an interrupted launch
//! is a warning of the stack and of the suite, never silence.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::server_proc::free_port;
use crate::common::{read_run_json, stackbench, write_suite, BIN};

const IMAGE_ID: &str = "sha256:5e1f0c2d3b4a59687766554433221100ffeeddccbbaa99887766554433221100";
const DIGEST: &str =
    "localhost/fake-llm@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Writes the stand-in `podman` into `dir` (its state beside it) for a
/// server on `port`. Files in `dir` steer it: `refuse` makes `rm` fail,
/// `slow` makes `image inspect` mark `inspecting` and take 5 s.
fn fake_podman(dir: &Path, port: u16) {
    let script = format!(
        r#"#!/bin/sh
D={d}
case "$1" in
ps) [ -e $D/swept ] || echo orphan1;;
run) {BIN} sim --profile vllm-nvfp4 --ttft-ms 5 --decode-tps 400 --port {port} </dev/null >/dev/null 2>&1 &
  echo $! > $D/pid; touch $D/running; echo 4f3c2b1a;;
version) echo 5.0.0-fake;;
inspect)
  case "$3" in
  *owner-pid*) echo "/stackbench-old-1 999999";;
  *.Image*) echo {IMAGE_ID};;
  *.Id*) [ -e $D/running ] || {{ echo 'no such container' >&2; exit 125; }}; echo 4f3c2b1a;;
  *) echo "running 0";;
  esac;;
image)
  [ -e $D/slow ] && {{ touch $D/inspecting; sleep 5; }}
  echo '["{DIGEST}"]';;
stop) kill $(cat $D/pid); echo "$4";;
rm)
  [ "$3" = orphan1 ] && {{ touch $D/swept; exit 0; }}
  [ -e $D/refuse ] && {{ echo 'Error: rm refused' >&2; exit 1; }}
  rm -f $D/running;;
esac
"#,
        d = dir.display()
    );
    let podman = dir.join("podman");
    std::fs::write(&podman, script).unwrap();
    std::fs::set_permissions(&podman, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// A suite of one container stack on podman serving on `port`.
fn container_suite(dir: &Path, port: u16) -> std::path::PathBuf {
    let stack = format!(
        r#"name = "ctr"
flavor = "vllm"
ready-timeout = "20s"
metrics = false
[launch.container]
engine = "podman"
image = "localhost/fake-llm:1"
ports = ["127.0.0.1:{port}:8000"]
"#
    );
    let body = "[defaults]\noutput-tokens = 8\nprompt-tokens = 16\nwarmup-requests = 0\n\
                [[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 2\n";
    write_suite(dir, "fake", &[("ctr.toml", stack)], body)
}

/// `PATH` with `dir` first.
fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn suite_json(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("suite.json")).unwrap()).unwrap()
}

/// Stops the simulator the stand-in started, if it still runs.
fn stop_server(engine: &Path) {
    if let Ok(pid) = std::fs::read_to_string(engine.join("pid")) {
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    }
}

/// A temp folder holding the stand-in engine (its folder, for `PATH` and
/// its marks) and a suite of one container stack on a free port.
fn fake_engine_and_suite() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let engine = dir.path().join("engine");
    std::fs::create_dir(&engine).unwrap();
    let port = free_port();
    fake_podman(&engine, port);
    let suite = container_suite(dir.path(), port);
    (dir, engine, suite)
}

/// A clean run: the orphan a dead stackbench left is swept, and the launch
/// records what the engine said of it.
#[test]
fn a_container_launch_records_the_engine_image_and_digests_and_orphans_are_swept() {
    let (dir, engine, suite) = fake_engine_and_suite();
    let out = dir.path().join("out");
    let run = stackbench(["suite", "-q", "--out"])
        .arg(&out)
        .arg(&suite)
        .env("PATH", path_with(&engine))
        .run();
    stop_server(&engine);
    run.assert_success();
    let s = suite_json(&out);
    assert_eq!(
        s["swept"],
        serde_json::json!(["stackbench-old-1 (left by stackbench pid 999999)"]),
        "{s}"
    );
    assert_eq!(s["stacks"][0]["status"], "ok", "{s}");
    assert!(s.get("warnings").is_none(), "{s}");
    assert!(
        s["stacks"][0].get("warnings").is_none(),
        "clean teardown: {s}"
    );
    let launch = &read_run_json(&out.join("ctr/c1"))["launch"];
    assert_eq!(launch["kind"], "container", "{launch}");
    assert_eq!(launch["engine"], "podman 5.0.0-fake", "{launch}");
    assert_eq!(launch["image"], "localhost/fake-llm:1", "{launch}");
    assert_eq!(launch["image_id"], IMAGE_ID, "{launch}");
    assert_eq!(
        launch["image_digests"],
        serde_json::json!([DIGEST]),
        "{launch}"
    );
    let name = launch["container"].as_str().unwrap();
    assert!(name.starts_with("stackbench-"), "{launch}");
    assert_eq!(
        &s["stacks"][0]["launch"], launch,
        "suite.json keeps the same"
    );
}

/// Ctrl-C while the launch asks the engine about the image, with an engine
/// that refuses every `rm`: the container the abandoned launch held is a
/// suite warning (its drop could not remove it), and the launch's cleanup
/// that found it still there is a warning of the stack.
#[test]
fn containers_left_behind_after_an_interrupted_launch_are_warnings() {
    let (dir, engine, suite) = fake_engine_and_suite();
    for mark in ["swept", "refuse", "slow"] {
        std::fs::write(engine.join(mark), "").unwrap();
    }
    let out = dir.path().join("out");
    let mut child = stackbench(["suite", "-q", "--out"])
        .arg(&out)
        .arg(&suite)
        .env("PATH", path_with(&engine))
        .stdout(Stdio::null())
        .spawn();
    let until = Instant::now() + Duration::from_secs(60);
    while !engine.join("inspecting").exists() {
        assert!(
            Instant::now() < until,
            "the launch never asked about the image"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.signal("INT");
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    stop_server(&engine);
    assert_eq!(status.code(), Some(130), "{err}");
    let s = suite_json(&out);
    assert_eq!(s["stopped_early"], "interrupted", "{s}");
    let name = |w: &str| {
        w.split_whitespace()
            .find(|t| t.starts_with("stackbench-"))
            .map(str::to_string)
    };
    let suite_warnings = s["warnings"].as_array().unwrap();
    assert_eq!(suite_warnings.len(), 1, "{s}");
    let w = suite_warnings[0].as_str().unwrap();
    assert!(
        w.contains("may be left behind: rm -f failed") && w.contains("Error: rm refused"),
        "{w}"
    );
    let stack = &s["stacks"][0];
    let stack_warnings = stack["warnings"].as_array().unwrap();
    assert_eq!(stack_warnings.len(), 1, "{stack}");
    let sw = stack_warnings[0].as_str().unwrap();
    assert!(
        sw.starts_with("teardown: container stackbench-")
            && sw.contains("was left behind")
            && sw.contains("rm -f failed: Error: rm refused"),
        "{sw}"
    );
    assert_eq!(name(w), name(sw), "the same container: {w} / {sw}");
    assert!(err.contains("warning: "), "said on stderr too: {err}");
}
