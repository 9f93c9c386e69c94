//! HTTP/1.1 chunked transfer coding, decoded incrementally: every stream
//! an LLM server sends without a length arrives this way, one chunk per
//! event or several per chunk, split across network reads anywhere.
//!
//! The decoder holds no data: it hands out slices of the bytes it is fed
//! (a chunk split across reads comes out in pieces) and keeps only a
//! partial size line between reads, bounded by [`MAX_LINE`], so a server
//! cannot make it grow.

/// Longest chunk-size or trailer line accepted, bytes.
pub const MAX_LINE: usize = 4096;

/// A body that is not valid chunked coding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkedError {
    /// A chunk-size line that is not a hexadecimal number.
    #[error("invalid chunk size line {0:?}")]
    Size(String),
    /// A chunk's data not followed by CRLF.
    #[error("chunk data not followed by CRLF")]
    DataEnd,
    /// A size or trailer line longer than [`MAX_LINE`].
    #[error("a chunk size or trailer line exceeded {MAX_LINE} bytes")]
    LineTooLong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk-size line.
    Size,
    /// In a chunk's data, this many bytes to go.
    Data(u64),
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// After the last (zero-size) chunk: trailer lines until a blank one.
    Trailer,
    /// The body has ended.
    Done,
}

/// Incremental chunked-body decoder.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    line: Vec<u8>,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> Self {
        Self {
            state: State::Size,
            line: Vec::new(),
        }
    }

    /// Whether the last chunk and the trailer have been read.
    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes `input`, calling `on_data` with each piece of chunk data.
    /// Returns where the body ended in `input` once it has (bytes after
    /// that belong to no body), `None` while it goes on.
    pub fn feed(
        &mut self,
        input: &[u8],
        mut on_data: impl FnMut(&[u8]),
    ) -> Result<Option<usize>, ChunkedError> {
        let mut at = 0;
        while at < input.len() {
            let rest = &input[at..];
            match self.state {
                State::Done => return Ok(Some(at)),
                State::Data(left) => {
                    let take = usize::try_from(left).map_or(rest.len(), |l| l.min(rest.len()));
                    on_data(&rest[..take]);
                    at += take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                }
                State::DataEnd => {
                    // CRLF (or a bare LF) and nothing else.
                    match rest[0] {
                        b'\n' => {
                            self.line.clear();
                            self.state = State::Size;
                        }
                        b'\r' if self.line.is_empty() => self.line.push(b'\r'),
                        _ => return Err(ChunkedError::DataEnd),
                    }
                    at += 1;
                }
                State::Size | State::Trailer => {
                    let Some(end) = rest.iter().position(|b| *b == b'\n') else {
                        self.push_line(rest)?;
                        return Ok(None);
                    };
                    self.push_line(&rest[..end])?;
                    at += end + 1;
                    self.end_line()?;
                }
            }
        }
        Ok(self.done().then_some(at))
    }

    fn push_line(&mut self, bytes: &[u8]) -> Result<(), ChunkedError> {
        if self.line.len() + bytes.len() > MAX_LINE {
            return Err(ChunkedError::LineTooLong);
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    /// A complete line (without its `\n`) is in `self.line`.
    fn end_line(&mut self) -> Result<(), ChunkedError> {
        let line = self.line.strip_suffix(b"\r").unwrap_or(&self.line);
        self.state = match self.state {
            State::Size => match parse_size(line)? {
                0 => State::Trailer,
                n => State::Data(n),
            },
            State::Trailer if line.is_empty() => State::Done,
            other => other,
        };
        self.line.clear();
        Ok(())
    }
}

/// The size of a chunk-size line: hex digits, then optional extensions
/// after `;` (ignored).
fn parse_size(line: &[u8]) -> Result<u64, ChunkedError> {
    let digits = line
        .split(|b| *b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let bad = || ChunkedError::Size(String::from_utf8_lossy(line).chars().take(40).collect());
    if digits.is_empty() || digits.len() > 15 {
        return Err(bad());
    }
    let text = std::str::from_utf8(digits).map_err(|_| bad())?;
    u64::from_str_radix(text, 16).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(body: &[u8], cut: usize) -> (Vec<u8>, Option<usize>) {
        let mut d = ChunkedDecoder::new();
        let mut data = Vec::new();
        let mut ended = None;
        let mut offset = 0;
        for piece in body.chunks(cut.max(1)) {
            if let Some(end) = d.feed(piece, |b| data.extend_from_slice(b)).unwrap() {
                ended = Some(offset + end);
                break;
            }
            offset += piece.len();
        }
        (data, ended)
    }

    #[test]
    fn chunks_split_anywhere_decode_to_the_same_data() {
        let body = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        for cut in 1..body.len() {
            let (data, ended) = decode_in_pieces(body, cut);
            assert_eq!(data, b"hello, world", "cut {cut}");
            assert_eq!(ended, Some(body.len() - 4), "cut {cut}");
        }
    }

    #[test]
    fn bare_newlines_and_upper_case_hex_are_accepted() {
        let (data, ended) = decode_in_pieces(b"A\nabcdefghij\n0\n\n", 64);
        assert_eq!(data, b"abcdefghij");
        assert_eq!(ended, Some(16));
    }

    #[test]
    fn an_unfinished_body_is_not_done() {
        let mut d = ChunkedDecoder::new();
        assert_eq!(d.feed(b"5\r\nhel", |_| {}), Ok(None));
        assert!(!d.done());
        assert_eq!(d.feed(b"lo\r\n0\r\n", |_| {}), Ok(None));
        assert_eq!(d.feed(b"\r\n", |_| {}), Ok(Some(2)));
        assert!(d.done());
    }

    #[test]
    fn broken_framing_is_an_error_not_data() {
        let mut d = ChunkedDecoder::new();
        assert!(matches!(
            d.feed(b"zz\r\n", |_| {}),
            Err(ChunkedError::Size(_))
        ));
        let mut d = ChunkedDecoder::new();
        assert_eq!(d.feed(b"2\r\nabXY", |_| {}), Err(ChunkedError::DataEnd));
        let mut d = ChunkedDecoder::new();
        assert!(matches!(
            d.feed(b"fffffffffffffffff\r\n", |_| {}),
            Err(ChunkedError::Size(_))
        ));
        let mut d = ChunkedDecoder::new();
        let long = vec![b'1'; MAX_LINE + 1];
        assert_eq!(d.feed(&long, |_| {}), Err(ChunkedError::LineTooLong));
    }
}
