//! What a suite records about the box and the launch of a stack it
//! launched, without a GPU: `$STACKBENCH_NVIDIA_SMI` names a stand-in
//! `nvidia-smi` (a shell script answering each query stackbench makes with
//! H100-shaped CSV, its energy counters counting up a known amount a tick),
//! and the stacks are `stackbench sim` processes, which count as launched,
//! not simulated, so their power is sampled. The energy figures, the host's
//! GPUs and CUDA version, the `[box]` hygiene, the fetch, the known answer
//! and the pinned model revision are each checked against what the
//! stand-ins said.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use crate::common::server_proc::free_port;
use crate::common::{read_run_json, stackbench, write_suite, BIN};

/// Joules each GPU's energy counter grows by every tick of the loop.
const JOULES_PER_TICK: [f64; 2] = [100.0, 150.0];

/// Writes the stand-in `nvidia-smi` into `dir`: the host query, the
/// banner, the box's memory query, the power probe (header and one line
/// per GPU) and the `-lms` loop (a line per GPU every 100 ms, the energy
/// counters in mJ growing by [`JOULES_PER_TICK`]).
fn fake_nvidia_smi(dir: &Path) -> String {
    write_smi(dir, SMI)
}

/// [`fake_nvidia_smi`] whose GPUs are at 80 °C for the box's first three
/// memory queries, then at 40 °C (a counter file beside it counts them).
fn hot_then_cool_nvidia_smi(dir: &Path) -> String {
    let hot = r#"*index,memory.used*)
  n=$(cat "$0.count" 2>/dev/null || echo 0); echo $((n + 1)) > "$0.count"
  if [ "$n" -lt 3 ]; then t=80; else t=40; fi
  echo "0, 1024, $t"
  echo "1, 2048, 36";;"#;
    let cool = "*index,memory.used*)\n  echo \"0, 1024, 35\"\n  echo \"1, 2048, 36\";;";
    assert!(SMI.contains(cool));
    write_smi(dir, &SMI.replace(cool, hot))
}

/// Runs the suite `suite` into `out` with the stand-in `nvidia-smi` `smi`;
/// it must succeed.
fn suite_with_smi(out: &Path, suite: &Path, smi: &str) {
    stackbench(["suite", "-q", "--out"])
        .arg(out)
        .arg(suite)
        .env("STACKBENCH_NVIDIA_SMI", smi)
        .success();
}

fn write_smi(dir: &Path, script: &str) -> String {
    let smi = dir.join("nvidia-smi");
    std::fs::write(&smi, script).unwrap();
    std::fs::set_permissions(&smi, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    smi.display().to_string()
}

/// The stand-in's script.
const SMI: &str = r#"#!/bin/sh
HEAD='index, power.draw.instant [W], power.draw [W], total_energy_consumption [mJ], temperature.gpu, clocks.current.sm [MHz], clocks.current.memory [MHz], clocks_event_reasons.active'
case "$*" in
*-lms*)
  echo "$HEAD"
  E0=987654321000; E1=876543210000
  while true; do
    echo "0, 612.35, 598.10, $E0, 61, 1980, 2619, 0x0000000000000004"
    echo "1, 640.02, 601.55, $E1, 63, 1755, 2619, 0x0000000000000000"
    E0=$((E0 + 100000)); E1=$((E1 + 150000))
    sleep 0.1
  done;;
*index,power*)
  echo "$HEAD"
  echo "0, 612.35, 598.10, 987654321000, 61, 1980, 2619, 0x0000000000000004"
  echo "1, 640.02, 601.55, 876543210000, 63, 1755, 2619, 0x0000000000000000";;
*index,memory.used*)
  echo "0, 1024, 35"
  echo "1, 2048, 36";;
*name,driver_version*)
  echo "NVIDIA H100 80GB HBM3, 570.86.15, 81559, 700.00"
  echo "NVIDIA H100 80GB HBM3, 570.86.15, 81559, 700.00";;
'')
  echo "| NVIDIA-SMI 570.86.15    Driver Version: 570.86.15    CUDA Version: 12.8     |";;
*) echo "unexpected query: $*" >&2; exit 9;;
esac
"#;

/// A stack `name` launching `stackbench sim` on a free port, its command
/// carrying `--revision abc123` (as a vLLM launch pins a model revision;
/// `sh` ignores the words after its script), with a fetch that takes
/// 200 ms and writes the file the stack expects (`FETCH`), and a known
/// answer the simulator's text holds.
fn stack(name: &str) -> String {
    stack_fetching(name, FETCH, "snap/m.gguf")
}

