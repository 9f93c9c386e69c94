//! Running a suite: for each stack (or, with `parallel`, all at once)
//! launch → wait until ready → scenarios through the runner → tear down,
//! always. A stack that fails to launch, to become ready or mid-run is
//! recorded with the reason and its server log, and the suite goes on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use stackbench_backends::ControlClient;
use stackbench_core::run_file::{SimulatedInfo, SuiteContext};
use stackbench_core::stack::{Launch, StackConfig};
use stackbench_engine::LiveCounters;
use stackbench_runner::{Naming, RunConfig, RunContext, RunOutput, RunnerError};
use tokio_util::sync::CancellationToken;

use crate::config::{stack_scenario_settings, Scenario, StackEntry, Suite};
use crate::error::LaunchError;
use crate::launch::{abandon, launch_plan, Server};
use crate::suite_file::{StackOutcome, StackStatus, SuiteFile, SUITE_SCHEMA_VERSION};

/// Lines of server log quoted in a failure reason.
const LOG_TAIL_LINES: usize = 15;

/// How to run a suite.
#[derive(Debug, Clone)]
pub struct SuiteOptions {
    /// The suite folder.
    pub out: PathBuf,
    /// Bearer key for every stack.
    pub api_key: Option<String>,
    /// First Ctrl-C / SIGTERM: finish the scenario's records, tear down,
    /// skip the rest.
    pub soft: CancellationToken,
    /// Second: abandon the scenario in hand, tear down.
    pub hard: CancellationToken,
}

/// Progress reports, for a front end to show.
pub trait SuiteObserver: Send + Sync {
    /// A line worth telling the user.
    fn note(&self, message: &str);
    /// A scenario starts on `stacks` (their counters are summed in `live`);
    /// `total` requests when count-bounded.
    fn scenario_started(&self, label: &str, live: Arc<LiveCounters>, total: Option<u64>);
    /// The scenario ended.
    fn scenario_finished(&self);
}

/// What a suite produced.
#[derive(Debug, Clone)]
pub struct SuiteOutcome {
    /// `suite.json` as last written.
    pub file: SuiteFile,
    /// Every run that finished, in order.
    pub runs: Vec<RunOutput>,
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn write_suite_file(out: &Path, f: &SuiteFile) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(f).map_err(std::io::Error::other)?;
    stackbench_engine::write_atomic(&out.join("suite.json"), &bytes).map_err(std::io::Error::other)
}

/// Runs `suite`; the result says what each stack did. Errors only when the
/// suite folder cannot be written.
pub async fn run_suite(
    suite: &Suite,
    opts: &SuiteOptions,
    obs: &dyn SuiteObserver,
) -> std::io::Result<SuiteOutcome> {
    std::fs::create_dir_all(&opts.out)?;
    let mut file = new_suite_file(suite);
    file.swept = sweep(suite).await;
    for s in &file.swept {
        obs.note(&format!("removed orphaned container {s}"));
    }
    write_suite_file(&opts.out, &file)?;
    let keeper = BoxKeeper {
        baseline: crate::hygiene::baseline(&suite.config.box_facts).await,
        launched: std::sync::atomic::AtomicBool::new(false),
    };
    let ctx = Ctx {
        opts,
        obs,
        keeper: &keeper,
    };
    let mut runs = Vec::new();
    for k in 1..=file.repeat {
        run_round(
            suite,
            Round { k, of: file.repeat },
            ctx,
            &mut file,
            &mut runs,
        )
        .await?;
    }
    file.finished_at = Some(now());
    file.complete = !opts.soft.is_cancelled();
    if opts.soft.is_cancelled() {
        file.stopped_early = Some("interrupted".into());
    }
    record_unreported(&mut file, obs);
    write_suite_file(&opts.out, &file)?;
    Ok(SuiteOutcome { file, runs })
}

