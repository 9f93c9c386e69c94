//! `stackbench suite` and `table` through the real binary: the dry run of
//! the DGX Spark suite, config errors, stacks that fail in each way while
//! the suite goes on, teardown on Ctrl-C / a second Ctrl-C / SIGTERM (by
//! PID and by container label), the orphan sweep after a SIGKILL, and the
//! tables over committed and simulated results.
//!
//! Launched servers here are `stackbench sim` processes (fast, exact) and,
//! where the test says so, the real llama-server image under podman and
//! under docker.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::common::{repo, stackbench, Running, BIN};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::engine::{Engine, ENGINE_ARGS};
use crate::common::server_proc::free_port;

/// `stackbench ARGS…` run in the repository, waited for.
fn in_repo(args: &[&str]) -> common::Output {
    stackbench(args).current_dir(repo()).run()
}

/// A stack file running `stackbench sim` at 400 tok/s as a process on
/// `port`, writing its PID to `pidfile` first.
fn sim_stack(name: &str, port: u16, pidfile: &Path, extra: &str) -> String {
    common::sim_stack(name, port, pidfile, 400, extra)
}

/// The suite `t` of `stacks` with short defaults and `scenarios`.
fn write_suite(dir: &Path, stacks: &[(&str, String)], scenarios: &str) -> PathBuf {
    let defaults = "[defaults]\noutput-tokens = 16\nprompt-tokens = 64\nwarmup-requests = 0\n";
    common::write_suite(dir, "t", stacks, &format!("{defaults}{scenarios}"))
}

const QUICK: &str = "[[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 3\n[[scenario]]\nname = \"c4\"\nconcurrency = 4\nrequests = 8\n";

fn suite_json(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("suite.json")).unwrap()).unwrap()
}

fn alive(pid: u32) -> bool {
    // A zombie is gone for our purposes: it holds no port or memory.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.split_whitespace().nth(2) != Some("Z"))
}

fn read_pid(p: &Path) -> u32 {
    std::fs::read_to_string(p).unwrap().trim().parse().unwrap()
}

#[test]
fn dgx_spark_dry_run_prints_the_six_launch_commands() {
    let out = in_repo(&["suite", "configs/suites/dgx-spark.toml", "--dry-run"]);
    out.assert_success();
    let text = &out.stdout;
    let launches: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("launch: docker run"))
        .collect();
    assert_eq!(launches.len(), 6, "{text}");
    for needle in [
        "vllm/vllm-openai:v0.21.0 Qwen/Qwen3.6-35B-A3B-FP8",
        "--moe-backend=flashinfer_cutlass",
        "\"method\": \"mtp\", \"num_speculative_tokens\": 1",
        "llama.cpp:server-cuda13-",
        "MXFP4_MOE",
        "ollama/ollama",
        "-p 127.0.0.1:8000:8000",
        "--label stackbench.managed=true",
        "--rm",
        "before each launch (after its fetch): cool down 30s (after the first); drop the page cache",
        "fetch (before the launch, at most 2h): docker run --rm -e HF_TOKEN ",
        "known answer: ",
        "c32: c=32 64 requests",
    ] {
        assert!(text.contains(needle), "missing {needle}:\n{text}");
    }
    // podman refuses --shm-size beside --ipc=host; with host IPC it means
    // nothing anyway.
    assert!(!text.contains("--shm-size"), "{text}");
}

#[test]
fn set_overrides_an_image_and_a_scenario() {
    let out = in_repo(&[
        "suite",
        "configs/suites/dgx-spark.toml",
        "--dry-run",
        "--only",
        "llamacpp-mxfp4",
        "--set",
        "stack.llamacpp-mxfp4.launch.image=localhost/llama:new",
        "--set",
        "suite.scenario.c32.requests=96",
    ]);
    out.assert_success();
    let text = &out.stdout;
    assert!(text.contains("localhost/llama:new -m "), "{text}");
    assert!(text.contains("c32: c=32 96 requests"), "{text}");
    assert_eq!(
        text.matches("  launch:").count(),
        1,
        "--only keeps one stack"
    );
}

