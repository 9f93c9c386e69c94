//! Command-line arguments (clap stays in this crate). Raw arguments are
//! validated into the library's configuration types by each command.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use stackbench_core::kinds::{parse_name, Api, Closed, FlavorChoice, Thinking};
use stackbench_core::Seed;
use stackbench_sim::Flavor;

/// Benchmark LLM inference stacks (vLLM, llama-server, Ollama) on your own
/// box: time every streamed token, count tokens exactly, and write
/// histograms and tables you can compare across runs.
#[derive(Debug, Parser)]
#[command(name = "stackbench", version, about, long_about = None)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Trust the certificates of this PEM file for https:// servers (a
    /// private CA, a self-signed server), besides the system's and
    /// Mozilla's roots.
    #[arg(long, global = true, value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
    /// Accept any certificate from https:// servers. For test servers with
    /// self-signed certificates only: the connection is not authenticated.
    #[arg(long, global = true)]
    pub insecure: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Benchmark one server: closed loop at a concurrency, or open loop at a
    /// request rate; a list of levels sweeps them into one folder.
    Run(Box<RunArgs>),
    /// Serve a simulated vLLM, llama-server or Ollama (for dry runs and tests).
    Sim(SimArgs),
    /// Identify the server at a URL and test what it honours (JSON on stdout).
    Probe(ProbeArgs),
    /// Run the built-in simulated stacks at c=1 and c=32 and print the two
    /// comparison tables (about a minute; no server needed).
    Demo(DemoArgs),
    /// Benchmark a whole box: launch each stack of a suite file (container,
    /// process or simulator), wait until ready, warm up, run its scenarios,
    /// tear it down, and print the comparison tables.
    Suite(SuiteArgs),
    /// Check a suite before its run: each stack's image for this machine's
    /// architecture and the GPU inside it, the model files its launch needs
    /// and their size, disk room for what is missing, the memory it needs
    /// and its port. Each line says ok, PROBLEM or ? (could not check, e.g.
    /// offline); exit 1 when there is a problem.
    Preflight(PreflightArgs),
    /// Compare a candidate with a baseline (runs or suites, matched by stack
    /// and scenario): change and 95% bootstrap interval per metric, a
    /// verdict, exit 1 if anything regressed.
    Compare(CompareArgs),
    /// Render the comparison tables from result folders (run or suite
    /// folders, searched recursively): other days, other boxes.
    Table(TableArgs),
    /// Combine the shards of one workload run from several load machines
    /// at once into one run: histograms merged, records concatenated,
    /// totals summed over the window all shards were steady.
    Merge(MergeArgs),
    /// Write one self-contained HTML report (SVG charts: decode tok/s
    /// histograms, TTFT/ITL percentile curves, tok/s over time,
    /// throughput vs concurrency and vs per-user speed) and HdrHistogram
    /// .hgrm files from run or suite folders.
    Report(ReportArgs),
    /// Gate a container upgrade: run one stack of a suite as it is
    /// (baseline) and with --candidate changes (e.g. a new image), in
    /// alternating rounds within this process, then compare them like
    /// `compare` (exit 0 no regression, 1 regressed or a flag, 2 error).
    #[command(name = "upgrade-check")]
    UpgradeCheck(UpgradeCheckArgs),
    /// Measure how much a stack varies against itself (A/A: the same
    /// config twice, alternating) and write the thresholds this box can
    /// support, ready for the suite's [compare] table.
    Calibrate(CalibrateArgs),
    /// Lay every run of some folders out in time, per stack and scenario
    /// (one point per folder: a suite's repeats together), with each
    /// point's image, engine version, host, value and 95% interval per
    /// metric, and mark each change point: a point that `compare` would
    /// call regressed or improved against the point before it. Markdown
    /// on stdout; JSON and an HTML trend page on request.
    History(HistoryArgs),
}

