//! The measured request's HTTP/1.1 exchange, run by the worker's own task.
//!
//! reqwest (hyper) drives every connection from a task of its own and hands
//! the body to the caller through a channel, so each stream event woke
//! three tasks (the connection on the socket, the caller on the channel,
//! the connection again on the caller's demand) and passed its bytes
//! through a queue of buffers. On a profile of the client at c=256 that was
//! about a third of its CPU per token. Here the task that times the stream
//! writes the request and reads the response itself: one wake-up per
//! network read, the body decoded in place from one buffer, and the time
//! of every read taken where it happens. `docs/http-client.md` has the
//! measurement against an in-task `hyper::client::conn::http1`.
//!
//! It speaks what LLM servers stream: HTTP/1.1 over TCP or rustls, bodies
//! chunked, length-delimited or ending at close (the head is parsed by
//! [`stackbench_wire::head`]). Interim responses (`100 Continue`, `103
//! Early Hints`) are skipped and the final response read after them (RFC
//! 9110 §15.2). Connections are kept for reuse per driver (so per runtime
//! thread) when the server allows it. A kept connection is checked before
//! each use: one the server has closed (or sent anything unasked on) is
//! dropped and the request goes on a fresh one; one whose close races the
//! request fails the write and is replaced too; a request fully written
//! and then answered by a close fails as [`RequestError::Closed`] and is
//! not sent again (the server may have read it). The control-plane
//! requests (health, models, metrics, tokenizers) keep using reqwest.
//!
//! What it does not do, by design (the control plane does not either, so
//! both paths reach the server the same way):
//! - proxies: the connection goes straight to the server; a proxy
//!   variable that would apply to the URL is refused when the endpoint is
//!   made ([`crate::proxy`]);
//! - redirects: a 3xx is an error status like any other;
//! - HTTP/2 or HTTP/3 (ALPN offers `http/1.1` only), `101 Switching
//!   Protocols` (an error), compressed bodies (no `Accept-Encoding` is
//!   sent), trailers (read and ignored), request pipelining;
//! - DNS resolved once per endpoint, i.e. per driver and runtime thread
//!   (a server that moves during a run is not followed); addresses are
//!   tried in order, the first that connects is used;
//! - cookies, authentication other than the bearer key, `Expect:
//!   100-continue` (the body is sent with the head).

mod io;
mod response;

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use stackbench_wire::head::parse_head;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::error::RequestError;
use crate::transport::CONNECT_TIMEOUT;
use io::{Conn, Io};
pub(crate) use response::Response;

/// A kept connection unused for longer is closed, not reused: llama-server
/// drops idle keep-alive connections after 5 s, and a request sent on one
/// it is closing fails for no fault of the server.
const POOL_IDLE: Duration = Duration::from_secs(4);
/// Largest response head accepted, bytes.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most interim (1xx) responses accepted before the final one.
const MAX_INTERIM: usize = 16;
/// Read buffer per connection, bytes: a stream event is a few hundred; a
/// backlog is read in several reads.
const READ_BUF: usize = 8 * 1024;
/// Sends on a kept connection that turned out closed before the request
/// could be written are retried on a fresh one, at most this many times
/// in all.
const MAX_SEND_ATTEMPTS: u32 = 3;

/// One endpoint: where to connect, the fixed part of every request, and
/// the connections kept for reuse.
pub(crate) struct Endpoint {
    url: String,
    authority: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// The request line and fixed headers, up to `Content-Length: `. Holds
    /// the API key: never printed.
    head: Vec<u8>,
    reuse: bool,
    addrs: tokio::sync::OnceCell<Vec<SocketAddr>>,
    pool: Mutex<Vec<Conn>>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("reuse", &self.reuse)
            .finish_non_exhaustive()
    }
}

