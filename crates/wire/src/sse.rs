//! Server-sent events framing (the subset LLM servers use).
//!
//! Events are separated by a blank line; `data:` lines (with or without the
//! space) carry the payload; lines starting with `:` are comments
//! (llama-server keep-alive pings) and are ignored; `error:` lines (old
//! llama.cpp builds) become error events. Bytes may arrive split anywhere, so
//! the decoder buffers until an event is complete. `\r\n` is accepted.

/// One complete SSE event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseEvent<'a> {
    /// The joined `data:` payload.
    Data(&'a [u8]),
    /// The payload of an `error:` line (old llama.cpp builds).
    Error(&'a [u8]),
}

/// Incremental SSE decoder. Feed it network reads; it calls back once per
/// complete event, borrowing the payload from its buffer (no per-event
/// allocation unless an event has several `data:` lines).
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// Where to resume searching for a line end.
    scan: usize,
    /// Start of the event being assembled.
    event_start: usize,
    joined: Vec<u8>,
}

impl SseDecoder {
    /// Creates an empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes held for an event not yet complete: what a client must bound
    /// (a server that never ends a line would otherwise grow it forever).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Takes `bytes` and calls `on_event` for every event completed by
    /// them. The callback returns `false` to stop early (e.g. on `[DONE]`);
    /// the bytes after the event it stopped at stay buffered.
    ///
    /// With nothing buffered (a read that starts at an event boundary, as
    /// a stream's reads nearly always do), events are decoded from `bytes`
    /// in place and only an incomplete tail is copied.
    pub fn feed<F>(&mut self, bytes: &[u8], mut on_event: F)
    where
        F: FnMut(SseEvent<'_>) -> bool,
    {
        if self.buf.is_empty() {
            let (event_start, scan) = events_in(bytes, 0, 0, &mut self.joined, &mut on_event);
            self.buf.extend_from_slice(&bytes[event_start..]);
            self.scan = scan - event_start;
            self.event_start = 0;
            return;
        }
        self.buf.extend_from_slice(bytes);
        let (event_start, scan) = events_in(
            &self.buf,
            self.scan,
            self.event_start,
            &mut self.joined,
            &mut on_event,
        );
        // Drop consumed bytes so the buffer stays small.
        self.buf.drain(..event_start);
        self.scan = scan - event_start;
        self.event_start = 0;
    }

    /// Bytes received but not yet part of a complete event (a stream that
    /// closed mid-event leaves them here).
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.event_start..]
    }

    /// Delivers a last event that the server closed the stream on without
    /// the final blank line, if any.
    pub fn finish<F>(&mut self, mut on_event: F)
    where
        F: FnMut(SseEvent<'_>) -> bool,
    {
        if self.pending().iter().all(u8::is_ascii_whitespace) {
            return;
        }
        self.buf.extend_from_slice(b"\n\n");
        let (start, end) = (self.event_start, self.buf.len() - 1);
        dispatch(&self.buf[start..end], &mut self.joined, &mut on_event);
        self.buf.clear();
        self.scan = 0;
        self.event_start = 0;
    }
}

