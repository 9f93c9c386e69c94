//! How a test runs the `stackbench` binary, checks that it succeeded, finds
//! the repository, writes a suite, reads a `curl -si` capture, asks for a
//! real program and takes its turn on the machine: each once, so that a
//! failure always prints the same things (the command, its status, stdout
//! and stderr) and no test file carries its own copy.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::SystemTime;

use super::schema_keys;
use super::tools::Tool;

/// The `stackbench` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_stackbench");

/// `stackbench ARGS…`, to be configured and then [`run`](Stackbench::run)
/// (waited for) or [`spawn`](Stackbench::spawn)ed.
pub fn stackbench<I, S>(args: I) -> Stackbench
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut s = Stackbench {
        wrapper: Vec::new(),
        args: Vec::new(),
        envs: Vec::new(),
        dir: None,
        stdout: None,
        stderr: None,
    };
    s.args(args);
    s
}

/// A `stackbench` command line being built; see [`stackbench`].
pub struct Stackbench {
    wrapper: Vec<OsString>,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    dir: Option<PathBuf>,
    stdout: Option<Stdio>,
    stderr: Option<Stdio>,
}

impl Stackbench {
    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets a variable in its environment.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.envs
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Runs it in `dir`.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.dir = Some(dir.as_ref().to_owned());
        self
    }

    /// Runs it through another program (`taskset -c 0 nice -n 19`), which
    /// gets the binary's path and its arguments after `wrapper`.
    pub fn via<I, S>(&mut self, wrapper: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.wrapper = wrapper.into_iter().map(|a| a.as_ref().to_owned()).collect();
        self
    }

    /// Where a spawned process's stdout goes (piped unless set).
    pub fn stdout(&mut self, to: Stdio) -> &mut Self {
        self.stdout = Some(to);
        self
    }

    /// Where a spawned process's stderr goes (piped unless set).
    pub fn stderr(&mut self, to: Stdio) -> &mut Self {
        self.stderr = Some(to);
        self
    }

    /// The command line as a shell would show it (environment first).
    fn shown(&self) -> String {
        let envs = self
            .envs
            .iter()
            .map(|(k, v)| format!("{}={} ", k.to_string_lossy(), v.to_string_lossy()));
        let dir = self
            .dir
            .as_ref()
            .map(|d| format!("(in {}) ", d.display()))
            .unwrap_or_default();
        let words = self
            .wrapper
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .chain(["stackbench".to_string()])
            .chain(self.args.iter().map(|a| a.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join(" ");
        format!("{dir}{}{words}", envs.collect::<String>())
    }

    fn command(&mut self) -> Command {
        let mut cmd = match self.wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        cmd.args(&self.args).stdin(Stdio::null());
        cmd.envs(self.envs.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        cmd
    }

    /// Runs it to its end and returns what it printed (and, with
    /// `STACKBENCH_SCHEMA_KEYS_DIR`, lists the keys of what it wrote).
    pub fn run(&mut self) -> Output {
        let started = SystemTime::now();
        let out = self
            .command()
            .output()
            .unwrap_or_else(|e| panic!("could not run {}: {e}", self.shown()));
        schema_keys::dump(&self.args, self.dir.as_deref(), started);
        Output {
            command: self.shown(),
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs it to its end, asserts that it succeeded, and returns what it
    /// printed.
    #[track_caller]
    pub fn success(&mut self) -> Output {
        let out = self.run();
        out.assert_success();
        out
    }

    /// Starts it; the process is killed when the [`Running`] is dropped.
    pub fn spawn(&mut self) -> Running {
        let mut cmd = self.command();
        cmd.stdout(self.stdout.take().unwrap_or_else(Stdio::piped))
            .stderr(self.stderr.take().unwrap_or_else(Stdio::piped));
        let started = SystemTime::now();
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", self.shown()));
        Running {
            child,
            command: self.shown(),
            args: self.args.clone(),
            dir: self.dir.clone(),
            started,
        }
    }
}

/// What a finished `stackbench` printed, as text.
#[derive(Debug)]
pub struct Output {
    /// The command line, for messages.
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The exit code (`None` when a signal ended it).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Stdout, then stderr.
    pub fn printed(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Fails the test unless the command succeeded, showing the command,
    /// its status, stdout and stderr.
    #[track_caller]
    pub fn assert_success(&self) {
        assert!(self.status.success(), "{self}");
    }

    /// Fails the test unless the command exited with `code`, showing the
    /// same as [`assert_success`](Self::assert_success).
    #[track_caller]
    pub fn assert_code(&self, code: i32) {
        assert_eq!(self.code(), Some(code), "{self}");
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }
}

/// A spawned `stackbench`, killed and reaped when dropped (so a failing
/// test leaves nothing behind). Derefs to its [`Child`].
pub struct Running {
    child: Child,
    /// The command line, for messages.
    pub command: String,
    /// Its arguments, working folder and start, for the schema keys.
    args: Vec<OsString>,
    dir: Option<PathBuf>,
    started: SystemTime,
}

impl Running {
    /// Waits for it and collects what it printed to piped stdout and
    /// stderr (read at once, so neither pipe fills up).
    pub fn finish(mut self) -> Output {
        let stderr = self.child.stderr.take();
        let reader = std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut e) = stderr {
                let _ = e.read_to_end(&mut text);
            }
            text
        });
        let mut stdout = Vec::new();
        if let Some(mut o) = self.child.stdout.take() {
            let _ = o.read_to_end(&mut stdout);
        }
        let status = self.child.wait().unwrap();
        let stderr = reader.join().unwrap();
        Output {
            command: std::mem::take(&mut self.command),
            status,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    /// Sends signal `sig` (`INT`, `TERM`, …) with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args(["-s", sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -s {sig} {}", self.child.id());
    }
}

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.child
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Finished, interrupted or killed: what it wrote is a result too.
        schema_keys::dump(&self.args, self.dir.as_deref(), self.started);
    }
}

/// A `stackbench sim` process, killed when dropped.
pub struct SimProc {
    _proc: Running,
    /// The URL it printed on its first line.
    pub url: String,
}

/// Starts `stackbench sim ARGS` and reads the bound URL from its stdout.
pub fn spawn_sim<S: AsRef<OsStr>>(args: &[S]) -> SimProc {
    spawn_sim_env(args, &[])
}

/// [`spawn_sim`] with variables set in the simulator's environment (its
/// `--api-key-env` reads the key from one).
pub fn spawn_sim_env<S: AsRef<OsStr>>(args: &[S], env: &[(&str, &str)]) -> SimProc {
    let mut sim = stackbench(["sim"]);
    for (k, v) in env {
        sim.env(k, v);
    }
    let mut proc = sim.args(args).stderr(Stdio::null()).spawn();
    let mut line = String::new();
    std::io::BufReader::new(proc.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with("http://127.0.0.1:") || line.starts_with("https://127.0.0.1:"),
        "first line of `{}` is the URL: {line:?}",
        proc.command
    );
    SimProc {
        _proc: proc,
        url: line.trim().to_string(),
    }
}

/// The repository's root (absolute: stack files take it as a workdir).
pub fn repo() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .canonicalize()
        .unwrap()
}

