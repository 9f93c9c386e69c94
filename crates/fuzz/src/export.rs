//! Writes a target's seeds and dictionary as files, for the coverage-guided
//! campaign (`scripts/fuzz.sh`, libFuzzer): the seeds and tokens are
//! defined once, in `targets.rs`, and both fuzzers read them from there.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use crate::Target;

/// Writes `target`'s seeds into `dir` (created), one file each
/// (`seed-000`, …), and returns how many.
pub fn write_seeds(target: &Target, dir: &Path) -> io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let seeds = (target.seeds)();
    for (i, seed) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:03}")), seed)?;
    }
    Ok(seeds.len())
}

/// The dictionary in libFuzzer's `-dict=` format: one `"token"` a line,
/// with `\\`, `\"` and `\xNN` escapes for anything not printable ASCII.
pub fn dict_text(dict: &[&[u8]]) -> String {
    let mut out = String::new();
    for token in dict {
        out.push('"');
        for &b in *token {
            match b {
                b'\\' => out.push_str("\\\\"),
                b'"' => out.push_str("\\\""),
                0x20..=0x7e => out.push(char::from(b)),
                _ => {
                    let _ = write!(out, "\\x{b:02X}");
                }
            }
        }
        out.push_str("\"\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_lines_escape_what_libfuzzer_needs_escaped() {
        let text = dict_text(&[b"data: ", b"\r\n", b"\\\"", b"{\"a\":1}"]);
        assert_eq!(
            text,
            "\"data: \"\n\"\\x0D\\x0A\"\n\"\\\\\\\"\"\n\"{\\\"a\\\":1}\"\n"
        );
    }

    #[test]
    fn every_seed_is_written_byte_for_byte() {
        let dir =
            std::env::temp_dir().join(format!("stackbench-fuzz-export-{}", std::process::id()));
        let targets = crate::all();
        let Some(target) = targets.iter().find(|t| t.name == "sse") else {
            panic!("no sse target");
        };
        let seeds = (target.seeds)();
        let n = write_seeds(target, &dir).map_err(|e| e.to_string());
        assert_eq!(n, Ok(seeds.len()));
        for (i, seed) in seeds.iter().enumerate() {
            let back = std::fs::read(dir.join(format!("seed-{i:03}"))).map_err(|e| e.to_string());
            assert_eq!(back.as_deref(), Ok(seed.as_slice()));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
