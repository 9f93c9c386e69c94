//! Fault injection: what each [`FaultKind`] does to an answer. `fault.rs`
//! says which request gets which fault; this module is where a fault
//! acts: a status answer instead of a stream, headers that never come,
//! the wrong content type, a stream broken at its third event (reset,
//! truncated JSON, an in-stream error, bytes that are not UTF-8, a 12 MB
//! line, a stall), counts stripped from every chunk, or no closing event.
//! The generation task asks it at each of those points, so each kind's
//! behaviour is here, once, and testable without a server.

use axum::body::Bytes;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::fault::{strip_counts, FaultKind};
use crate::flavor::{Flavor, StreamWriter};
use crate::respond::error_response;

/// The `huge-line` fault's line, bytes.
pub(crate) const HUGE_LINE: usize = 12 << 20;

/// The stream event (1-based) at which mid-stream faults strike.
pub(crate) const STRIKE_EVENT: u32 = 3;

/// Marks the answer of a `stall-headers` fault.
#[derive(Debug, Clone, Copy)]
struct StalledHeaders;

/// Never answers a `stall-headers` request (the connection stays open
/// until the client gives up); passes any other answer through.
pub(crate) async fn hold_if_stalled(r: Response) -> Response {
    if r.extensions().get::<StalledHeaders>().is_some() {
        std::future::pending::<()>().await;
    }
    r
}

