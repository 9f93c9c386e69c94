//! The comparison as Markdown (a pull-request comment; reads well in a
//! terminal too) and as JUnit XML (one test case per metric and pair).

use crate::table::{Cell, Table};

use super::gate::{Gate, Outcome};
use super::measure::{MetricResult, Verdict};
use super::pair::{Comparison, PairResult};

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
/// terminal too), headed by the gate's decision and summary line.
pub fn markdown(c: &Comparison, g: &Gate) -> String {
    let imp = c
        .pairs
        .iter()
        .flat_map(|p| &p.metrics)
        .filter(|m| m.verdict == Verdict::Improved)
        .count();
    let mut out = format!(
        "## stackbench compare: {}\n\n{}; {imp} improved, over {} stack/scenario pairs. A change counts only when its whole 95% bootstrap interval lies beyond the threshold.\n",
        match (c.regressed, g.failed) {
            (true, _) => "REGRESSED",
            (false, true) => "GATE FAILED",
            (false, false) => "no regression",
        },
        g.summary.line(g.failed),
        c.pairs.len()
    );
    for p in &c.pairs {
        out += &pair_section(p, g);
    }
    for u in &c.unmatched {
        out += &format!(
            "\nnot compared (no counterpart): {} {} ({}/{})\n",
            u.side, u.dir, u.stack, u.scenario
        );
    }
    out
}

