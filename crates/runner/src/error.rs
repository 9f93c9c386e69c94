//! What can stop a run before or while it runs.

use std::path::PathBuf;

use stackbench_backends::{BaseUrlError, ClientError, DriverError, RequestError};

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// A configuration value is out of range or malformed.
    #[error("{0}")]
    Config(String),
    /// A load setting no run could make sense of.
    #[error(transparent)]
    Setting(#[from] crate::settings::SettingError),
    /// The base URL is unusable.
    #[error(transparent)]
    BaseUrl(#[from] BaseUrlError),
    /// The server never became ready.
    #[error("the server is not ready: {0}")]
    NotReady(RequestError),
    /// `/v1/models` failed and no model was given.
    #[error("could not ask the server for its model (give a model to skip): {0}")]
    Models(RequestError),
    /// `/v1/models` listed nothing and no model was given.
    #[error("the server lists no model at /v1/models; give a model")]
    NoModel,
    /// The control-plane client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The probe failed.
    #[error("probing the server (give a flavor to skip): {0}")]
    Probe(RequestError),
    /// The model is not on the Ollama server and could not be pulled.
    #[error(transparent)]
    ModelMissing(stackbench_backends::ModelPresenceError),
    /// Ollama could not load the model.
    #[error("could not load the model into Ollama: {0}")]
    Preload(RequestError),
    /// `--reset-cache` was asked for and the server would not (the run
    /// fails: its figures could come from the cache).
    #[error("{0}")]
    Reset(String),
    /// The driver could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Driver(#[from] DriverError),
    /// The extra runtime threads (`--threads`) could not start.
    #[error(transparent)]
    Lanes(#[from] stackbench_engine::LaneError),
    /// A results file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `requests.jsonl` could not be written.
    #[error(transparent)]
    Sink(#[from] stackbench_engine::SinkError),
    /// The run's histograms could not be encoded for `run.json`.
    #[error("cannot encode the histograms: {0}")]
    Histogram(#[from] stackbench_core::histogram::HistError),
    /// `run.json` could not be serialized.
    #[error("serializing run.json: {0}")]
    Json(#[from] serde_json::Error),
    /// Cancelled before the run began.
    #[error("interrupted before the run began")]
    Interrupted,
}

/// Maps an I/O error on `path`.
pub(crate) fn io_at(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> RunnerError + '_ {
    move |source| RunnerError::Io {
        path: path.to_path_buf(),
        source,
    }
}
