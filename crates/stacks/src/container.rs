//! Servers in containers, through the `docker` or `podman` CLI (the Docker
//! CLI drives podman too, through `DOCKER_HOST`). Containers start detached
//! with `--rm` and labels naming stackbench and the owning process, so a
//! suite can find and remove what an earlier, killed suite left behind.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use stackbench_core::stack::{ContainerLaunch, Engine};

use crate::error::LaunchError;
use crate::expand::expand;
use crate::secret::redact;

/// Label on every container stackbench starts.
pub const LABEL_MANAGED: &str = "stackbench.managed";
/// Label holding the PID of the stackbench that started it.
pub const LABEL_OWNER: &str = "stackbench.owner-pid";

/// How long a stopped `--rm` container may take to disappear before it
/// counts as left behind.
const REMOVAL_WAIT: Duration = Duration::from_secs(5);

/// The host side of a `HOST:CONTAINER` or `IP:HOST:CONTAINER` port.
pub fn host_port(spec: &str) -> Option<u16> {
    let parts: Vec<&str> = spec.split(':').collect();
    let host = match parts.len() {
        2 => parts[0],
        3 => parts[1],
        _ => return None,
    };
    let container = parts.last()?.split('/').next()?;
    container.parse::<u16>().ok()?;
    host.parse().ok()
}

/// The full `ENGINE run …` command line for `c`, with `${VAR}`s expanded;
/// the container's environment is named (`-e NAME`), its values are
/// [`environment`]'s.
pub fn run_command(
    c: &ContainerLaunch,
    name: &str,
    stack: &str,
    suite: &str,
) -> Result<Vec<String>, LaunchError> {
    let mut cmd: Vec<String> = vec![
        c.engine.program().into(),
        "run".into(),
        "-d".into(),
        "--rm".into(),
    ];
    let mut push = |a: &str, b: String| {
        cmd.push(a.into());
        cmd.push(b);
    };
    push("--name", name.into());
    push("--label", format!("{LABEL_MANAGED}=true"));
    push("--label", format!("{LABEL_OWNER}={}", std::process::id()));
    push("--label", format!("stackbench.stack={stack}"));
    push("--label", format!("stackbench.suite={suite}"));
    push("--pull", c.pull.as_str().into());
    if let Some(g) = &c.gpus {
        match c.engine {
            Engine::Docker => push("--gpus", g.clone()),
            // Podman reaches GPUs through CDI (`nvidia-ctk cdi generate`).
            Engine::Podman => push("--device", format!("nvidia.com/gpu={g}")),
        }
    }
    // Under the host's IPC namespace /dev/shm is the host's and a size
    // means nothing; podman refuses the pair outright ("cannot set
    // shmsize when running in the host IPC Namespace").
    if let Some(s) = c.shm_size.as_ref().filter(|_| !host_ipc(c)) {
        push("--shm-size", s.clone());
    }
    if let Some(n) = &c.network {
        push("--network", n.clone());
    }
    for p in &c.ports {
        push("-p", p.clone());
    }
    // By name: the engine reads each value from its own environment
    // (set by [`Container::start`]), so no value is on the command line.
    for k in c.env.keys() {
        push("-e", k.clone());
    }
    for v in &c.volumes {
        push("-v", expand(v)?);
    }
    for a in &c.engine_args {
        cmd.push(expand(a)?);
    }
    cmd.push(expand(&c.image)?);
    for a in &c.args {
        cmd.push(expand(a)?);
    }
    Ok(cmd)
}

/// Whether the engine options ask for the host's IPC namespace.
pub fn host_ipc(c: &ContainerLaunch) -> bool {
    c.engine_args
        .iter()
        .zip(
            c.engine_args
                .iter()
                .skip(1)
                .chain(std::iter::once(&String::new())),
        )
        .any(|(a, next)| a == "--ipc=host" || (a == "--ipc" && next == "host"))
}

/// The container's environment, `${VAR}`s expanded: set on the engine's
/// own process, which passes each `-e NAME` on.
pub fn environment(c: &ContainerLaunch) -> Result<Vec<(String, String)>, LaunchError> {
    c.env
        .iter()
        .map(|(k, v)| Ok((k.clone(), expand(v)?)))
        .collect()
}