/// `suite.json` before anything ran: every stack pending.
fn new_suite_file(suite: &Suite) -> SuiteFile {
    SuiteFile {
        schema_version: SUITE_SCHEMA_VERSION,
        stackbench_version: env!("CARGO_PKG_VERSION").into(),
        suite: suite.config.name.clone(),
        file: suite.file.display().to_string(),
        command_line: std::env::args().collect(),
        started_at: now(),
        finished_at: None,
        complete: false,
        stopped_early: None,
        repeat: suite.config.repeat.max(1),
        shuffle: suite.config.shuffle,
        scenario_order: suite
            .config
            .scenarios
            .iter()
            .map(|s| s.name.clone())
            .collect(),
        thresholds: suite.config.compare.clone(),
        swept: Vec::new(),
        stacks: suite
            .stacks
            .iter()
            .map(|s| StackOutcome {
                name: s.config.name.clone(),
                side: s.side.map(Into::into),
                status: StackStatus::Pending,
                reason: None,
                log: None,
                runs: Vec::new(),
                launch: None,
                warnings: Vec::new(),
            })
            .collect(),
        warnings: Vec::new(),
    }
}

/// One round: each group of stacks (all at once with `parallel`, else one
/// by one) launched, run through every scenario and torn down;
/// `suite.json` rewritten after each group.
async fn run_round(
    suite: &Suite,
    round: Round,
    ctx: Ctx<'_>,
    file: &mut SuiteFile,
    runs: &mut Vec<RunOutput>,
) -> std::io::Result<()> {
    let groups: Vec<Vec<usize>> = if suite.config.parallel {
        vec![(0..suite.stacks.len()).collect()]
    } else {
        (0..suite.stacks.len()).map(|i| vec![i]).collect()
    };
    let Round { k, of } = round;
    for group in &groups {
        // A stack that failed in an earlier round is not relaunched.
        let group: Vec<usize> = group
            .iter()
            .copied()
            .filter(|&i| file.stacks[i].status == StackStatus::Pending)
            .collect();
        if group.is_empty() {
            continue;
        }
        if ctx.opts.soft.is_cancelled() {
            for &i in &group {
                let s = &mut file.stacks[i];
                if s.runs.is_empty() {
                    s.status = StackStatus::Skipped;
                    s.reason = Some("the suite was stopped first".into());
                } else {
                    s.status = StackStatus::Failed;
                    s.reason = Some(format!("interrupted before round {k} of {of}"));
                }
            }
            continue;
        }
        if of > 1 {
            ctx.obs.note(&format!("round {k} of {of}"));
        }
        run_group(suite, &group, round, ctx, file, runs).await;
        record_unreported(file, ctx.obs);
        write_suite_file(&ctx.opts.out, file)?;
    }
    Ok(())
}

/// Records a teardown's failure as a warning of `outcome`, and says so.
fn record_teardown(
    outcome: &mut StackOutcome,
    torn_down: Result<(), LaunchError>,
    obs: &dyn SuiteObserver,
) {
    if let Err(e) = torn_down {
        let w = format!("teardown: {e}");
        obs.note(&format!("warning: {}: {w}", outcome.name));
        outcome.warnings.push(w);
    }
}

/// Records the teardown failures no stack could report (a container
/// dropped without being stopped) as suite warnings, and says so.
fn record_unreported(file: &mut SuiteFile, obs: &dyn SuiteObserver) {
    for w in crate::container::take_unreported() {
        obs.note(&format!("warning: {w}"));
        file.warnings.push(w);
    }
}

/// Orphans of every engine the suite uses.
async fn sweep(suite: &Suite) -> Vec<String> {
    let mut engines = Vec::new();
    for s in &suite.stacks {
        if let Some(Launch::Container(c)) = &s.config.launch {
            if !engines.contains(&c.engine) {
                engines.push(c.engine);
            }
        }
    }
    let mut swept = Vec::new();
    for e in engines {
        swept.extend(crate::container::sweep_orphans(e).await);
    }
    swept
}

/// Which round of a repeated suite is running, and where its files go:
/// one round keeps the plain layout, several get `r<K>` folders.
#[derive(Debug, Clone, Copy)]
struct Round {
    k: u32,
    of: u32,
}

impl Round {
    /// `<out>/<folder>/<scenario>[/r<K>]`.
    fn run_dir(self, out: &Path, folder: &Path, scenario: &str) -> PathBuf {
        let dir = out
            .join(folder)
            .join(stackbench_runner::safe_name(scenario));
        if self.of > 1 {
            dir.join(format!("r{}", self.k))
        } else {
            dir
        }
    }

