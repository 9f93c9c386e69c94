//! The `stackbench` binary: parses the command line, sets up logging, runs a
//! command and maps the outcome to an exit code (0 ok, 1 a gate failed,
//! 2 error). All the work lives in the library crates.

mod args;
mod compare_cmd;
mod demo;
mod history_cmd;
mod merge_cmd;
mod preflight_cmd;
mod progress;
mod report_cmd;
mod run_cmd;
mod shutdown;
mod sim_cmd;
mod suite_cmd;
mod table_cmd;
mod upgrade_cmd;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

/// What a command concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything went as asked.
    Success,
    /// The command ran but a gate it was asked to check failed.
    GateFailed,
    /// Stopped by Ctrl-C or SIGTERM (after tearing down): exit 130.
    Interrupted,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(ExitStatus::Success) => ExitCode::SUCCESS,
        Ok(ExitStatus::GateFailed) => ExitCode::from(1),
        Ok(ExitStatus::Interrupted) => ExitCode::from(130),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", error_text(&e));
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    stackbench_backends::tls::configure(&stackbench_backends::tls::TlsOptions {
        insecure: cli.insecure,
        ca_cert: cli.ca_cert.clone(),
    })?;
    // One thread: the client must cost the measured server as little CPU
    // as possible, and a single-threaded runtime avoids the cross-thread
    // wake-ups that dominated the per-token cost (12 vs 20 µs per token at
    // c=256 on a 2-core VM; see docs/client-cost.md). A run
    // adds threads with --threads (runtime lanes, each single-threaded);
    // the simulator, with --threads, serves on a multi-threaded runtime.
    let rt = match &cli.command {
        Command::Sim(a) if a.threads > 1 => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(a.threads as usize)
            .enable_all()
            .build()?,
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
    };
    rt.block_on(async move {
        match cli.command {
            Command::Run(a) => run_cmd::execute(*a).await,
            Command::Sim(a) => sim_cmd::execute(a).await,
            Command::Probe(a) => run_cmd::probe_cmd(a).await,
            Command::Demo(a) => demo::execute(a).await,
            Command::Suite(a) => suite_cmd::execute(a).await,
            Command::Preflight(a) => preflight_cmd::execute(&a).await,
            Command::Table(a) => table_cmd::execute(&a),
            Command::Compare(a) => compare_cmd::execute(&a),
            Command::Merge(a) => merge_cmd::execute(&a),
            Command::Report(a) => report_cmd::execute(&a),
            Command::UpgradeCheck(a) => upgrade_cmd::execute_upgrade(a).await,
            Command::Calibrate(a) => upgrade_cmd::execute_calibrate(a).await,
            Command::History(a) => history_cmd::execute(&a),
        }
    })
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// The error and its causes, `: `-separated, leaving out a cause whose
/// text its parent already quotes (typed errors put their source in their
/// own message, so `{:#}` would print it twice).
fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out += ": ";
        }
        out += &text;
    }
    out
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::error_text;

    #[test]
    fn a_cause_quoted_by_its_parent_is_printed_once() {
        let io = std::io::Error::other("Not a directory");
        let e = anyhow::Error::new(io).context("cannot write out: Not a directory");
        assert_eq!(error_text(&e), "cannot write out: Not a directory");
        let e = anyhow::Error::new(std::io::Error::other("disk full")).context("saving run.json");
        assert_eq!(error_text(&e), "saving run.json: disk full");
    }
}
