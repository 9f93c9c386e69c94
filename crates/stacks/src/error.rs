//! Typed errors: configs (always with the file, and the line and key where
//! there is one) and launches.

use std::path::PathBuf;

/// A config that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A key is unknown, missing, of the wrong type or has a bad value, or
    /// the TOML does not parse.
    #[error("{file}:{line}:{column}: {key}: {message}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The dotted key (`launch.container.image`), or `(syntax)`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A `--set` could not be applied or made the config invalid.
    #[error("--set {key}: {message}")]
    Override {
        /// The key as given.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// `--only` named a stack the suite does not have.
    #[error("--only {name}: no stack named '{name}' (stacks: {known})")]
    UnknownStack {
        /// The name given.
        name: String,
        /// The suite's stacks.
        known: String,
    },
}

/// Why a stack could not be launched or made ready.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// A program could not be started.
    #[error("cannot start {program}: {reason}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        reason: String,
    },
    /// The container engine refused to start the container.
    #[error("{engine} run failed ({status}): {stderr}")]
    Engine {
        /// `docker` or `podman`.
        engine: String,
        /// Exit status.
        status: String,
        /// What it said.
        stderr: String,
    },
    /// The server exited before it was ready.
    #[error("the server exited before it was ready ({status})")]
    ExitedEarly {
        /// How it exited.
        status: String,
    },
    /// The server did not become ready in time.
    #[error("not ready after {waited}: {last}")]
    NotReady {
        /// How long we waited.
        waited: String,
        /// What it last said.
        last: String,
    },
    /// `${VAR}` with VAR unset and no default.
    #[error("{0}")]
    Expand(String),
    /// A simulated stack could not start.
    #[error("simulated stack: {0}")]
    Simulator(String),
    /// A container was not removed at teardown.
    #[error("container {container} was left behind: {detail}")]
    LeftBehind {
        /// Its name.
        container: String,
        /// What the engine said.
        detail: String,
    },
    /// Anything else (log file, base URL).
    #[error("{0}")]
    Other(String),
}