    /// `<out>/<folder>/server[-r<K>].log`.
    fn log(self, out: &Path, folder: &Path) -> PathBuf {
        let name = if self.of > 1 {
            format!("server-r{}.log", self.k)
        } else {
            "server.log".into()
        };
        out.join(folder).join(name)
    }

    fn last(self) -> bool {
        self.k >= self.of
    }
}

/// The box's level before the first stack (suites with `[box]` hygiene)
/// and whether a stack was launched yet (the first needs no cooldown).
struct BoxKeeper {
    baseline: Option<crate::hygiene::Snapshot>,
    launched: std::sync::atomic::AtomicBool,
}

/// What every step of a suite run shares.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    opts: &'a SuiteOptions,
    obs: &'a dyn SuiteObserver,
    keeper: &'a BoxKeeper,
}

/// A live stack of a group.
struct Live {
    index: usize,
    server: Server,
    /// The stack's `failure-hint`.
    hint: Option<String>,
}

async fn run_group(
    suite: &Suite,
    group: &[usize],
    round: Round,
    ctx: Ctx<'_>,
    file: &mut SuiteFile,
    runs: &mut Vec<RunOutput>,
) {
    let Ctx { opts, obs, .. } = ctx;
    let mut live = launch_group(suite, group, round, ctx, file).await;
    for scenario in &suite.config.scenarios {
        if live.is_empty() || opts.soft.is_cancelled() {
            break;
        }
        let Some(results) = run_scenario(suite, scenario, &live, round, opts, obs).await else {
            for l in &live {
                let s = &mut file.stacks[l.index];
                s.status = StackStatus::Failed;
                s.reason = Some(format!(
                    "abandoned during scenario '{}' (second interrupt)",
                    scenario.name
                ));
            }
            break;
        };
        let mut still = Vec::new();
        for (l, result) in live.into_iter().zip(results) {
            if let Some(l) = settle(l, result, scenario, opts, obs, file, runs).await {
                still.push(l);
            }
        }
        live = still;
    }
    for l in live {
        let outcome = &mut file.stacks[l.index];
        if outcome.status == StackStatus::Pending {
            if opts.soft.is_cancelled() {
                outcome.status = StackStatus::Failed;
                outcome.reason = Some("interrupted".into());
            } else if round.last() {
                outcome.status = StackStatus::Ok;
            }
        }
        obs.note(&format!("{}: tearing down", outcome.name));
        record_teardown(outcome, l.server.stop().await, obs);
    }
}

/// Launches every stack of `group` and waits until each is ready; those
/// that fail are recorded in `file` and left out.
async fn launch_group(
    suite: &Suite,
    group: &[usize],
    round: Round,
    ctx: Ctx<'_>,
    file: &mut SuiteFile,
) -> Vec<Live> {
    let Ctx { opts, obs, .. } = ctx;
    let mut live = Vec::new();
    for &i in group {
        let entry = &suite.stacks[i];
        obs.note(&format!("{}: launching", entry.config.name));
        let outcome = &mut file.stacks[i];
        let log = round.log(&opts.out, &entry.folder());
        match start_stack(suite, entry, &log, ctx).await {
            Ok(server) => {
                outcome.launch = server.info.clone();
                outcome.log = server.log.as_ref().map(|l| rel(&opts.out, l));
                let hint = entry.config.failure_hint.clone();
                live.push(Live {
                    index: i,
                    server,
                    hint,
                });
            }
            Err(failed) => {
                let reason = with_hint(failed.reason, &entry.config);
                obs.note(&format!("{}: {reason}", entry.config.name));
                outcome.status = StackStatus::Failed;
                outcome.reason = Some(reason);
                outcome.log = failed.log.map(|l| rel(&opts.out, &l));
                record_teardown(outcome, failed.teardown, obs);
            }
        }
    }
    live
}

