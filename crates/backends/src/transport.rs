//! What the measured streams ([`crate::http1`], [`crate::stream`]) and the
//! control plane ([`crate::control`]) share: the connect timeout, and how
//! a transport failure or an error status becomes a [`RequestError`].
//! A leaf: it uses neither side, so that neither depends on the other.

use std::time::Duration;

use stackbench_wire::openai::error_message;

use crate::error::RequestError;

/// Longest wait for a connection (TCP and TLS handshake).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The error and its sources in one line ("connection refused" hides
/// several layers deep in reqwest errors).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        src = s.source();
    }
    out
}

/// The error of a request that got no response: a TLS failure (typed, not
/// retried), a connect error, or a connection closed after the request was
/// sent.
pub(crate) fn transport_error(url: &reqwest::Url, e: &reqwest::Error) -> RequestError {
    let (url, reason) = (url.to_string(), error_chain(e));
    if crate::tls::is_tls_failure(e) {
        RequestError::Tls { url, reason }
    } else if e.is_connect() || e.is_builder() {
        RequestError::Connect { url, reason }
    } else {
        RequestError::Closed { url, reason }
    }
}

/// The server's message from an error payload, else the raw text.
pub(crate) fn payload_message(payload: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(v) => v
            .get("error")
            .map_or_else(|| error_message(&v), error_message),
        Err(_) => String::from_utf8_lossy(payload).into_owned(),
    }
}

/// Turns a non-2xx response into an error carrying the server's message.
pub(crate) async fn http_error(resp: reqwest::Response) -> RequestError {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    status_error(status, text.as_bytes())
}

/// An error status with the server's message from `body`.
pub(crate) fn status_error(status: u16, body: &[u8]) -> RequestError {
    let text = String::from_utf8_lossy(body);
    let message = if text.trim().is_empty() {
        "(empty body)".to_string()
    } else {
        let m = payload_message(text.as_bytes());
        m.chars().take(500).collect()
    };
    RequestError::HttpStatus { status, message }
}
