//! `stackbench-fuzz`: runs the fuzz targets (see the library docs).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use stackbench_fuzz::Target;

/// Fuzzes stackbench's parsers and config loaders on stable Rust: each
/// target runs its seed corpus (real captures, shipped configs), then
/// mutated inputs, and must not panic; the framing targets also check that
/// splitting the bytes differently gives the same events. A crashing input
/// is written to `fuzz-crash-TARGET.bin` (exit 1).
#[derive(Debug, Parser)]
#[command(name = "stackbench-fuzz", version)]
struct Args {
    /// Target name, or `all` (`--list` shows them).
    #[arg(default_value = "all")]
    target: String,
    /// Mutated inputs per target.
    #[arg(long, default_value_t = 1_000_000)]
    execs: u64,
    /// Random seed (a run is repeatable).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Longest input, bytes.
    #[arg(long, default_value_t = 16 * 1024)]
    max_len: usize,
    /// List the targets and exit.
    #[arg(long)]
    list: bool,
    /// Write the chosen targets' seeds (DIR/TARGET/seed-NNN) and
    /// dictionaries (DIR/TARGET.dict, libFuzzer's format) and exit: the
    /// coverage-guided campaign (scripts/fuzz.sh) starts from them.
    #[arg(long, value_name = "DIR")]
    export: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let targets = stackbench_fuzz::all();
    if args.list {
        for t in &targets {
            println!("{:<14} {}", t.name, t.about);
        }
        return ExitCode::SUCCESS;
    }
    let chosen: Vec<_> = targets
        .iter()
        .filter(|t| args.target == "all" || t.name == args.target)
        .collect();
    if chosen.is_empty() {
        let names: Vec<_> = targets.iter().map(|t| t.name).collect();
        eprintln!(
            "error: unknown target '{}' (one of: all, {})",
            args.target,
            names.join(", ")
        );
        return ExitCode::from(2);
    }
    if let Some(dir) = &args.export {
        return export(&chosen, dir);
    }
    for t in chosen {
        if let Err(code) = run(t, &args) {
            return code;
        }
    }
    ExitCode::SUCCESS
}

/// Writes each target's seeds and dictionary under `dir`.
fn export(chosen: &[&Target], dir: &Path) -> ExitCode {
    for t in chosen {
        let seeds = stackbench_fuzz::export::write_seeds(t, &dir.join(t.name));
        let dict = dir.join(format!("{}.dict", t.name));
        let written = seeds.and_then(|n| {
            std::fs::write(&dict, stackbench_fuzz::export::dict_text(t.dict)).map(|()| n)
        });
        match written {
            Ok(n) => println!(
                "{:<14} {n} seeds, {} dictionary tokens",
                t.name,
                t.dict.len()
            ),
            Err(e) => {
                eprintln!(
                    "error: cannot write {}'s seeds under {}: {e}",
                    t.name,
                    dir.display()
                );
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::SUCCESS
}

/// Fuzzes one target; a crash is reported and saved, and ends the run.
fn run(t: &Target, args: &Args) -> Result<(), ExitCode> {
    let progress = |n: u64| {
        eprint!("\r{}: {n} executions", t.name);
        let _ = std::io::stderr().flush();
    };
    match stackbench_fuzz::fuzz(t, args.execs, args.seed, args.max_len, progress) {
        Ok(s) => {
            let secs = s.elapsed.as_secs_f64();
            eprint!("\r");
            println!(
                "{:<14} {} executions, no crash, {:.1} s ({:.0}/s)",
                t.name,
                s.execs,
                secs,
                s.execs as f64 / secs.max(1e-9)
            );
            Ok(())
        }
        Err(c) => {
            let path = format!("fuzz-crash-{}.bin", t.name);
            let saved = std::fs::write(&path, &c.input).is_ok();
            eprintln!();
            eprintln!(
                "{}: panic after {} executions: {}{}",
                t.name,
                c.after,
                c.message,
                if saved {
                    format!(" (input saved to {path})")
                } else {
                    String::new()
                }
            );
            Err(ExitCode::from(1))
        }
    }
}
