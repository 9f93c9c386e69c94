//! `stackbench demo`: the main job on an embedded default. Starts every
//! built-in simulated stack in this process, runs each at c=1 and c=32 (all
//! stacks at once per phase), and prints and writes the two tables.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use stackbench_backends::{normalize_base_url, Driver, OpenAiDriver, OpenAiTarget};
use stackbench_core::run_file::{LoadConfig, RunFile, Target};
use stackbench_engine::{Bound, LiveCounters, PromptGenerator, RunPlan};
use stackbench_report::{single_user_table, total_table, StackRow};
use stackbench_sim::{builtin_profiles, Profile, SimHandle, SimServer};
use stackbench_wire::body::{Api, BodyOptions};
use tokio_util::sync::CancellationToken;

use crate::args::DemoArgs;
use crate::progress::Progress;
use crate::results::{benchmark, utc_stamp, Job};
use crate::run_cmd::cancel_on_ctrl_c;
use crate::ExitStatus;

const PROMPT_TOKENS: u32 = 128;
const TOTAL_CONCURRENCY: u32 = 32;

/// One simulated stack, served and labelled.
struct DemoStack {
    name: &'static str,
    profile: Profile,
    base_url: String,
    _server: SimHandle,
}

fn job(
    s: &DemoStack,
    concurrency: u32,
    bound: Bound,
    a: &DemoArgs,
    out: &Path,
) -> anyhow::Result<Job> {
    let root = normalize_base_url(&s.base_url)?;
    let seed = crate::run_cmd::random_seed();
    let body = BodyOptions {
        model: s.profile.model.clone(),
        max_tokens: a.output_tokens,
        ignore_eos: true,
        temperature: 0.0,
        seed: Some(seed),
        per_event_counts: true,
        extra: Default::default(),
    };
    let driver = OpenAiDriver::new(OpenAiTarget {
        root: root.clone(),
        api: Api::Chat,
        api_key: None,
        body,
        request_timeout: Duration::from_secs(600),
    })
    .map_err(anyhow::Error::msg)?;
    let warmup = u64::from(concurrency == 1);
    Ok(Job {
        driver: Arc::new(Driver::OpenAi(driver)),
        plan: RunPlan {
            concurrency,
            bound,
            warmup_requests: warmup,
            prompts: PromptGenerator::new(seed, PROMPT_TOKENS),
            target_output_tokens: a.output_tokens,
            exclude_short: false,
        },
        target: Target {
            base_url: root.to_string(),
            api: "chat".into(),
            model: s.profile.model.clone(),
            stack: Some(s.profile.stack.clone()),
            quantization: Some(s.profile.quantization.clone()),
        },
        load: LoadConfig {
            concurrency,
            num_requests: match bound {
                Bound::Requests(n) => Some(n),
                Bound::Duration(_) => None,
            },
            duration_s: match bound {
                Bound::Duration(d) => Some(d.as_secs_f64()),
                Bound::Requests(_) => None,
            },
            warmup_requests: warmup,
            prompt_tokens: PROMPT_TOKENS,
            output_tokens: a.output_tokens,
            ignore_eos: true,
            exclude_short: false,
            temperature: 0.0,
            seed: seed.get(),
        },
        server: serde_json::json!({"simulated": true, "profile": s.name, "flavor": s.profile.flavor.name(), "source": s.profile.source}),
        out: out.join(format!("{}-c{concurrency}", s.name)),
        metrics_every: None,
        api_key: None,
    })
}

/// Runs every stack at `concurrency` at once; returns their run files.
async fn phase(
    stacks: &[DemoStack],
    concurrency: u32,
    bound: Bound,
    a: &DemoArgs,
    out: &Path,
    cancel: &CancellationToken,
) -> anyhow::Result<Vec<RunFile>> {
    let live = Arc::new(LiveCounters::default());
    let total = match bound {
        Bound::Requests(n) => Some(n * stacks.len() as u64),
        Bound::Duration(_) => None,
    };
    let label = format!("c={concurrency}");
    let progress = Progress::start(live.clone(), total, &label, a.quiet);
    let mut tasks = Vec::new();
    for s in stacks {
        let j = job(s, concurrency, bound, a, out)?;
        tasks.push(tokio::spawn(benchmark(j, live.clone(), cancel.clone())));
    }
    let mut runs = Vec::new();
    for t in tasks {
        runs.push(t.await.context("a demo run panicked")??);
    }
    progress.finish();
    for r in &runs {
        let q = &r.summary.requests;
        if q.ok == 0 && !cancel.is_cancelled() {
            let reason = r.summary.errors.keys().next().cloned().unwrap_or_default();
            anyhow::bail!(
                "every request to the simulated {} failed: {reason}",
                r.target.model
            );
        }
    }
    Ok(runs)
}

fn rows(runs: &[RunFile]) -> Vec<StackRow> {
    runs.iter()
        .map(|r| StackRow {
            stack: r.target.stack.clone().unwrap_or_default(),
            quantization: r.target.quantization.clone().unwrap_or_default(),
            run: r.clone(),
        })
        .collect()
}

/// Runs `stackbench demo`.
pub async fn execute(a: DemoArgs) -> anyhow::Result<ExitStatus> {
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| Path::new("results").join(format!("{}-demo", utc_stamp())));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut stacks = Vec::new();
    for (name, profile) in builtin_profiles()? {
        let handle = SimServer::new(profile.clone())
            .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .context("cannot start a simulated server")?;
        stacks.push(DemoStack {
            name,
            profile,
            base_url: handle.base_url(),
            _server: handle,
        });
    }
    let cancel = CancellationToken::new();
    cancel_on_ctrl_c(cancel.clone());
    eprintln!(
        "stackbench demo: {} simulated stacks (calibrated to published DGX Spark figures), \
         c=1 x {} requests, then c={TOTAL_CONCURRENCY} for {}; results in {}",
        stacks.len(),
        a.single_user_requests,
        humantime::format_duration(a.duration),
        out.display()
    );
    let single = phase(
        &stacks,
        1,
        Bound::Requests(a.single_user_requests),
        &a,
        &out,
        &cancel,
    )
    .await?;
    let mut text = format!(
        "## Single-user decode tok/s (c=1, {} output tokens)\n\n{}",
        a.output_tokens,
        single_user_table(&rows(&single))
    );
    println!("{text}");
    if !cancel.is_cancelled() {
        let total = phase(
            &stacks,
            TOTAL_CONCURRENCY,
            Bound::Duration(a.duration),
            &a,
            &out,
            &cancel,
        )
        .await?;
        let t = format!(
            "\n## Total output tok/s at {TOTAL_CONCURRENCY} concurrent users (steady state)\n\n{}",
            total_table(&rows(&total), TOTAL_CONCURRENCY)
        );
        println!("{t}");
        text += &t;
    }
    text += "\nSimulated stacks: the numbers check the harness against known ground truth; \
             run `stackbench run` against real servers for your box.\n";
    std::fs::write(out.join("tables.md"), &text)
        .with_context(|| format!("cannot write {}", out.join("tables.md").display()))?;
    println!("results: {}", out.display());
    Ok(ExitStatus::Success)
}