/// Runs `scenario` on every live stack at once; `None` when a second
/// interrupt abandoned it.
async fn run_scenario(
    suite: &Suite,
    scenario: &Scenario,
    live: &[Live],
    round: Round,
    opts: &SuiteOptions,
    obs: &dyn SuiteObserver,
) -> Option<Vec<Result<RunOutput, RunnerError>>> {
    let counters = Arc::new(LiveCounters::default());
    let total = scenario.requests.map(|n| n * live.len() as u64);
    let mut label = match live {
        [one] => format!("{} {}", suite.stacks[one.index].config.name, scenario.name),
        _ => scenario.name.clone(),
    };
    if round.of > 1 {
        label += &format!(" (round {} of {})", round.k, round.of);
    }
    obs.scenario_started(&label, counters.clone(), total);
    let warn = |w: &str| obs.note(&format!("warning: {w}"));
    let progress = |m: &str| obs.note(m);
    let notes = stackbench_runner::Notes {
        progress: &progress,
        warn: &warn,
    };
    let tasks = live.iter().map(|l| {
        let config = run_config(
            suite,
            &suite.stacks[l.index],
            scenario,
            &l.server,
            round,
            opts,
        );
        let (counters, soft) = (counters.clone(), opts.soft.clone());
        async move { stackbench_runner::execute(config?, counters, soft, notes).await }
    });
    let results = tokio::select! {
        r = futures_util::future::join_all(tasks) => Some(r),
        () = opts.hard.cancelled() => None,
    };
    obs.scenario_finished();
    results
}

/// Records one stack's scenario result; a stack whose server died or
/// whose requests all failed is torn down and recorded as failed (`None`),
/// otherwise it stays live.
async fn settle(
    l: Live,
    result: Result<RunOutput, RunnerError>,
    scenario: &Scenario,
    opts: &SuiteOptions,
    obs: &dyn SuiteObserver,
    file: &mut SuiteFile,
    runs: &mut Vec<RunOutput>,
) -> Option<Live> {
    let mut l = l;
    let outcome = &mut file.stacks[l.index];
    let failure = match result {
        Ok(run) => {
            outcome.runs.push(rel(&opts.out, &run.dir));
            let failure = run_failure(&run);
            runs.push(run);
            failure
        }
        Err(RunnerError::Interrupted) => None,
        Err(e) => Some(e.to_string()),
    };
    let reason = match (l.server.exited().await, failure) {
        (Some(status), _) => format!(
            "the server died during scenario '{}' ({status})",
            scenario.name
        ),
        (None, Some(f)) => format!("scenario '{}': {f}", scenario.name),
        (None, None) => return Some(l),
    };
    obs.note(&format!("{}: {reason}", outcome.name));
    outcome.status = StackStatus::Failed;
    let reason = with_log(reason, &l.server.log_tail(LOG_TAIL_LINES));
    outcome.reason = Some(hinted(reason, l.hint.as_deref()));
    record_teardown(outcome, l.server.stop().await, obs);
    None
}

/// Why a finished run counts as a failure: nothing succeeded.
fn run_failure(run: &RunOutput) -> Option<String> {
    run.file
        .summary
        .all_failed()
        .map(|reason| format!("every request failed ({reason})"))
}

/// The reason with the stack's `failure-hint`, when it has one.
fn with_hint(reason: String, s: &StackConfig) -> String {
    hinted(reason, s.failure_hint.as_deref())
}

/// `reason` followed by `hint`, when there is one.
fn hinted(reason: String, hint: Option<&str>) -> String {
    match hint {
        Some(hint) => format!("{reason}\nhint (the stack's failure-hint): {hint}"),
        None => reason,
    }
}

/// The reason with the server log's end; secrets hidden in both (a
/// server may echo its arguments, an error may quote a token).
fn with_log(reason: String, tail: &str) -> String {
    let text = if tail.trim().is_empty() {
        reason
    } else {
        format!("{reason}; server log ends:\n{tail}")
    };
    crate::secret::redact(&text)
}

fn rel(base: &Path, p: &Path) -> String {
    p.strip_prefix(base).unwrap_or(p).display().to_string()
}

/// Why a stack did not start: the reason, its log, and how the teardown
/// on the way out went.
struct NotStarted {
    reason: String,
    log: Option<PathBuf>,
    teardown: Result<(), LaunchError>,
}

impl NotStarted {
    fn new(reason: String, log: Option<PathBuf>) -> Self {
        Self {
            reason,
            log,
            teardown: Ok(()),
        }
    }
}

