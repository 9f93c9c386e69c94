//! The run summary's lines on cleanliness and warmth: the cache reset and
//! its proof, the cache check, the warm-up, the server's counters before
//! the run, and the flags (from `run.json`'s `hygiene`).

use stackbench_core::hygiene::{CacheVerdict, Hygiene};
use stackbench_core::run_file::RunFile;

/// The lines, empty for a run without `hygiene`.
pub fn hygiene_lines(run: &RunFile) -> String {
    let Some(h) = run.hygiene.as_ref() else {
        return String::new();
    };
    let mut out = String::new();
    out += &reset_line(h);
    out += &check_line(h);
    out += &warmup_line(h);
    if let Some(b) = h.before.as_ref().filter(|b| b.never_served == Some(true)) {
        let since = b.idle_s.map_or(String::new(), |s| format!(" {s:.0} s ago"));
        out += &format!(
            "server: had generated nothing since it started{since} (a cold engine: warm it up, --warmup-requests auto)\n"
        );
    }
    for f in &h.flags {
        out += &format!("FLAGGED {}: {}\n", f.kind.name(), f.text);
    }
    out
}

fn reset_line(h: &Hygiene) -> String {
    let Some(r) = &h.reset else {
        return String::new();
    };
    let proof = match r.proven {
        Some(true) => "proven: the first request reported 0 cached prompt tokens",
        Some(false) => "NOT proven by the server's cached counts",
        None => "the server reports no cached count (what is proven is in the detail)",
    };
    format!(
        "cache reset: {} in {:.0} ms; {}; {proof}\n",
        r.how, r.ms, r.detail
    )
}

fn check_line(h: &Hygiene) -> String {
    let Some(c) = &h.cache_check else {
        return String::new();
    };
    if let Some(pct) = c.hit_pct {
        let verdict = if c.verdict == CacheVerdict::Cached {
            "CACHED"
        } else {
            "clean"
        };
        return format!(
            "cache check: {verdict} (the server's prefix-cache counters served {pct:.0}% of the measured prompt tokens; the {}-token head every prompt shares is the most a clean run takes)\n",
            c.head_tokens
        );
    }
    match c.verdict {
        CacheVerdict::Unknown => String::new(),
        CacheVerdict::Clean => format!(
            "cache check: clean ({} first requests took {}–{} tokens from the cache, at most the {}-token head every prompt shares)\n",
            c.requests,
            c.min_cached.unwrap_or(0),
            c.max_cached.unwrap_or(0),
            c.head_tokens
        ),
        CacheVerdict::Cached => format!(
            "cache check: {} of {} first requests took up to {} tokens from the cache (head {})\n",
            c.over_head,
            c.requests,
            c.max_cached.unwrap_or(0),
            c.head_tokens
        ),
    }
}

fn warmup_line(h: &Hygiene) -> String {
    let Some(w) = h.warmup.as_ref().filter(|w| w.mode == "auto") else {
        return String::new();
    };
    let how = match w.steady {
        Some(true) => "steady",
        _ => "NOT steady: a cap ended it",
    };
    let rates: Vec<String> = w.rates_tok_s.iter().map(|r| format!("{r:.0}")).collect();
    format!(
        "warm-up auto: {} requests in {:.1} s, {how} (decode tok/s: {})\n",
        w.requests,
        w.seconds,
        rates.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use stackbench_core::hygiene::{
        CacheCheck, CacheReset, RunFlag, RunFlagKind, ServerBefore, WarmupReport,
    };

    use super::*;

    #[test]
    fn the_summary_says_what_was_reset_proven_warmed_and_flagged() {
        let mut run: RunFile =
            serde_json::from_str(include_str!("../tests/fixtures/run-v2-sim.json"))
                .unwrap_or_else(|e| panic!("fixture: {e}"));
        assert_eq!(hygiene_lines(&run), "");
        run.hygiene = Some(Hygiene {
            reset: Some(CacheReset {
                how: "vllm POST /reset_prefix_cache".into(),
                detail: "HTTP 200, \"success\": true".into(),
                ms: 4.2,
                cold_load_ms: None,
                proven: Some(true),
            }),
            cache_check: Some(CacheCheck {
                source: "usage".into(),
                requests: 4,
                head_tokens: 34,
                max_cached: Some(0),
                min_cached: Some(0),
                over_head: 0,
                verdict: CacheVerdict::Clean,
                hit_pct: None,
            }),
            warmup: Some(WarmupReport {
                mode: "auto".into(),
                requests: 4,
                seconds: 6.6,
                rates_tok_s: vec![58.0, 63.0, 66.0, 65.0],
                steady: Some(true),
                rule: None,
            }),
            before: Some(ServerBefore {
                never_served: Some(true),
                ..Default::default()
            }),
            flags: vec![RunFlag {
                kind: RunFlagKind::Unsteady,
                text: "moved".into(),
            }],
            ..Hygiene::default()
        });
        let text = hygiene_lines(&run);
        for line in [
            "cache reset: vllm POST /reset_prefix_cache in 4 ms; HTTP 200, \"success\": true; proven: the first request reported 0 cached prompt tokens\n",
            "cache check: clean (4 first requests took 0–0 tokens from the cache, at most the 34-token head every prompt shares)\n",
            "warm-up auto: 4 requests in 6.6 s, steady (decode tok/s: 58, 63, 66, 65)\n",
            "server: had generated nothing since it started (a cold engine: warm it up, --warmup-requests auto)\n",
            "FLAGGED unsteady: moved\n",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
    }
}
