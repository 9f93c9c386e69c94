//! The control plane's one client: readiness, models, metadata, probes,
//! `/metrics`, tokenizer endpoints, Ollama's model management and the
//! known-answer question all go through a [`ControlClient`], built once
//! per run (or per suite stack server) with the process's TLS settings
//! and the run's key, and passed down. The measured streams do not: they
//! go through [`crate::http1`].
//!
//! It never goes through a proxy, as the measured streams do not: a proxy
//! variable that applies to the server is refused instead (see
//! [`crate::proxy`]).

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};

use crate::error::RequestError;
use crate::transport::{error_chain, http_error, transport_error, CONNECT_TIMEOUT};

/// Why the control-plane client could not be built: nothing was sent.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The API key cannot be sent in a header.
    #[error(
        "cannot build the HTTP client: the API key contains characters not allowed in a header"
    )]
    ApiKey,
    /// The process's TLS settings cannot be used.
    #[error("cannot build the HTTP client: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// reqwest refused the settings.
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

/// The reqwest client of the control-plane requests and the server root
/// they go to. Clones share its connection pool.
#[derive(Debug, Clone)]
pub struct ControlClient {
    http: reqwest::Client,
    root: reqwest::Url,
}

impl ControlClient {
    /// The client of the server at `root` (as returned by
    /// [`crate::normalize_base_url`]), sending `api_key` as a bearer token.
    ///
    /// Idle pooled connections are dropped after 4 s: llama-server closes
    /// keep-alive connections after 5 s, and reusing one it is closing
    /// makes a request fail for no fault of the server.
    pub fn new(root: &reqwest::Url, api_key: Option<&str>) -> Result<Self, ClientError> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(key) = api_key {
            let mut v =
                HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| ClientError::ApiKey)?;
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        let http = crate::tls::apply(reqwest::Client::builder())?
            .default_headers(headers)
            .no_proxy()
            .pool_idle_timeout(Duration::from_secs(4))
            .pool_max_idle_per_host(usize::MAX)
            .tcp_nodelay(true)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| ClientError::Build(error_chain(&e)))?;
        Ok(Self {
            http,
            root: root.clone(),
        })
    }

    /// The server's root.
    pub fn root(&self) -> &reqwest::Url {
        &self.root
    }

    /// The reqwest client, for a request the helpers below do not make.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `root/path`, or a connect error naming the root.
    pub(crate) fn url(&self, path: &str) -> Result<reqwest::Url, RequestError> {
        self.root.join(path).map_err(|e| RequestError::Connect {
            url: self.root.to_string(),
            reason: e.to_string(),
        })
    }

    /// `GET root/path` with a timeout; any HTTP status is returned as is.
    pub(crate) async fn get_path(
        &self,
        path: &str,
        timeout: Duration,
    ) -> Result<reqwest::Response, RequestError> {
        let url = self.url(path)?;
        crate::proxy::refuse_proxy(&url)?;
        self.http
            .get(url.clone())
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| transport_error(&url, &e))
    }

    /// [`Self::get_path`], with a non-2xx status turned into an error.
    pub(crate) async fn get_ok(
        &self,
        path: &str,
        timeout: Duration,
    ) -> Result<reqwest::Response, RequestError> {
        let resp = self.get_path(path, timeout).await?;
        if !resp.status().is_success() {
            return Err(http_error(resp).await);
        }
        Ok(resp)
    }

    /// `POST root/path` with a JSON body; a non-2xx status is an error,
    /// the answer must be JSON.
    pub(crate) async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
        timeout: Duration,
    ) -> Result<serde_json::Value, RequestError> {
        let url = self.url(path)?;
        crate::proxy::refuse_proxy(&url)?;
        let resp = self
            .http
            .post(url.clone())
            .json(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| transport_error(&url, &e))?;
        if !resp.status().is_success() {
            return Err(http_error(resp).await);
        }
        resp.json().await.map_err(|e| RequestError::Stream {
            events: 0,
            reason: format!("/{path} did not answer JSON: {}", error_chain(&e)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> reqwest::Url {
        crate::normalize_base_url("http://127.0.0.1:8000").expect("a URL")
    }

    #[test]
    fn a_key_no_header_can_hold_is_refused_before_anything_is_sent() {
        let e = ControlClient::new(&root(), Some("sk-1\nX-Evil: 1")).unwrap_err();
        assert!(matches!(e, ClientError::ApiKey), "{e}");
        assert!(!e.to_string().contains("sk-1"), "the key stays out: {e}");
    }

    #[test]
    fn the_client_keeps_its_root() {
        let c = ControlClient::new(&root(), Some("sk-1")).expect("a client");
        assert_eq!(c.root(), &root());
        assert_eq!(c.url("v1/models").unwrap().path(), "/v1/models");
    }
}