/// The fetch of [`stack`]: waits 200 ms, then writes a 4-byte
/// `snap/m.gguf` beside the stack file.
const FETCH: &str = "sleep 0.2; mkdir -p snap && printf gguf > snap/m.gguf";

/// [`stack`] with the fetch script `fetch` and the file it must make.
fn stack_fetching(name: &str, fetch: &str, expects: &str) -> String {
    let port = free_port();
    format!(
        r#"name = "{name}"
flavor = "vllm"
ready-timeout = "20s"
metrics = false
fetch = ["sh", "-c", "{fetch}"]
fetch-expects = ["{expects}"]
[launch.process]
command = ["sh", "-c", "exec {BIN} sim --profile vllm-nvfp4 --ttft-ms 5 --decode-tps 400 --port {port}", "sh", "--revision", "abc123"]
port = {port}
[known-answer]
prompt = "Say something."
expect-pattern = "quick\\s+model"
"#
    )
}

#[test]
fn a_launched_stack_records_energy_gpus_box_fetch_and_known_answer() {
    let dir = tempfile::tempdir().unwrap();
    let smi = fake_nvidia_smi(dir.path());
    let body = "[box]\ncooldown = \"100ms\"\nbefore-launch = [\"true\"]\n\
                [defaults]\noutput-tokens = 16\nprompt-tokens = 16\nwarmup-requests = 0\n\
                [[scenario]]\nname = \"c1\"\nconcurrency = 1\nduration = \"500ms\"\n";
    let stacks = [("a.toml", stack("a")), ("b.toml", stack("b"))];
    let suite = write_suite(dir.path(), "gpu", &stacks, body);
    let out = dir.path().join("out");
    suite_with_smi(&out, &suite, &smi);
    let first = read_run_json(&out.join("a/c1"));
    let second = read_run_json(&out.join("b/c1"));
    check_energy(&first);
    check_host(&first);
    check_launch(&first, &dir.path().join("a.toml"));
    // Only a launch after the first waits for the cooldown.
    assert!(
        first["launch"]["box"].get("cooldown_s").is_none(),
        "{}",
        first["launch"]
    );
    assert_eq!(second["launch"]["box"]["cooldown_s"].as_f64(), Some(0.1));
    // GPU 0 sat at its power cap in every sample: flagged throttled.
    let flags = &first["hygiene"]["flags"];
    assert_eq!(flags[0]["kind"], "throttled", "{flags}");
    assert!(
        flags[0]["text"]
            .as_str()
            .unwrap()
            .contains("GPU 0 sw_power_cap 100%"),
        "{flags}"
    );
}

#[test]
fn a_launch_waits_for_the_gpus_to_cool_below_max_start_temp() {
    let dir = tempfile::tempdir().unwrap();
    let smi = hot_then_cool_nvidia_smi(dir.path());
    let body = "[box]\nmax-start-temp-c = 50\nsettle-timeout = \"20s\"\n\
                [defaults]\noutput-tokens = 8\nprompt-tokens = 16\nwarmup-requests = 0\n\
                [[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 1\n";
    let suite = write_suite(dir.path(), "hot", &[("a.toml", stack("a"))], body);
    let out = dir.path().join("out");
    suite_with_smi(&out, &suite, &smi);
    let b = &read_run_json(&out.join("a/c1"))["launch"]["box"];
    let wait = &b["heat_wait"];
    assert_eq!(wait["max_c"], 50.0, "{b}");
    assert_eq!(wait["hottest_at_start_c"], 80.0, "{b}");
    // Polled every 500 ms until the fourth query read 40 °C.
    assert!(wait["waited_s"].as_f64().unwrap() >= 0.9, "{b}");
    assert_eq!(b["gpus"][0]["temperature_c"], 40.0, "{b}");
}