/// Each kind of config mistake names the file, the line and the key.
#[test]
fn config_errors_name_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let good_stack = "name = \"s\"\nbase-url = \"http://127.0.0.1:9\"\n";
    let cases: &[(&str, &str, &str, &str)] = &[
        // (what, stack file text, expected location, expected words)
        ("syntax", "name = \"s\nbase-url = 1\n", "stack.toml:1:", "(syntax)"),
        ("unknown key", "name = \"s\"\nbase-url = \"http://x\"\nimagee = \"x\"\n", "stack.toml:3:", "imagee"),
        ("wrong type", "name = \"s\"\nbase-url = \"http://x\"\nmetrics = \"yes\"\n", "stack.toml:3:", "metrics"),
        ("bad value", "name = \"s\"\nbase-url = \"http://x\"\nflavor = \"vlm\"\n", "stack.toml:3:", "flavor"),
        ("bad duration", "name = \"s\"\nbase-url = \"http://x\"\nready-timeout = \"soon\"\n", "stack.toml:3:", "ready-timeout"),
        ("missing key", "base-url = \"http://x\"\n", "stack.toml:1:", "name"),
        ("nested unknown key", "name = \"s\"\n[launch.container]\nengine = \"podman\"\nimage = \"x\"\nports = [\"8000:8000\"]\ngpu = \"all\"\n", "stack.toml:6:", "launch.container.gpu"),
        ("no address", "name = \"s\"\n", "stack.toml:1:", "base-url"),
        ("bad port", "name = \"s\"\n[launch.container]\nengine = \"podman\"\nimage = \"x\"\nports = [\"80\"]\n", "stack.toml:5:", "launch.container.ports"),
    ];
    for (what, text, at, key) in cases {
        let suite = write_suite(dir.path(), &[("stack.toml", text.to_string())], QUICK);
        let out = in_repo(&["suite", suite.to_str().unwrap(), "--dry-run"]);
        let err = &out.stderr;
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(err.contains(at), "{what}: expected {at} in: {err}");
        assert!(err.contains(key), "{what}: expected key {key} in: {err}");
    }
    // Suite-level mistakes.
    let suite_cases: &[(&str, &str, &str)] = &[
        (
            "two bounds",
            "[[scenario]]\nname = \"a\"\nconcurrency = 1\nrequests = 3\nduration = \"5s\"\n",
            "scenario[0]",
        ),
        (
            "zero users",
            "[[scenario]]\nname = \"a\"\nconcurrency = 0\nrequests = 3\n",
            "scenario[0].concurrency",
        ),
        (
            "unknown scenario key",
            "[[scenario]]\nname = \"a\"\nconcurrency = 1\nrequests = 3\nrate = 2\n",
            "scenario[0].rate",
        ),
    ];
    for (what, scenarios, key) in suite_cases {
        let suite = write_suite(
            dir.path(),
            &[("stack.toml", good_stack.to_string())],
            scenarios,
        );
        let out = in_repo(&["suite", suite.to_str().unwrap(), "--dry-run"]);
        let err = &out.stderr;
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(
            err.contains("suite.toml:") && err.contains(key),
            "{what}: {err}"
        );
    }
    let suite = write_suite(dir.path(), &[("stack.toml", good_stack.to_string())], QUICK);
    for (args, words) in [
        (vec!["--set", "stack.nope.model=x"], "no stack named 'nope'"),
        (vec!["--only", "nope"], "no stack named 'nope'"),
        (vec!["--set", "stack.s.metrics=7"], "metrics"),
        (vec!["--set", "nokey"], "KEY=VALUE"),
    ] {
        let mut a = vec!["suite", suite.to_str().unwrap(), "--dry-run"];
        a.extend(args.iter());
        let out = in_repo(&a);
        let err = &out.stderr;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(words), "{args:?}: {err}");
    }
}