/// `stackbench history`
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Result folders: runs, suites, upgrade checks, or folders holding
    /// them (searched recursively). Runs are ordered by start time.
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,
    /// Only this stack (its config name, or its label).
    #[arg(long, value_name = "NAME")]
    pub stack: Option<String>,
    /// Only this metric (repeatable): decode_tok_s_p50, total_tok_s,
    /// ttft_p50_ms, ttft_p99_ms, itl_p50_ms, itl_p99_ms, e2e_p50_ms,
    /// error_rate_pct, ttfat_p50_ms, reasoning_share_pct [default: all;
    /// the last two where a run reasoned].
    #[arg(long, value_name = "KEY",
          value_parser = |s: &str| s.parse::<stackbench_report::compare::MetricKey>())]
    pub metric: Vec<stackbench_report::compare::MetricKey>,
    /// Override a metric's threshold for a change point, %, as `compare
    /// --threshold` (e.g. decode_tok_s_p50=3). Repeatable. Where it is not
    /// given, the thresholds a suite folder given as DIR recorded (its
    /// suite.json, from the suite file's [compare]) apply, a later
    /// folder's over an earlier's; else the defaults.
    #[arg(long, value_name = "METRIC=PCT")]
    pub threshold: Vec<String>,
    /// Also write the Markdown here.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Also write the history as JSON here (fields: docs/results-schema.md).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write a self-contained HTML page here: a trend chart per
    /// metric (each point with its interval, change points marked) above
    /// its table.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// `stackbench report`
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Result folders: runs, suites, or folders holding them.
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where report.html and hgrm/ go [default: DIR/report for one
    /// folder, ./stackbench-report for several].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Show runs that ran different workloads together anyway (repeats of
    /// one row, or rows side by side at one level, differing in a load
    /// setting: lengths, ignore_eos, temperature, …); the differences are
    /// listed under the tables. Without it they are refused (exit 2).
    #[arg(long)]
    pub allow_mismatch: bool,
}

/// `stackbench merge`
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' run folders (each holds a run.json), one per load
    /// machine, all of the same workload.
    #[arg(value_name = "SHARD", required = true, num_args = 2..)]
    pub shards: Vec<PathBuf>,
    /// The merged run folder (must not hold a run already).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// `stackbench suite`
#[derive(Debug, Args)]
pub struct SuiteArgs {
    /// The suite file, e.g. configs/suites/local.toml.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Run only these stacks (by name; repeatable).
    #[arg(long, value_name = "STACK")]
    pub only: Vec<String>,
    /// Print what would be launched (full command lines) and run, and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Suite folder [default: results/<UTC timestamp>-<suite name>/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Override a config key: stack.NAME.KEY=VALUE or suite.KEY=VALUE
    /// (VALUE is TOML, else text), e.g. --set
    /// stack.llama-server.launch.image=localhost/llama:new. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Send `Authorization: Bearer $VAR` to every stack.
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// Run every scenario N times, in rounds: each round launches each
    /// stack in turn, runs its scenarios once and tears it down, so drift
    /// hits every stack alike; the tables show the spread (overrides the
    /// suite's `repeat`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: Option<u32>,
    /// Run the scenarios in an order shuffled by SEED, the same order on
    /// every stack and round, recorded in suite.json (overrides the
    /// suite's `shuffle` key): heat and drift over a long suite then do
    /// not line up with depth or load.
    #[arg(long, value_name = "SEED")]
    pub shuffle: Option<u64>,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `stackbench preflight`
#[derive(Debug, Args)]
pub struct PreflightArgs {
    /// The suite file, e.g. configs/suites/dgx-spark.toml.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Check only these stacks (by name; repeatable).
    #[arg(long, value_name = "STACK")]
    pub only: Vec<String>,
    /// Override a config key as `suite --set` does. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Ask no registry or model hub (what needs one says "?").
    #[arg(long)]
    pub offline: bool,
}

/// `stackbench compare`
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Baseline: a run folder, a suite folder, or a folder of them.
    #[arg(value_name = "BASE")]
    pub base: PathBuf,
    /// Candidate, the same way.
    #[arg(value_name = "CANDIDATE")]
    pub candidate: PathBuf,
    /// The verdict's settings and outputs.
    #[command(flatten)]
    pub gate: GateArgs,
}

