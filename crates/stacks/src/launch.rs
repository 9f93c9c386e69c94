//! One stack's server, whatever launches it: plan (what would run, for
//! `--dry-run` and `run.json`), start, readiness, liveness, teardown.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use stackbench_backends::{normalize_base_url, wait_ready, ControlClient, ReadyWait};
use stackbench_core::run_file::LaunchInfo;
use stackbench_core::stack::{Launch, StackConfig};
use stackbench_sim::{Profile, SimHandle, SimServer};

use crate::container::{self, Container};
use crate::error::LaunchError;
use crate::expand::expand;
use crate::process::ProcessServer;
use crate::secret;

/// What launching a stack will do.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchPlan {
    /// `container`, `process`, `simulator` or `none` (already running).
    pub kind: &'static str,
    /// The full command line (empty for `simulator` and `none`); may hold
    /// secrets a config put in arguments: show [`LaunchPlan::shown_command`].
    pub command_line: Vec<String>,
    /// Extra environment for a process, or for a container engine (which
    /// passes each on by name); show [`LaunchPlan::shown_env`].
    pub env: Vec<(String, String)>,
    /// Working directory for a process.
    pub workdir: Option<PathBuf>,
    /// Container name.
    pub container: Option<String>,
    /// Where the server will answer (`None` for a simulator until bound).
    pub base_url: Option<String>,
}

impl LaunchPlan {
    /// The command line as it may be shown or kept: secrets hidden.
    pub fn shown_command(&self) -> Vec<String> {
        secret::redact_args(&self.command_line)
    }

    /// The environment as it may be shown: a container's by name only
    /// (the engine reads the values), a process's with secrets hidden.
    pub fn shown_env(&self) -> Vec<String> {
        self.env
            .iter()
            .map(|(k, v)| match self.kind {
                "container" if secret::is_secret_name(k) => {
                    format!("{k} (value passed by name from this environment)")
                }
                "container" => secret::redact(&format!("{k}={v} (passed by name)")),
                _ if secret::is_secret_name(k) => format!("{k}={}", secret::HIDDEN),
                _ => secret::redact(&format!("{k}={v}")),
            })
            .collect()
    }
}

/// The value of `--revision X` or `--revision=X` in a command line.
fn revision_arg(args: &[String]) -> Option<String> {
    args.iter()
        .enumerate()
        .find_map(|(i, a)| match a.strip_prefix("--revision") {
            Some("") => args.get(i + 1).cloned(),
            Some(rest) => rest.strip_prefix('=').map(str::to_string),
            None => None,
        })
}

static LAUNCHES: AtomicU32 = AtomicU32::new(0);

fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_matches('-')
        .to_string()
}

/// `stack` as launched for a suite that resets the prompt cache
/// (`reset-cache`): a vLLM serves `POST /reset_prefix_cache` only in dev
/// mode, so its launch gets `VLLM_SERVER_DEV_MODE=1` (unless the stack
/// sets the variable itself). Other stacks, and suites that do not reset,
/// launch as written.
pub fn for_reset(stack: &StackConfig, suite_resets: bool) -> std::borrow::Cow<'_, StackConfig> {
    use stackbench_core::kinds::FlavorChoice;
    use stackbench_core::stack::Launch;
    if !suite_resets
        || stack.flavor != FlavorChoice::Fixed(stackbench_core::kinds::ServerKind::Vllm)
    {
        return std::borrow::Cow::Borrowed(stack);
    }
    let mut s = stack.clone();
    let env = match s.launch.as_mut() {
        Some(Launch::Container(c)) => &mut c.env,
        Some(Launch::Process(p)) => &mut p.env,
        _ => return std::borrow::Cow::Borrowed(stack),
    };
    env.entry("VLLM_SERVER_DEV_MODE".into())
        .or_insert_with(|| "1".into());
    std::borrow::Cow::Owned(s)
}