/// Regression: a scenario's run settings (turns, think time, an open-loop
/// schedule, the defaults it inherits) were checked only when the
/// scenario ran, on every stack in turn; they are checked once, when the
/// suite loads, by the same rules as `run`'s flags, and the error names
/// the key.
#[test]
fn scenario_settings_are_checked_when_the_suite_loads() {
    let dir = tempfile::tempdir().unwrap();
    let stack = [(
        "stack.toml",
        "name = \"s\"\nbase-url = \"http://127.0.0.1:9\"\n",
    )];
    let run = "[[scenario]]\nname = \"a\"\n";
    let cases: &[(&str, &str, &str, &str)] = &[
        // (what, [defaults] body, scenario keys, expected key and words)
        (
            "too many turns",
            "",
            "concurrency = 1\nrequests = 3\nturns = 101\n",
            "scenario[0].turns: 101 is more than 100",
        ),
        (
            "turns in the open loop",
            "",
            "request-rate = 2\nrequests = 3\nturns = 2\n",
            "scenario[0].turns: needs the closed loop (concurrency)",
        ),
        (
            "think time alone",
            "",
            "concurrency = 1\nrequests = 3\nthink-time = \"1s\"\n",
            "scenario[0].think-time",
        ),
        (
            "an empty schedule",
            "",
            "request-rate = 0.01\nduration = \"10s\"\n",
            "scenario[0].request-rate: 0.01 requests/s for 10 s offers no request",
        ),
        (
            "a bad default",
            "output-tokens = 1\n",
            "concurrency = 1\nrequests = 3\n",
            "defaults.output-tokens: must be at least 2",
        ),
        (
            "a bad override",
            "",
            "concurrency = 1\nrequests = 3\nprompt-tokens = 0\n",
            "scenario[0].prompt-tokens",
        ),
        (
            "a bad level of a list",
            "",
            "request-rate = [2, 0]\nrequests = 3\n",
            "scenario[0].request-rate",
        ),
        (
            "zero max concurrency",
            "",
            "request-rate = 2\nrequests = 3\nmax-concurrency = 0\n",
            "scenario[0].max-concurrency",
        ),
    ];
    for (what, defaults, keys, expected) in cases {
        let body = format!("[defaults]\n{defaults}{run}{keys}");
        let suite = common::write_suite(dir.path(), "t", &stack, &body);
        let out = in_repo(&["suite", suite.to_str().unwrap(), "--dry-run"]);
        let err = &out.stderr;
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(
            err.contains("suite.toml:") && err.contains(expected),
            "{what}: expected '{expected}' in: {err}"
        );
    }
}

/// A launch that fails, a server that never becomes ready and one that
/// dies mid-run are each reported with the reason; the good stack after
/// them runs, and nothing is left running.
#[test]
fn failing_stacks_are_reported_and_the_suite_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (p_dead, p_never, p_good) = (free_port(), free_port(), free_port());
    let never_pid = dir.path().join("never.pid");
    let dies_pid = dir.path().join("dies.pid");
    let good_pid = dir.path().join("good.pid");
    let stacks = [
        ("nolaunch.toml", "name = \"no-launch\"\n[launch.process]\ncommand = [\"/nonexistent/server\"]\nport = 1\n".to_string()),
        ("never.toml", format!(
            "name = \"never-ready\"\nready-timeout = \"2s\"\n[launch.process]\ncommand = [\"sh\", \"-c\", \"echo $$ > {}; echo loading forever; exec sleep 600\"]\nport = {p_never}\n",
            never_pid.display()
        )),
        // Serves for 3 s, then exits: mid-way through its c=4 scenario.
        ("dies.toml", sim_stack("dies", p_dead, &dies_pid, "").replace("exec ", "exec timeout 3 ")),
        ("good.toml", sim_stack("good", p_good, &good_pid, "")),
    ];
    let scenarios = "[[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 2\n[[scenario]]\nname = \"c4\"\nconcurrency = 4\nduration = \"6s\"\n";
    let suite = write_suite(dir.path(), &stacks, scenarios);
    let out_dir = dir.path().join("out");
    let out = in_repo(&[
        "suite",
        suite.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "-q",
    ]);
    let stderr = &out.stderr;
    assert_eq!(
        out.status.code(),
        Some(2),
        "failed stacks make the suite an error: {stderr}"
    );
    let s = suite_json(&out_dir);
    let by = |n: &str| {
        s["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == n)
            .unwrap()
            .clone()
    };
    let no_launch = by("no-launch");
    assert_eq!(no_launch["status"], "failed");
    assert!(
        no_launch["reason"]
            .as_str()
            .unwrap()
            .contains("cannot start /nonexistent/server"),
        "{no_launch}"
    );
    let never = by("never-ready");
    assert_eq!(never["status"], "failed");
    let reason = never["reason"].as_str().unwrap();
    assert!(
        reason.contains("not ready") && reason.contains("loading forever"),
        "reason quotes the server log: {reason}"
    );
    assert!(out_dir.join(never["log"].as_str().unwrap()).is_file());
    let dies = by("dies");
    assert_eq!(dies["status"], "failed", "{dies}");
    assert!(
        dies["reason"]
            .as_str()
            .unwrap()
            .contains("the server died during scenario 'c4'"),
        "{dies}"
    );
    let good = by("good");
    assert_eq!(good["status"], "ok", "{good}");
    assert_eq!(good["runs"].as_array().unwrap().len(), 2);
    let stdout = &out.stdout;
    assert!(stdout.contains("Stacks that did not complete"), "{stdout}");
    for p in [&never_pid, &dies_pid, &good_pid] {
        let pid = read_pid(p);
        assert!(!alive(pid), "server {pid} ({}) left running", p.display());
    }
}

