//! HTTPS: which servers to trust, set once per process.
//!
//! Every HTTP client stackbench builds (requests, readiness, metadata,
//! probes, `/metrics`, tokenizer endpoints) goes through
//! `openai::http_client`, which applies these settings. They are a process
//! setting, like `SSL_CERT_FILE`, rather than an argument threaded through
//! every call: one run, suite or probe trusts one set of roots. TLS is
//! rustls (pure Rust: no OpenSSL to build or find on an aarch64 box) with
//! the system's roots and Mozilla's; `--ca-cert` adds a PEM bundle (a
//! private CA, a self-signed test server) and `--insecure` accepts any
//! certificate.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// How servers' certificates are checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Accept any certificate (self-signed test servers). Opt-in only.
    pub insecure: bool,
    /// Also trust the certificates of this PEM file.
    pub ca_cert: Option<PathBuf>,
}

/// A TLS setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA file cannot be read.
    #[error("--ca-cert {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The CA file holds no usable certificate.
    #[error("--ca-cert {path}: not a PEM certificate bundle ({reason})")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// Set twice with different values.
    #[error("TLS settings were already set differently in this process")]
    AlreadySet,
}

struct Loaded {
    options: TlsOptions,
    roots: Vec<reqwest::Certificate>,
}

static SETTINGS: OnceLock<Loaded> = OnceLock::new();

/// Sets the process's TLS trust; call before any client is built (the
/// binary does, from `--insecure` / `--ca-cert`). Without a call, the
/// system's and Mozilla's roots are trusted.
pub fn configure(options: &TlsOptions) -> Result<(), TlsError> {
    let roots = match &options.ca_cert {
        Some(path) => read_bundle(path)?,
        None => Vec::new(),
    };
    let loaded = Loaded {
        options: options.clone(),
        roots,
    };
    if SETTINGS.set(loaded).is_err() && SETTINGS.get().map(|l| &l.options) != Some(options) {
        return Err(TlsError::AlreadySet);
    }
    Ok(())
}

fn read_bundle(path: &Path) -> Result<Vec<reqwest::Certificate>, TlsError> {
    let pem = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| TlsError::Pem {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_path_buf(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

/// `builder` with the process's TLS settings.
pub(crate) fn apply(mut builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    builder = builder.use_rustls_tls();
    if let Some(l) = SETTINGS.get() {
        for c in &l.roots {
            builder = builder.add_root_certificate(c.clone());
        }
        if l.options.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
    }
    builder
}

/// Whether a transport error was the TLS handshake failing (a certificate
/// not trusted, a name mismatch, a protocol error): not transient, so
/// readiness polling stops at once.
pub(crate) fn is_tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        // rustls's error arrives wrapped in io::Errors (tokio-rustls, then
        // hyper-rustls), whose `source()` skips the wrapped error itself:
        // step into it instead.
        cur = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    false
}