/// The answer a fault gives instead of a stream: HTTP 500, or 429/503 with
/// `Retry-After`, in the flavor's error shape; a marked answer for
/// `stall-headers` (see [`hold_if_stalled`]). `None`: stream as usual.
pub(crate) fn instead_of_stream(flavor: Flavor, fault: Option<FaultKind>) -> Option<Response> {
    if fault == Some(FaultKind::StallHeaders) {
        let mut r = StatusCode::OK.into_response();
        r.extensions_mut().insert(StalledHeaders);
        return Some(r);
    }
    let status = StatusCode::from_u16(fault?.status()?).ok()?;
    let message = match status.as_u16() {
        500 => "simulated internal error".to_string(),
        n => format!("simulated {n}"),
    };
    let mut r = match flavor {
        Flavor::Ollama => (status, axum::Json(json!({ "error": message }))).into_response(),
        _ => error_response(flavor, status, &message),
    };
    if status != StatusCode::INTERNAL_SERVER_ERROR {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    Some(r)
}

/// The content type a fault puts on a stream in place of the real one.
pub(crate) fn content_type(fault: Option<FaultKind>) -> Option<HeaderValue> {
    (fault == Some(FaultKind::WrongContentType))
        .then(|| HeaderValue::from_static("text/html; charset=utf-8"))
}

/// What the stream does at its [`STRIKE_EVENT`]th event.
#[derive(Debug)]
pub(crate) enum Strike {
    /// Send this and go on.
    Send(Vec<u8>),
    /// Send these and end the stream (an `Err` breaks the connection).
    End(Vec<Result<Bytes, std::io::Error>>),
    /// Send this, then hold the connection until the client leaves.
    Hold(Vec<u8>),
}

/// What `fault` does to `buf`, the stream's [`STRIKE_EVENT`]th event, as
/// `writer` writes it.
pub(crate) fn strike<W: StreamWriter>(
    fault: Option<FaultKind>,
    mut buf: Vec<u8>,
    writer: &W,
) -> Strike {
    match fault {
        Some(FaultKind::Reset) => Strike::End(vec![
            Ok(Bytes::from(buf)),
            Err(std::io::Error::other("simulated connection reset")),
        ]),
        Some(FaultKind::Malformed) => {
            buf.extend_from_slice(b"data: {\"choices\":[{\"delta\":{\"content\":\"tru\n\n");
            Strike::Send(buf)
        }
        Some(FaultKind::StreamError) => {
            writer.stream_error(&mut buf, "simulated error mid-stream");
            Strike::End(vec![Ok(Bytes::from(buf))])
        }
        Some(FaultKind::InvalidUtf8) => {
            buf.extend_from_slice(
                b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\xff\xfe\"}}]}\n\n",
            );
            Strike::Send(buf)
        }
        Some(FaultKind::HugeLine) => {
            let mut line = Vec::with_capacity(HUGE_LINE + 16);
            line.extend_from_slice(b"data: {\"x\":\"");
            line.resize(HUGE_LINE, b'a');
            line.extend_from_slice(b"\"}\n\n");
            Strike::End(vec![Ok(Bytes::from(buf)), Ok(Bytes::from(line))])
        }
        Some(FaultKind::Stall) => Strike::Hold(buf),
        _ => Strike::Send(buf),
    }
}

/// Every chunk as sent: without token counts under `no-usage`.
pub(crate) fn chunk(fault: Option<FaultKind>, buf: Vec<u8>) -> Vec<u8> {
    if fault == Some(FaultKind::NoUsage) {
        strip_counts(&buf)
    } else {
        buf
    }
}

/// Whether a finished stream ends without its closing event (`no-done`).
pub(crate) fn skip_close(fault: Option<FaultKind>, stream: bool) -> bool {
    fault == Some(FaultKind::NoDone) && stream
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flavor::{Renderer, Route, StreamOpts};

    fn writer(flavor: Flavor) -> Renderer {
        Renderer {
            flavor,
            api: Route::Chat,
            id: "chatcmpl-t".into(),
            created: 0,
            model: "m".into(),
            opts: StreamOpts {
                include_usage: true,
                ..StreamOpts::default()
            },
            prompt_tokens: 3,
            prompt_details: false,
            reasoning_details: false,
        }
    }

    fn sent(items: &[Result<Bytes, std::io::Error>]) -> Vec<u8> {
        items
            .iter()
            .filter_map(|i| i.as_ref().ok())
            .flat_map(|b| b.to_vec())
            .collect()
    }

    #[test]
    fn status_faults_answer_their_status_in_the_flavors_shape() {
        for (kind, status, retry) in [
            (FaultKind::Http500, 500, false),
            (FaultKind::Http429, 429, true),
            (FaultKind::Http503, 503, true),
        ] {
            for flavor in [Flavor::Vllm, Flavor::Llamacpp, Flavor::Ollama] {
                let r = instead_of_stream(flavor, Some(kind)).expect("an answer");
                assert_eq!(r.status().as_u16(), status, "{kind:?} {flavor:?}");
                assert_eq!(
                    r.headers().get(header::RETRY_AFTER).is_some(),
                    retry,
                    "{kind:?} {flavor:?}"
                );
            }
        }
        let r = instead_of_stream(Flavor::Llamacpp, Some(FaultKind::Http500)).expect("answer");
        assert_eq!(
            r.headers().get(header::SERVER).map(|v| v.as_bytes()),
            Some(&b"llama.cpp"[..])
        );
    }

    #[tokio::test]
    async fn stall_headers_never_answers_and_other_faults_stream() {
        let r = instead_of_stream(Flavor::Vllm, Some(FaultKind::StallHeaders)).expect("marked");
        let held =
            tokio::time::timeout(std::time::Duration::from_millis(100), hold_if_stalled(r)).await;
        assert!(held.is_err(), "a stall-headers answer is never sent");
        for kind in [
            FaultKind::Reset,
            FaultKind::NoUsage,
            FaultKind::WrongContentType,
            FaultKind::Stall,
        ] {
            assert!(
                instead_of_stream(Flavor::Vllm, Some(kind)).is_none(),
                "{kind:?}"
            );
        }
        assert!(instead_of_stream(Flavor::Vllm, None).is_none());
        let plain = StatusCode::OK.into_response();
        let passed = tokio::time::timeout(
            std::time::Duration::from_millis(100),
            hold_if_stalled(plain),
        )
        .await;
        assert!(passed.is_ok(), "other answers pass through");
    }

    #[test]
    fn wrong_content_type_is_html_and_only_for_that_fault() {
        assert_eq!(
            content_type(Some(FaultKind::WrongContentType))
                .as_ref()
                .map(|v| v.as_bytes()),
            Some(&b"text/html; charset=utf-8"[..])
        );
        assert!(content_type(Some(FaultKind::Reset)).is_none());
        assert!(content_type(None).is_none());
    }

    #[test]
    fn reset_sends_the_event_then_breaks_the_connection() {
        let Strike::End(items) = strike(
            Some(FaultKind::Reset),
            b"ev".to_vec(),
            &writer(Flavor::Vllm),
        ) else {
            panic!("reset ends the stream");
        };
        assert_eq!(sent(&items), b"ev");
        assert!(
            items.last().is_some_and(|i| i.is_err()),
            "ends with an error"
        );
    }

    #[test]
    fn malformed_and_invalid_utf8_append_a_bad_event_and_go_on() {
        let w = writer(Flavor::Vllm);
        let Strike::Send(buf) = strike(Some(FaultKind::Malformed), b"ev\n\n".to_vec(), &w) else {
            panic!("malformed goes on");
        };
        let bad = &buf[4..];
        assert!(
            bad.starts_with(b"data: {"),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
        assert!(
            serde_json::from_slice::<serde_json::Value>(&bad[6..bad.len() - 2]).is_err(),
            "the added event is not JSON"
        );
        let Strike::Send(buf) = strike(Some(FaultKind::InvalidUtf8), b"ev".to_vec(), &w) else {
            panic!("invalid-utf8 goes on");
        };
        assert!(buf.starts_with(b"ev"));
        assert!(std::str::from_utf8(&buf).is_err(), "not UTF-8");
    }

    #[test]
    fn stream_error_ends_with_the_flavors_error_event() {
        for flavor in [Flavor::Vllm, Flavor::Llamacpp] {
            let Strike::End(items) = strike(
                Some(FaultKind::StreamError),
                b"ev".to_vec(),
                &writer(flavor),
            ) else {
                panic!("stream-error ends the stream");
            };
            let text = String::from_utf8(sent(&items)).expect("UTF-8");
            assert!(text.starts_with("ev"), "{text}");
            assert!(text.contains("simulated error mid-stream"), "{text}");
            assert!(
                items.iter().all(|i| i.is_ok()),
                "the connection stays whole"
            );
        }
    }

    #[test]
    fn huge_line_sends_one_twelve_megabyte_line_and_ends() {
        let Strike::End(items) = strike(
            Some(FaultKind::HugeLine),
            b"ev".to_vec(),
            &writer(Flavor::Vllm),
        ) else {
            panic!("huge-line ends the stream");
        };
        assert_eq!(items.len(), 2);
        let line = items[1].as_ref().expect("sent");
        assert!(line.len() > HUGE_LINE, "{}", line.len());
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 2, "one line");
    }

    #[test]
    fn stall_holds_after_the_event_and_no_fault_just_sends() {
        let w = writer(Flavor::Vllm);
        assert!(
            matches!(strike(Some(FaultKind::Stall), b"ev".to_vec(), &w), Strike::Hold(b) if b == b"ev")
        );
        assert!(matches!(strike(None, b"ev".to_vec(), &w), Strike::Send(b) if b == b"ev"));
        assert!(
            matches!(strike(Some(FaultKind::NoUsage), b"ev".to_vec(), &w), Strike::Send(b) if b == b"ev")
        );
    }

    #[test]
    fn no_usage_strips_counts_from_every_chunk_and_no_done_skips_the_close() {
        let ev = b"data: {\"choices\":[],\"usage\":{\"completion_tokens\":3}}\n\n".to_vec();
        let stripped = chunk(Some(FaultKind::NoUsage), ev.clone());
        assert!(!String::from_utf8_lossy(&stripped).contains("usage"));
        assert_eq!(chunk(None, ev.clone()), ev);
        assert_eq!(chunk(Some(FaultKind::Reset), ev.clone()), ev);
        assert!(skip_close(Some(FaultKind::NoDone), true));
        assert!(
            !skip_close(Some(FaultKind::NoDone), false),
            "a whole answer still comes"
        );
        assert!(!skip_close(None, true));
    }
}
