//! Secrets never on a command line, nor in anything stackbench writes or
//! prints: a token planted in stackbench's environment reaches the server
//! process in a real container (podman and docker) by name, and no output
//! file, progress line or `--dry-run` holds its value.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::engine::{Engine, ENGINE_ARGS};
use crate::common::server_proc::free_port;
use crate::common::{stackbench, write_suite};

const LLAMA_IMAGE: &str = "localhost/stackbench-llama-server:local";

/// A value no file or output holds by chance; shaped like a Hugging Face
/// token, so the redaction of token-shaped words is exercised too.
fn planted() -> String {
    format!("hf_StackbenchPlanted{}x{}", std::process::id(), free_port())
}

/// Every file under `dir` that holds `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            found.extend(files_holding(&p, needle));
        } else if std::fs::read(&p)
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
        {
            found.push(p.display().to_string());
        }
    }
    found
}

fn secret_suite(dir: &Path, engine: Engine, port: u16) -> std::path::PathBuf {
    let stack = format!(
        r#"name = "secret-{e}"
flavor = "llamacpp"
ready-timeout = "90s"
[launch.container]
engine = "{e}"
image = "{LLAMA_IMAGE}"
pull = "never"
ports = ["127.0.0.1:{port}:8080"]
engine-args = {ENGINE_ARGS}
env = {{ HF_TOKEN = "${{HF_TOKEN:-}}" }}
args = ["-np", "1", "-c", "1024"]
"#,
        e = engine.name()
    );
    write_suite(
        dir,
        "secrets",
        &[("s.toml", stack)],
        "[defaults]\nprompt-tokens = 64\noutput-tokens = 8\nwarmup-requests = 0\n[[scenario]]\nname = \"c1\"\nconcurrency = 1\nduration = \"6s\"\n",
    )
}

/// The environment of the server process in the container stackbench
/// `pid` started, read from the host's /proc once the container runs.
fn server_environment(engine: Engine, pid: u32) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        let label = format!("stackbench.owner-pid={pid}");
        if let Some(id) = engine.containers(&label).first() {
            let out = Command::new(engine.name())
                .args(["inspect", "-f", "{{.State.Pid}}", id])
                .output()
                .unwrap();
            let host_pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if let Ok(env) = std::fs::read(format!("/proc/{host_pid}/environ")) {
                if host_pid != "0" && !env.is_empty() {
                    return String::from_utf8_lossy(&env).replace('\0', "\n");
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no running container of stackbench {pid} within 90 s");
}

fn planted_token_reaches_the_server_and_nothing_else(engine: Engine) {
    engine.require();
    let secret = planted();
    let dir = tempfile::tempdir().unwrap();
    let suite = secret_suite(dir.path(), engine, free_port());
    let out = dir.path().join("out");
    let child = stackbench([
        "suite",
        suite.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .env("HF_TOKEN", &secret)
    .spawn();
    let env = server_environment(engine, child.id());
    let done = child.finish();
    done.assert_success();
    let printed = done.printed();
    assert!(
        env.lines().any(|l| l == format!("HF_TOKEN={secret}")),
        "the server process did not get the token: {env}"
    );
    assert!(!printed.contains(&secret), "printed: {printed}");
    assert_eq!(files_holding(&out, &secret), Vec::<String>::new());
    let run = common::read_run_json(&out.join(format!("secret-{}/c1", engine.name())));
    let line: Vec<&str> = run["launch"]["command_line"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(line.windows(2).any(|w| w == ["-e", "HF_TOKEN"]), "{line:?}");
}

per_engine!(
    a_planted_token_reaches_the_podman_server_and_nothing_else,
    a_planted_token_reaches_the_docker_server_and_nothing_else,
    planted_token_reaches_the_server_and_nothing_else
);

// The shipped DGX suite's `--dry-run` with a planted token: the launch
// lines name `HF_TOKEN` and never show its value.
real_test!(
    fn dgx_dry_run_shows_no_token_value() {
        let secret = planted();
        let suite = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../configs/suites/dgx-spark.toml"
        );
        let out = stackbench(["suite", suite, "--dry-run"])
            .env("HF_TOKEN", &secret)
            .success();
        let text = out.printed();
        assert!(!text.contains(&secret), "{text}");
        assert!(text.contains("-e HF_TOKEN "), "{text}");
    }
);
