//! A suite whose container cannot be removed records and says so: a
//! stand-in `podman` on PATH starts "containers" that refuse `stop` and
//! `rm`, the server itself is a simulator, and the teardown's failure must
//! reach the stack's `warnings` in `suite.json` and the observer's notes.
//! Its own test binary: it changes PATH for the whole process.

use std::path::Path;
use std::sync::{Arc, Mutex};

use stackbench_engine::LiveCounters;
use stackbench_stacks::{load_suite, run_suite, SuiteObserver, SuiteOptions};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Notes(Mutex<Vec<String>>);

impl SuiteObserver for Notes {
    fn note(&self, message: &str) {
        if let Ok(mut v) = self.0.lock() {
            v.push(message.to_string());
        }
    }
    fn scenario_started(&self, _: &str, _: Arc<LiveCounters>, _: Option<u64>) {}
    fn scenario_finished(&self) {}
}

/// A `podman` that runs anything, reports it running, and refuses to stop
/// or remove it: the container stays listed.
const FAKE_PODMAN: &str = r#"#!/bin/sh
case "$1" in
  run) echo 0123456789ab ;;
  logs) exit 0 ;;
  version) echo 4.9.3 ;;
  ps) exit 0 ;;
  image) echo '[]' ;;
  inspect)
    case "$3" in
      *State*) echo "running 0" ;;
      *) echo sha256:feed ;;
    esac ;;
  stop) echo "Error: stop refused by the test engine" >&2; exit 125 ;;
  rm) echo "Error: rm refused by the test engine" >&2; exit 1 ;;
esac
"#;

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write a test file");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_left_behind_is_a_warning_in_suite_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("bin folder");
    write(&bin.join("podman"), FAKE_PODMAN);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("podman"), std::fs::Permissions::from_mode(0o755))
        .expect("executable");
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::set_var("PATH", format!("{}:{path}", bin.display()));

    let profile = stackbench_sim::Profile::load("vllm-fp8").expect("built-in profile");
    let sim = stackbench_sim::SimServer::new(profile)
        .bind(([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator");
    write(
        &dir.path().join("stack.toml"),
        &format!(
            "name = \"boxed\"\nflavor = \"vllm\"\nquantization = \"fp8\"\nbase-url = \"{}\"\n\
             [launch.container]\nengine = \"podman\"\nimage = \"localhost/fake:1\"\nports = [\"18999:8000\"]\n",
            sim.base_url()
        ),
    );
    write(
        &dir.path().join("suite.toml"),
        "name = \"teardown\"\nstacks = [\"stack.toml\"]\n[defaults]\nwarmup-requests = 0\n\
         [[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 2\n",
    );
    let suite = load_suite(&dir.path().join("suite.toml"), &[], &[]).expect("valid suite");
    let out = dir.path().join("out");
    let opts = SuiteOptions {
        out: out.clone(),
        api_key: None,
        soft: CancellationToken::new(),
        hard: CancellationToken::new(),
    };
    let notes = Notes::default();
    let outcome = run_suite(&suite, &opts, &notes)
        .await
        .expect("suite folder");

    let stack = &outcome.file.stacks[0];
    assert_eq!(stack.runs.len(), 1, "the scenario ran: {stack:?}");
    assert_eq!(stack.warnings.len(), 1, "{stack:?}");
    let w = &stack.warnings[0];
    assert!(
        w.starts_with("teardown: container stackbench-boxed-"),
        "{w}"
    );
    assert!(w.contains("was left behind"), "{w}");
    assert!(
        w.contains("stop failed: Error: stop refused by the test engine"),
        "{w}"
    );
    assert!(
        w.contains("rm -f failed: Error: rm refused by the test engine"),
        "{w}"
    );
    let on_disk = std::fs::read_to_string(out.join("suite.json")).expect("suite.json");
    let json: serde_json::Value = serde_json::from_str(&on_disk).expect("JSON");
    assert_eq!(json["stacks"][0]["warnings"][0].as_str(), Some(w.as_str()));
    let notes = notes.0.lock().expect("notes").clone();
    assert!(
        notes.iter().any(|n| n == &format!("warning: boxed: {w}")),
        "{notes:?}"
    );
}
