//! Newline-delimited JSON framing (Ollama's native streams): one object per
//! `\n`-terminated line; a line may be split across network reads.

/// Incremental NDJSON decoder.
#[derive(Debug, Default)]
pub struct NdjsonDecoder {
    buf: Vec<u8>,
    scan: usize,
}

impl NdjsonDecoder {
    /// Creates an empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes held for a line not yet complete (see
    /// `SseDecoder::buffered`).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Appends `bytes` and calls `on_line` for every complete non-empty
    /// line (without its `\r\n`). The callback returns `false` to stop.
    pub fn feed<F>(&mut self, bytes: &[u8], mut on_line: F)
    where
        F: FnMut(&[u8]) -> bool,
    {
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(rel) = self.buf[self.scan..].iter().position(|b| *b == b'\n') {
            let end = self.scan + rel;
            let line = self.buf[start..end].trim_ascii();
            self.scan = end + 1;
            start = self.scan;
            if !line.is_empty() && !on_line(line) {
                break;
            }
        }
        self.buf.drain(..start);
        self.scan -= start;
    }

    /// Delivers a last line the server closed the stream on without `\n`.
    pub fn finish<F>(&mut self, mut on_line: F)
    where
        F: FnMut(&[u8]) -> bool,
    {
        let line = self.buf.trim_ascii();
        if !line.is_empty() {
            on_line(line);
        }
        self.buf.clear();
        self.scan = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(parts: &[&[u8]]) -> Vec<String> {
        let mut d = NdjsonDecoder::new();
        let mut out = Vec::new();
        for p in parts {
            d.feed(p, |l| {
                out.push(String::from_utf8_lossy(l).into_owned());
                true
            });
        }
        d.finish(|l| {
            out.push(format!("tail:{}", String::from_utf8_lossy(l)));
            true
        });
        out
    }

    #[test]
    fn every_split_gives_the_same_lines() {
        let s = b"{\"a\":1}\n{\"b\":2}\r\n\n{\"c\":3}";
        let whole = lines(&[s]);
        assert_eq!(whole, vec!["{\"a\":1}", "{\"b\":2}", "tail:{\"c\":3}"]);
        for i in 0..s.len() {
            assert_eq!(lines(&[&s[..i], &s[i..]]), whole, "split at {i}");
        }
    }
}
