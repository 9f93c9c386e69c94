//! The comparison as Markdown (a pull-request comment; reads well in a
//! terminal too) and as JUnit XML (one test case per metric and pair).

use crate::table::{Cell, Table};

use super::measure::{MetricResult, Verdict};
use super::pair::Comparison;

fn fmt(x: Option<f64>) -> String {
    match x {
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
        None => "-".into(),
    }
}

/// One row of a pair's table. A change in % is a figure; one in
/// percentage points (the error rate) carries its unit, as text.
fn metric_row(m: &MetricResult) -> Vec<Cell> {
    let figure = |x: Option<f64>| x.map_or_else(Cell::missing, |_| Cell::figure(fmt(x)));
    let change = match (m.change, m.key.in_points()) {
        (None, _) => Cell::missing(),
        (Some(x), false) => Cell::figure(format!("{x:+.1}%")),
        (Some(x), true) => Cell::text(format!("{x:+.1} pp")),
    };
    let unit = if m.key.in_points() { " pp" } else { "%" };
    vec![
        Cell::text(m.name.clone()),
        figure(m.base),
        figure(m.candidate),
        change,
        m.interval.map_or_else(Cell::missing, |[lo, hi]| {
            Cell::text(format!("[{lo:+.1}, {hi:+.1}]"))
        }),
        Cell::text(format!("±{}{unit}", m.threshold)),
        Cell::text(match &m.why {
            Some(why) => format!("{}: {why}", m.verdict.text()),
            None => m.verdict.text().into(),
        }),
    ]
}

/// A pair's metrics as a table.
pub fn metrics_table(metrics: &[MetricResult]) -> Table {
    Table::new(
        &[
            "metric",
            "baseline",
            "candidate",
            "change",
            "95% CI",
            "threshold",
            "verdict",
        ],
        metrics.iter().map(metric_row).collect(),
    )
}

/// The comparison as Markdown (a pull-request comment; reads well in a
/// terminal too).
pub fn markdown(c: &Comparison) -> String {
    let (reg, imp) = c
        .pairs
        .iter()
        .flat_map(|p| &p.metrics)
        .fold((0, 0), |(r, i), m| match m.verdict {
            Verdict::Regressed => (r + 1, i),
            Verdict::Improved => (r, i + 1),
            _ => (r, i),
        });
    let mut out = format!(
        "## stackbench compare: {}\n\n{reg} regressed, {imp} improved, over {} stack/scenario pairs. A change counts only when its whole 95% bootstrap interval lies beyond the threshold.\n",
        if c.regressed { "REGRESSED" } else { "no regression" },
        c.pairs.len()
    );
    for p in &c.pairs {
        out += &format!("\n### {} / {}\n\n", p.stack, p.scenario);
        if p.base_runs > 1 || p.candidate_runs > 1 {
            out += &format!(
                "{} baseline and {} candidate repeats together (intervals draw repeats, then requests).\n\n",
                p.base_runs, p.candidate_runs
            );
        }
        for m in &p.mismatches {
            out += &format!("- **workload mismatch** (compared with --allow-mismatch): {m}\n");
        }
        for f in &p.flags {
            out += &format!("- **flag**: {f}\n");
        }
        if !p.mismatches.is_empty() || !p.flags.is_empty() {
            out += "\n";
        }
        out += &crate::markdown::grid(&metrics_table(&p.metrics));
    }
    for u in &c.unmatched {
        out += &format!("\nnot compared (no counterpart): {u}\n");
    }
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The comparison as JUnit XML: one test case per metric and pair, failing
/// when it regressed.
pub fn junit(c: &Comparison) -> String {
    let cases: Vec<(String, &MetricResult)> = c
        .pairs
        .iter()
        .flat_map(|p| {
            p.metrics
                .iter()
                .map(move |m| (format!("{}.{}", p.stack, p.scenario), m))
        })
        .collect();
    let failures = cases
        .iter()
        .filter(|(_, m)| m.verdict == Verdict::Regressed)
        .count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"stackbench compare\" tests=\"{}\" failures=\"{failures}\">\n  <testsuite name=\"stackbench compare\" tests=\"{}\" failures=\"{failures}\">\n",
        cases.len(),
        cases.len()
    );
    for (class, m) in &cases {
        out += &format!(
            "    <testcase classname=\"{}\" name=\"{}\"",
            xml_escape(class),
            xml_escape(m.key.name())
        );
        if m.verdict == Verdict::Regressed {
            let msg = format!(
                "{}: {} -> {} ({}; 95% CI {}; threshold {})",
                m.name,
                fmt(m.base),
                fmt(m.candidate),
                m.change.map_or("-".into(), |x| format!("{x:+.1}")),
                m.interval
                    .map_or("-".into(), |[lo, hi]| format!("[{lo:+.1}, {hi:+.1}]")),
                m.threshold
            );
            out += &format!(
                ">\n      <failure message=\"{}\"/>\n    </testcase>\n",
                xml_escape(&msg)
            );
        } else {
            out += "/>\n";
        }
    }
    out += "  </testsuite>\n</testsuites>\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{Better, MetricKey, PairResult};

    #[test]
    fn junit_escapes_and_counts_failures() {
        let m = MetricResult {
            key: MetricKey::TtftP50Ms,
            name: "TTFT <p50>".into(),
            better: Better::Lower,
            base: Some(10.0),
            candidate: Some(20.0),
            change: Some(100.0),
            interval: Some([80.0, 120.0]),
            threshold: 10.0,
            verdict: Verdict::Regressed,
            why: None,
        };
        let c = Comparison {
            pairs: vec![PairResult {
                stack: "a&b".into(),
                scenario: "c1".into(),
                base_dir: String::new(),
                candidate_dir: String::new(),
                base_runs: 1,
                candidate_runs: 1,
                mismatches: vec![],
                flags: vec![],
                metrics: vec![m],
            }],
            unmatched: vec![],
            regressed: true,
        };
        let x = junit(&c);
        assert!(x.contains("failures=\"1\""), "{x}");
        assert!(x.contains("classname=\"a&amp;b.c1\""), "{x}");
        assert!(x.contains("TTFT &lt;p50&gt;"), "{x}");
    }
}
