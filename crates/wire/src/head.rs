//! HTTP/1.1 response heads, parsed from bytes: the status, where the head
//! ends, how the body that follows ends, and whether the connection may
//! carry another request. The measured exchange (`backends::http1`) reads
//! into a buffer and asks this after every read; no I/O happens here, so
//! the parser is tested at every split point and fuzzed on its own.
//!
//! The body's end follows RFC 9112 §6.3: no body after a 1xx, 204 or 304;
//! `Transfer-Encoding` overrides `Content-Length` (chunked when it is the
//! final coding, else the body runs to the close); otherwise a
//! `Content-Length`, or the close.

/// Most response headers parsed; a head with more is refused.
pub const MAX_HEADERS: usize = 64;

/// A response head that is not HTTP/1.x, or whose framing cannot be known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// Not a well-formed HTTP/1.x status line and headers.
    #[error("malformed response head: {0}")]
    Malformed(String),
    /// A `Content-Length` that is not a number, or several that differ.
    #[error("invalid Content-Length {0:?}")]
    ContentLength(String),
}

/// How the body after a head ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEnd {
    /// No body (1xx, 204, 304, or `Content-Length: 0`).
    Empty,
    /// Chunked transfer coding: see [`crate::chunked::ChunkedDecoder`].
    Chunked,
    /// Exactly this many bytes (more than zero).
    Length(u64),
    /// It ends when the server closes the connection.
    Close,
}

/// What a response head says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// The head's length in bytes, its blank line included: the body (or
    /// the next response, after an interim one) starts there.
    pub len: usize,
    /// `Content-Type`, when sent (trimmed).
    pub content_type: Option<String>,
    /// How the body ends.
    pub body: BodyEnd,
    /// Whether the connection may carry another request once this body has
    /// been read: HTTP/1.1, no `Connection: close`, and a body whose end is
    /// known without the close.
    pub keep_alive: bool,
}

impl Head {
    /// An interim response (RFC 9110 §15.2: `100 Continue`, `103 Early
    /// Hints`, …): a final response follows on the same connection. `101
    /// Switching Protocols` is not one: after it the connection speaks
    /// another protocol.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }
}

/// Parses the response head at the start of `bytes`: `Ok(None)` while it
/// is incomplete (read more and call again with all the bytes so far).
pub fn parse_head(bytes: &[u8]) -> Result<Option<Head>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut headers);
    let len = match r.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HeadError::Malformed(e.to_string())),
    };
    // httparse fills both once the head is complete.
    let status = r
        .code
        .ok_or_else(|| HeadError::Malformed("no status code".into()))?;
    let mut fields = Fields::default();
    for h in r.headers.iter() {
        fields.add(h.name, h.value)?;
    }
    let body = if (100..200).contains(&status) || status == 204 || status == 304 {
        BodyEnd::Empty
    } else if let Some(chunked) = fields.chunked {
        // RFC 9112 §6.3: a response whose final coding is not chunked runs
        // to the close; Content-Length is ignored when TE is present.
        if chunked {
            BodyEnd::Chunked
        } else {
            BodyEnd::Close
        }
    } else {
        match fields.length {
            Some(0) => BodyEnd::Empty,
            Some(n) => BodyEnd::Length(n),
            None => BodyEnd::Close,
        }
    };
    let keep_alive = r.version == Some(1) && !fields.close && body != BodyEnd::Close;
    Ok(Some(Head {
        status,
        len,
        content_type: fields.content_type,
        body,
        keep_alive,
    }))
}

/// The header fields that matter here.
#[derive(Default)]
struct Fields {
    content_type: Option<String>,
    /// Whether the final transfer coding is chunked, when any was sent.
    chunked: Option<bool>,
    length: Option<u64>,
    close: bool,
}

