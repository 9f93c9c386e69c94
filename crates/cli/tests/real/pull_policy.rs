//! A container stack's `pull` policy reaches the engine: `never` with an
//! image that is not there fails at once, naming the image; `always` makes
//! the engine contact the image's registry even for an image it holds (none
//! is reachable here, so the launch fails); `missing` (the default) runs
//! the local image, as every other container test shows. On podman and on
//! docker.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use crate::common::engine::{Engine, ENGINE_ARGS};
use crate::common::server_proc::free_port;
use crate::common::{stackbench, write_suite};

const LLAMA_IMAGE: &str = "localhost/stackbench-llama-server:local";

/// Runs a one-stack suite of `image` with `pull` on `engine`; returns the
/// exit code and the stack's failure reason.
fn launch(engine: Engine, image: &str, pull: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let stack = format!(
        "name = \"pull\"\nflavor = \"llamacpp\"\nready-timeout = \"60s\"\n[launch.container]\nengine = \"{e}\"\nimage = \"{image}\"\npull = \"{pull}\"\nports = [\"127.0.0.1:{port}:8080\"]\nengine-args = {ENGINE_ARGS}\n",
        e = engine.name(),
        port = free_port()
    );
    write_suite(
        dir.path(),
        "pull",
        &[("s.toml", stack)],
        "[[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 1\n",
    );
    let out = stackbench(["suite", "suite.toml", "-q", "--out", "out"])
        .current_dir(dir.path())
        .run();
    let suite = read_suite(&dir.path().join("out"));
    let reason = suite["stacks"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (out.code(), reason)
}

fn read_suite(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("suite.json")).unwrap()).unwrap()
}

fn pull_policies_reach_the_engine(engine: Engine) {
    engine.require();
    let absent = format!("localhost/stackbench-absent-{}:none", std::process::id());
    let (code, reason) = launch(engine, &absent, "never");
    assert_eq!(code, Some(2), "{reason}");
    assert!(
        reason.contains("run failed") && reason.contains(&absent),
        "{reason}"
    );
    // The image is here, yet `always` asks its registry, which fails.
    let (code, reason) = launch(engine, LLAMA_IMAGE, "always");
    assert_eq!(code, Some(2), "{reason}");
    assert!(reason.contains("run failed"), "{reason}");
    assert!(
        engine.containers("stackbench.suite=pull").is_empty(),
        "a failed launch left a container"
    );
}

per_engine!(
    pull_policies_reach_podman,
    pull_policies_reach_docker,
    pull_policies_reach_the_engine
);