/// Plans the launch of `stack` (from `stack_file`) within suite `suite`.
pub fn launch_plan(
    stack: &StackConfig,
    stack_file: &Path,
    suite: &str,
) -> Result<LaunchPlan, LaunchError> {
    let port_url = |port: Option<u16>| port.map(|p| format!("http://127.0.0.1:{p}"));
    let base = |port: Option<u16>| stack.base_url.clone().or_else(|| port_url(port));
    Ok(match &stack.launch {
        None => LaunchPlan {
            kind: "none",
            command_line: Vec::new(),
            env: Vec::new(),
            workdir: None,
            container: None,
            base_url: stack.base_url.clone(),
        },
        Some(Launch::Container(c)) => {
            let n = LAUNCHES.fetch_add(1, Ordering::Relaxed);
            let name = format!(
                "stackbench-{}-{}-{n}",
                safe(&stack.name),
                std::process::id()
            );
            LaunchPlan {
                kind: "container",
                command_line: container::run_command(c, &name, &stack.name, suite)?,
                env: container::environment(c)?,
                workdir: None,
                container: Some(name),
                base_url: base(c.ports.first().and_then(|p| container::host_port(p))),
            }
        }
        Some(Launch::Process(p)) => {
            let folder = stack_file.parent().unwrap_or(Path::new("."));
            LaunchPlan {
                kind: "process",
                command_line: p
                    .command
                    .iter()
                    .map(|a| expand(a))
                    .collect::<Result<_, _>>()?,
                env: p
                    .env
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), expand(v)?)))
                    .collect::<Result<_, LaunchError>>()?,
                workdir: p
                    .workdir
                    .as_ref()
                    .map(|w| expand(w).map(|w| folder.join(w)))
                    .transpose()?,
                container: None,
                base_url: base(p.port),
            }
        }
        Some(Launch::Simulator(_)) => LaunchPlan {
            kind: "simulator",
            command_line: Vec::new(),
            env: Vec::new(),
            workdir: None,
            container: None,
            base_url: stack.base_url.clone(),
        },
    })
}

/// Cleans up after a launch abandoned half-way (interrupted while the
/// engine was pulling or starting): the named container, if it appeared.
/// Errors when it is still there afterwards.
pub async fn abandon(stack: &StackConfig, plan: &LaunchPlan) -> Result<(), LaunchError> {
    match (&stack.launch, &plan.container) {
        (Some(Launch::Container(c)), Some(name)) => container::remove(c.engine, name).await,
        _ => Ok(()),
    }
}

enum Running {
    None,
    Process(ProcessServer),
    Container(Container),
    Simulator(SimHandle),
}

/// A launched (or already running) server.
pub struct Server {
    running: Running,
    /// Where it answers.
    pub base_url: String,
    /// What `run.json` records of the launch.
    pub info: Option<LaunchInfo>,
    /// Its stdout and stderr (launched processes and containers).
    pub log: Option<PathBuf>,
}