/// How `compare` and `upgrade-check` judge and what they write.
#[derive(Debug, Default, Args)]
pub struct GateArgs {
    /// Compare workloads that differ anyway (any `core::workload` key:
    /// concurrency or rate, arrival, lengths, API, model, quantization,
    /// ignore_eos, exclude_short, temperature, dataset and its selection,
    /// SLO); every output lists the differences.
    #[arg(long)]
    pub allow_mismatch: bool,
    /// Override a metric's threshold, % (points for error_rate_pct and
    /// reasoning_share_pct), e.g. --threshold decode_tok_s_p50=3.
    /// Metrics: decode_tok_s_p50, total_tok_s, ttft_p50_ms, ttft_p99_ms,
    /// itl_p50_ms, itl_p99_ms, e2e_p50_ms, error_rate_pct, ttfat_p50_ms,
    /// reasoning_share_pct (reported, never gated). Repeatable. Without it, a suite
    /// folder's thresholds (its suite file's [compare] table, kept in
    /// suite.json) apply, the candidate's first.
    #[arg(long, value_name = "METRIC=PCT")]
    pub threshold: Vec<String>,
    /// Accept a flag instead of failing on it: saturated (the client was
    /// the bottleneck), errors (>5% of the candidate's requests failed),
    /// disagree (client and server decode rates >4% apart), incomplete (a
    /// candidate run did not finish), cache (either side's prompts were in
    /// the server's cache, or its reset was not proven), unsteady (either
    /// side's measured window was not steady), throttled (the GPU
    /// throttled). Repeatable.
    #[arg(long, value_name = "FLAG")]
    pub allow: Vec<String>,
    /// Fail, instead of skip, what cannot be judged: a metric with fewer
    /// than 5 samples a side, a stack or scenario on one side only.
    #[arg(long)]
    pub strict: bool,
    /// Also write the Markdown here (a pull-request comment).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Also write the comparison and the gate's cases as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write JUnit XML here: a case per metric (a regression fails,
    /// insufficient data is skipped), per flag (fails unless --allow) and
    /// per run without a counterpart (skipped).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// `stackbench upgrade-check`
#[derive(Debug, Args)]
pub struct UpgradeCheckArgs {
    /// The candidate: a key of the stack's config and its new value, e.g.
    /// --candidate launch.image=vllm/vllm-openai:v0.33.0 (the keys of
    /// --set, below `stack.NAME.`). Repeatable.
    #[arg(long, value_name = "KEY=VALUE", required = true)]
    pub candidate: Vec<String>,
    /// The suite, the stack and how to run them.
    #[command(flatten)]
    pub run: PairedRunArgs,
    /// The verdict's settings and outputs.
    #[command(flatten)]
    pub gate: GateArgs,
}

/// `stackbench calibrate`
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// The suite, the stack and how to run them.
    #[command(flatten)]
    pub run: PairedRunArgs,
    /// Multiply the largest change seen by this for the margin.
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub margin: f64,
}

/// What `upgrade-check` and `calibrate` run: one stack of a suite,
/// baseline and candidate alternating.
#[derive(Debug, Args)]
pub struct PairedRunArgs {
    /// The suite file, e.g. configs/suites/dgx-spark.toml.
    #[arg(value_name = "SUITE")]
    pub file: PathBuf,
    /// The stack of the suite to check (its `name`).
    #[arg(long, value_name = "NAME")]
    pub stack: String,
    /// Rounds: each runs the baseline, then the candidate, every launch
    /// torn down before the next (A B A B ...), so drift hits both alike.
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    /// Override a config key on both sides: stack.NAME.KEY=VALUE or
    /// suite.KEY=VALUE, as for `suite`. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Print what would be launched for each side, and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Result folder [default: results/<UTC timestamp>-<stack>-upgrade-check/
    /// or -calibrate/]: baseline/ and candidate/ hold each side's runs.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Send `Authorization: Bearer $VAR` to the stack.
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `stackbench table`
#[derive(Debug, Args)]
pub struct TableArgs {
    /// Result folders: runs, suites, or folders holding them.
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,
    /// Show runs that ran different workloads together anyway (repeats of
    /// one row, or rows side by side at one level, differing in a load
    /// setting: lengths, ignore_eos, temperature, …); the differences are
    /// listed under the tables. Without it they are refused (exit 2).
    #[arg(long)]
    pub allow_mismatch: bool,
}

/// `stackbench run`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Server root or its /v1 prefix, e.g. http://127.0.0.1:8000/v1.
    #[arg(long, value_name = "URL")]
    pub base_url: String,
    /// Model name to send; default: the first model the server lists at /v1/models.
    #[arg(long)]
    pub model: Option<String>,
    /// Endpoint to drive.
    #[arg(long, value_parser = closed::<Api>(), default_value = "chat")]
    pub api: Api,
    /// Which server this is; `auto` probes it (see `stackbench probe`) and
    /// sends only the request options it honours.
    #[arg(long, value_parser = closed::<FlavorChoice>(), default_value = "auto")]
    pub flavor: FlavorChoice,
    /// Name of an environment variable holding the API key (sent as a Bearer
    /// token; never written to any output).
    #[arg(long, value_name = "NAME")]
    pub api_key_env: Option<String>,