/// Launches `entry` and waits until it is ready: the model fetch first,
/// then box hygiene (so a first download's page cache is dropped before
/// the launch, not left to count against it), the launch, readiness and
/// the known-answer check; on failure, tears down and returns the reason
/// with the log's end.
async fn start_stack(
    suite: &Suite,
    entry: &StackEntry,
    log: &Path,
    ctx: Ctx<'_>,
) -> Result<Server, NotStarted> {
    let s = &entry.config;
    let obs = ctx.obs;
    let waiting = |m: &str| obs.note(&format!("{}: {m}", s.name));
    let fetch_log = log.with_file_name("fetch.log");
    let folder = entry
        .file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fetch = crate::fetch::fetch_model(s, folder, &fetch_log, &waiting);
    let fetch = cancellable(fetch, ctx.opts, "the model fetch")
        .await
        .map_err(|e| NotStarted::new(e, Some(fetch_log.clone())))?;
    let box_state = box_hygiene(suite, s, ctx, &waiting)
        .await
        .map_err(|e| NotStarted::new(e, None))?;
    enough_memory(s, &waiting).map_err(|e| NotStarted::new(e.to_string(), None))?;
    let (mut server, control) = launch_ready(suite, entry, log, ctx.opts, &waiting).await?;
    let known = match &s.known_answer {
        Some(check) => {
            let r = crate::known_answer::check_known_answer(s, check, &control, &waiting).await;
            if let Some(reason) = r.reason.as_deref().filter(|_| !r.passed) {
                let note = format!(
                    "{}: WRONG ANSWER to the known-answer check: {reason}; the answer: {}",
                    s.name, r.answer
                );
                obs.note(&with_hint(note, s));
            }
            Some(r)
        }
        None => None,
    };
    if let Some(info) = &mut server.info {
        info.box_state = box_state;
        info.fetch = fetch;
        info.known_answer = known;
    }
    Ok(server)
}

/// Whether the box has the memory `s` needs to launch (`memory-need-gib`);
/// a box whose `MemAvailable` cannot be read is not checked, with a note.
fn enough_memory(
    s: &StackConfig,
    waiting: &(dyn Fn(&str) + Sync),
) -> Result<(), crate::memory_need::MemoryShort> {
    if s.memory_need_gib.is_none() {
        return Ok(());
    }
    match crate::memory_need::mem_available_now() {
        Some(available) => crate::memory_need::check_memory_need(s, available),
        None => {
            waiting("memory-need-gib not checked: no MemAvailable in /proc/meminfo");
            Ok(())
        }
    }
}

/// The suite's box hygiene before launching `s`, when it asks for any.
async fn box_hygiene(
    suite: &Suite,
    s: &StackConfig,
    ctx: Ctx<'_>,
    waiting: &(dyn Fn(&str) + Sync),
) -> Result<Option<stackbench_core::run_file::BoxAtLaunch>, String> {
    let first = !ctx
        .keeper
        .launched
        .swap(true, std::sync::atomic::Ordering::Relaxed);
    let Some(base) = &ctx.keeper.baseline else {
        return Ok(None);
    };
    let facts = &suite.config.box_facts;
    let step = crate::hygiene::before_launch(facts, base, &s.name, first, waiting);
    cancellable(step, ctx.opts, "box hygiene").await.map(Some)
}

/// Launches `entry`'s server and waits until it answers as ready; returns
/// it with its control-plane client (built once, here). On failure, tears
/// down what started.
async fn launch_ready(
    suite: &Suite,
    entry: &StackEntry,
    log: &Path,
    opts: &SuiteOptions,
    waiting: &(dyn Fn(&str) + Sync),
) -> Result<(Server, ControlClient), NotStarted> {
    let config = crate::launch::for_reset(&entry.config, suite.config.resets_cache());
    let s = &*config;
    let plan = launch_plan(s, &entry.file, &suite.config.name).map_err(|e| {
        NotStarted::new(crate::secret::redact(&format!("launch failed: {e}")), None)
    })?;
    let started = tokio::select! {
        r = Server::start(s, &plan, log) => r.map_err(|e| crate::secret::redact(&format!("launch failed: {e}"))),
        () = opts.soft.cancelled() => Err("interrupted while launching".to_string()),
    };
    let mut server = match started {
        Ok(server) => server,
        Err(reason) => {
            return Err(NotStarted {
                teardown: abandon(s, &plan).await,
                ..NotStarted::new(reason, None)
            });
        }
    };
    let ready = match server.control(opts.api_key.as_deref()) {
        Ok(control) => tokio::select! {
            r = server.wait_ready(s.ready_timeout.get(), &control, waiting) => r.map(|()| control).map_err(|e| e.to_string()),
            () = opts.soft.cancelled() => Err("interrupted while waiting for the server".to_string()),
        },
        Err(e) => Err(e.to_string()),
    };
    let control = match ready {
        Ok(control) => control,
        Err(e) => {
            let tail = server.log_tail(LOG_TAIL_LINES);
            let log = server.log.clone();
            return Err(NotStarted {
                teardown: server.stop().await,
                ..NotStarted::new(with_log(format!("not ready: {e}"), &tail), log)
            });
        }
    };
    Ok((server, control))
}