/// Starts a suite and waits until its first scenario runs.
fn start_suite(suite: &Path, out: &Path) -> Running {
    let mut child = stackbench([
        "suite",
        suite.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ])
    .current_dir(repo())
    .stdout(Stdio::null())
    .spawn();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(": running") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("the suite never started a scenario");
    child
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let until = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            Instant::now() < until,
            "stackbench did not exit within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Ctrl-C, a second Ctrl-C and SIGTERM during a run: stackbench exits 130
/// and leaves no server process behind.
#[test]
fn signals_tear_down_launched_processes() {
    for signals in [&["INT"][..], &["INT", "INT"][..], &["TERM"][..]] {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("server.pid");
        let stack = sim_stack("sim", free_port(), &pidfile, "");
        let scenarios = "[[scenario]]\nname = \"long\"\nconcurrency = 2\nduration = \"60s\"\n";
        let suite = write_suite(dir.path(), &[("s.toml", stack)], scenarios);
        let out = dir.path().join("out");
        let mut child = start_suite(&suite, &out);
        let server = read_pid(&pidfile);
        assert!(alive(server));
        for s in signals {
            child.signal(s);
            std::thread::sleep(Duration::from_millis(200));
        }
        let status = wait_exit(&mut child, Duration::from_secs(30));
        assert_eq!(status.code(), Some(130), "{signals:?}");
        assert!(!alive(server), "{signals:?}: server {server} left running");
        let s = suite_json(&out);
        assert_eq!(s["complete"], false, "{signals:?}");
        assert_eq!(s["stopped_early"], "interrupted");
    }
}

/// The SmolLM2 llama-server image, built by scripts/build-llama-image.sh and
/// loaded into docker by scripts/start-docker.sh.
const LLAMA_IMAGE: &str = "localhost/stackbench-llama-server:local";

/// The llama-server image as a stack run by `engine` on `port`.
fn container_stack(engine: Engine, port: u16) -> String {
    format!(
        r#"name = "{e}-llama"
flavor = "llamacpp"
quantization = "Q4_1"
ready-timeout = "90s"
[launch.container]
engine = "{e}"
image = "{LLAMA_IMAGE}"
pull = "never"
ports = ["127.0.0.1:{port}:8080"]
engine-args = {ENGINE_ARGS}
args = ["-np", "2", "-c", "2048"]
"#,
        e = engine.name()
    )
}

// A container stack on podman, and on docker (the engine of DGX OS) with
// its own container names (by stackbench PID), ports and engine to sweep:
// torn down on SIGTERM; left behind by a SIGKILL and removed by the next
// suite's sweep.
per_engine!(
    podman_containers_are_torn_down_and_orphans_swept,
    docker_containers_are_torn_down_and_orphans_swept,
    containers_are_torn_down_and_orphans_swept
);

fn containers_are_torn_down_and_orphans_swept(engine: Engine) {
    engine.require();
    let containers_of = |pid: u32| engine.containers(&format!("stackbench.owner-pid={pid}"));
    let dir = tempfile::tempdir().unwrap();
    let scenarios = "[[scenario]]\nname = \"long\"\nconcurrency = 1\nduration = \"60s\"\n";
    let suite = write_suite(
        dir.path(),
        &[("c.toml", container_stack(engine, free_port()))],
        scenarios,
    );
    // SIGTERM: the container goes.
    let mut child = start_suite(&suite, &dir.path().join("a"));
    let pid = child.id();
    assert_eq!(
        containers_of(pid).len(),
        1,
        "the container runs, labelled with its owner"
    );
    child.signal("TERM");
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(60)).code(),
        Some(130)
    );
    assert!(containers_of(pid).is_empty(), "SIGTERM left the container");
    // SIGKILL: the container stays until the next suite sweeps it.
    let mut child = start_suite(&suite, &dir.path().join("b"));
    let pid = child.id();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(containers_of(pid).len(), 1, "SIGKILL cannot tear down");
    let quick = "[[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 1\n";
    let suite2 = write_suite(
        dir.path(),
        &[("c.toml", container_stack(engine, free_port()))],
        quick,
    );
    let out = dir.path().join("c");
    let run = in_repo(&[
        "suite",
        suite2.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    run.assert_success();
    assert!(containers_of(pid).is_empty(), "the orphan was swept");
    let s = suite_json(&out);
    let swept = s["swept"].as_array().unwrap();
    assert!(
        swept
            .iter()
            .any(|x| x.as_str().unwrap().contains(&format!("pid {pid}"))),
        "{s}"
    );
    // The suite's record and the run's name the engine that ran it, with
    // the version of its daemon (docker's client may be newer), and the
    // image's ID.
    let want = format!("{} {}", engine.name(), engine.server_version());
    let launch = &s["stacks"][0]["launch"];
    assert_eq!(launch["engine"], want.as_str(), "{launch}");
    assert!(
        launch["image_id"].as_str().is_some_and(|i| i.len() >= 12),
        "{launch}"
    );
    let run = common::read_run_json(&out.join(format!("{}-llama", engine.name())).join("c1"));
    assert_eq!(run["launch"]["engine"], want.as_str(), "{}", run["launch"]);
    assert_eq!(run["launch"]["image"], LLAMA_IMAGE);
    assert_eq!(run["summary"]["requests"]["ok"], 1, "{}", run["summary"]);
}

/// The simulated suite (the demo) reproduces its calibrated figures within
/// 3 %: the simulator's schedule is exact, so only client overhead and the
/// steady window's edges can move them.
#[test]
fn simulated_suite_matches_its_calibration() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let run = in_repo(&[
        "demo",
        "--duration",
        "30s",
        "--single-user-requests",
        "4",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    run.assert_success();
    let mut checked = 0;
    for (name, profile) in stackbench_sim::builtin_profiles().unwrap() {
        let stack_dir = out.join(format!("sim-{name}"));
        let c1 = common::read_run_json(&stack_dir.join("c1"));
        let decode = c1["summary"]["decode_tok_s"]["p50"].as_f64().unwrap();
        let want = profile.latency.decode_tps;
        assert!(
            (decode - want).abs() / want < 0.03,
            "{name}: c=1 {decode} vs {want}"
        );
        let c32 = common::read_run_json(&stack_dir.join("c32"));
        let total = c32["summary"]["output_tok_s"].as_f64().unwrap();
        let l = &profile.latency;
        let streams = 32.min(l.max_slots);
        let mut want = l
            .batch_curve
            .iter()
            .find(|(n, _)| *n == streams)
            .map(|p| p.1)
            .unwrap();
        if streams == 1 {
            // One slot (Ollama's qwen35moe): nothing overlaps a request's
            // TTFT and prefill (the demo's 128 prompt tokens), so the slot
            // decodes 96 tokens per TTFT + prefill + decode.
            let busy_s = l.ttft_ms / 1000.0 + 128.0 / l.prefill_tps + 96.0 / want;
            want = 96.0 / busy_s;
        }
        assert!(
            (total - want).abs() / want < 0.03,
            "{name}: c=32 {total} vs {want}"
        );
        checked += 1;
    }
    assert_eq!(checked, 6);
    // The published column and the roofline are in the printed tables.
    let stdout = &run.stdout;
    assert!(
        stdout.contains("| Published |") && stdout.contains("% of roofline"),
        "{stdout}"
    );
    // `table` renders the same from the folder, with committed real runs
    // (schema version 1) beside it: other lengths than the suite's, so
    // shown only with --allow-mismatch, and the differences listed.
    let t = in_repo(&["table", out.to_str().unwrap(), "results/committed"]);
    assert_eq!(t.status.code(), Some(2), "{}", t.printed());
    let t = in_repo(&[
        "table",
        "--allow-mismatch",
        out.to_str().unwrap(),
        "results/committed",
    ]);
    t.assert_success();
    let text = &t.stdout;
    assert!(text.contains("Workload differences:"), "{text}");
    assert!(text.contains("## Single-user decode tok/s"), "{text}");
    assert!(
        text.contains("## Total output tok/s at 32 concurrent users"),
        "{text}"
    );
    assert!(
        text.contains("433.4"),
        "published c=32 figure of vLLM NVFP4+MTP-1: {text}"
    );
    assert!(
        text.contains("llama-server") || text.contains("SmolLM2") || text.contains("smol"),
        "committed runs appear: {text}"
    );
}

fn started_at(run_dir: &Path) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap()).unwrap();
    v["started_at"].as_str().unwrap().to_string()
}