/// One pair's heading, notes and metrics table.
fn pair_section(p: &PairResult, g: &Gate) -> String {
    let mut out = format!("\n### {} / {}\n\n", p.stack, p.scenario);
    if p.base_runs > 1 || p.candidate_runs > 1 {
        out += &format!(
            "{} baseline and {} candidate repeats together (intervals draw repeats, then requests).\n\n",
            p.base_runs, p.candidate_runs
        );
    }
    for m in &p.mismatches {
        out += &format!("- **workload mismatch** (compared with --allow-mismatch): {m}\n");
    }
    let class = format!("{}.{}", p.stack, p.scenario);
    for f in &p.flags {
        let allowed = g.cases.iter().any(|k| {
            k.class == class
                && k.name == format!("flag.{}", f.kind)
                && matches!(k.outcome, Outcome::Passed(_))
        });
        let how = if allowed { "allowed" } else { "fails the gate" };
        out += &format!("- **flag `{}`** ({how}): {}\n", f.kind, f.text);
    }
    if !p.mismatches.is_empty() || !p.flags.is_empty() {
        out += "\n";
    }
    out += &crate::markdown::grid(&metrics_table(&p.metrics));
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The gate as JUnit XML: one test case per metric and pair, per flag and
/// per run without a counterpart; a regression or an unallowed flag
/// fails, what could not be judged is skipped (fails under `--strict`).
pub fn junit(g: &Gate) -> String {
    let n = g.cases.len();
    let failures = g
        .cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Failed(_)))
        .count();
    let skipped = g
        .cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Skipped(_)))
        .count();
    let counts = format!("tests=\"{n}\" failures=\"{failures}\" skipped=\"{skipped}\"");
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"stackbench compare\" {counts}>\n  <testsuite name=\"stackbench compare\" {counts}>\n    <properties>\n      <property name=\"summary\" value=\"{}\"/>\n    </properties>\n",
        xml_escape(&g.summary.line(g.failed))
    );
    for c in &g.cases {
        out += &format!(
            "    <testcase classname=\"{}\" name=\"{}\"",
            xml_escape(&c.class),
            xml_escape(&c.name)
        );
        out += &match &c.outcome {
            Outcome::Passed(None) => "/>\n".to_string(),
            Outcome::Passed(Some(note)) => format!(
                ">\n      <system-out>{}</system-out>\n    </testcase>\n",
                xml_escape(note)
            ),
            Outcome::Failed(msg) => format!(
                ">\n      <failure message=\"{}\"/>\n    </testcase>\n",
                xml_escape(msg)
            ),
            Outcome::Skipped(msg) => format!(
                ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                xml_escape(msg)
            ),
        };
    }
    out += "  </testsuite>\n</testsuites>\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::gate::{gate, Policy};
    use crate::compare::{Better, Flag, FlagKind, MetricKey, Side, Unmatched};

    fn metric(key: MetricKey, verdict: Verdict) -> MetricResult {
        MetricResult {
            key,
            name: "TTFT <p50>".into(),
            better: Better::Lower,
            base: Some(10.0),
            candidate: Some(20.0),
            change: Some(100.0),
            interval: Some([80.0, 120.0]),
            threshold: 10.0,
            verdict,
            why: (verdict == Verdict::InsufficientData).then(|| "3 baseline samples".into()),
        }
    }

    fn comparison(flags: Vec<Flag>) -> Comparison {
        Comparison {
            pairs: vec![PairResult {
                stack: "a&b".into(),
                scenario: "c1".into(),
                base_dir: String::new(),
                candidate_dir: String::new(),
                base_runs: 1,
                candidate_runs: 1,
                mismatches: vec![],
                flags,
                metrics: vec![
                    metric(MetricKey::TtftP50Ms, Verdict::Regressed),
                    metric(MetricKey::TtftP99Ms, Verdict::InsufficientData),
                    metric(MetricKey::E2eP50Ms, Verdict::NoChange),
                ],
            }],
            unmatched: vec![Unmatched {
                side: Side::Candidate,
                stack: "new-stack".into(),
                scenario: "c1".into(),
                dir: "new/new-stack/c1".into(),
            }],
            regressed: true,
        }
    }

    #[test]
    fn junit_fails_regressions_and_skips_what_it_cannot_judge() {
        let c = comparison(vec![]);
        let x = junit(&gate(&c, &Policy::default()));
        assert!(
            x.contains("tests=\"4\" failures=\"1\" skipped=\"2\""),
            "{x}"
        );
        assert!(x.contains("classname=\"a&amp;b.c1\""), "{x}");
        assert!(x.contains("TTFT &lt;p50&gt;"), "{x}");
        assert!(
            x.contains("name=\"ttft_p99_ms\">\n      <skipped message=\"insufficient data: 3 baseline samples"),
            "{x}"
        );
        assert!(
            x.contains("classname=\"new-stack.c1\" name=\"paired\">\n      <skipped message=\"candidate only"),
            "{x}"
        );
        assert!(x.contains("2 judged, 1 regressed, 2 skipped"), "{x}");
        let strict = gate(
            &c,
            &Policy {
                strict: true,
                ..Policy::default()
            },
        );
        let x = junit(&strict);
        assert!(x.contains("failures=\"3\" skipped=\"0\""), "{x}");
    }

    #[test]
    fn a_flag_fails_its_case_unless_allowed() {
        let saturated = Flag {
            kind: FlagKind::Saturated,
            text: "the client was saturated".into(),
        };
        let mut c = comparison(vec![saturated]);
        c.pairs[0].metrics.truncate(0);
        c.unmatched.clear();
        c.regressed = false;
        let g = gate(&c, &Policy::default());
        assert!(g.failed);
        assert_eq!(g.summary.flagged, 1);
        let x = junit(&g);
        assert!(
            x.contains("name=\"flag.saturated\">\n      <failure message=\"the client was saturated (pass --allow saturated"),
            "{x}"
        );
        let allowed = gate(
            &c,
            &Policy {
                allow: vec![FlagKind::Saturated],
                strict: false,
            },
        );
        assert!(!allowed.failed);
        assert_eq!((allowed.summary.flagged, allowed.summary.allowed), (0, 1));
        assert!(junit(&allowed).contains("<system-out>allowed by --allow saturated"));
        assert!(markdown(&c, &allowed).contains("**flag `saturated`** (allowed)"));
    }
}
