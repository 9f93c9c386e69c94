//! `stackbench sim`: serve a simulated stack until Ctrl-C.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::Context;
use stackbench_sim::{Fault, Flavor, Profile, SimServer};

use crate::args::SimArgs;
use crate::ExitStatus;

/// Builds the profile from `--profile`, `--flavor` and the overrides.
pub fn build_profile(a: &SimArgs) -> anyhow::Result<Profile> {
    let flavor = a.flavor;
    let name = a.profile.clone().unwrap_or_else(|| {
        match flavor.unwrap_or(Flavor::Vllm) {
            Flavor::Vllm => "vllm-nvfp4",
            Flavor::Llamacpp => "llamacpp-mxfp4",
            Flavor::Ollama => "ollama-q4km",
        }
        .to_string()
    });
    let mut p = Profile::load(&name)?;
    if let Some(f) = flavor {
        p.flavor = f;
    }
    let l = &mut p.latency;
    if let Some(t) = a.ttft_ms {
        anyhow::ensure!(t.is_finite() && t >= 0.0, "--ttft-ms must be >= 0");
        l.ttft_ms = t;
    }
    if let Some(n) = a.tokens_per_event {
        l.tokens_per_event = n;
        p.mtp = None;
    }
    if let Some(n) = a.max_slots {
        p.latency.max_slots = n;
    }
    if let Some(d) = a.decode_tps {
        anyhow::ensure!(d.is_finite() && d > 0.0, "--decode-tps must be > 0");
        p.set_decode_tps(d);
    }
    if let Some(share) = a.reasoning_share {
        anyhow::ensure!(
            share.is_finite() && (0.0..=1.0).contains(&share),
            "--reasoning-share must be between 0 and 1"
        );
        p.reasoning_share = share;
    }
    if let Some(f) = a.reasoning_format {
        p.reasoning_format = f;
    }
    if let Some(n) = a.prefix_cache_tokens {
        p.prefix_cache_tokens = n;
    }
    if a.prompt_tokens_details {
        p.prompt_tokens_details = true;
    }
    if a.dev_mode || std::env::var("VLLM_SERVER_DEV_MODE").is_ok_and(|v| v == "1") {
        p.dev_mode = true;
    }
    Ok(p)
}

/// Runs `stackbench sim`.
pub async fn execute(a: SimArgs) -> anyhow::Result<ExitStatus> {
    let profile = build_profile(&a)?;
    let faults = a
        .fault
        .iter()
        .map(|f| f.parse::<Fault>())
        .collect::<Result<Vec<_>, _>>()?;
    let ip: std::net::IpAddr = a
        .host
        .parse()
        .with_context(|| format!("--host {} is not an IP address", a.host))?;
    let flavor = profile.flavor;
    let mut server = SimServer::new(profile).with_faults(faults);
    if let Some(key) = crate::run_cmd::api_key(a.api_key_env.as_deref())? {
        server = server.with_api_key(key);
    }
    if let Some(path) = &a.record_requests {
        server = server
            .with_request_log(path)
            .with_context(|| format!("cannot open --record-requests {}", path.display()))?;
    }
    if let Some(path) = &a.tokenizer {
        let t = stackbench_sim::SimTokenizer::load(path).map_err(anyhow::Error::msg)?;
        server = server.with_tokenizer(t);
    }
    if let (Some(cert), Some(key)) = (&a.tls_cert, &a.tls_key) {
        let read = |p: &std::path::PathBuf| {
            std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
        };
        let identity = stackbench_sim::TlsIdentity::from_pem(&read(cert)?, &read(key)?)
            .map_err(|e| anyhow::anyhow!("--tls-cert/--tls-key: {e}"))?;
        server = server.with_tls(identity);
    }
    let handle = server
        .bind(SocketAddr::new(ip, a.port))
        .await
        .with_context(|| format!("cannot bind {}:{}", a.host, a.port))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", handle.base_url())?;
    out.flush()?;
    drop(out);
    eprintln!(
        "simulated {} serving on {} (Ctrl-C to stop)",
        flavor.name(),
        handle.base_url()
    );
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")?;
    handle.shutdown().await;
    Ok(ExitStatus::Success)
}
