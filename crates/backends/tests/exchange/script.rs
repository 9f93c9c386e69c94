//! A scripted raw-socket HTTP server: each accepted connection plays one
//! script of steps (read a request, write exactly these bytes, pause,
//! close), so a test decides how a response is framed and split across
//! reads, byte for byte, which no HTTP server library lets it do.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// One step of a connection's script.
#[derive(Debug, Clone)]
pub enum Step {
    /// Read one request (head and `Content-Length` body) and record it.
    Read,
    /// Write these bytes and flush.
    Send(Vec<u8>),
    /// Wait this long.
    Pause(Duration),
}

/// `Step::Send` of text.
pub fn send(text: impl AsRef<[u8]>) -> Step {
    Step::Send(text.as_ref().to_vec())
}

/// A short pause, long enough for the client to read what came before on
/// its own.
pub fn pause() -> Step {
    Step::Pause(Duration::from_millis(30))
}

/// A running scripted server. The connection closes when its script ends.
pub struct Scripted {
    /// `http://127.0.0.1:PORT` (or `https://localhost:PORT`).
    pub url: String,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Scripted {
    /// Serves `scripts`, one per accepted connection in order, over plain
    /// TCP.
    pub async fn start(scripts: Vec<Vec<Step>>) -> Self {
        Self::serve(scripts, None).await
    }

    /// The same over TLS, presenting `acceptor`'s certificate.
    pub async fn start_tls(scripts: Vec<Vec<Step>>, acceptor: TlsAcceptor) -> Self {
        Self::serve(scripts, Some(acceptor)).await
    }

    async fn serve(scripts: Vec<Vec<Step>>, tls: Option<TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = match tls {
            Some(_) => format!("https://localhost:{port}"),
            None => format!("http://127.0.0.1:{port}"),
        };
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (a, r) = (accepted.clone(), requests.clone());
        tokio::spawn(async move {
            for script in scripts {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                a.fetch_add(1, Ordering::SeqCst);
                tcp.set_nodelay(true).unwrap();
                let (tls, r) = (tls.clone(), r.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            play(acceptor.accept(tcp).await.unwrap(), script, r).await
                        }
                        None => play(tcp, script, r).await,
                    }
                });
            }
        });
        Self {
            url,
            accepted,
            requests,
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// The requests read so far (heads and bodies, as text).
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

async fn play<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    script: Vec<Step>,
    requests: Arc<Mutex<Vec<String>>>,
) {
    let mut pending = Vec::new();
    for step in script {
        match step {
            Step::Read => match read_request(&mut io, &mut pending).await {
                Some(req) => requests.lock().unwrap().push(req),
                None => return,
            },
            Step::Send(bytes) => {
                if io.write_all(&bytes).await.is_err() || io.flush().await.is_err() {
                    return;
                }
            }
            Step::Pause(d) => tokio::time::sleep(d).await,
        }
    }
    let _ = io.shutdown().await;
}

/// Reads one request: its head, then `Content-Length` bytes of body.
async fn read_request<S: AsyncRead + Unpin>(io: &mut S, pending: &mut Vec<u8>) -> Option<String> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).to_string();
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if pending.len() >= end + 4 + length {
                let whole: Vec<u8> = pending.drain(..end + 4 + length).collect();
                return Some(String::from_utf8_lossy(&whole).to_string());
            }
        }
        let n = io.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        pending.extend_from_slice(&buf[..n]);
    }
}

/// An OpenAI chat stream of `tokens` one-token content events, a final
/// chunk with the usage, and `[DONE]`, as SSE events.
pub fn sse_events(tokens: usize) -> Vec<String> {
    let mut events: Vec<String> = (0..tokens)
        .map(|i| {
            format!(
                "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"t{i}\"}}}}]}}\n\n"
            )
        })
        .collect();
    events.push(format!(
        "data: {{\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"length\"}}],\"usage\":{{\"prompt_tokens\":3,\"completion_tokens\":{tokens}}}}}\n\n"
    ));
    events.push("data: [DONE]\n\n".into());
    events
}

/// `events` as chunks of the chunked transfer coding, one per event, and
/// the last chunk.
pub fn chunked(events: &[String]) -> Vec<String> {
    let mut out: Vec<String> = events
        .iter()
        .map(|e| format!("{:x}\r\n{e}\r\n", e.len()))
        .collect();
    out.push("0\r\n\r\n".into());
    out
}

/// A step list sending each piece with a pause after it.
pub fn paced(pieces: impl IntoIterator<Item = String>) -> Vec<Step> {
    pieces
        .into_iter()
        .flat_map(|p| [send(p), pause()])
        .collect()
}

/// A 200 SSE head with the given framing header lines.
pub fn sse_head(framing: &str) -> String {
    format!("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n{framing}\r\n")
}
