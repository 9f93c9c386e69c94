//! HTTPS: which servers to trust, set once per process.
//!
//! Every HTTPS connection stackbench opens (the measured streams' own,
//! and the reqwest clients of readiness, metadata, probes, `/metrics` and
//! tokenizer endpoints) uses [`client_config`], built from these settings. They are a process
//! setting, like `SSL_CERT_FILE`, rather than an argument threaded through
//! every call: one run, suite or probe trusts one set of roots. TLS is
//! rustls (pure Rust: no OpenSSL to build or find on an aarch64 box) with
//! the system's roots and Mozilla's; `--ca-cert` adds a PEM bundle (a
//! private CA, a self-signed test server) and `--insecure` accepts any
//! certificate.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

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
    /// rustls could not be configured from the settings.
    #[error("{reason}")]
    Setup {
        /// rustls's reason.
        reason: String,
    },
}

struct Loaded {
    options: TlsOptions,
    roots: Vec<CertificateDer<'static>>,
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

fn read_bundle(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
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

/// The rustls configuration of every HTTPS connection, from the process's
/// settings: the measured streams' own connections and every reqwest
/// client alike. HTTP/1.1 only (ALPN), which is what every LLM server
/// streams over.
pub(crate) fn client_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let settings = SETTINGS.get();
    let mut config = if settings.is_some_and(|l| l.options.insecure) {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(root_store(settings)?)
            .with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Mozilla's roots, the system's, and `--ca-cert`'s. The system's are
/// loaded once per process (reading them takes milliseconds); a system
/// certificate rustls cannot parse is skipped, as every client does.
fn root_store(settings: Option<&Loaded>) -> Result<rustls::RootCertStore, String> {
    static SYSTEM: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    let system = SYSTEM.get_or_init(|| rustls_native_certs::load_native_certs().certs);
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in system {
        let _ = roots.add(cert.clone());
    }
    for cert in settings.map_or(&[][..], |l| &l.roots) {
        roots
            .add(cert.clone())
            .map_err(|e| format!("--ca-cert: {e}"))?;
    }
    Ok(roots)
}

/// `--insecure`: any certificate is accepted, but the handshake's
/// signatures are still checked (the connection is still TLS).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `builder` with the process's TLS settings.
pub(crate) fn apply(builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, TlsError> {
    let config = client_config().map_err(|reason| TlsError::Setup { reason })?;
    Ok(builder.use_preconfigured_tls((*config).clone()))
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