/// Dispatches the complete events of `data`, looking for line ends from
/// `scan` with the pending event starting at `event_start`; stops after
/// the event the callback declines. Returns where the next event starts
/// and where to resume looking for a line end.
fn events_in<F>(
    data: &[u8],
    mut scan: usize,
    mut event_start: usize,
    joined: &mut Vec<u8>,
    on_event: &mut F,
) -> (usize, usize)
where
    F: FnMut(SseEvent<'_>) -> bool,
{
    while let Some(rel) = data[scan..].iter().position(|b| *b == b'\n') {
        let line_end = scan + rel;
        let line = trim_cr(&data[scan..line_end]);
        scan = line_end + 1;
        if line.is_empty() {
            let keep_going = dispatch(&data[event_start..line_end], joined, on_event);
            event_start = scan;
            if !keep_going {
                break;
            }
        }
    }
    (event_start, scan)
}

/// Dispatches the event of `block` (its lines, up to the blank line).
fn dispatch<F>(block: &[u8], joined: &mut Vec<u8>, on_event: &mut F) -> bool
where
    F: FnMut(SseEvent<'_>) -> bool,
{
    let mut data: Option<&[u8]> = None;
    let mut multi = false;
    joined.clear();
    for raw in block.split(|b| *b == b'\n') {
        let line = trim_cr(raw);
        if line.is_empty() || line[0] == b':' {
            continue;
        }
        if let Some(v) = field(line, b"data") {
            match data {
                None => data = Some(v),
                Some(prev) => {
                    if !multi {
                        joined.extend_from_slice(prev);
                        multi = true;
                    }
                    joined.push(b'\n');
                    joined.extend_from_slice(v);
                }
            }
        } else if let Some(v) = field(line, b"error") {
            return on_event(SseEvent::Error(v));
        }
        // `event:`, `id:`, `retry:` carry nothing we use.
    }
    match (data, multi) {
        (Some(_), true) => on_event(SseEvent::Data(joined)),
        (Some(d), false) => on_event(SseEvent::Data(d)),
        (None, _) => true,
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `name:value` or `name: value` → `value`.
fn field<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let rest = line.strip_prefix(name)?.strip_prefix(b":")?;
    Some(rest.strip_prefix(b" ").unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(chunks: &[&[u8]]) -> Vec<String> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.feed(c, |e| {
                out.push(match e {
                    SseEvent::Data(b) => format!("data:{}", String::from_utf8_lossy(b)),
                    SseEvent::Error(b) => format!("error:{}", String::from_utf8_lossy(b)),
                });
                true
            });
        }
        d.finish(|e| {
            if let SseEvent::Data(b) = e {
                out.push(format!("tail:{}", String::from_utf8_lossy(b)));
            }
            true
        });
        out
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let stream = b"data: {\"a\":1}\n\n: ping\n\ndata:{\"b\":2}\r\n\r\nerror: {\"x\":1}\n\ndata: [DONE]\n\n";
        let whole = collect(&[stream]);
        assert_eq!(
            whole,
            vec![
                "data:{\"a\":1}",
                "data:{\"b\":2}",
                "error:{\"x\":1}",
                "data:[DONE]"
            ]
        );
        for i in 0..stream.len() {
            for j in i..stream.len() {
                let parts = [&stream[..i], &stream[i..j], &stream[j..]];
                assert_eq!(collect(&parts), whole, "split at {i},{j}");
            }
        }
    }

    #[test]
    fn byte_by_byte_feed_works() {
        let stream = b"data: x\n\ndata: y\n\n";
        let parts: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(collect(&parts), vec!["data:x", "data:y"]);
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        assert_eq!(collect(&[b"data: a\ndata: b\n\n"]), vec!["data:a\nb"]);
    }

    #[test]
    fn comment_only_events_are_ignored() {
        assert!(collect(&[b": keep-alive\n\n:\n\n"]).is_empty());
    }

    #[test]
    fn unterminated_last_event_is_delivered_by_finish() {
        assert_eq!(collect(&[b"data: a\n\ndata: b"]), vec!["data:a", "tail:b"]);
    }

    #[test]
    fn callback_can_stop_early_and_keeps_the_rest() {
        let mut d = SseDecoder::new();
        let mut n = 0;
        d.feed(b"data: 1\n\ndata: 2\n\n", |_| {
            n += 1;
            false
        });
        assert_eq!(n, 1);
        assert_eq!(d.pending(), b"data: 2\n\n");
        let mut rest = Vec::new();
        d.feed(b"data: 3\n\n", |e| {
            rest.push(format!("{e:?}"));
            true
        });
        assert_eq!(rest.len(), 2, "{rest:?}");
        assert_eq!(d.buffered(), 0);
    }
}
