//! HTTPS against the simulator serving a certificate this test generates:
//! refused with a clear message when the certificate is not trusted (and
//! at once: an untrusted certificate is not a server still starting),
//! measured with `--ca-cert` or `--insecure`. An API key planted in the
//! environment appears in no output file and no log, even at
//! `RUST_LOG=trace`.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::common::{read_run_json, spawn_sim_env, stackbench};

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::spawn_sim;

fn certificate(dir: &Path) -> (String, String) {
    let key =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert = dir.join("cert.pem");
    let private = dir.join("key.pem");
    std::fs::write(&cert, key.cert.pem()).unwrap();
    std::fs::write(&private, key.key_pair.serialize_pem()).unwrap();
    (cert.display().to_string(), private.display().to_string())
}

fn run(url: &str, out: &Path, extra: &[&str]) -> common::Output {
    stackbench(["run", "--quiet", "--base-url", url, "--out"])
        .arg(out)
        .args([
            "-n",
            "4",
            "-c",
            "2",
            "--output-tokens",
            "8",
            "--prompt-tokens",
            "32",
        ])
        .args(extra)
        .run()
}

#[test]
fn https_is_refused_untrusted_and_measured_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let sim = spawn_sim(&[
        "--decode-tps",
        "1000",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ]);
    assert!(sim.url.starts_with("https://"), "{}", sim.url);

    let started = Instant::now();
    let refused = run(&sim.url, &dir.path().join("refused"), &[]);
    refused.assert_code(2);
    let stderr = &refused.stderr;
    assert!(
        stderr.contains("TLS handshake") && stderr.contains("--ca-cert"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "failed fast, not after the ready timeout"
    );

    for trust in [
        ["--ca-cert", cert.as_str()].as_slice(),
        ["--insecure"].as_slice(),
    ] {
        let out_dir = dir.path().join(trust[0].trim_start_matches('-'));
        let out = run(&sim.url, &out_dir, trust);
        out.assert_success();
        let run = common::read_run_json(&out_dir);
        assert_eq!(run["summary"]["requests"]["ok"], 4, "{trust:?}");
        assert!(run["target"]["base_url"]
            .as_str()
            .unwrap()
            .starts_with("https://"));
    }
}

/// The key goes in through `--api-key-env`; every file of the run, stdout
/// and stderr at `RUST_LOG=trace`, and the probe's output must not hold it.
#[test]
fn an_api_key_is_never_written_or_logged() {
    const KEY: &str = "sk-planted-0d9f8e7c6b5a4d3c2b1a";
    // llama-server's imitation checks the key on /props, /tokenize and
    // /metrics too: the probe and the run succeed only if every request
    // carried it.
    let sim = spawn_sim_env(
        &[
            "--decode-tps",
            "1000",
            "--flavor",
            "llamacpp",
            "--api-key-env",
            "STACKBENCH_TEST_KEY",
        ],
        &[("STACKBENCH_TEST_KEY", KEY)],
    );
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("run");
    let out = stackbench(["run", "--quiet", "--base-url", &sim.url, "--out"])
        .arg(&out_dir)
        .args(["-n", "3", "--output-tokens", "4", "--prompt-tokens", "32"])
        .args(["--api-key-env", "STACKBENCH_TEST_KEY", "-vv"])
        .env("STACKBENCH_TEST_KEY", KEY)
        .env("RUST_LOG", "trace")
        .run();
    out.assert_success();
    let probe = stackbench([
        "probe",
        "--base-url",
        &sim.url,
        "--api-key-env",
        "STACKBENCH_TEST_KEY",
    ])
    .env("STACKBENCH_TEST_KEY", KEY)
    .env("RUST_LOG", "trace")
    .run();
    probe.assert_success();
    assert_eq!(read_run_json(&out_dir)["summary"]["requests"]["ok"], 3);
    let logs = [out.stdout, out.stderr, probe.stdout, probe.stderr].concat();
    assert!(logs.len() > 1000, "trace logging produced output");
    assert!(!logs.contains(KEY), "the key is in the output or logs");
    let mut files = 0;
    for entry in std::fs::read_dir(&out_dir).unwrap() {
        let path = entry.unwrap().path();
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        assert!(!text.contains(KEY), "the key is in {}", path.display());
        files += 1;
    }
    assert!(files >= 3, "run.json, requests.jsonl, server-metrics.jsonl");
}