fn compare_dirs(base: &Path, cand: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["compare", base.to_str().unwrap(), cand.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = in_repo(&args);
    (out.status.code(), out.printed())
}

/// `--repeat 2`: two rounds, each launching both stacks in turn (so the
/// runs interleave a1 b1 a2 b2), `r1`/`r2` folders, a server log per
/// launch, one table row per stack with the spread; `compare` pools the
/// repeats and takes its thresholds from the suite's `[compare]` table,
/// which `--threshold` overrides; an unknown metric there is refused at
/// load.
#[test]
fn repeats_run_in_rounds_and_compare_takes_them_together_with_suite_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (free_port(), free_port());
    let stacks = [
        (
            "a.toml",
            sim_stack("a", pa, &dir.path().join("a.pid"), "--tokens-per-event 1"),
        ),
        (
            "b.toml",
            sim_stack("b", pb, &dir.path().join("b.pid"), "--tokens-per-event 1"),
        ),
    ];
    let scenarios = "[[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 12\n";
    let suite = write_suite(dir.path(), &stacks, scenarios);
    // Loose thresholds for everything a 10% slower decode moves.
    let mut text = std::fs::read_to_string(&suite).unwrap();
    text += "[compare]\ndecode_tok_s_p50 = 50\nitl_p50_ms = 50\nitl_p99_ms = 50\ne2e_p50_ms = 50\ntotal_tok_s = 50\n";
    std::fs::write(&suite, text).unwrap();

    let base = dir.path().join("base");
    let out = in_repo(&[
        "suite",
        suite.to_str().unwrap(),
        "--repeat",
        "2",
        "--out",
        base.to_str().unwrap(),
        "-q",
    ]);
    let stdout = &out.stdout;
    out.assert_success();
    let s = suite_json(&base);
    assert_eq!(s["repeat"], 2);
    assert_eq!(s["thresholds"]["decode_tok_s_p50"], 50.0);
    let order: Vec<String> = ["a/c1/r1", "b/c1/r1", "a/c1/r2", "b/c1/r2"]
        .iter()
        .map(|p| started_at(&base.join(p)))
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "rounds interleave the stacks");
    for log in ["a/server-r1.log", "a/server-r2.log", "b/server-r2.log"] {
        assert!(base.join(log).is_file(), "{log}");
    }
    assert!(stdout.contains("repeats min–max"), "{stdout}");
    assert!(stdout.contains("(n=2)"), "{stdout}");
    let section = |title: &str| {
        let start = stdout
            .find(title)
            .unwrap_or_else(|| panic!("{title}: {stdout}"));
        let rest = &stdout[start + 3..];
        rest[..rest.find("\n## ").unwrap_or(rest.len())].to_string()
    };
    let rows = |text: &str| text.matches("\n| a ").count();
    assert_eq!(
        rows(&section("## Single-user")),
        1,
        "the repeats are one row: {stdout}"
    );
    assert_eq!(
        rows(&section("## Latency")),
        2,
        "one detail row per repeat: {stdout}"
    );

    // The candidate: stack a decoding 10% slower (360 vs 400 tok/s).
    let cand = dir.path().join("cand");
    let slow = format!(
        "stack.a.launch.process.command=[\"{BIN}\", \"sim\", \"--profile\", \"vllm-nvfp4\", \"--decode-tps\", \"360\", \"--tokens-per-event\", \"1\", \"--port\", \"{pa}\"]"
    );
    let out = in_repo(&[
        "suite",
        suite.to_str().unwrap(),
        "--only",
        "a",
        "--repeat",
        "2",
        "--set",
        &slow,
        "--out",
        cand.to_str().unwrap(),
        "-q",
    ]);
    out.assert_success();
    // A busy test box can saturate the client for real: the thresholds,
    // not the flags, are the point here.
    let (code, md) = compare_dirs(&base, &cand, &["--allow", "saturated"]);
    assert_eq!(code, Some(0), "the suite's 50% thresholds hold: {md}");
    assert!(
        md.contains("2 baseline and 2 candidate repeats together"),
        "{md}"
    );
    assert!(md.contains("±50%"), "{md}");
    let (code, md) = compare_dirs(&base, &cand, &["--threshold", "decode_tok_s_p50=5"]);
    assert_eq!(code, Some(1), "--threshold overrides the suite: {md}");

    let mut text = std::fs::read_to_string(&suite).unwrap();
    text += "speed = 3\n";
    std::fs::write(&suite, text).unwrap();
    let out = in_repo(&["suite", suite.to_str().unwrap(), "--dry-run"]);
    let err = &out.stderr;
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("[compare]") && err.contains("unknown metric 'speed'"),
        "{err}"
    );
}

