//! One connection of the measured exchange: a plain or TLS stream and its
//! read buffer, and the check that a kept one is still usable.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// One connection and its read buffer.
pub(super) struct Conn {
    pub(super) io: Io,
    pub(super) buf: Vec<u8>,
    pub(super) idle_since: Instant,
}

/// A plain or TLS stream.
pub(super) enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Io {
    /// Whether a kept connection is still usable: nothing to read and not
    /// closed (a server that closed it, or sent anything unasked, makes it
    /// unusable). Peeks at the socket without waiting and without taking
    /// anything from it, so whatever is there is still there for the next
    /// read. A TLS stream is peeked at on its TCP stream: any record there
    /// (an alert, `close_notify`, data) makes it unusable.
    pub(super) fn still_open(&self) -> bool {
        let tcp = match self {
            Self::Plain(s) => s,
            Self::Tls(s) => s.get_ref().0,
        };
        // The socket is non-blocking (tokio made it so): an empty one
        // answers `WouldBlock` at once. The peek asks the kernel itself,
        // not tokio's readiness, so a close the reactor has not yet seen
        // still counts; tokio's readiness is left as it was.
        let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        matches!(
            socket2::SockRef::from(tcp).peek(&mut probe),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        )
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A connection to a server on port 0, and the server's side of it.
    async fn pair() -> (Io, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        (Io::Plain(client), server)
    }

    #[tokio::test]
    async fn the_liveness_check_consumes_no_byte() {
        let (mut io, mut server) = pair().await;
        assert!(io.still_open(), "an idle connection is usable");
        server
            .write_all(b"HTTP/1.1 200 OK\r\n")
            .await
            .expect("write");
        drop(server);
        if let Io::Plain(s) = &io {
            s.readable().await.expect("readable");
        }
        assert!(!io.still_open(), "bytes nobody asked for make it unusable");
        assert!(!io.still_open(), "and the check can be repeated");
        let mut got = Vec::new();
        io.read_to_end(&mut got).await.expect("read");
        assert_eq!(
            String::from_utf8_lossy(&got),
            "HTTP/1.1 200 OK\r\n",
            "every byte is still there to read after the check"
        );
    }

    #[tokio::test]
    async fn a_closed_connection_is_not_still_open() {
        let (io, server) = pair().await;
        drop(server);
        if let Io::Plain(s) = &io {
            s.readable().await.expect("readable");
        }
        assert!(!io.still_open());
    }
}