/// The request line and fixed headers of every POST to `url`, up to
/// `Content-Length: `.
fn request_head(url: &reqwest::Url, api_key: Option<&str>, reuse: bool) -> Result<String, String> {
    let host_text = url.host_str().ok_or_else(|| format!("{url} has no host"))?;
    let host_header = match url.port() {
        Some(p) => format!("{host_text}:{p}"),
        None => host_text.to_string(),
    };
    let mut path = url.path().to_string();
    if let Some(q) = url.query() {
        path = format!("{path}?{q}");
    }
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host_header}\r\nContent-Type: application/json\r\nAccept: */*\r\nUser-Agent: stackbench/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(key) = api_key {
        if key.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err("the API key contains characters not allowed in a header".into());
        }
        head += &format!("Authorization: Bearer {key}\r\n");
    }
    if !reuse {
        head += "Connection: close\r\n";
    }
    head += "Content-Length: ";
    Ok(head)
}

impl Endpoint {
    /// An endpoint for POSTs to `url`; `reuse`: keep connections. Fails on
    /// a URL it cannot reach directly (another scheme, a proxy variable
    /// that applies to it) or an unusable API key or TLS setup.
    pub(crate) fn new(
        url: &reqwest::Url,
        api_key: Option<&str>,
        reuse: bool,
    ) -> Result<Self, String> {
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            other => return Err(format!("unsupported URL scheme '{other}'")),
        };
        crate::proxy::refuse_proxy(url).map_err(|e| e.to_string())?;
        let host_text = url.host_str().ok_or_else(|| format!("{url} has no host"))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| format!("{url} has no port"))?;
        let tls = if https {
            // An IPv6 literal is bracketed in a URL, bare in a server name.
            let bare = host_text.trim_start_matches('[').trim_end_matches(']');
            let name = ServerName::try_from(bare.to_string())
                .map_err(|e| format!("{bare} is not a TLS server name: {e}"))?;
            Some((TlsConnector::from(crate::tls::client_config()?), name))
        } else {
            None
        };
        Ok(Self {
            url: url.to_string(),
            authority: format!("{host_text}:{port}"),
            tls,
            head: request_head(url, api_key, reuse)?.into_bytes(),
            reuse,
            addrs: tokio::sync::OnceCell::new(),
            pool: Mutex::new(Vec::new()),
        })
    }

    /// Sends `body` and reads the response head. A kept connection found
    /// closed while the request was being written is replaced by a fresh
    /// one; once written, a request is never sent again (the server may
    /// have read it: a failure is a `Closed`).
    pub(crate) async fn send(&self, body: &[u8]) -> Result<Response<'_>, RequestError> {
        let mut request = Vec::with_capacity(self.head.len() + 24 + body.len());
        request.extend_from_slice(&self.head);
        request.extend_from_slice(format!("{}\r\n\r\n", body.len()).as_bytes());
        request.extend_from_slice(body);
        let mut attempt = 1;
        loop {
            let (mut conn, reused) = match self.kept() {
                Some(c) => (c, true),
                None => (self.connect().await?, false),
            };
            let written = async {
                conn.io.write_all(&request).await?;
                conn.io.flush().await
            }
            .await;
            match written {
                Ok(()) => return self.read_head(conn, reused).await,
                Err(e) if attempt < MAX_SEND_ATTEMPTS => {
                    tracing::debug!("retrying on a fresh connection: writing the request: {e}");
                    attempt += 1;
                }
                Err(e) => return Err(self.closed(format!("writing the request: {e}"))),
            }
        }
    }

    fn closed(&self, reason: String) -> RequestError {
        RequestError::Closed {
            url: self.url.clone(),
            reason,
        }
    }

    /// A kept connection that is still open, if any.
    fn kept(&self) -> Option<Conn> {
        let mut pool = self.pool.lock().ok()?;
        while let Some(c) = pool.pop() {
            if c.idle_since.elapsed() < POOL_IDLE && c.io.still_open() {
                return Some(c);
            }
        }
        None
    }

    fn keep(&self, mut conn: Conn) {
        if let Ok(mut pool) = self.pool.lock() {
            conn.idle_since = Instant::now();
            pool.push(conn);
        }
    }

    /// The endpoint's addresses, resolved on first use and kept.
    async fn addrs(&self) -> Result<&[SocketAddr], RequestError> {
        self.addrs
            .get_or_try_init(|| async {
                let found = tokio::net::lookup_host(self.authority.as_str()).await?;
                Ok::<_, std::io::Error>(found.collect::<Vec<SocketAddr>>())
            })
            .await
            .map(Vec::as_slice)
            .map_err(|e| RequestError::Connect {
                url: self.url.clone(),
                reason: format!("resolving {}: {e}", self.authority),
            })
    }

    async fn connect(&self) -> Result<Conn, RequestError> {
        let connect_error = |reason: String| RequestError::Connect {
            url: self.url.clone(),
            reason,
        };
        let mut last = format!("{} resolves to no address", self.authority);
        let mut tcp = None;
        for addr in self.addrs().await? {
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => {
                    tcp = Some(s);
                    break;
                }
                Ok(Err(e)) => last = format!("tcp connect error: {e}"),
                Err(_) => last = format!("tcp connect timed out after {CONNECT_TIMEOUT:?}"),
            }
        }
        let tcp = tcp.ok_or_else(|| connect_error(last))?;
        tcp.set_nodelay(true)
            .map_err(|e| connect_error(format!("setting TCP_NODELAY: {e}")))?;
        let io = match &self.tls {
            None => Io::Plain(tcp),
            Some((connector, name)) => {
                let handshake = connector.connect(name.clone(), tcp);
                match tokio::time::timeout(CONNECT_TIMEOUT, handshake).await {
                    Ok(Ok(s)) => Io::Tls(Box::new(s)),
                    Ok(Err(e)) if crate::tls::is_tls_failure(&e) => {
                        return Err(RequestError::Tls {
                            url: self.url.clone(),
                            reason: crate::transport::error_chain(&e),
                        })
                    }
                    Ok(Err(e)) => return Err(connect_error(format!("TLS handshake: {e}"))),
                    Err(_) => {
                        return Err(connect_error(format!(
                            "TLS handshake timed out after {CONNECT_TIMEOUT:?}"
                        )))
                    }
                }
            }
        };
        Ok(Conn {
            io,
            buf: vec![0; READ_BUF],
            idle_since: Instant::now(),
        })
    }

    /// Reads until the final response's head is complete, skipping interim
    /// (1xx) responses; `reused`: the connection was a kept one.
    async fn read_head(&self, mut conn: Conn, reused: bool) -> Result<Response<'_>, RequestError> {
        let mut filled = 0;
        let mut interim = 0;
        loop {
            let parsed = parse_head(&conn.buf[..filled])
                .map_err(|e| self.closed(format!("invalid HTTP response: {e}")))?;
            match parsed {
                Some(head) if head.is_interim() => {
                    interim += 1;
                    if interim > MAX_INTERIM {
                        return Err(
                            self.closed(format!("more than {MAX_INTERIM} interim (1xx) responses"))
                        );
                    }
                    tracing::debug!("skipping an interim response {}", head.status);
                    conn.buf.copy_within(head.len..filled, 0);
                    filled -= head.len;
                    continue;
                }
                Some(head) if head.status == 101 => {
                    return Err(RequestError::HttpStatus {
                        status: 101,
                        message: "the server switched protocols; stackbench speaks HTTP/1.1 only"
                            .into(),
                    })
                }
                Some(head) => {
                    conn.buf.truncate(READ_BUF.max(filled));
                    return Ok(Response::new(self, conn, head, filled));
                }
                None => {}
            }
            filled += self.read_more(&mut conn, filled, reused).await?;
        }
    }

    /// One read of a response head into `conn.buf[filled..]`, growing the
    /// buffer up to [`MAX_HEAD_BYTES`]; returns the bytes read.
    async fn read_more(
        &self,
        conn: &mut Conn,
        filled: usize,
        reused: bool,
    ) -> Result<usize, RequestError> {
        if filled == conn.buf.len() {
            if conn.buf.len() >= MAX_HEAD_BYTES {
                return Err(
                    self.closed(format!("the response head exceeded {MAX_HEAD_BYTES} bytes"))
                );
            }
            conn.buf.resize(conn.buf.len() * 2, 0);
        }
        let n = conn
            .io
            .read(&mut conn.buf[filled..])
            .await
            .map_err(|e| self.closed(e.to_string()))?;
        if n > 0 {
            return Ok(n);
        }
        Err(self.closed(match (filled, reused) {
            (0, true) => "a kept connection closed before any response (the server closed it \
                          as the request was sent; the request is not sent again)"
                .into(),
            (0, false) => "connection closed before any response".into(),
            _ => "connection closed in the middle of the response head".into(),
        }))
    }
}