/// A scenario's `dataset-sample` draws the same entries for every stack
/// and repeat (a seed of the suite and scenario, not each run's fresh
/// one), so the runs are one workload and `table` pools them.
#[test]
fn a_scenario_draws_one_dataset_sample_for_every_stack_and_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let stacks = [
        (
            "a.toml",
            sim_stack("a", free_port(), &dir.path().join("a.pid"), ""),
        ),
        (
            "b.toml",
            sim_stack("b", free_port(), &dir.path().join("b.pid"), ""),
        ),
    ];
    let smoke = repo().join("datasets/smoke.jsonl");
    let scenarios = format!(
        "[[scenario]]\nname = \"ds\"\nconcurrency = 1\nrequests = 3\ndataset = \"{}\"\ndataset-sample = 3\n",
        smoke.display()
    );
    let suite = write_suite(dir.path(), &stacks, &scenarios);
    let out = dir.path().join("out");
    let s = suite.to_str().unwrap();
    in_repo(&[
        "suite",
        s,
        "--repeat",
        "2",
        "-q",
        "--out",
        out.to_str().unwrap(),
    ])
    .assert_success();
    let sha =
        |run: &str| common::read_run_json(&out.join(run))["load"]["dataset"]["sha256"].clone();
    let first = sha("a/ds/r1");
    assert!(first.is_string(), "{first}");
    for run in ["a/ds/r2", "b/ds/r1", "b/ds/r2"] {
        assert_eq!(sha(run), first, "{run}");
    }
    in_repo(&["table", out.to_str().unwrap()]).assert_success();
}