/// Joules are each counter's last minus first reading, summed over the
/// GPUs; the other figures are the stand-in's constants.
fn check_energy(run: &serde_json::Value) {
    let e = &run["energy"];
    assert_eq!(e["available"], true, "{e}");
    assert_eq!(e["source"], "nvidia-smi-energy", "{e}");
    let gpus = e["gpus"].as_array().unwrap();
    assert_eq!(gpus.len(), 2, "{e}");
    let mut total = 0.0;
    for (g, per_tick) in gpus.iter().zip(JOULES_PER_TICK) {
        let n = g["samples"].as_u64().unwrap();
        assert!(n >= 3, "{g}");
        let joules = g["energy_j"].as_f64().unwrap();
        assert!((joules - (n - 1) as f64 * per_tick).abs() < 1e-6, "{g}");
        total += joules;
    }
    assert!(
        (e["energy_j"].as_f64().unwrap() - total).abs() < 1e-6,
        "{e}"
    );
    assert_eq!(e["samples"], gpus[0]["samples"], "{e}");
    let tokens = run["summary"]["output_tokens"].as_f64().unwrap();
    let per_joule = e["tokens_per_joule"].as_f64().unwrap();
    assert!((per_joule * total - tokens).abs() < 1e-6, "{e}");
    // Same ticks, counters 1.5 times apart: so are the mean powers.
    let power = |g: &serde_json::Value| g["mean_power_w"].as_f64().unwrap();
    let ratio = power(&gpus[1]) / power(&gpus[0]);
    assert!((ratio - 1.5).abs() < 0.15, "{e}");
    let sum = power(&gpus[0]) + power(&gpus[1]);
    assert!(
        (e["mean_power_w"].as_f64().unwrap() - sum).abs() < 1e-6,
        "{e}"
    );
    let (g0, g1) = (&gpus[0], &gpus[1]);
    for (key, want) in [
        ("temperature_min_c", 61.0),
        ("temperature_max_c", 61.0),
        ("temperature_mean_c", 61.0),
        ("sm_clock_min_mhz", 1980.0),
        ("sm_clock_mean_mhz", 1980.0),
        ("mem_clock_mean_mhz", 2619.0),
    ] {
        assert_eq!(g0[key].as_f64(), Some(want), "{key}: {g0}");
    }
    assert_eq!(g1["sm_clock_min_mhz"].as_f64(), Some(1755.0), "{g1}");
    assert_eq!(g0["throttle_samples"], g0["samples"], "{g0}");
    assert_eq!(
        g0["throttle_reasons"],
        serde_json::json!([{"reason": "sw_power_cap", "share": 1.0}]),
        "{g0}"
    );
    assert_eq!(g1["throttle_samples"], g1["samples"], "{g1}");
    assert!(g1.get("throttle_reasons").is_none(), "none active: {g1}");
}

/// The host's GPUs and CUDA version, as the stand-in reported them.
fn check_host(run: &serde_json::Value) {
    let h = &run["host"];
    let h100 = serde_json::json!({
        "name": "NVIDIA H100 80GB HBM3",
        "driver": "570.86.15",
        "memory_mib": 81559.0,
        "power_limit_w": 700.0,
    });
    assert_eq!(h["gpus"], serde_json::json!([h100, h100]), "{h}");
    assert_eq!(h["cuda_version"], "12.8", "{h}");
}

/// The box at the launch, the fetch, the known answer and the revision.
fn check_launch(run: &serde_json::Value, stack_file: &Path) {
    let l = &run["launch"];
    assert_eq!(l["kind"], "process", "{l}");
    assert_eq!(l["model_revision"], "abc123", "{l}");
    let b = &l["box"];
    assert_eq!(
        b["gpus"],
        serde_json::json!([
            {"index": 0, "memory_used_mib": 1024.0, "temperature_c": 35.0},
            {"index": 1, "memory_used_mib": 2048.0, "temperature_c": 36.0},
        ]),
        "{b}"
    );
    assert!(b["mem_available_gib"].as_f64().unwrap() > 0.0, "{b}");
    assert!(
        b["baseline_mem_available_gib"].as_f64().unwrap() > 0.0,
        "{b}"
    );
    assert_eq!(b["waited_s"].as_f64(), Some(0.0), "no settle-memory: {b}");
    let hook = b["hook"].as_str().unwrap();
    assert!(hook.starts_with("true") && hook.ends_with("(ok)"), "{b}");
    let f = &l["fetch"];
    assert_eq!(f["command"], serde_json::json!(["sh", "-c", FETCH]), "{f}");
    let file = &f["files"][0];
    assert_eq!(file["bytes"], 4, "{f}");
    let expected = stack_file.parent().unwrap().join("snap/m.gguf");
    assert_eq!(file["path"], expected.display().to_string(), "{f}");
    let seconds = f["seconds"].as_f64().unwrap();
    assert!(
        (0.2..5.0).contains(&seconds),
        "{f}: from {}",
        stack_file.display()
    );
    let k = &l["known_answer"];
    assert_eq!(
        (&k["prompt"], &k["expect_pattern"], &k["passed"]),
        (
            &"Say something.".into(),
            &"quick\\s+model".into(),
            &true.into()
        ),
        "{k}"
    );
    assert_eq!(k["expect"], "", "a pattern check has no word: {k}");
    assert!(k["answer"].as_str().unwrap().contains("quick model"), "{k}");
}