impl Server {
    /// Starts `stack` as `plan` says, logging into `log` (its folder is
    /// created).
    pub async fn start(
        stack: &StackConfig,
        plan: &LaunchPlan,
        log: &Path,
    ) -> Result<Self, LaunchError> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| LaunchError::Other(format!("cannot create {}: {e}", dir.display())))?;
        }
        let log = log.to_path_buf();
        let missing_url = || LaunchError::Other(format!("stack '{}' has no base-url", stack.name));
        let mut info = LaunchInfo {
            kind: plan.kind.into(),
            command_line: plan.shown_command(),
            model_revision: revision_arg(&plan.command_line),
            ..Default::default()
        };
        let (running, base_url, log) = match &stack.launch {
            None => (
                Running::None,
                plan.base_url.clone().ok_or_else(missing_url)?,
                None,
            ),
            Some(Launch::Process(_)) => {
                let p = ProcessServer::start(
                    &plan.command_line,
                    &plan.env,
                    plan.workdir.as_deref(),
                    &log,
                )?;
                (
                    Running::Process(p),
                    plan.base_url.clone().ok_or_else(missing_url)?,
                    Some(log),
                )
            }
            Some(Launch::Container(c)) => {
                let name = plan.container.clone().unwrap_or_default();
                let ctr =
                    Container::start(c.engine, &name, &plan.command_line, &plan.env, &log).await?;
                let (engine, image_id) = ctr.identity().await;
                if let Some(id) = &image_id {
                    info.image_digests = ctr.repo_digests(id).await;
                }
                info.engine = engine;
                info.image = Some(expand(&c.image)?);
                info.image_id = image_id;
                info.container = Some(ctr.name().to_string());
                (
                    Running::Container(ctr),
                    plan.base_url.clone().ok_or_else(missing_url)?,
                    Some(log),
                )
            }
            Some(Launch::Simulator(s)) => {
                let profile =
                    Profile::load(&s.profile).map_err(|e| LaunchError::Simulator(e.to_string()))?;
                let h = SimServer::new(profile)
                    .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
                    .await
                    .map_err(|e| LaunchError::Simulator(e.to_string()))?;
                let url = h.base_url();
                (Running::Simulator(h), url, None)
            }
        };
        Ok(Self {
            running,
            base_url,
            info: (plan.kind != "none").then_some(info),
            log,
        })
    }

    /// `None` while the server runs (or stackbench does not own it); else
    /// how it ended.
    pub async fn exited(&mut self) -> Option<String> {
        match &mut self.running {
            Running::Process(p) => p.exited(),
            Running::Container(c) => c.exited().await,
            Running::None | Running::Simulator(_) => None,
        }
    }

    /// The control-plane client of this server, sending `api_key`: built
    /// once per stack server, for readiness, the known-answer check and
    /// Ollama's model management.
    pub fn control(&self, api_key: Option<&str>) -> Result<ControlClient, LaunchError> {
        let root =
            normalize_base_url(&self.base_url).map_err(|e| LaunchError::Other(e.to_string()))?;
        ControlClient::new(&root, api_key).map_err(|e| LaunchError::Other(e.to_string()))
    }

    /// Waits until the server answers as ready (each flavor's own signal:
    /// refused connections while vLLM loads, 503 from llama-server while
    /// its model loads; Ollama has no `/health` and is ready once it
    /// answers), failing early if it exits.
    pub async fn wait_ready(
        &mut self,
        timeout: Duration,
        control: &ControlClient,
        on_wait: &(dyn Fn(&str) + Sync),
    ) -> Result<(), LaunchError> {
        let wait = ReadyWait {
            timeout,
            interval: Duration::from_millis(500),
        };
        let ready = wait_ready(control, wait, on_wait);
        tokio::pin!(ready);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                r = &mut ready => {
                    return r.map(|_| ()).map_err(|e| LaunchError::NotReady {
                        waited: humantime::format_duration(timeout).to_string(),
                        last: e.to_string(),
                    });
                }
                _ = tick.tick() => {
                    if let Some(status) = self.exited().await {
                        return Err(LaunchError::ExitedEarly { status });
                    }
                }
            }
        }
    }

    /// The last `lines` lines of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let Some(text) = self
            .log
            .as_ref()
            .and_then(|l| std::fs::read_to_string(l).ok())
        else {
            return String::new();
        };
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Tears the server down (a no-op for servers stackbench did not
    /// start); errors when a container is left behind.
    pub async fn stop(self) -> Result<(), LaunchError> {
        match self.running {
            Running::Process(p) => p.stop().await,
            Running::Container(c) => return c.stop().await,
            Running::Simulator(h) => drop(h),
            Running::None => {}
        }
        Ok(())
    }

    /// The process group of a launched process (tests check it is gone).
    pub fn process_group(&self) -> Option<i32> {
        match &self.running {
            Running::Process(p) => p.pgid(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vllm_launched_for_a_suite_that_resets_gets_dev_mode() {
        let stack = |flavor: &str| -> StackConfig {
            toml::from_str(&format!(
                "name = \"s\"\nflavor = \"{flavor}\"\n[launch.process]\ncommand = [\"serve\"]\nport = 8000\n"
            ))
            .unwrap()
        };
        let env = |s: &StackConfig| match &s.launch {
            Some(stackbench_core::stack::Launch::Process(p)) => p.env.clone(),
            _ => unreachable!("a process launch"),
        };
        let vllm = stack("vllm");
        let reset = for_reset(&vllm, true);
        assert_eq!(
            env(&reset).get("VLLM_SERVER_DEV_MODE").map(String::as_str),
            Some("1")
        );
        assert!(
            env(&for_reset(&vllm, false)).is_empty(),
            "no reset, no dev mode"
        );
        assert!(env(&for_reset(&stack("llamacpp"), true)).is_empty());
    }

    #[test]
    fn the_pinned_revision_is_read_in_both_spellings() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            revision_arg(&args(&["vllm", "serve", "m", "--revision", "a1b2c3"])).as_deref(),
            Some("a1b2c3")
        );
        assert_eq!(
            revision_arg(&args(&["--revision=main"])).as_deref(),
            Some("main")
        );
        assert_eq!(revision_arg(&args(&["--tokenizer-revision", "x"])), None);
        assert_eq!(revision_arg(&args(&["m"])), None);
    }
}
