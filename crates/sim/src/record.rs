//! `--record-requests`: every body the simulator received on a generation
//! endpoint, one JSON line each (`{"path": …, "body": …}`), appended and
//! flushed per request, so that a test can show what a client asked for
//! (e.g. that `--thinking off` reached `chat_template_kwargs`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde_json::{json, Value};

/// An open request log.
#[derive(Debug)]
pub(crate) struct RequestLog {
    file: Mutex<File>,
}

impl RequestLog {
    /// Opens (creating, appending to) `path`.
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            file: Mutex::new(file),
        })
    }

    /// Appends one request: its body as JSON, or as a string when it is
    /// not JSON. A write that fails is logged, not fatal to the request.
    pub(crate) fn record(&self, path: &str, body: &[u8]) {
        let body = serde_json::from_slice::<Value>(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
        let mut line = json!({ "path": path, "body": body }).to_string();
        line.push('\n');
        let Ok(mut f) = self.file.lock() else { return };
        // One write per line: lines of concurrent requests never interleave.
        if let Err(e) = f.write_all(line.as_bytes()).and_then(|()| f.flush()) {
            tracing::warn!("cannot record a request: {e}");
        }
    }
}