    /// Closed-loop workers: each sends its next request when its previous
    /// one ends. A list (1,2,4,8) sweeps the levels in turn into one
    /// folder (one run each in c<N>/) and prints throughput and latency
    /// per level.
    #[arg(short = 'c', long, value_delimiter = ',', default_value = "1", value_name = "N[,N...]",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: Vec<u32>,
    /// Open loop: send this many requests per second whatever the server
    /// does (latencies count from each request's planned send time, so a
    /// late send still counts its wait). A list sweeps the rates into
    /// r<R>/ folders. Replaces -c.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "R[,R...]",
        conflicts_with = "concurrency"
    )]
    pub request_rate: Vec<f64>,
    /// How open-loop send times are spread: poisson (exponential gaps; the
    /// run offers exactly rate x duration requests) or constant.
    #[arg(long, value_enum, default_value_t = ArrivalArg::Poisson, requires = "request_rate")]
    pub arrival: ArrivalArg,
    /// Open loop: at most this many requests in flight; a request due
    /// while the cap is reached waits (its wait counts in its latency and
    /// is reported as schedule lag).
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_concurrency: Option<u32>,
    /// Client runtime threads: the workers are spread over this many
    /// single-threaded runtimes, each on its own thread with its own
    /// connections. 1 (the default) costs the least CPU per token; raise
    /// it when the run summary says the client was saturated and the box
    /// has idle cores (each thread can drive roughly one core's worth).
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: u32,
    /// Judge every request against latency limits and report goodput (the
    /// share and rate of requests meeting all of them), e.g.
    /// ttft_ms=500,tpot_ms=50,e2e_ms=10000 (any subset).
    #[arg(long, value_name = "LIMITS")]
    pub slo: Option<stackbench_core::slo::Slo>,
    /// Sweeps: stop before the next level once a level's failed requests
    /// exceed this share, %.
    #[arg(long, default_value_t = 10.0, value_name = "PCT")]
    pub stop_error_pct: f64,
    /// Sweeps: stop before the next level once a level's p99 TTFT exceeds
    /// this, ms.
    #[arg(long, value_name = "MS")]
    pub stop_ttft_p99_ms: Option<f64>,
    /// Search (doubling from 1, then bisection) for the highest
    /// concurrency at which at least --slo-attainment % of requests meet
    /// --slo; each probe is a run in c<N>/, and sweep.json gives the answer.
    #[arg(long, requires = "slo", conflicts_with_all = ["request_rate", "concurrency"])]
    pub find_max_concurrency: bool,
    /// The highest concurrency --find-max-concurrency tries.
    #[arg(long, default_value_t = 256, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub search_max: u32,
    /// The share of requests that must meet --slo for a level to pass, %.
    #[arg(long, default_value_t = 90.0, value_name = "PCT")]
    pub slo_attainment: f64,
    /// Measured requests to finish [default: 10 x concurrency (open loop:
    /// 10 s of requests), unless --duration].
    #[arg(short = 'n', long, conflicts_with = "duration")]
    pub num_requests: Option<u64>,
    /// Measure for this long (e.g. 60s, 5m); requests still running then are cancelled.
    #[arg(short = 'd', long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Requests sent before measuring; not counted. `auto`: until 3
    /// consecutive requests' decode rates agree within
    /// --warmup-tolerance, at most --warmup-max requests or 120 s (a cold
    /// engine reads ~30% slow); run.json's hygiene.warmup says what it
    /// did.
    #[arg(long, alias = "warmup", default_value = "1", value_name = "N|auto")]
    pub warmup_requests: stackbench_core::hygiene::WarmupSpec,
    /// `--warmup-requests auto`: how far apart (max − min over the
    /// median) the consecutive decode rates may be, %.
    #[arg(long, default_value_t = 10.0, value_name = "PCT")]
    pub warmup_tolerance: f64,
    /// `--warmup-requests auto`: the most warm-up requests sent.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub warmup_max: u64,
    /// Empty the server's prompt cache before the warm-up: vLLM POST
    /// /reset_prefix_cache (the server needs VLLM_SERVER_DEV_MODE=1),
    /// llama-server erases every slot, Ollama unloads and reloads the
    /// model (the reload timed as a cold load). A reset the server
    /// refuses fails the run; the first requests' cached counts prove it
    /// (run.json hygiene.reset.proven).
    #[arg(long)]
    pub reset_cache: bool,

    /// Prompt length in tokens as the server counts them, chat template
    /// included: measured before the run with the server's tokenizer
    /// endpoint (vLLM, llama-server) or two calibration requests
    /// (others), so every prompt has exactly this length; run.json's
    /// load.prompt_sizing says how, summary.prompt_tokens_dist what the
    /// server reported.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
    pub prompt_tokens: u32,
    /// Make the first N tokens after the instruction the same in every
    /// request, to measure prefix caching on purpose (default: no two
    /// prompts share more than the template and instruction).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub shared_prefix_tokens: u32,
    /// The model's tokenizer.json (or its folder; the chat template is
    /// read from chat_template.jinja or tokenizer_config.json beside it):
    /// sizes prompts exactly for servers without a tokenizer endpoint
    /// (Ollama) without calibration requests.
    #[arg(long, value_name = "PATH")]
    pub tokenizer: Option<PathBuf>,
    /// Send requests from a dataset instead of generated prompts: ShareGPT
    /// JSON (first human turn; output length = the reply's tokens) or JSONL
    /// ({"prompt": ...} or {"messages": [...]}, optional "output_tokens").
    /// Entries are sent in turn; run.json records the selection's SHA-256.
    #[arg(long, value_name = "FILE")]
    pub dataset: Option<PathBuf>,
    /// Draw this many dataset entries, in an order shuffled by the seed
    /// [default: every entry, in file order].
    #[arg(long, value_name = "N", requires = "dataset", value_parser = clap::value_parser!(u64).range(1..))]
    pub dataset_sample: Option<u64>,
    /// Leave out dataset prompts shorter than N tokens (prompt text,
    /// counted by --tokenizer, else the server's tokenizer endpoint, else
    /// estimated).
    #[arg(long, value_name = "N", requires = "dataset")]
    pub dataset_min_prompt_tokens: Option<u32>,
    /// Leave out dataset prompts longer than N tokens.
    #[arg(long, value_name = "N", requires = "dataset")]
    pub dataset_max_prompt_tokens: Option<u32>,
    /// Leave out dataset entries asking for more than N output tokens.
    #[arg(long, value_name = "N", requires = "dataset")]
    pub dataset_max_output_tokens: Option<u32>,
    /// Replay a request trace as the measured phase: each request at its
    /// recorded time (open loop; --max-concurrency caps it), a session's
    /// turns when the turn before is answered (plus recorded think time),
    /// prompts of the recorded lengths that share prefixes as the
    /// trace's hash ids say. A shipped slice (mooncake, azure, agentic:
    /// datasets/traces/, works offline) or a FILE with --trace-format.
    /// -n N replays the first N requests. run.json `replay` says how
    /// faithful the replay was (arrival lag, lengths, expected vs.
    /// achieved prefix-cache hits); a shortfall flags the run `replay`.
    #[arg(long, value_name = "NAME|FILE",
          conflicts_with_all = ["request_rate", "dataset", "depth", "find_max_concurrency"])]
    pub trace: Option<PathBuf>,
    /// The format of a --trace FILE: mooncake (JSONL, ms, 512-token
    /// blocks), bailian (Qwen-Bailian JSONL, s, 16-token blocks, chats),
    /// azure (CSV: TIMESTAMP, ContextTokens, GeneratedTokens) or agentic
    /// (OpenTelemetry GenAI spans, one LLM call a line: docs/traces.md).
    #[arg(long, value_name = "FORMAT", requires = "trace")]
    pub trace_format: Option<stackbench_trace::Format>,
    /// Replay time this many times faster than recorded (think time too).
    #[arg(long, default_value_t = 1.0, value_name = "X", requires = "trace")]
    pub speed: f64,
    /// Replay only this slice of the trace, seconds from its first
    /// request: FROM..TO (e.g. 60..120).
    #[arg(long, value_name = "FROM..TO", requires = "trace", value_parser = parse_window)]
    pub window: Option<(f64, f64)>,
    /// Multiply every prompt length and the trace's block size by this
    /// (0 < X <= 1): a machine smaller than the trace's keeps its prefix
    /// sharing (a 512-token block at 0.125 is 64 tokens).
    #[arg(long, default_value_t = 1.0, value_name = "X", requires = "trace")]
    pub trace_scale: f64,
    /// Cut replayed prompts to N tokens (after --trace-scale), keeping
    /// their first blocks.
    #[arg(long, value_name = "N", requires = "trace", value_parser = clap::value_parser!(u32).range(1..))]
    pub trace_max_input: Option<u32>,
    /// Cut replayed outputs to N tokens.
    #[arg(long, value_name = "N", requires = "trace", value_parser = clap::value_parser!(u32).range(1..))]
    pub trace_max_output: Option<u32>,
    /// Send a trace's recorded chats without their tools: for a model or
    /// server that refuses tools (Ollama: HTTP 400 "does not support
    /// tools" for a model whose template has none).
    #[arg(long, requires = "trace")]
    pub trace_no_tools: bool,
    /// Turns per conversation: each worker holds a chat whose turn k sends
    /// the history so far (earlier messages and the server's own answers)
    /// plus a new user message of --prompt-tokens; records carry session
    /// and turn, the summary TTFT and cache hits per turn. A dataset
    /// conversation uses its own user turns, at most N. Closed loop only;
    /// at most 100.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub turns: u32,
    /// Pause between a conversation's turns (the user reading and
    /// typing), e.g. 2s; not part of any request's time.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION", requires = "turns")]
    pub think_time: Option<Duration>,
    /// Ask a reasoning model to think or not, in each stack's own switch
    /// (vLLM and llama-server chat_template_kwargs.enable_thinking; Ollama
    /// think, or reasoning_effort none on /v1); `default` sends nothing. Chat APIs only. A run
    /// whose server ignored the switch says so.
    #[arg(long, value_parser = closed::<Thinking>(), default_value = "default")]
    pub thinking: Thinking,
    /// Reasoning tokens a request may spend before the server forces the
    /// end of its thinking (vLLM thinking_token_budget, which needs a
    /// reasoning parser; llama-server thinking_budget_tokens, which counts
    /// the template's opening newline: N gives N-1). Ollama has none.
    #[arg(long, value_name = "N")]
    pub thinking_budget: Option<u32>,
    /// Keep requests off the prompt cache: vLLM gets a cache_salt of its
    /// own per request, llama-server cache_prompt false, and prompts are
    /// salted so none matches an earlier run's (Ollama has no switch: its
    /// later turns may still hit). Measures cold prefill.
    #[arg(long)]
    pub cache_salt: bool,
    /// Output tokens per request (sent as max_tokens, with ignore_eos).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
    pub output_tokens: u32,
    /// Context depth, as llama-bench -d: each request is preceded by D
    /// tokens of prior context (exact, as the server counts them), then
    /// its --prompt-tokens, then --output-tokens. With the depth cache on
    /// (the default) each user's context is sent once first (the ctx_pp
    /// row) and its requests then process only their new prompt over it
    /// (pp<P> @ d<D>, tg<T> @ d<D>). A list (0,1024,4096) runs each depth
    /// in turn, into d<D>/ folders. Refused before the run when depth +
    /// prompt + output exceeds the server's context.
    #[arg(long, value_delimiter = ',', value_name = "D[,D...]")]
    pub depth: Vec<u32>,
    /// At a depth: on, each user's context is cached after its first send
    /// (llama-bench's and llama-benchy's prefix-cached depth); off, every
    /// request's context is its own and processed whole (kept off the
    /// cache as --cache-salt does).
    #[arg(long, value_enum, default_value_t = DepthCacheArg::On, value_name = "on|off")]
    pub depth_cache: DepthCacheArg,
    /// Do not send ignore_eos: outputs may end early.
    #[arg(long)]
    pub no_ignore_eos: bool,
    /// Leave requests that ended before --output-tokens (EOS; Ollama has no
    /// ignore_eos) out of the latency and decode statistics. They are always
    /// counted as `short` in the summary.
    #[arg(long)]
    pub exclude_short: bool,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// Seed for prompts and sampling, 0 to 2147483647 (the range vLLM,
    /// llama-server and Ollama all accept) [default: a fresh random seed per
    /// run, recorded in run.json]. A sweep's first level uses it, each
    /// other level a seed drawn from it (so no level is served from
    /// another's cache), the same every time.
    #[arg(long)]
    pub seed: Option<Seed>,
    /// Do not ask for per-event token counts (continuous_usage_stats,
    /// timings_per_token); use if a strict server rejects those fields.
    #[arg(long)]
    pub no_per_event_counts: bool,
    /// Extra JSON object merged into every request body, e.g. '{"top_p":1}'.
    /// For Ollama's native APIs, '{"num_ctx": 8192}' goes into `options`
    /// (a num_ctx that differs from the loaded one reloads the model).
    #[arg(long, value_name = "JSON")]
    pub extra_body: Option<String>,
    /// Wait this long for the server to become ready (GET /health answering
    /// 200; while it refuses connections or answers 503 "Loading model").
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub ready_timeout: Duration,
    /// Do not scrape the server's Prometheus /metrics (scraped by default
    /// before, during and after the measured phase).
    #[arg(long)]
    pub no_metrics: bool,
    /// How often to scrape /metrics during the measured phase, on average:
    /// each gap is drawn within ±25 % so the scrapes cannot lock onto the
    /// batch cycle of workers that finish together. Gauges (running,
    /// waiting, KV-cache use) are only seen at scrapes: keep it well below
    /// a request's duration to catch their maxima.
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    pub metrics_interval: Duration,
    /// Give up on a request after this long (send to end of stream).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// End the run early, cleanly (requests in flight cancelled and
    /// recorded, run.json marked incomplete, exit 2), once more than this
    /// share of at least 20 finished requests failed, %: a broken server
    /// is not worth the rest of the run.
    #[arg(long, value_name = "PCT")]
    pub max_error_rate: Option<f64>,
    /// Give up on a request whose response headers have not come after
    /// this long (failure kind timeout_first_byte).
    #[arg(long, default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    pub first_byte_timeout: Duration,
    /// Give up on a stream that sends nothing for this long (failure kind
    /// timeout_idle): a server that stalls with the connection open.
    #[arg(long, default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    pub idle_timeout: Duration,

    /// Results folder [default: results/<UTC timestamp>-<label>/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Label used in the default results folder name [default: <model>-c<N>].
    #[arg(long)]
    pub label: Option<String>,
    /// Stack name for tables (e.g. vLLM).
    #[arg(long)]
    pub stack: Option<String>,
    /// Quantization name for tables (e.g. NVFP4).
    #[arg(long)]
    pub quantization: Option<String>,
    /// No progress bar and no "waiting for the server" lines (warnings and errors still print).
    #[arg(short, long)]
    pub quiet: bool,
}

