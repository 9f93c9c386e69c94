//! The measured HTTP exchange (`backends::http1`) through the real driver,
//! against a scripted raw-socket server: interim responses, every way a
//! body can end, heads split across reads, a body cut short, kept
//! connections the server closed, TLS, and proxy variables. Every stream
//! is counted exactly: the tokens of every event, and the server's total.
#![allow(clippy::unwrap_used)]

mod script;

use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use script::{chunked, paced, pause, send, sse_events, sse_head, Scripted, Step};
use stackbench_backends::{
    normalize_base_url, ControlClient, DriverError, RequestError, StreamDriver, StreamTarget,
};
use stackbench_core::TokenEvent;
use stackbench_wire::body::{Api, BodyOptions, Request};
use stackbench_wire::CountOutcome;

/// Held for reading by every test, for writing by the one that sets proxy
/// variables: the environment is the process's.
static ENV: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn driver(url: &str, reuse: bool) -> Result<StreamDriver, DriverError> {
    StreamDriver::new(StreamTarget {
        root: normalize_base_url(url).unwrap(),
        api: Api::Chat,
        api_key: Some("sk-test".into()),
        body: BodyOptions {
            model: "m".into(),
            max_tokens: 16,
            ignore_eos: false,
            temperature: 0.0,
            seed: None,
            per_event_counts: false,
            extra: serde_json::Map::new(),
            switches: serde_json::Map::new(),
            salt_field: false,
        },
        request_timeout: Duration::from_secs(10),
        first_byte_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        reuse_connections: reuse,
        counts_stop_token: false,
    })
}

/// One request: its outcome and events.
async fn stream(d: &StreamDriver) -> (Result<CountOutcome, RequestError>, Vec<TokenEvent>) {
    let mut events = Vec::new();
    let live = AtomicU64::new(0);
    let out = d
        .send(&Request::text("hi"), Instant::now(), &mut events, &live)
        .await;
    (out, events)
}

/// A stream of `tokens` events, each counted as one, reconciled with the
/// server's total.
fn assert_exact(out: Result<CountOutcome, RequestError>, events: &[TokenEvent], tokens: u64) {
    let out = out.unwrap_or_else(|e| panic!("the stream failed: {e}"));
    assert_eq!(events.len() as u64, tokens);
    assert!(events.iter().all(|e| e.tokens == 1), "{events:?}");
    assert_eq!(
        (out.counted, out.server, out.reconciled),
        (tokens, Some(tokens), true)
    );
    assert_eq!(out.finish_reason.as_deref(), Some("length"));
}

/// A chunked SSE response of `tokens` tokens, one event per read.
fn chunked_response(tokens: usize) -> Vec<Step> {
    let mut steps = vec![send(sse_head("Transfer-Encoding: chunked\r\n")), pause()];
    steps.extend(paced(chunked(&sse_events(tokens))));
    steps
}

#[tokio::test]
async fn interim_responses_are_skipped_and_the_final_one_counted() {
    let _env = ENV.read().await;
    let early_hints = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n";
    // The 103 alone in its read, then 100 and 103 in the same read as the
    // start of the final head.
    let mut first = vec![Step::Read, send(early_hints), pause()];
    first.extend(chunked_response(5));
    let events = chunked(&sse_events(7)).concat();
    let second = vec![
        Step::Read,
        send(format!(
            "HTTP/1.1 100 Continue\r\n\r\n{early_hints}HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer"
        )),
        pause(),
        send(format!("-Encoding: chunked\r\n\r\n{events}")),
    ];
    let server = Scripted::start(vec![first, second]).await;
    let d = driver(&server.url, false).unwrap();
    let (out, events) = stream(&d).await;
    assert_exact(out, &events, 5);
    let (out, events) = stream(&d).await;
    assert_exact(out, &events, 7);
    assert_eq!(server.accepted(), 2);
}