/// A fetch that succeeds but brings another file than the one the launch
/// loads (as `hf download --include` matching nothing exits 0) fails the
/// stack before its launch, naming the file and what its folder holds;
/// the next stack runs.
#[test]
fn a_fetch_without_the_file_the_launch_loads_fails_the_stack_before_its_launch() {
    let dir = tempfile::tempdir().unwrap();
    let wrong = "mkdir -p hub/snap && printf q4 > hub/snap/m-Q4_K_M.gguf";
    let stacks = [
        (
            "a.toml",
            stack_fetching("wrong-file", wrong, "hub/snap/m-NVFP4.gguf"),
        ),
        ("b.toml", stack("right-file")),
    ];
    let (out, stacks) = first_fails(dir.path(), &stacks);
    let reason = stacks[0]["reason"].as_str().unwrap();
    assert_eq!(stacks[0]["status"], "failed", "{reason}");
    for words in [
        "hub/snap/m-NVFP4.gguf is not there (missing)",
        "hub/snap holds: m-Q4_K_M.gguf (2 bytes)",
        "fetch.log",
    ] {
        assert!(reason.contains(words), "{words:?} in {reason}");
    }
    assert!(
        !out.join("wrong-file/c1/run.json").exists(),
        "no launch, no run"
    );
    assert_eq!(stacks[1]["status"], "ok", "{}", stacks[1]);
}

/// A stack that needs more memory than the box has fails before its
/// launch (no server started, no run), naming both numbers; one that
/// needs less launches.
#[test]
fn a_stack_needing_more_memory_than_the_box_has_fails_before_its_launch() {
    let dir = tempfile::tempdir().unwrap();
    let with_need = |name: &str, gib: &str| {
        stack(name).replacen(
            "metrics = false\n",
            &format!(
                "metrics = false\nmemory-need-gib = {gib}\nfailure-hint = \"free some memory\"\n"
            ),
            1,
        )
    };
    let stacks = [
        ("a.toml", with_need("too-big", "100000")),
        ("b.toml", with_need("fits", "0.01")),
    ];
    let (out, stacks) = first_fails(dir.path(), &stacks);
    let reason = stacks[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("needs 100000.0 GiB of available memory"),
        "{reason}"
    );
    assert!(reason.contains("GiB available (MemAvailable)"), "{reason}");
    assert!(
        reason.contains("(pid "),
        "names the largest processes: {reason}"
    );
    let hint = "\nhint (the stack's failure-hint): free some memory";
    assert!(reason.ends_with(hint), "{reason}");
    assert!(
        !out.join("too-big/c1/run.json").exists(),
        "no launch, no run"
    );
    assert_eq!(stacks[1]["status"], "ok", "{}", stacks[1]);
    assert_eq!(
        read_run_json(&out.join("fits/c1"))["stack"]["memory-need-gib"],
        0.01
    );
}

/// Runs the suite of `stacks` in `dir` (one request each), whose first
/// stack fails: the suite exits 2. Returns its folder and `suite.json`'s
/// stacks.
fn first_fails(dir: &Path, stacks: &[(&str, String)]) -> (PathBuf, Vec<serde_json::Value>) {
    let body = "[defaults]\noutput-tokens = 8\nprompt-tokens = 16\nwarmup-requests = 0\n\
                [[scenario]]\nname = \"c1\"\nconcurrency = 1\nrequests = 1\n";
    let suite = write_suite(dir, "first-fails", stacks, body);
    let out = dir.join("out");
    let run = stackbench(["suite", "-q", "--out"])
        .arg(&out)
        .arg(&suite)
        .run();
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("suite.json")).unwrap()).unwrap();
    (out, s["stacks"].as_array().unwrap().clone())
}
