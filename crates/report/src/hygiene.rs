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
    if let Some(b) = &h.before {
        if let (Some(true), Some(idle)) = (b.never_served, b.idle_s) {
            out += &format!(
                "server: had generated nothing since it started {idle:.0} s ago (a cold engine)\n"
            );
        }
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