/// `--depth-cache`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DepthCacheArg {
    /// Each user's context sent once, then taken from the cache.
    On,
    /// Every request's context its own, processed whole.
    Off,
}

/// Open-loop arrival processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ArrivalArg {
    /// Exponentially spaced (a Poisson process).
    Poisson,
    /// Evenly spaced.
    Constant,
}

/// `stackbench probe`
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Server root or its /v1 prefix.
    #[arg(long, value_name = "URL")]
    pub base_url: String,
    /// Name of an environment variable holding the API key.
    #[arg(long, value_name = "NAME")]
    pub api_key_env: Option<String>,
}

/// A clap parser for a closed set of `stackbench_core::kinds` (or the
/// simulator's flavors): its names, with their help, are the possible
/// values, and its aliases are accepted.
fn closed<T: Closed + Clone>() -> impl TypedValueParser<Value = T> {
    let values = T::ALL.iter().map(|k| {
        PossibleValue::new(k.name())
            .help(k.help())
            .aliases(k.aliases().iter().copied())
    });
    PossibleValuesParser::new(values).try_map(|s| parse_name::<T>(&s))
}

/// `stackbench sim`
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Server to imitate [default: the profile's flavor, else vllm].
    #[arg(long, value_parser = closed::<Flavor>())]
    pub flavor: Option<Flavor>,
    /// Profile: a TOML file or a built-in name (vllm-fp8, vllm-nvfp4,
    /// vllm-nvfp4-mtp1, llamacpp-nvfp4, llamacpp-mxfp4, ollama-q4km)
    /// [default: vllm-nvfp4, llamacpp-mxfp4 or ollama-q4km by flavor].
    #[arg(long, value_name = "FILE|NAME")]
    pub profile: Option<String>,
    /// Override the base time to first token, ms.
    #[arg(long)]
    pub ttft_ms: Option<f64>,
    /// Override the single-stream decode rate, tok/s (the batch curve scales with it).
    #[arg(long)]
    pub decode_tps: Option<f64>,
    /// Override the tokens carried by each event (disables MTP bursts).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub tokens_per_event: Option<u32>,
    /// Override the number of slots (streams served at once).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_slots: Option<u32>,
    /// Fail every N-th request: KIND:N with KIND one of http500, http429,
    /// http503 (with Retry-After), reset, malformed, stream-error, no-done,
    /// invalid-utf8, huge-line (12 MB), stall (holds the connection after a
    /// few tokens), stall-headers (never answers), no-usage (no token
    /// counts), wrong-content-type (text/html), refuse (closes every N-th
    /// connection unread; answers Connection: close so each request opens
    /// one). Repeatable; adds to the profile's `faults`.
    #[arg(long, value_name = "KIND:N")]
    pub fault: Vec<String>,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind; 0 picks a free one. The bound URL is printed on stdout's first line.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Count prompt tokens with this model's tokenizer.json (and the chat
    /// template beside it) instead of words, as a server of that model
    /// would report them.
    #[arg(long, value_name = "PATH")]
    pub tokenizer: Option<PathBuf>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require `Authorization: Bearer $VAR` where the imitated server
    /// checks its key (vLLM: /v1/*; llama-server: all but /health and
    /// /models); requests without it get 401 in the server's shape.
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// Override the share of each output that is reasoning, 0..=1 (the
    /// first round(share × N) of N tokens think; docs/simulator.md).
    #[arg(long, value_name = "SHARE")]
    pub reasoning_share: Option<f64>,
    /// Override how reasoning is streamed: `field` (the flavor's
    /// reasoning field), `tags` (`<think>`…`</think>` in the content) or
    /// `close-tag` (reasoning then `</think>` in the content: the template
    /// opened the block).
    #[arg(long, value_name = "FORMAT",
          value_parser = |s: &str| stackbench_sim::ReasoningFormat::parse(s)
              .ok_or_else(|| format!("unknown reasoning format '{s}' (field, tags, close-tag)")))]
    pub reasoning_format: Option<stackbench_sim::ReasoningFormat>,
    /// Override the prefix cache's capacity, tokens (0: no cache).
    #[arg(long, value_name = "N")]
    pub prefix_cache_tokens: Option<u64>,
    /// Report cached prompt tokens in vLLM's usage
    /// (`prompt_tokens_details.cached_tokens`), as vLLM's
    /// `--enable-prompt-tokens-details`.
    #[arg(long)]
    pub prompt_tokens_details: bool,
    /// vLLM flavor: serve POST /reset_prefix_cache, as vLLM does with
    /// VLLM_SERVER_DEV_MODE=1 (also read from that variable).
    #[arg(long)]
    pub dev_mode: bool,
    /// Append every request body received on a generation endpoint to
    /// FILE, one JSON line `{"path": ..., "body": ...}` each.
    #[arg(long, value_name = "FILE")]
    pub record_requests: Option<PathBuf>,
    /// Serve on this many threads (a multi-threaded runtime): one thread
    /// tops out near 100k tokens/s of one-token events, so a benchmark of
    /// the client at higher rates needs more.
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: u32,
}

