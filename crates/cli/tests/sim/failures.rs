//! A server that resets mid-stream, answers 500, sends a malformed chunk or
//! an in-stream error: each such request is recorded as failed with its
//! reason, nothing panics, and the run carries on.

use crate::common::{bench, profile, start, Load};
use stackbench_core::kinds::ServerKind;
use stackbench_core::record::FailureKind;
use stackbench_core::RequestStatus;
use stackbench_engine::Bound;
use stackbench_sim::{Fault, FaultKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_requests_are_recorded_with_their_reason_and_the_run_continues() {
    let faults = vec![
        Fault {
            kind: FaultKind::Http500,
            every: 7,
        },
        Fault {
            kind: FaultKind::Reset,
            every: 5,
        },
        Fault {
            kind: FaultKind::Malformed,
            every: 11,
        },
        Fault {
            kind: FaultKind::StreamError,
            every: 13,
        },
    ];
    for flavor in ["vllm", "llamacpp"] {
        let sim = start(profile(flavor, 2.0, 1000.0, "", ""), faults.clone()).await;
        let dir = tempfile::tempdir().unwrap();
        let n = 40u64;
        let (out, records) = bench(
            flavor.parse().unwrap(),
            &sim.base_url(),
            &Load::new(3, Bound::Requests(n), 10),
            dir.path(),
        )
        .await;
        let expected: Vec<(u64, FaultKind)> = (1..=n)
            .filter_map(|i| {
                faults
                    .iter()
                    .find(|f| i % f.every == 0)
                    .map(|f| (i, f.kind))
            })
            .collect();
        let s = &out.summary;
        assert_eq!(
            s.requests.failed,
            expected.len() as u64,
            "{flavor}: {:?}",
            s.errors
        );
        assert_eq!(s.requests.ok, n - expected.len() as u64, "{flavor}");
        assert_eq!(records.len() as u64, n);
        let kinds: Vec<&str> = records
            .iter()
            .filter(|r| r.status == RequestStatus::Failed)
            .map(|r| r.error.as_ref().unwrap().kind.name())
            .collect();
        let count = |k: &str| kinds.iter().filter(|x| **x == k).count();
        let want = |k: FaultKind| expected.iter().filter(|(_, f)| *f == k).count();
        assert_eq!(count("http_status"), want(FaultKind::Http500), "{flavor}");
        assert_eq!(count("stream"), want(FaultKind::Reset), "{flavor}");
        assert_eq!(
            count("malformed_chunk"),
            want(FaultKind::Malformed),
            "{flavor}"
        );
        assert_eq!(
            count("server_error"),
            want(FaultKind::StreamError),
            "{flavor}"
        );
        let http = records
            .iter()
            .find(|r| {
                r.error
                    .as_ref()
                    .is_some_and(|e| e.kind == FailureKind::HttpStatus)
            })
            .unwrap();
        let e = http.error.as_ref().unwrap();
        assert_eq!(e.status, Some(500));
        assert!(
            e.message.contains("simulated internal error"),
            "{}",
            e.message
        );
        assert!(s.errors.keys().any(|k| k.starts_with("stream:")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_fails_every_request_without_panicking() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let (out, records) = bench(
        ServerKind::Openai,
        &format!("http://127.0.0.1:{port}"),
        &Load::new(2, Bound::Requests(4), 10),
        dir.path(),
    )
    .await;
    assert_eq!(out.summary.requests.failed, 4);
    assert!(records
        .iter()
        .all(|r| r.error.as_ref().unwrap().kind == FailureKind::Connect));
}