/// Runs `step` unless the suite is interrupted first.
async fn cancellable<T, E: std::fmt::Display>(
    step: impl std::future::Future<Output = Result<T, E>>,
    opts: &SuiteOptions,
    what: &str,
) -> Result<T, String> {
    tokio::select! {
        r = step => r.map_err(|e| e.to_string()),
        () = opts.soft.cancelled() => Err(format!("interrupted during {what}")),
    }
}

fn simulated(s: &StackConfig) -> Option<SimulatedInfo> {
    let Some(Launch::Simulator(sim)) = &s.launch else {
        return None;
    };
    let source = stackbench_sim::Profile::load(&sim.profile)
        .map(|p| p.source)
        .unwrap_or_default();
    Some(SimulatedInfo {
        profile: sim.profile.clone(),
        source,
    })
}

/// The runner's configuration for `scenario` on `entry`: where to send,
/// and the scenario's load (checked when the suite loaded; a mistake here
/// fails this stack's scenario).
fn run_config(
    suite: &Suite,
    entry: &StackEntry,
    scenario: &Scenario,
    server: &Server,
    round: Round,
    opts: &SuiteOptions,
) -> Result<RunConfig, RunnerError> {
    let s = &entry.config;
    let mut c = RunConfig::new(server.base_url.clone());
    c.model = s.model.clone();
    c.api = s.api;
    c.flavor = s.flavor;
    c.probe_fixed = true;
    c.api_key = opts.api_key.clone();
    c.tokenizer = s
        .tokenizer
        .as_ref()
        .map(|t| entry.file.parent().unwrap_or(Path::new(".")).join(t));
    c.extra_body = s.extra_body.clone().into_iter().collect();
    c.ready_timeout = Duration::from_secs(30);
    c.metrics_every = s.metrics.then_some(Duration::from_secs(1));
    c.stack = Some(s.display().to_string());
    c.quantization = Some(s.quantization.clone());
    c.out = Some(round.run_dir(&opts.out, &entry.folder(), &scenario.name));
    c.context = run_context(suite, entry, scenario, server, round);
    stack_scenario_settings(&suite.config, &suite.file, s, scenario)
        .into_run_config(c, Naming::ScenarioKey)
        .map_err(|e| match e {
            RunnerError::Setting(e) => {
                let key = e.setting.scenario_key().unwrap_or("load");
                RunnerError::Config(format!("{key}: {}", e.message))
            }
            e => e,
        })
}

/// What run.json records about where this run sits: the stack, the suite,
/// scenario and repeat, and how the server was launched.
fn run_context(
    suite: &Suite,
    entry: &StackEntry,
    scenario: &Scenario,
    server: &Server,
    round: Round,
) -> RunContext {
    let s = &entry.config;
    let simulated = simulated(s);
    RunContext {
        stack: Some(s.clone()),
        suite: Some(SuiteContext {
            suite: suite.config.name.clone(),
            scenario: scenario.name.clone(),
            stack_file: Some(entry.file.display().to_string()),
            bandwidth_gb_s: suite.config.box_facts.bandwidth_gb_s,
            bandwidth_source: suite.config.box_facts.bandwidth_source.clone(),
            repeat: round.k,
            side: entry.side.map(Into::into),
        }),
        launch: server.info.clone(),
        sample_power: simulated.is_none(),
        simulated,
    }
}
