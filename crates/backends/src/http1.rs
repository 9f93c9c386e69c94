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
//! of every read taken where it happens.
//!
//! It speaks what LLM servers stream: HTTP/1.1 over TCP or rustls, bodies
//! chunked, length-delimited or ending at close. Connections are kept for
//! reuse per driver (so per runtime thread) when the server allows it.
//! The control-plane requests (health, models, metrics, tokenizers) keep
//! using reqwest.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use stackbench_wire::chunked::ChunkedDecoder;
use stackbench_wire::head::{parse_head, BodyEnd};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::error::RequestError;
use crate::openai::CONNECT_TIMEOUT;

/// A kept connection unused for longer is closed, not reused: llama-server
/// drops idle keep-alive connections after 5 s, and a request sent on one
/// it is closing fails for no fault of the server.
const POOL_IDLE: Duration = Duration::from_secs(4);
/// Largest response head accepted, bytes.
const MAX_HEAD_BYTES: usize = 64 * 1024;
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

impl Endpoint {
    /// An endpoint for POSTs to `url`; `reuse`: keep connections.
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
        let host_text = url.host_str().ok_or_else(|| format!("{url} has no host"))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| format!("{url} has no port"))?;
        let authority = format!("{host_text}:{port}");
        let host_header = match url.port() {
            Some(p) => format!("{host_text}:{p}"),
            None => host_text.to_string(),
        };
        let tls = if https {
            // An IPv6 literal is bracketed in a URL, bare in a server name.
            let bare = host_text.trim_start_matches('[').trim_end_matches(']');
            let name = ServerName::try_from(bare.to_string())
                .map_err(|e| format!("{bare} is not a TLS server name: {e}"))?;
            Some((TlsConnector::from(crate::tls::client_config()?), name))
        } else {
            None
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
        Ok(Self {
            url: url.to_string(),
            authority,
            tls,
            head: head.into_bytes(),
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
            let mut conn = match self.kept() {
                Some(c) => c,
                None => self.connect().await?,
            };
            let written = async {
                conn.io.write_all(&request).await?;
                conn.io.flush().await
            }
            .await;
            match written {
                Ok(()) => return self.read_head(conn).await,
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

    async fn connect(&self) -> Result<Conn, RequestError> {
        let connect_error = |reason: String| RequestError::Connect {
            url: self.url.clone(),
            reason,
        };
        let addrs = self
            .addrs
            .get_or_try_init(|| async {
                let found = tokio::net::lookup_host(self.authority.as_str()).await?;
                Ok::<_, std::io::Error>(found.collect::<Vec<SocketAddr>>())
            })
            .await
            .map_err(|e| connect_error(format!("resolving {}: {e}", self.authority)))?;
        let mut last = format!("{} resolves to no address", self.authority);
        let mut tcp = None;
        for addr in addrs {
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
                            reason: crate::openai::error_chain(&e),
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

    /// Reads until the response head is complete.
    async fn read_head(&self, mut conn: Conn) -> Result<Response<'_>, RequestError> {
        let mut filled = 0;
        loop {
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
            if n == 0 {
                return Err(self.closed("connection closed before any response".into()));
            }
            filled += n;
            if let Some(head) = parse_head(&conn.buf[..filled])
                .map_err(|e| self.closed(format!("invalid HTTP response: {e}")))?
            {
                conn.buf.truncate(READ_BUF.max(filled));
                return Ok(Response {
                    endpoint: self,
                    status: head.status,
                    content_type: head.content_type,
                    framing: Framing::from(head.body),
                    keep_alive: head.keep_alive && self.reuse,
                    pending: (head.len, filled),
                    eof: false,
                    conn,
                });
            }
        }
    }
}

/// How the body's end is known, and the decoding state.
enum Framing {
    Chunked(ChunkedDecoder),
    Length(u64),
    /// It ends when the server closes the connection.
    Close,
    Done,
}

impl From<BodyEnd> for Framing {
    fn from(end: BodyEnd) -> Self {
        match end {
            BodyEnd::Empty => Self::Done,
            BodyEnd::Chunked => Self::Chunked(ChunkedDecoder::new()),
            BodyEnd::Length(n) => Self::Length(n),
            BodyEnd::Close => Self::Close,
        }
    }
}

/// A response whose head has been read; the body is read with
/// [`Response::fill`] and decoded with [`Response::drain`].
pub(crate) struct Response<'a> {
    endpoint: &'a Endpoint,
    /// HTTP status.
    pub(crate) status: u16,
    /// `Content-Type`, when sent.
    pub(crate) content_type: Option<String>,
    framing: Framing,
    keep_alive: bool,
    /// Bytes of `conn.buf` read but not yet decoded.
    pending: (usize, usize),
    eof: bool,
    conn: Conn,
}

impl Response<'_> {
    /// Whether the whole body has been read.
    pub(crate) fn finished(&self) -> bool {
        matches!(self.framing, Framing::Done)
    }

    /// One network read. Ok(false): the server closed the connection.
    /// Cancel-safe (nothing is read when it is dropped unfinished). Call
    /// [`Response::drain`] before the next one.
    pub(crate) async fn fill(&mut self) -> std::io::Result<bool> {
        let n = self.conn.io.read(&mut self.conn.buf).await?;
        self.pending = (0, n);
        self.eof = n == 0;
        Ok(n > 0)
    }

    /// Decodes what the last read brought, calling `on_data` with each
    /// piece of body data. Fails on broken framing, or when the connection
    /// closed before the body's end.
    pub(crate) fn drain(&mut self, mut on_data: impl FnMut(&[u8])) -> Result<(), String> {
        let (a, b) = std::mem::take(&mut self.pending);
        let input = &self.conn.buf[a..b];
        match &mut self.framing {
            Framing::Chunked(d) => {
                if let Some(end) = d.feed(input, &mut on_data).map_err(|e| e.to_string())? {
                    self.keep_alive &= end == input.len();
                    self.framing = Framing::Done;
                }
            }
            Framing::Length(left) => {
                let take = usize::try_from(*left).map_or(input.len(), |l| l.min(input.len()));
                on_data(&input[..take]);
                *left -= take as u64;
                if *left == 0 {
                    self.keep_alive &= take == input.len();
                    self.framing = Framing::Done;
                }
            }
            Framing::Close => on_data(input),
            Framing::Done => self.keep_alive &= input.is_empty(),
        }
        if self.eof {
            self.keep_alive = false;
            match self.framing {
                Framing::Close => self.framing = Framing::Done,
                Framing::Done => {}
                _ => return Err("the connection closed before the end of the body".into()),
            }
        }
        Ok(())
    }

    /// The rest of the body, up to `limit` bytes (an error response's).
    pub(crate) async fn read_to_end(&mut self, limit: usize) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let ok = self.drain(|d| {
                let room = limit.saturating_sub(out.len());
                out.extend_from_slice(&d[..d.len().min(room)]);
            });
            if ok.is_err() || self.finished() || out.len() >= limit {
                return out;
            }
            if !matches!(self.fill().await, Ok(true)) {
                let _ = self.drain(|_| {});
                return out;
            }
        }
    }

    /// Ends the exchange: a fully read body on a connection the server
    /// keeps open goes back to the endpoint for the next request.
    pub(crate) fn release(self) {
        if self.finished() && self.keep_alive {
            self.endpoint.keep(self.conn);
        }
    }
}

/// One connection and its read buffer.
struct Conn {
    io: Io,
    buf: Vec<u8>,
    idle_since: Instant,
}

/// A plain or TLS stream.
enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Io {
    /// Whether a kept connection is still usable: nothing to read and not
    /// closed (a server that closed it, or sent anything unasked, makes it
    /// unusable). Checks the socket without waiting.
    fn still_open(&self) -> bool {
        let tcp = match self {
            Self::Plain(s) => s,
            Self::Tls(s) => s.get_ref().0,
        };
        let mut probe = [0u8; 1];
        matches!(tcp.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