#[tokio::test]
async fn switching_protocols_is_an_error_not_an_interim_response() {
    let _env = ENV.read().await;
    let mut script = vec![
        Step::Read,
        send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n"),
    ];
    script.extend(chunked_response(3));
    let server = Scripted::start(vec![script]).await;
    let (out, _) = stream(&driver(&server.url, false).unwrap()).await;
    match out {
        Err(RequestError::HttpStatus { status: 101, .. }) => {}
        other => panic!("expected HTTP 101 as an error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_content_length_stream_is_counted_and_its_connection_reused() {
    let _env = ENV.read().await;
    let body = sse_events(6).concat();
    let one = || {
        let mut steps = vec![
            Step::Read,
            send(sse_head(&format!("Content-Length: {}\r\n", body.len()))),
        ];
        steps.extend(paced(sse_events(6)));
        steps
    };
    // Two requests on one connection: the second is only answered if the
    // first body's end was found by its length.
    let mut script = one();
    script.extend(one());
    let server = Scripted::start(vec![script]).await;
    let d = driver(&server.url, true).unwrap();
    for _ in 0..2 {
        let (out, events) = stream(&d).await;
        assert_exact(out, &events, 6);
    }
    assert_eq!(server.accepted(), 1, "the kept connection carried both");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[0].starts_with("POST /v1/chat/completions HTTP/1.1\r\n"));
    assert!(requests[0].contains("\r\nAuthorization: Bearer sk-test\r\n"));
}

#[tokio::test]
async fn a_close_delimited_stream_is_counted_and_ends_at_the_close() {
    let _env = ENV.read().await;
    // No length, no chunked coding: the body is everything up to the
    // close. The last event arrives in the read before the close.
    let mut script = vec![Step::Read, send(sse_head("")), pause()];
    script.extend(paced(sse_events(9)));
    let again = script.clone();
    let server = Scripted::start(vec![script, again]).await;
    let d = driver(&server.url, true).unwrap();
    for _ in 0..2 {
        let (out, events) = stream(&d).await;
        assert_exact(out, &events, 9);
    }
    assert_eq!(
        server.accepted(),
        2,
        "a close-delimited body's connection is not kept"
    );
}

#[tokio::test]
async fn a_close_delimited_stream_without_done_is_truncated() {
    let _env = ENV.read().await;
    let mut events = sse_events(4);
    events.truncate(3);
    let mut script = vec![Step::Read, send(sse_head("")), pause()];
    script.extend(paced(events));
    let server = Scripted::start(vec![script]).await;
    let (out, _) = stream(&driver(&server.url, false).unwrap()).await;
    assert_eq!(out, Err(RequestError::Truncated { events: 3 }));
}

#[tokio::test]
async fn a_head_split_across_reads_is_read_whole() {
    let _env = ENV.read().await;
    let head = sse_head("Transfer-Encoding: chunked\r\n");
    let body = chunked(&sse_events(4)).concat();
    // Cuts inside the status line, a header name, a value, the CRLF
    // pairs, and between the blank line and the body.
    for cuts in [
        vec![1, 9, 30],
        vec![head.len() - 3, head.len() - 1],
        vec![20, head.len()],
    ] {
        let whole = format!("{head}{body}");
        let mut script = vec![Step::Read];
        let mut at = 0;
        for cut in cuts.iter().copied().chain([whole.len()]) {
            script.extend([send(&whole[at..cut]), pause()]);
            at = cut;
        }
        let server = Scripted::start(vec![script]).await;
        let (out, events) = stream(&driver(&server.url, false).unwrap()).await;
        assert_exact(out, &events, 4);
    }
}

#[tokio::test]
async fn eof_in_the_middle_of_a_body_is_an_error_not_a_short_stream() {
    let _env = ENV.read().await;
    // Chunked: the connection closes inside the fourth event's chunk. The
    // events before it are counted in the error; the stream is not
    // passed off as complete.
    let chunks = chunked(&sse_events(6));
    let cut = &chunks[3][..10];
    let mut script = vec![
        Step::Read,
        send(sse_head("Transfer-Encoding: chunked\r\n")),
        pause(),
    ];
    script.extend(paced(chunks[..3].to_vec()));
    script.push(send(cut));
    // Length-delimited: closes 5 bytes short of the length.
    let body = sse_events(6).concat();
    let short = vec![
        Step::Read,
        send(sse_head(&format!("Content-Length: {}\r\n", body.len()))),
        pause(),
        send(&body[..body.len() - 5]),
    ];
    let server = Scripted::start(vec![script, short]).await;
    let d = driver(&server.url, true).unwrap();
    for expected_events in [3, 6] {
        let (out, events) = stream(&d).await;
        match out {
            Err(RequestError::Stream { events: n, reason }) => {
                assert_eq!(n, expected_events);
                assert_eq!(events.len(), expected_events);
                assert!(
                    reason.contains("closed before the end of the body"),
                    "{reason}"
                );
            }
            other => panic!("expected a broken stream, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_kept_connection_the_server_closed_is_replaced() {
    let _env = ENV.read().await;
    // The server announces keep-alive, then closes the idle connection:
    // the next request sees the close before it is sent and goes on a
    // fresh connection.
    let mut first = vec![Step::Read];
    first.extend(chunked_response(3));
    let mut second = vec![Step::Read];
    second.extend(chunked_response(4));
    let server = Scripted::start(vec![first, second]).await;
    let d = driver(&server.url, true).unwrap();
    let (out, events) = stream(&d).await;
    assert_exact(out, &events, 3);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (out, events) = stream(&d).await;
    assert_exact(out, &events, 4);
    assert_eq!(server.accepted(), 2);
}

#[tokio::test]
async fn a_kept_connection_closed_after_the_request_fails_clearly() {
    let _env = ENV.read().await;
    // The server reads the second request on the kept connection and
    // closes it without answering: the request may have been acted on,
    // so it is not sent again, and the error says what happened.
    let mut script = vec![Step::Read];
    script.extend(chunked_response(2));
    script.push(Step::Read);
    let server = Scripted::start(vec![script, vec![Step::Read]]).await;
    let d = driver(&server.url, true).unwrap();
    let (out, events) = stream(&d).await;
    assert_exact(out, &events, 2);
    let (out, _) = stream(&d).await;
    match out {
        Err(RequestError::Closed { reason, .. }) => {
            assert!(
                reason.contains("a kept connection closed before any response"),
                "{reason}"
            );
        }
        other => panic!("expected Closed, got {other:?}"),
    }
    assert_eq!(server.accepted(), 1, "not sent again");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_tls_stream_is_counted_exactly() {
    let _env = ENV.read().await;
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, key.cert.pem()).unwrap();
    stackbench_backends::tls::configure(&stackbench_backends::tls::TlsOptions {
        insecure: false,
        ca_cert: Some(ca),
    })
    .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![key.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.key_pair.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let one = || {
        let mut s = vec![Step::Read];
        s.extend(chunked_response(5));
        s
    };
    let mut script = one();
    script.extend(one());
    let server = Scripted::start_tls(vec![script], acceptor).await;
    let d = driver(&server.url, true).unwrap();
    for _ in 0..2 {
        let (out, events) = stream(&d).await;
        assert_exact(out, &events, 5);
    }
    assert_eq!(server.accepted(), 1, "the TLS connection was kept");
}

/// Sets (or, with `None`, removes) environment variables for the life of
/// the value; the caller holds [`ENV`] for writing.
struct Vars(Vec<(&'static str, Option<String>)>);

impl Vars {
    fn set(vars: &[(&'static str, Option<&str>)]) -> Self {
        let saved = vars
            .iter()
            .map(|(name, value)| {
                let old = std::env::var(name).ok();
                match value {
                    Some(v) => std::env::set_var(name, v),
                    None => std::env::remove_var(name),
                }
                (*name, old)
            })
            .collect();
        Self(saved)
    }
}

impl Drop for Vars {
    fn drop(&mut self) {
        for (name, old) in &self.0 {
            match old {
                Some(v) => std::env::set_var(name, v),
                None => std::env::remove_var(name),
            }
        }
    }
}

#[tokio::test]
async fn a_proxy_variable_that_applies_is_refused_on_both_paths() {
    let _env = ENV.write().await;
    let mut script = vec![Step::Read];
    script.extend(chunked_response(2));
    let server = Scripted::start(vec![script]).await;
    let root = normalize_base_url(&server.url).unwrap();
    let unset: Vec<(&'static str, Option<&str>)> = [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "REQUEST_METHOD",
    ]
    .into_iter()
    .map(|n| (n, None))
    .collect();
    let _clean = Vars::set(&unset);
    {
        let _proxy = Vars::set(&[
            ("https_proxy", Some("http://u:pw@proxy.invalid:3128")),
            ("ALL_PROXY", Some("http://proxy.invalid:3128")),
        ]);
        let e = driver(&server.url, false)
            .expect_err("the measured path refuses")
            .to_string();
        assert!(
            e.contains("ALL_PROXY is set (http://proxy.invalid:3128)"),
            "{e}"
        );
        assert!(
            e.contains("add 127.0.0.1 to NO_PROXY, or unset ALL_PROXY"),
            "{e}"
        );
        // The control plane refuses too, at once (not after its timeout).
        let started = Instant::now();
        let wait = stackbench_backends::ReadyWait {
            timeout: Duration::from_secs(30),
            interval: Duration::from_millis(200),
        };
        let control = ControlClient::new(&root, None).expect("a client");
        let e = stackbench_backends::wait_ready(&control, wait, &|_| {})
            .await
            .expect_err("the control plane refuses");
        assert!(e.to_string().contains("unset ALL_PROXY"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let e = stackbench_backends::list_models(&control)
            .await
            .expect_err("refused");
        assert!(matches!(e, RequestError::Connect { .. }), "{e}");
    }
    // Listed in NO_PROXY, the server is measured directly.
    let _proxy = Vars::set(&[
        ("HTTP_PROXY", Some("http://proxy.invalid:3128")),
        ("no_proxy", Some("localhost, 127.0.0.0/8")),
    ]);
    let (out, events) = stream(&driver(&server.url, false).unwrap()).await;
    assert_exact(out, &events, 2);
}
