//! `stackbench merge SHARDS… --out DIR`: one run from the shards of a
//! workload that several load machines ran at once (see
//! `stackbench_core::merge` for what is summed and how shards line up).

use std::path::Path;

use anyhow::Context;
use stackbench_core::merge::{merge_shards, Shard};

use crate::args::MergeArgs;
use crate::ExitStatus;

/// Reads the one run in `dir`.
fn read_shard(dir: &Path) -> anyhow::Result<Shard> {
    let mut runs = stackbench_runner::load_runs(&[dir.to_path_buf()])?;
    if runs.len() != 1 {
        anyhow::bail!(
            "{} holds {} runs; give each shard's run folder (the one with run.json)",
            dir.display(),
            runs.len()
        );
    }
    let run = runs.remove(0);
    let records = stackbench_runner::load_records(&run.dir)?;
    Ok(Shard {
        dir: run.dir.display().to_string(),
        file: run.file,
        records,
    })
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    stackbench_engine::write_atomic(path, bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Runs `stackbench merge`.
pub fn execute(a: &MergeArgs) -> anyhow::Result<ExitStatus> {
    if a.out.join("run.json").exists() {
        anyhow::bail!(
            "{} already holds a run.json; choose another --out",
            a.out.display()
        );
    }
    let shards = a
        .shards
        .iter()
        .map(|d| read_shard(d).with_context(|| format!("shard {}", d.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut seeds: Vec<u64> = shards.iter().map(|s| s.file.load.seed).collect();
    seeds.sort_unstable();
    if seeds.windows(2).any(|w| w[0] == w[1]) {
        eprintln!("warning: two shards used the same --seed, so they sent the same prompts: the server's prefix cache may have served one shard's prompts from the other's; give each shard its own seed (or none)");
    }
    let (file, records) = merge_shards(&shards, std::env::args().collect())?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let mut lines = Vec::new();
    for r in &records {
        serde_json::to_writer(&mut lines, r)?;
        lines.push(b'\n');
    }
    write(&a.out.join("requests.jsonl"), &lines)?;
    write(&a.out.join("run.json"), &serde_json::to_vec_pretty(&file)?)?;
    print!("{}", stackbench_report::run_summary(&file));
    if let Some(m) = &file.merged {
        let window = m.shared_window_us.map_or_else(
            || "no shared steady window: the total is over the whole span".to_string(),
            |[a, b]| {
                format!(
                    "totals over the shared steady window {:.1}-{:.1} s",
                    a as f64 / 1e6,
                    b as f64 / 1e6
                )
            },
        );
        println!(
            "\nmerged {} shards (starts {:.0} ms apart); {window}; results: {}",
            m.shards.len(),
            m.start_spread_ms,
            a.out.display()
        );
    }
    Ok(ExitStatus::Success)
}
