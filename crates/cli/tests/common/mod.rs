//! The harness every integration test of the cli crate uses: the binary
//! run through one builder ([`stackbench`]) with one success check
//! ([`Output::assert_success`]), the repository root, one suite writer, one
//! capture splitter, the tools a test needs ([`require_tool!`], the rule in
//! tools.rs), the lock that keeps real servers one at a time and the
//! preamble of a test that needs them ([`real_test!`]); and for
//! the engine-level tests, a simulated server with a profile written inline
//! and the engine run against it.
#![allow(dead_code, clippy::unwrap_used)]

// Each test binary uses a part of the harness.
#[allow(unused_imports)]
pub use harness::{
    repo, require, serial, sim_command, sim_stack, spawn_sim, spawn_sim_env, split_capture,
    stackbench, write_suite, Output, Running, SimProc, Stackbench, BIN, SERIAL,
};
#[allow(unused_imports)]
pub use tools::Tool;
#[allow(unused_imports)]
pub use turn::Turn;

#[macro_use]
mod preamble;

/// One test per container engine running `$check(engine)`: `$podman` and
/// `$docker`, each a [`real_test!`] (ignored where its engine is not here:
/// the build-time half of the rule; `Engine::require` in the check is the
/// runtime half), holding the machine's turn.
#[allow(unused_macros)]
macro_rules! per_engine {
    ($podman:ident, $docker:ident, $check:path) => {
        real_test!(podman; fn $podman() {
            $check($crate::common::engine::Engine::Podman);
        });
        real_test!(docker; fn $docker() {
            $check($crate::common::engine::Engine::Docker);
        });
    };
}

/// The paths of a tool a test needs (tools.rs), or the test fails: the
/// runtime half of the rule whose build-time half is the test's
/// `#[cfg_attr(not(has_<tool>), ignore = "…")]`.
macro_rules! require_tool {
    (llama_server) => {
        $crate::common::require($crate::common::Tool::LlamaServer)
    };
    (vllm) => {
        $crate::common::require($crate::common::Tool::Vllm)
    };
    (ollama) => {
        $crate::common::require($crate::common::Tool::Ollama)
    };
    (podman) => {
        $crate::common::require($crate::common::Tool::Podman)
    };
    (docker) => {
        $crate::common::require($crate::common::Tool::Docker)
    };
    (chromium) => {
        $crate::common::require($crate::common::Tool::Chromium)
    };
}

pub mod engine;
pub mod harness;
pub mod schema_keys;
pub mod server_proc;
pub mod tools;
pub mod turn;
pub mod vllm;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use stackbench_backends::{normalize_base_url, StreamDriver, StreamTarget};
use stackbench_core::kinds::ServerKind;
use stackbench_core::{RequestRecord, Seed};
use stackbench_engine::{
    run, Bound, LiveCounters, PromptGenerator, RecordSink, RunOutcome, RunPlan,
};
use stackbench_sim::{Fault, Profile, SimHandle, SimServer};
use stackbench_wire::body::{Api, BodyOptions};
use tokio_util::sync::CancellationToken;

/// A profile with the given flavor and latency parameters. Prefill is made
/// negligible so that TTFT equals `ttft_ms` plus transport time.
pub fn profile(
    flavor: &str,
    ttft_ms: f64,
    decode_tps: f64,
    extra_latency: &str,
    extra: &str,
) -> Profile {
    let text = format!(
        r#"
flavor = "{flavor}"
stack = "test"
quantization = "none"
model = "test-model"
{extra}

[latency]
ttft-ms = {ttft_ms}
prefill-tps = 1e12
decode-tps = {decode_tps}
max-slots = 512
{extra_latency}
"#
    );
    Profile::parse(&text, "inline").expect("test profile parses")
}

/// Starts `profile` on a free port.
pub async fn start(profile: Profile, faults: Vec<Fault>) -> SimHandle {
    SimServer::new(profile)
        .with_faults(faults)
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("simulator binds")
}

/// Starts `profile` on a free port in its own thread and runtime, so the
/// simulator's wake-ups are not delayed by the client's work in the test's
/// runtime (as with a server in another process). Returns its URL; the
/// server lives until the test process exits.
pub fn start_isolated(profile: Profile) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let handle = start(profile, vec![]).await;
            tx.send(handle.base_url()).unwrap();
            handle.wait().await;
        });
    });
    rx.recv().unwrap()
}

/// Knobs of one engine run.
pub struct Load {
    pub api: Api,
    /// The model asked for ("test-model" unless set: the simulator serves
    /// any name).
    pub model: String,
    pub concurrency: u32,
    pub bound: Bound,
    pub warmup: u64,
    pub output_tokens: u32,
    pub per_event_counts: bool,
    pub extra: serde_json::Map<String, serde_json::Value>,
    pub exclude_short: bool,
}

impl Load {
    pub fn new(concurrency: u32, bound: Bound, output_tokens: u32) -> Self {
        Self {
            api: Api::Chat,
            model: "test-model".into(),
            concurrency,
            bound,
            warmup: 0,
            output_tokens,
            per_event_counts: true,
            extra: Default::default(),
            exclude_short: false,
        }
    }
}