async fn engine_out(engine: &str, args: &[&str]) -> Result<String, String> {
    let out = tokio::process::Command::new(engine)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// A running container.
pub struct Container {
    /// The engine's program (`engine.program()`; a stand-in in tests).
    program: String,
    /// How long a stopped container may take to disappear.
    removal_wait: Duration,
    name: String,
    logs: Option<tokio::process::Child>,
    stopped: bool,
}

impl Container {
    /// Starts `cmd` (from [`run_command`]) with `env` (from
    /// [`environment`]) in the engine's environment, and follows its logs
    /// into `log`.
    pub async fn start(
        engine: Engine,
        name: &str,
        cmd: &[String],
        env: &[(String, String)],
        log: &Path,
    ) -> Result<Self, LaunchError> {
        // The log file first: once the engine has started the container,
        // nothing may fail before we hold it.
        let (file, err) = crate::process::log_files(log)?;
        let out = tokio::process::Command::new(&cmd[0])
            .args(&cmd[1..])
            .envs(env.iter().cloned())
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| LaunchError::Spawn {
                program: cmd[0].clone(),
                reason: e.to_string(),
            })?;
        if !out.status.success() {
            return Err(LaunchError::Engine {
                engine: engine.program().into(),
                status: out.status.to_string(),
                stderr: redact(String::from_utf8_lossy(&out.stderr).trim()),
            });
        }
        let logs = tokio::process::Command::new(engine.program())
            .args(["logs", "-f", name])
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .ok();
        Ok(Self {
            program: engine.program().to_string(),
            removal_wait: REMOVAL_WAIT,
            name: name.to_string(),
            logs,
            stopped: false,
        })
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `(engine version, image ID)`, where the engine tells. The version is
    /// the server's (`docker 20.10.24`): `--version` names the client's, and
    /// a newer docker client drives an older daemon (28.2 against 20.10 on
    /// the development VMs); `--version` only where the server won't say.
    pub async fn identity(&self) -> (Option<String>, Option<String>) {
        let e = self.program.as_str();
        let version = match engine_out(e, &["version", "-f", "{{.Server.Version}}"]).await {
            Ok(v) if !v.is_empty() && !v.contains(' ') => Some(format!("{e} {v}")),
            _ => engine_out(e, &["--version"]).await.ok(),
        };
        let image = engine_out(e, &["inspect", "-f", "{{.Image}}", &self.name])
            .await
            .ok();
        (version, image)
    }

    /// The registry digests of the image the container runs
    /// (`RepoDigests`: `name@sha256:…`, what a registry identifies it by;
    /// none for an image built locally).
    pub async fn repo_digests(&self, image_id: &str) -> Vec<String> {
        let e = self.program.as_str();
        engine_out(
            e,
            &["image", "inspect", "-f", "{{json .RepoDigests}}", image_id],
        )
        .await
        .ok()
        .and_then(|j| serde_json::from_str::<Option<Vec<String>>>(&j).ok())
        .flatten()
        .unwrap_or_default()
    }

    /// `None` while running; else how it ended.
    pub async fn exited(&self) -> Option<String> {
        match engine_out(
            &self.program,
            &[
                "inspect",
                "-f",
                "{{.State.Status}} {{.State.ExitCode}}",
                &self.name,
            ],
        )
        .await
        {
            Ok(s) if s.starts_with("running") || s.starts_with("created") => None,
            Ok(s) => Some(format!("container {s}")),
            Err(_) => Some("container gone (exited and removed)".into()),
        }
    }

    /// Stops (SIGTERM, then SIGKILL after 10 s) and removes it. Errors
    /// when the container is still there afterwards (with what `stop` and
    /// `rm -f` said) or when the engine cannot be asked; a failed `stop`
    /// or `rm -f` of a container that is gone anyway is not one (docker
    /// removes a `--rm` container itself, and one that died is already
    /// gone).
    pub async fn stop(mut self) -> Result<(), LaunchError> {
        self.stopped = true;
        let e = self.program.clone();
        let stop = engine_out(&e, &["stop", "-t", "10", &self.name]).await;
        let rm = engine_out(&e, &["rm", "-f", &self.name]).await;
        // Docker's daemon removes a `--rm` container after `stop` returns,
        // and `rm -f` then fails at once ("removal … already in progress"):
        // wait until it is gone, so that after a teardown nothing of it is
        // listed.
        let deadline = tokio::time::Instant::now() + self.removal_wait;
        let present = loop {
            let present = exists(&e, &self.name).await;
            if !matches!(present, Ok(true)) || tokio::time::Instant::now() >= deadline {
                break present;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        if let Some(mut l) = self.logs.take() {
            // `logs -f` ends with the container; give it a moment to flush.
            let _ = tokio::time::timeout(Duration::from_secs(2), l.wait()).await;
            let _ = l.start_kill();
        }
        let said = |what: &str, r: &Result<String, String>| match r {
            Ok(_) => format!("{what} succeeded"),
            Err(m) if m.is_empty() => format!("{what} failed"),
            Err(m) => format!("{what} failed: {}", redact(m)),
        };
        let detail = format!("{}; {}", said("stop", &stop), said("rm -f", &rm));
        match present {
            Ok(false) => Ok(()),
            Ok(true) => Err(LaunchError::LeftBehind {
                container: self.name.clone(),
                detail: format!(
                    "still there {:?} after teardown ({detail})",
                    self.removal_wait
                ),
            }),
            Err(why) => Err(LaunchError::LeftBehind {
                container: self.name.clone(),
                detail: format!("cannot tell whether it was removed: {why} ({detail})"),
            }),
        }
    }
}

/// Whether the engine lists container `name`: `Err` when the engine cannot
/// be run at all (its answer is then unknown).
async fn exists(program: &str, name: &str) -> Result<bool, String> {
    let out = tokio::process::Command::new(program)
        .args(["inspect", "-f", "{{.Id}}", name])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    Ok(out.success())
}

/// Teardown failures found where nobody could be told at once: a
/// [`Container`] dropped without [`Container::stop`] (a panic, an abandoned
/// future) whose `rm -f` failed. A suite collects them with
/// [`take_unreported`] and records them.
static UNREPORTED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn unreported(message: String) {
    match UNREPORTED.lock() {
        Ok(mut v) => v.push(message),
        Err(poisoned) => poisoned.into_inner().push(message),
    }
}

/// The teardown failures recorded since the last call (see
/// [`UNREPORTED`]).
pub fn take_unreported() -> Vec<String> {
    match UNREPORTED.lock() {
        Ok(mut v) => std::mem::take(&mut *v),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    }
}

impl Drop for Container {
    /// A panic or an abandoned future still removes the container; a
    /// removal that fails is kept for [`take_unreported`].
    fn drop(&mut self) {
        if !self.stopped {
            let out = std::process::Command::new(&self.program)
                .args(["rm", "-f", &self.name])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output();
            let failed = match out {
                Ok(o) if o.status.success() => None,
                Ok(o) => Some(format!(
                    "{} ({})",
                    o.status,
                    redact(String::from_utf8_lossy(&o.stderr).trim())
                )),
                Err(e) => Some(format!("cannot run {}: {e}", self.program)),
            };
            if let Some(why) = failed {
                unreported(format!(
                    "container {} may be left behind: rm -f failed: {why}",
                    self.name
                ));
            }
        }
    }
}

/// Removes the container `name` if it exists: for a launch abandoned while
/// the engine was still starting it (a long image pull, say).
/// Errors when the container is still listed afterwards.
pub async fn remove(engine: Engine, name: &str) -> Result<(), LaunchError> {
    let program = engine.program();
    let rm = engine_out(program, &["rm", "-f", name]).await;
    match (exists(program, name).await, rm) {
        (Ok(false), _) => Ok(()),
        (Ok(true), rm) => Err(LaunchError::LeftBehind {
            container: name.to_string(),
            detail: match rm {
                Ok(_) => "still there after rm -f".into(),
                Err(m) => format!("rm -f failed: {}", redact(&m)),
            },
        }),
        // An engine that cannot be run started nothing (the launch failed
        // to spawn it): there is nothing to remove.
        (Err(_), _) => Ok(()),
    }
}

/// Removes containers labelled by a stackbench that is no longer running
/// (killed with SIGKILL, say). Containers of a live stackbench are left
/// alone. Returns what was removed; an engine that is not installed has
/// nothing to sweep.
pub async fn sweep_orphans(engine: Engine) -> Vec<String> {
    let e = engine.program();
    let filter = format!("label={LABEL_MANAGED}=true");
    let Ok(ids) = engine_out(e, &["ps", "-a", "-q", "--filter", &filter]).await else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for id in ids.split_whitespace() {
        let fmt = format!("{{{{.Name}}}} {{{{index .Config.Labels \"{LABEL_OWNER}\"}}}}");
        let Ok(info) = engine_out(e, &["inspect", "-f", &fmt, id]).await else {
            continue;
        };
        let mut parts = info.split_whitespace();
        let name = parts
            .next()
            .unwrap_or(id)
            .trim_start_matches('/')
            .to_string();
        let owner: Option<u32> = parts.next().and_then(|p| p.parse().ok());
        if owner.is_some_and(stackbench_alive) {
            continue;
        }
        if engine_out(e, &["rm", "-f", id]).await.is_ok() {
            removed.push(format!(
                "{name} (left by stackbench pid {})",
                owner.map_or("?".into(), |p| p.to_string())
            ));
        }
    }
    removed
}

/// Whether `pid` is a running stackbench (not a reused PID).
fn stackbench_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|c| c.trim().starts_with("stackbench"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(engine_args: &[&str]) -> ContainerLaunch {
        toml::from_str::<ContainerLaunch>(&format!(
            "engine = \"podman\"\nimage = \"i\"\nshm-size = \"16g\"\nengine-args = {engine_args:?}\nenv = {{ HF_TOKEN = \"${{STACKBENCH_TEST_UNSET:-hf_AbCdEfGhIjKlMnOp}}\" }}"
        ))
        .expect("a valid container table")
    }

    #[test]
    fn shm_size_is_left_out_under_host_ipc() {
        for args in [&["--ipc=host"][..], &["--ipc", "host"]] {
            let cmd = run_command(&launch(args), "n", "s", "x").expect("expands");
            assert!(!cmd.contains(&"--shm-size".to_string()), "{cmd:?}");
        }
        let cmd = run_command(&launch(&[]), "n", "s", "x").expect("expands");
        assert!(
            cmd.windows(2).any(|w| w == ["--shm-size", "16g"]),
            "{cmd:?}"
        );
    }

    #[test]
    fn environment_values_never_reach_the_command_line() {
        let c = launch(&[]);
        let cmd = run_command(&c, "n", "s", "x").expect("expands");
        assert!(cmd.windows(2).any(|w| w == ["-e", "HF_TOKEN"]), "{cmd:?}");
        assert!(!cmd.join(" ").contains("hf_AbCd"), "{cmd:?}");
        let env = environment(&c).expect("expands");
        assert_eq!(
            env,
            [("HF_TOKEN".to_string(), "hf_AbCdEfGhIjKlMnOp".to_string())]
        );
    }

    /// A stand-in engine: `inspect` finds the container while `present`
    /// exists; `stop` and `rm` fail when `fail` exists.
    fn fake_engine(dir: &Path) -> String {
        let program = dir.join("engine");
        let script = format!(
            "#!/bin/sh\nd={d}\ncase \"$1\" in\n\
             stop) [ -e $d/fail ] && {{ echo 'Error: stop refused' >&2; exit 125; }}; echo $3;;\n\
             rm) [ -e $d/fail ] && {{ echo 'Error: rm refused' >&2; exit 1; }}; rm -f $d/present;;\n\
             inspect) [ -e $d/present ] || {{ echo 'no such container' >&2; exit 125; }}; echo id;;\n\
             esac\n",
            d = dir.display()
        );
        std::fs::write(&program, script).expect("write the fake engine");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755))
            .expect("make it executable");
        wait_until_runnable(&program);
        program.display().to_string()
    }

    /// Waits until `program` runs. A test that forks while another writes
    /// its script hands the write descriptor to its child until the child's
    /// exec, and running the script meanwhile fails with "Text file busy"
    /// (seen once here in a parallel test run).
    fn wait_until_runnable(program: &Path) {
        for _ in 0..200 {
            match std::process::Command::new(program).arg("probe").status() {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => return,
            }
        }
    }

    fn container(program: String) -> Container {
        Container {
            program,
            removal_wait: Duration::from_millis(300),
            name: "stackbench-t-1".into(),
            logs: None,
            stopped: false,
        }
    }

    #[tokio::test]
    async fn a_container_left_behind_is_an_error_naming_what_the_engine_said() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("present"), "").expect("mark present");
        std::fs::write(dir.path().join("fail"), "").expect("mark failing");
        let e = container(fake_engine(dir.path()))
            .stop()
            .await
            .expect_err("the container is still there")
            .to_string();
        assert!(
            e.contains("container stackbench-t-1 was left behind"),
            "{e}"
        );
        assert!(e.contains("stop failed: Error: stop refused"), "{e}");
        assert!(e.contains("rm -f failed: Error: rm refused"), "{e}");
    }

    #[tokio::test]
    async fn a_removed_container_tears_down_cleanly_and_a_missing_engine_does_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("present"), "").expect("mark present");
        container(fake_engine(dir.path()))
            .stop()
            .await
            .expect("stop and rm succeed, the container is gone");
        // Failing stop and rm of a container that is gone anyway (docker's
        // `--rm` got there first) is no failure.
        std::fs::write(dir.path().join("fail"), "").expect("mark failing");
        container(fake_engine(dir.path()))
            .stop()
            .await
            .expect("gone anyway");
        let e = container(dir.path().join("no-such-engine").display().to_string())
            .stop()
            .await
            .expect_err("the engine cannot be asked")
            .to_string();
        assert!(e.contains("cannot tell whether it was removed"), "{e}");
    }

    #[test]
    fn a_dropped_container_whose_removal_fails_is_kept_for_the_suite() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("fail"), "").expect("mark failing");
        drop(container(fake_engine(dir.path())));
        let found = take_unreported();
        assert!(
            found.iter().any(|w| w.contains("stackbench-t-1")
                && w.contains("rm -f failed")
                && w.contains("rm refused")),
            "{found:?}"
        );
    }

    #[test]
    fn ports() {
        assert_eq!(host_port("8000:8000"), Some(8000));
        assert_eq!(host_port("127.0.0.1:18080:8080"), Some(18080));
        assert_eq!(host_port("8080"), None);
        assert_eq!(host_port("x:80"), None);
    }
}
