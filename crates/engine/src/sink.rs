//! Durable output: `requests.jsonl` written line by line as requests finish,
//! and atomic whole-file writes for `run.json`.
//!
//! The writer runs on its own thread and writes every batch of records to
//! the file as soon as it has drained the channel, so a record reaches the
//! kernel within moments of the request finishing: a `kill -9` loses at most
//! the line being written, and every earlier line stays parseable.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use stackbench_core::RequestRecord;
use tokio::sync::mpsc;

/// Errors writing results.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// A file could not be created or written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SinkError + '_ {
    move |source| SinkError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder,
/// synced, then renamed over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SinkError> {
    let tmp = path.with_extension("json.tmp");
    let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// The sending side of `requests.jsonl`.
#[derive(Debug, Clone)]
pub struct RecordSink {
    tx: mpsc::Sender<RequestRecord>,
}

/// Owns the writer thread; `finish` waits for every record to be written.
#[derive(Debug)]
pub struct SinkHandle {
    thread: JoinHandle<Result<u64, SinkError>>,
}

impl RecordSink {
    /// Creates `path` (truncating) and starts the writer thread.
    pub fn create(path: &Path) -> Result<(Self, SinkHandle), SinkError> {
        let file = File::create(path).map_err(io_err(path))?;
        let (tx, rx) = mpsc::channel(4096);
        let path = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("requests-jsonl".into())
            .spawn(move || write_loop(file, rx, &path))
            .map_err(|source| SinkError::Io {
                path: PathBuf::from("(writer thread)"),
                source,
            })?;
        Ok((Self { tx }, SinkHandle { thread }))
    }

    /// A sink whose records go to the returned receiver, for tests.
    #[cfg(test)]
    pub(crate) fn in_memory(capacity: usize) -> (Self, mpsc::Receiver<RequestRecord>) {
        let (tx, rx) = mpsc::channel(capacity);
        (Self { tx }, rx)
    }

    /// Queues one record; false when the writer has stopped (it could not
    /// write: its error is reported by [`SinkHandle::finish`]), so that the
    /// run stops instead of measuring requests nobody can keep.
    pub async fn send(&self, rec: RequestRecord) -> bool {
        self.tx.send(rec).await.is_ok()
    }
}

impl SinkHandle {
    /// Waits until every queued record is written (all senders must be
    /// dropped first); returns the number of lines written.
    pub fn finish(self) -> Result<u64, SinkError> {
        self.thread.join().unwrap_or_else(|_| {
            Err(SinkError::Io {
                path: PathBuf::from("requests.jsonl"),
                source: std::io::Error::other("writer thread panicked"),
            })
        })
    }
}

fn write_loop(
    mut file: File,
    mut rx: mpsc::Receiver<RequestRecord>,
    path: &Path,
) -> Result<u64, SinkError> {
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut lines = 0;
    while let Some(rec) = rx.blocking_recv() {
        push_line(&mut buf, &rec).map_err(io_err(path))?;
        lines += 1;
        while let Ok(rec) = rx.try_recv() {
            push_line(&mut buf, &rec).map_err(io_err(path))?;
            lines += 1;
            if buf.len() > 256 * 1024 {
                break;
            }
        }
        file.write_all(&buf).map_err(io_err(path))?;
        buf.clear();
    }
    file.sync_all().map_err(io_err(path))?;
    Ok(lines)
}

fn push_line(buf: &mut Vec<u8>, rec: &RequestRecord) -> std::io::Result<()> {
    serde_json::to_writer(&mut *buf, rec)?;
    buf.push(b'\n');
    Ok(())
}