/// Runs the engine against the server of `kind` (the caller started it,
/// so it says which) at `base_url`, writing records under `dir`; the
/// server's quirks are allowed for as `run` allows for them, asked of
/// `kind`.
pub async fn bench(
    kind: ServerKind,
    base_url: &str,
    load: &Load,
    dir: &Path,
) -> (RunOutcome, Vec<RequestRecord>) {
    let driver = StreamDriver::new(StreamTarget {
        root: normalize_base_url(base_url).unwrap(),
        api: load.api,
        api_key: None,
        body: BodyOptions {
            model: load.model.clone(),
            max_tokens: load.output_tokens,
            ignore_eos: true,
            temperature: 0.0,
            seed: Some(Seed::new(1).unwrap()),
            per_event_counts: load.per_event_counts && kind.honours_per_event_counts(),
            extra: load.extra.clone(),
            switches: serde_json::Map::new(),
            salt_field: false,
        },
        request_timeout: Duration::from_secs(120),
        first_byte_timeout: Duration::from_secs(120),
        idle_timeout: Duration::from_secs(120),
        reuse_connections: kind.reuses_connections(),
        counts_stop_token: kind.counts_stop_token(),
    })
    .unwrap();
    let plan = RunPlan {
        concurrency: load.concurrency,
        bound: load.bound,
        warmup_requests: load.warmup,
        warmup_auto: None,
        prompts: PromptGenerator::approximate(Seed::new(42).unwrap(), 32),
        target_output_tokens: load.output_tokens,
        exclude_short: load.exclude_short,
        cold_load_ms: stackbench_engine::DEFAULT_COLD_LOAD_MS,
        open_loop: None,
        slo: None,
        seed: 42,
        dataset: None,
        sessions: None,
        cache_salt: None,
        max_error_pct: None,
        depth_cached: false,
        replay: None,
    };
    let path = dir.join("requests.jsonl");
    let (sink, handle) = RecordSink::create(&path).unwrap();
    let outcome = run(
        Arc::new(driver),
        &plan,
        sink,
        Arc::new(LiveCounters::default()),
        CancellationToken::new(),
    )
    .await;
    tokio::task::spawn_blocking(move || handle.finish().unwrap())
        .await
        .unwrap();
    let records = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (outcome, records)
}

/// `stackbench run --quiet --base-url URL --out DIR ARGS…`, waited for.
pub fn run_bin(url: &str, out: &Path, args: &[&str]) -> Output {
    stackbench(["run", "--quiet", "--base-url", url, "--out"])
        .arg(out)
        .args(args)
        .run()
}

/// `stackbench compare BASE CANDIDATE EXTRA…`: exit code, stdout, stderr.
pub fn compare_bin(base: &Path, candidate: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let out = stackbench(["compare"])
        .arg(base)
        .arg(candidate)
        .args(extra)
        .run();
    (out.code(), out.stdout, out.stderr)
}

/// The records of `dir/requests.jsonl` as JSON, warm-up included.
pub fn read_records(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("requests.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The measured (not warm-up) records of `dir/requests.jsonl`.
pub fn measured_records(dir: &Path) -> Vec<serde_json::Value> {
    read_records(dir)
        .into_iter()
        .filter(|r| r["warmup"] == false)
        .collect()
}

/// Reads `dir/run.json`.
pub fn read_run_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap()
}

/// The `stackbench run` arguments of the real-server conversation tests:
/// one user, three 4-turn conversations of 96-token messages and 32-token
/// answers.
pub const CONVERSATION_ARGS: [&str; 12] = [
    "-c",
    "1",
    "-n",
    "12",
    "--turns",
    "4",
    "--prompt-tokens",
    "96",
    "--output-tokens",
    "32",
    "--seed",
    "11",
];

/// The whole-number field `key` of record `r` (the test fails when it is
/// missing).
pub fn num(r: &serde_json::Value, key: &str) -> u64 {
    r[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing: {r}"))
}

/// The median TTFT (ms) of the records of conversation turn `turn`.
pub fn turn_ttft_ms(records: &[serde_json::Value], turn: u64) -> f64 {
    median(
        records
            .iter()
            .filter(|r| r["turn"] == turn)
            .filter_map(|r| r["ttft_us"].as_f64())
            .map(|us| us / 1000.0)
            .collect(),
    )
}

/// The median of `v` (upper middle for even lengths).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A Mooncake trace of forty requests in five groups sharing 1 to 5
/// leading 512-token blocks (then one block of their own), `gap_ms`
/// apart, each asking `output` tokens: the heavy sharing the trace tests
/// hold the servers' prefix caches to.
pub fn sharing_trace(dir: &Path, gap_ms: u64, output: u32) -> PathBuf {
    let mut lines = Vec::new();
    for i in 0..40u64 {
        let group = i % 5;
        let shared: Vec<String> = (0..=group).map(|b| (100 + b).to_string()).collect();
        let input = (group + 2) * 512 - 100;
        lines.push(format!(
            r#"{{"timestamp": {}, "input_length": {input}, "output_length": {output}, "hash_ids": [{},{}]}}"#,
            i * gap_ms,
            shared.join(","),
            1000 + i
        ));
    }
    let path = dir.join("sharing.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}