/// A suite's level lists expand into one run per level, and an open-loop
/// scenario with an SLO runs at its rate and reports goodput.
#[test]
fn suites_take_level_lists_and_open_loop_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let pid = dir.path().join("sim.pid");
    let stacks = [("sim.toml", sim_stack("sim", free_port(), &pid, ""))];
    let smoke = repo().join("datasets/smoke.jsonl");
    let scenarios = format!("[[scenario]]\nname = \"sweep\"\nconcurrency = [1, 2]\nrequests = 4\n\
        [[scenario]]\nname = \"open\"\nrequest-rate = [4, 8]\narrival = \"constant\"\nmax-concurrency = 8\nslo = \"ttft_ms=5000\"\nrequests = 8\n\
        [[scenario]]\nname = \"ds\"\nconcurrency = 2\nrequests = 6\ndataset = \"{}\"\ndataset-sample = 6\n", smoke.display());
    let suite = write_suite(dir.path(), &stacks, &scenarios);
    let out_dir = dir.path().join("out");
    let out = in_repo(&[
        "suite",
        suite.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "-q",
    ]);
    out.assert_success();
    for (scenario, concurrency) in [("sweep-c1", 1), ("sweep-c2", 2)] {
        let run = common::read_run_json(&out_dir.join("sim").join(scenario));
        assert_eq!(run["load"]["concurrency"], concurrency, "{scenario}");
        assert_eq!(run["summary"]["requests"]["ok"], 4, "{scenario}");
    }
    for (scenario, rate) in [("open-r4", 4.0), ("open-r8", 8.0)] {
        let run = common::read_run_json(&out_dir.join("sim").join(scenario));
        assert_eq!(run["load"]["request_rate"].as_f64(), Some(rate));
        assert_eq!(run["load"]["arrival"], "constant");
        assert_eq!(run["summary"]["open_loop"]["sent"], 8);
        assert_eq!(run["summary"]["goodput"]["met"], 8, "{scenario}");
    }
    let stdout = &out.stdout;
    assert!(
        stdout.contains("| r4 ") || stdout.contains("r4"),
        "{stdout}"
    );
}