/// Writes each `(file, text)` of `stacks` into `dir` and `dir/suite.toml`
/// naming them, with `name` and `body` (its `[defaults]`, `[box]`,
/// `[[scenario]]`s…); returns the suite file's path.
pub fn write_suite<S: AsRef<str>>(
    dir: &Path,
    name: &str,
    stacks: &[(&str, S)],
    body: &str,
) -> PathBuf {
    let mut names = Vec::new();
    for (file, text) in stacks {
        std::fs::write(dir.join(file), text.as_ref()).unwrap();
        names.push(format!("\"{file}\""));
    }
    let suite = dir.join("suite.toml");
    std::fs::write(
        &suite,
        format!("name = \"{name}\"\nstacks = [{}]\n{body}", names.join(", ")),
    )
    .unwrap();
    suite
}

/// (status, Content-Type, body) of a `curl -si` capture: the head and the
/// body split at the first blank line.
pub fn split_capture(text: &str) -> (u16, String, String) {
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no blank line after the head: {text:?}"));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let ct = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, ct, body.to_string())
}

/// The paths of `tool` (see [`Tool::find`]), or a failure saying why it is
/// missing and how to get it. Reached only when the test was not ignored:
/// the tool was required (`STACKBENCH_REQUIRE_<TOOL>=1`), found when the
/// tests were built, or the run asked for ignored tests.
#[track_caller]
pub fn require(tool: Tool) -> Vec<PathBuf> {
    static FOUND: [OnceLock<Result<Vec<PathBuf>, String>>; 6] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    let i = Tool::ALL.iter().position(|t| *t == tool).unwrap();
    let found = FOUND[i].get_or_init(|| tool.find());
    let why = match (found, tool.required()) {
        (_, Err(bad)) => bad,
        (Ok(paths), Ok(_)) => return paths.clone(),
        (Err(missing), Ok(true)) => format!("{} is set: {missing}", tool.require_var()),
        (Err(missing), Ok(false)) => format!(
            "{missing} (it was there when the tests were built, or ignored tests were asked for)"
        ),
    };
    panic!("{} is needed: {why}; {}", tool.name(), tool.how());
}

/// One real server, container or machine-wide measurement at a time in a
/// test binary: they share the machine's cores and ports. Async tests
/// `SERIAL.lock().await`; others take [`serial`].
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// [`SERIAL`] from a test outside an async runtime.
pub fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.blocking_lock()
}

/// The `command` array (TOML) of a stack that runs `stackbench sim` at
/// `tps` tok/s on `port`, writing its PID to `pidfile` first; `extra` is
/// appended to the simulator's arguments.
pub fn sim_command(port: u16, pidfile: &Path, tps: u32, extra: &str) -> String {
    format!(
        r#"["sh", "-c", "echo $$ > {pid}; exec {BIN} sim --profile vllm-nvfp4 --decode-tps {tps} --port {port} {extra}"]"#,
        pid = pidfile.display()
    )
}

/// A stack file named `name` that launches [`sim_command`] as a process.
pub fn sim_stack(name: &str, port: u16, pidfile: &Path, tps: u32, extra: &str) -> String {
    format!(
        r#"name = "{name}"
flavor = "vllm"
quantization = "none"
ready-timeout = "20s"
metrics = false
[launch.process]
command = {}
port = {port}
"#,
        sim_command(port, pidfile, tps, extra)
    )
}
