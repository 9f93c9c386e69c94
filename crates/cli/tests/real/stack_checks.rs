//! What a suite does around a stack's launch, on the real llama-server with
//! the real SmolLM2 weights: the known-answer check before the benchmark
//! (a right answer passes, a wrong one marks the stack in every table),
//! the model fetch (run and recorded; offline, a failure that names the
//! model), and box hygiene (the page cache dropped, as root here, and the
//! box's memory recorded at the launch). The test command promises the
//! server (`STACKBENCH_REQUIRE_LLAMA_SERVER`): then a missing one fails;
//! elsewhere the tests are ignored without it (common/tools.rs).
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::common::server_proc::free_port;
use crate::common::{repo, stackbench, write_suite};

/// A suite of one real llama-server stack with `extra` stack keys (before
/// its tables) and one short c=1 scenario; runs it and returns the suite
/// folder and what it printed.
fn run_suite(extra: &str, box_keys: &str) -> (tempfile::TempDir, common::Output) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let stack = format!(
        r#"name = "llama"
flavor = "llamacpp"
quantization = "Q4_1"
model = "SmolLM2-135M-Instruct"
ready-timeout = "5m"
{extra}
[launch.process]
command = ["bash", "scripts/start-llama-server.sh", "--port", "{port}", "-np", "1", "-c", "1024"]
workdir = "{repo}"
port = {port}
"#,
        repo = repo().display()
    );
    write_suite(
        dir.path(),
        "checks",
        &[("s.toml", stack)],
        &format!("[box]\n{box_keys}\n[defaults]\nprompt-tokens = 64\noutput-tokens = 8\nwarmup-requests = 0\n[[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 2\n"),
    );
    // The start script serves what the tests found.
    let paths = require_tool!(llama_server);
    let out = stackbench(["suite", "suite.toml", "--out", "out"])
        .current_dir(dir.path())
        .env("LLAMA_SERVER_BIN", &paths[0])
        .env("LLAMA_SERVER_MODEL", &paths[1])
        .run();
    (dir, out)
}

real_test!(llama_server; fn a_right_answer_passes_and_a_wrong_one_marks_the_stack() {
    require_tool!(llama_server);
    let right = "[known-answer]\nprompt = \"Name the planet we live on.\"\nexpect = \"Earth\"\n";
    let (dir, out) = run_suite(right, "");
    out.assert_success();
    let run = common::read_run_json(&dir.path().join("out/llama/c1"));
    let k = &run["launch"]["known_answer"];
    assert_eq!(k["passed"], true, "{k}");
    assert!(k["answer"].as_str().unwrap().contains("Earth"), "{k}");
    assert!(!out.printed().contains('✗'), "{}", out.printed());

    // The same question, a wrong expectation: the run goes on, and every
    // table marks the stack and says why.
    let wrong = "[known-answer]\nprompt = \"Name the planet we live on.\"\nexpect = \"Mars\"\n";
    let (dir, out) = run_suite(wrong, "");
    let text = out.printed();
    out.assert_success();
    assert!(text.contains("WRONG ANSWER"), "{text}");
    let run = common::read_run_json(&dir.path().join("out/llama/c1"));
    assert_eq!(run["launch"]["known_answer"]["passed"], false);
    let marked_rows = text.lines().filter(|l| l.contains("| llama ✗")).count();
    assert!(marked_rows >= 2, "{text}");
    assert!(
        text.contains("✗ the stack answered its known-answer question wrong"),
        "{text}"
    );
});

real_test!(llama_server; fn the_fetch_runs_before_the_launch_and_an_offline_one_names_the_model() {
    require_tool!(llama_server);
    // The real installer as the fetch: the GGUF and the server are made
    // present (cached here, so quick).
    let fetch = r#"fetch = ["bash", "scripts/install-llama-server.sh"]"#;
    // The stack file is in a temporary folder: the fetch runs there.
    let fetch = fetch.replace("scripts/", &format!("{}/scripts/", repo().display()));
    let (dir, out) = run_suite(&fetch, "drop-page-cache = true\nsettle-memory = true");
    out.assert_success();
    let run = common::read_run_json(&dir.path().join("out/llama/c1"));
    let launch = &run["launch"];
    assert!(
        launch["fetch"]["seconds"].as_f64().unwrap() > 0.0,
        "{launch}"
    );
    let log = std::fs::read_to_string(dir.path().join("out/llama/fetch.log")).unwrap();
    assert!(log.contains("LLAMA_SERVER_MODEL="), "{log}");
    // Hygiene: root drops the page cache here; memory at the launch is
    // within the tolerance of the level before the first stack.
    let b = &launch["box"];
    assert_eq!(b["page_cache"], "dropped", "{b}");
    let (now, base) = (
        b["mem_available_gib"].as_f64().unwrap(),
        b["baseline_mem_available_gib"].as_f64().unwrap(),
    );
    assert!(now > 0.5 && now + 2.0 >= base, "{b}");

    // No network here: a download fails, and the stack's failure names the
    // model and quotes what the download said.
    let offline = r#"fetch = ["curl", "-sSf", "--max-time", "20", "https://huggingface.co/api/models/HuggingFaceTB/SmolLM2-135M-Instruct"]"#;
    let (dir, out) = run_suite(offline, "");
    assert_eq!(out.status.code(), Some(2), "{}", out.printed());
    let suite: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/suite.json")).unwrap()).unwrap();
    let reason = suite["stacks"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("fetching model 'SmolLM2-135M-Instruct' failed") && reason.contains("curl"),
        "{reason}"
    );
    assert_eq!(suite["stacks"][0]["status"], "failed");
});
