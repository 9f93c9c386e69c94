//! A response of the measured exchange once its head has been read: the
//! body read one network read at a time and decoded in place (chunked,
//! length-delimited or up to the close), and the connection handed back
//! for reuse when the body ended cleanly and the server keeps it.

use stackbench_wire::chunked::ChunkedDecoder;
use stackbench_wire::head::{BodyEnd, Head};
use tokio::io::AsyncReadExt;

use super::io::Conn;
use super::Endpoint;

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

impl<'a> Response<'a> {
    /// The response of `head`, whose bytes are the first `head.len` of the
    /// `filled` read into `conn`'s buffer; the rest are body.
    pub(super) fn new(endpoint: &'a Endpoint, conn: Conn, head: Head, filled: usize) -> Self {
        Self {
            endpoint,
            status: head.status,
            content_type: head.content_type,
            framing: Framing::from(head.body),
            keep_alive: head.keep_alive && endpoint.reuse,
            pending: (head.len, filled),
            eof: false,
            conn,
        }
    }

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