impl Fields {
    fn add(&mut self, name: &str, value: &[u8]) -> Result<(), HeadError> {
        let value = String::from_utf8_lossy(value);
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-type") {
            self.content_type = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Codings listed across several fields form one list: the
            // last field's last coding is the final one.
            let last = value.rsplit(',').next().unwrap_or_default().trim();
            self.chunked = Some(last.eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("content-length") {
            // "5, 5" and repeated equal fields are one length (RFC 9110
            // §8.6); differing ones are an error.
            for part in value.split(',') {
                let part = part.trim();
                let bad = || HeadError::ContentLength(value.to_string());
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                let n = part.parse::<u64>().map_err(|_| bad())?;
                if self.length.is_some_and(|seen| seen != n) {
                    return Err(bad());
                }
                self.length = Some(n);
            }
        } else if name.eq_ignore_ascii_case("connection") {
            self.close |= value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("close"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(bytes: &[u8]) -> Head {
        parse_head(bytes)
            .expect("a valid head")
            .expect("a complete head")
    }

    #[test]
    fn a_chunked_stream_is_kept_and_says_where_its_body_starts() {
        let h = head(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\ndata");
        assert_eq!((h.status, h.len, h.keep_alive), (200, 80, true));
        assert_eq!(h.content_type.as_deref(), Some("text/event-stream"));
        assert_eq!(h.body, BodyEnd::Chunked);
        assert!(!h.is_interim());
    }

    #[test]
    fn lengths_closes_and_old_versions() {
        let h = head(b"HTTP/1.1 429 Too Many\r\nContent-Length: 12\r\nConnection: close\r\n\r\n");
        assert_eq!(
            (h.status, h.body, h.keep_alive),
            (429, BodyEnd::Length(12), false)
        );
        let h = head(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n");
        assert_eq!((h.body, h.keep_alive), (BodyEnd::Length(12), true));
        let h = head(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert_eq!((h.body, h.keep_alive), (BodyEnd::Empty, true));
        let h = head(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n");
        assert_eq!((h.body, h.keep_alive), (BodyEnd::Length(3), false));
        let h = head(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n");
        assert_eq!((h.body, h.keep_alive), (BodyEnd::Close, false));
        let h =
            head(b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 1\r\n\r\n");
        assert!(!h.keep_alive);
    }

    #[test]
    fn transfer_encoding_overrides_content_length() {
        let h = head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        );
        assert_eq!(h.body, BodyEnd::Chunked);
        let h = head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
        assert_eq!((h.body, h.keep_alive), (BodyEnd::Close, false));
        let h = head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: Chunked\r\n\r\n",
        );
        assert_eq!(h.body, BodyEnd::Chunked);
    }

    #[test]
    fn interim_and_bodiless_statuses() {
        for (status, interim) in [(100, true), (101, false), (103, true), (199, true)] {
            let text = format!("HTTP/1.1 {status} X\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n");
            let h = head(text.as_bytes());
            assert_eq!(h.status, status);
            assert_eq!(h.is_interim(), interim, "{status}");
            assert_eq!(h.body, BodyEnd::Empty);
            assert_eq!(&text.as_bytes()[h.len..], b"HTTP/1.1 200 OK\r\n");
        }
        for status in [204, 304] {
            let h = head(format!("HTTP/1.1 {status} X\r\nContent-Length: 7\r\n\r\n").as_bytes());
            assert_eq!((h.body, h.keep_alive), (BodyEnd::Empty, true));
        }
    }

    #[test]
    fn bad_lengths_and_garbage_are_errors() {
        for bad in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\n",
        ] {
            let e = parse_head(bad).expect_err(&String::from_utf8_lossy(bad));
            assert!(matches!(e, HeadError::ContentLength(_)), "{e}");
        }
        let h = head(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\n");
        assert_eq!(h.body, BodyEnd::Length(3));
        for bad in [
            &b"garbage\r\n\r\n"[..],
            b"HTTP/2 200\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
        ] {
            assert!(matches!(parse_head(bad), Err(HeadError::Malformed(_))));
        }
        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert!(matches!(parse_head(&many), Err(HeadError::Malformed(_))));
    }

    #[test]
    fn a_head_split_at_every_byte_is_incomplete_until_its_blank_line() {
        let body = "data: {\"x\":1}\n\ndata: [DONE]\n\n";
        let text = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {}\r\nX-Odd:  a , b \r\n\r\n{body}",
            body.len()
        );
        let text = text.as_bytes();
        let whole = head(text);
        assert_eq!(whole.len, text.len() - body.len());
        assert_eq!(whole.body, BodyEnd::Length(body.len() as u64));
        for cut in 0..whole.len {
            assert_eq!(parse_head(&text[..cut]), Ok(None), "cut {cut}");
        }
        for cut in whole.len..=text.len() {
            assert_eq!(
                parse_head(&text[..cut]),
                Ok(Some(whole.clone())),
                "cut {cut}"
            );
        }
    }
}