/// `stackbench demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Results folder [default: results/<UTC timestamp>-demo/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Measured duration of each c=32 run.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Requests per single-user (c=1) run.
    #[arg(long, default_value_t = 6)]
    pub single_user_requests: u64,
    /// Output tokens per request.
    #[arg(long, default_value_t = 96, value_parser = clap::value_parser!(u32).range(2..))]
    pub output_tokens: u32,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Parses `60s`, `5m`, `1h30m`, `250ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("'{s}' is not a duration like 30s, 5m or 1h: {e}"))?;
    if d.is_zero() {
        return Err("duration must be greater than zero".into());
    }
    Ok(d)
}

/// `FROM..TO` seconds (`--window`).
fn parse_window(s: &str) -> Result<(f64, f64), String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("expected FROM..TO seconds, e.g. 60..120, got {s:?}"))?;
    let num = |x: &str| {
        x.trim()
            .trim_end_matches('s')
            .parse::<f64>()
            .map_err(|_| format!("{x:?} is not a number of seconds"))
    };
    let (from, to) = (num(a)?, num(b)?);
    if !(from >= 0.0 && to > from && to.is_finite()) {
        return Err(format!(
            "the window must have 0 <= FROM < TO, got {from}..{to}"
        ));
    }
    Ok((from, to))
}
