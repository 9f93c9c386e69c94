//! `stackbench report`: one self-contained HTML file of SVG charts and
//! the comparison tables from any set of runs, plus HdrHistogram `.hgrm`
//! percentile files of every run's latencies and rates.
//!
//! Charts are drawn with `plotters` (SVG backend, no font features): a
//! well-kept plotting library whose axes, ticks and legends we need not
//! hand-write, and whose SVG needs nothing at view time. See `chart` for
//! the one chart type, `figures` for which charts a set of runs makes,
//! `tables` for `stackbench_report`'s typed tables as HTML, `page` for the
//! HTML around them; `history` and `trend` are the page and chart of
//! `stackbench history`. A run whose histograms do not decode is named under
//! each chart it is missing from and in [`Report::warnings`]. Runs shown
//! together that ran different workloads are listed under the tables
//! (`stackbench_report::workload`).

pub mod chart;
mod depth_figures;
pub mod figures;
pub mod history;
pub mod page;
mod replay;
pub mod tables;
pub mod trend;

use stackbench_core::identity::{closed_levels, StackEntry};
use stackbench_core::run_file::RunFile;
use stackbench_report::workload::{self, Mismatch, Shown};

pub use chart::ChartError;
use figures::{Figure, Latency, RunView};
use page::esc;

/// One run to report on.
#[derive(Debug, Clone)]
pub struct ReportRun {
    /// Its folder, as given.
    pub dir: String,
    /// Its `run.json`.
    pub file: RunFile,
}

/// What `render` made.
#[derive(Debug, Clone)]
pub struct Report {
    /// The page.
    pub html: String,
    /// `.hgrm` files: path relative to the page, contents.
    pub hgrm: Vec<(String, String)>,
    /// Charts on the page.
    pub charts: usize,
    /// What the page could not show and says so (a run whose histograms do
    /// not decode), one line each: the CLI prints them on stderr.
    pub warnings: Vec<String>,
}

/// The histograms written as `.hgrm`, with their file name and the
/// divisor that gives the unit the name says.
const HGRM: &[(&str, f64)] = &[
    ("ttft_ms", 1000.0),
    ("itl_ms", 1000.0),
    ("tpot_ms", 1000.0),
    ("e2e_ms", 1000.0),
    ("decode_tok_s", 1000.0),
];

fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn hgrm_files(k: usize, v: &RunView<'_>) -> Vec<(String, String)> {
    let Ok(h) = &v.hists else {
        return Vec::new();
    };
    let folder = format!(
        "hgrm/{k:02}-{}",
        safe(&v.name.replace(" / ", "-").replace(' ', "-"))
    );
    let hists = [&h.ttft_us, &h.itl_us, &h.tpot_us, &h.e2e_us, &h.decode_mtps];
    HGRM.iter()
        .zip(hists)
        .filter(|(_, h)| !h.is_empty())
        .map(|((name, scale), h)| (format!("{folder}/{name}.hgrm"), h.hgrm(*scale)))
        .collect()
}

fn figure_html(f: &Figure) -> Result<String, ChartError> {
    Ok(format!(
        "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>\n",
        f.chart.svg()?,
        esc(&f.caption)
    ))
}

/// The line under a chart that names the runs it should hold and does not.
fn left_out_html(f: &Figure) -> String {
    if f.left_out.is_empty() {
        return String::new();
    }
    format!(
        "<p class=\"warning\">Not in this chart: {} (the histograms in run.json do not decode).</p>\n",
        esc(&f.left_out.join(", "))
    )
}

fn section(title: &str, figs: &[Figure], charts: &mut usize) -> Result<String, ChartError> {
    let mut out = format!("<section>\n<h2>{}</h2>\n", esc(title));
    for f in figs {
        if f.chart.is_empty() {
            out += &format!(
                "<p class=\"meta\">{}: no data (no request finished).</p>\n",
                esc(&f.chart.title)
            );
        } else {
            out += &figure_html(f)?;
            *charts += 1;
        }
        out += &left_out_html(f);
    }
    Ok(out + "</section>\n")
}

/// The chart sections: across levels when there are several, then one per
/// closed-loop level.
fn chart_sections(
    order: &[StackEntry],
    views: &[RunView<'_>],
    charts: &mut usize,
) -> Result<String, ChartError> {
    let levels = closed_levels(views.iter().map(|v| v.file));
    let mut out = String::new();
    if levels.len() > 1 {
        let all: Vec<&RunView<'_>> = views.iter().collect();
        out += &section(
            "Across concurrency levels",
            &[
                figures::throughput_vs_interactivity(order, &all),
                figures::throughput_vs_concurrency(order, &all),
            ],
            charts,
        )?;
    }
    for &c in &levels {
        let at = figures::at_level(views, c);
        let title = if c == 1 {
            "Single user (c=1)".to_string()
        } else {
            format!("{c} concurrent users")
        };
        let mut figs = vec![
            figures::decode_histogram(order, &at, c),
            figures::percentile_curve(order, &at, c, Latency::Ttft),
            figures::percentile_curve(order, &at, c, Latency::Itl),
            figures::tok_s_over_time(order, &at, c),
        ];
        figs.extend(figures::ttft_by_turn(order, &at, c));
        figs.extend(depth_figures::against_depth_figures(order, &at));
        out += &section(&title, &figs, charts)?;
    }
    Ok(out)
}

/// The list of runs with their `.hgrm` links, and the `.hgrm` files.
fn runs_section(runs: &[ReportRun], views: &[RunView<'_>]) -> (String, Vec<(String, String)>) {
    let mut hgrm = Vec::new();
    let mut rows = String::new();
    for (k, (r, v)) in runs.iter().zip(views).enumerate() {
        let files = hgrm_files(k, v);
        let links: Vec<String> = files
            .iter()
            .map(|(p, _)| {
                let name = p.rsplit('/').next().unwrap_or(p);
                format!("<a href=\"{}\">{}</a>", esc(p), esc(name))
            })
            .collect();
        let links = match &v.hists {
            Ok(_) => links.join(" "),
            Err(e) => format!(
                "<span class=\"warning\">histograms do not decode: {}</span>",
                esc(&e.to_string())
            ),
        };
        rows += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{links}</td></tr>\n",
            esc(&v.name),
            esc(&r.file.started_at),
            if r.file.complete { "yes" } else { "no" },
            esc(&r.dir),
        );
        hgrm.extend(files);
    }
    let html = format!(
        "<section>\n<h2>Runs</h2>\n<p>Percentile files (<code>.hgrm</code>, HdrHistogram's text format: load them into HdrHistogram's plotter to overlay runs) are next to this page.</p>\n<table>\n<thead><tr><th>run</th><th>started</th><th>complete</th><th>folder</th><th>.hgrm</th></tr></thead>\n<tbody>\n{rows}</tbody>\n</table>\n</section>\n"
    );
    (html, hgrm)
}

/// One warning per run whose histograms do not decode.
fn warnings(runs: &[ReportRun], views: &[RunView<'_>]) -> Vec<String> {
    runs.iter()
        .zip(views)
        .filter_map(|(r, v)| {
            let e = v.hists.as_ref().err()?;
            Some(format!(
                "{} ({}): the histograms in run.json do not decode ({e}); the run is left out of the decode-rate histograms, the percentile curves and the .hgrm files",
                r.dir, v.name
            ))
        })
        .collect()
}

/// The workload differences among `runs` (see
/// [`stackbench_report::workload`]): what the page lists, and what
/// `stackbench report` refuses without `--allow-mismatch`.
pub fn mismatches(runs: &[ReportRun]) -> Vec<Mismatch> {
    let shown: Vec<Shown<'_>> = runs
        .iter()
        .map(|r| Shown {
            dir: &r.dir,
            file: &r.file,
        })
        .collect();
    workload::mismatches(&shown)
}

/// Renders the report of `runs`; `sources` are the folders as the user
/// named them, `generated` the time to print. Workload differences among
/// the runs are listed under the tables and in [`Report::warnings`], not
/// refused (`stackbench report` refuses them first unless
/// `--allow-mismatch`).
pub fn render(
    runs: &[ReportRun],
    sources: &[String],
    generated: &str,
) -> Result<Report, ChartError> {
    let files: Vec<&RunFile> = runs.iter().map(|r| &r.file).collect();
    let (order, views) = figures::views(&files);
    let mismatches = mismatches(runs);
    let mut warnings = warnings(runs, &views);
    warnings.extend(
        mismatches
            .iter()
            .map(|m| format!("ran different workloads: {m}")),
    );
    let mut tables = stackbench_report::tables::comparison(&files);
    tables.notes.extend(workload::notes(&mismatches));
    let mut body: String = warnings
        .iter()
        .map(|w| format!("<p class=\"warning\">warning: {}</p>\n", esc(w)))
        .collect();
    body += &format!(
        "<section>\n<h2>Tables</h2>\n{}</section>\n",
        tables::tables(&tables)
    );
    let mut charts = 0;
    body += &chart_sections(&order, &views, &mut charts)?;
    body += &replay::section(runs);
    let (list, hgrm) = runs_section(runs, &views);
    body += &list;
    let html = page::document(&body, runs.len(), sources, generated);
    Ok(Report {
        html,
        hgrm,
        charts,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(edit: impl FnOnce(&mut RunFile)) -> ReportRun {
        let mut file: RunFile =
            serde_json::from_str(include_str!("../../report/tests/fixtures/run-v2-sim.json"))
                .unwrap_or_else(|e| panic!("fixture: {e}"));
        edit(&mut file);
        ReportRun {
            dir: "results/x".into(),
            file,
        }
    }

    #[test]
    fn a_trace_replay_shows_its_fidelity_sessions_and_tools() {
        use stackbench_core::replay::*;
        let plain = render(&[run(|_| {})], &[], "now").unwrap().html;
        assert!(!plain.contains("Trace replays"));
        let replayed = run(|f| {
            f.load.trace = Some(TraceLoad {
                format: "mooncake".into(),
                source: "embedded:mooncake".into(),
                sha256: "ab".repeat(32),
                file_entries: 200,
                entries: 60,
                window_s: None,
                speed: 20.0,
                scale: 0.0625,
                max_input: None,
                max_output: None,
                inputs_capped: 0,
                outputs_capped: 0,
                links_cut: 0,
                block_tokens: Some(32),
                span_s: 1.0,
                no_tools: false,
            });
            let mut r = ReplayReport::default();
            r.arrival.sent = 58;
            r.arrival.entries = 60;
            r.arrival.dropped = 2;
            r.cache.expected_pct = Some(75.6);
            r.cache.achieved_pct = Some(57.7);
            r.sessions = Some(SessionFigures {
                sessions: 4,
                completed: 3,
                ..Default::default()
            });
            r.tools = Some(ToolFigures {
                requests: 18,
                calls: 5,
                ..Default::default()
            });
            r.shortfalls = vec!["2 of 60 trace requests were not sent".into()];
            f.replay = Some(r);
        });
        let html = render(&[replayed], &[], "now").unwrap().html;
        for part in [
            "Trace replays",
            "58 of 60 (2 dropped)",
            "75.6 / 57.7",
            "3 of 4 completed",
            "18 offered, 5 calls",
            "2 of 60 trace requests were not sent",
        ] {
            assert!(html.contains(part), "{part}");
        }
    }

    #[test]
    fn a_run_whose_histograms_do_not_decode_is_named_not_dropped() {
        let good = run(|_| {});
        let bad = run(|f| {
            if let Some(s) = f.stack.as_mut() {
                s.name = "sim-ollama-q4km".into();
                s.label = Some("Ollama".into());
            }
            f.target.quantization = Some("Q4_K_M".into());
            f.histograms.ttft = "not base64 at all".into();
        });
        let report =
            render(&[good, bad], &["results".into()], "now").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
        let w = &report.warnings[0];
        assert!(
            w.starts_with(
                "results/x (Ollama Q4_K_M / c1): the histograms in run.json do not decode ("
            ),
            "{w}"
        );
        assert!(w.contains("left out of the decode-rate histograms"), "{w}");
        let html = &report.html;
        assert!(html.contains("<p class=\"warning\">warning: results/x (Ollama Q4_K_M / c1)"));
        // Under each of the three histogram charts at c=1.
        assert_eq!(
            html.matches(
                "Not in this chart: Ollama Q4_K_M / c1 (the histograms in run.json do not decode)."
            )
            .count(),
            3,
            "{html}"
        );
        assert!(html.contains("histograms do not decode:"), "runs table");
        // The good run's files are still written; the bad run has none.
        assert!(!report.hgrm.is_empty());
        assert!(report.hgrm.iter().all(|(p, _)| p.starts_with("hgrm/00-")));
    }

    #[test]
    fn a_reasoning_conversation_shows_its_ttfat_share_and_turns() {
        let plain =
            render(&[run(|_| {})], &["results".into()], "now").unwrap_or_else(|e| panic!("{e}"));
        assert!(!plain.html.contains("TTFAT"), "no reasoning, no column");
        let multi = run(|f| {
            let s = &mut f.summary;
            s.reasoning_requests = 4;
            s.reasoning_share = Some(0.6);
            s.ok_output_tokens = 384;
            s.ttfat_ms.p50 = Some(410.0);
            s.turns = (1..=2u32)
                .map(|turn| {
                    let mut t = stackbench_core::summary::TurnSummary {
                        turn,
                        requests: 2,
                        ..Default::default()
                    };
                    t.ttft_ms.p50 = Some(60.0);
                    t
                })
                .collect();
        });
        let report = render(&[multi], &["results".into()], "now").unwrap_or_else(|e| panic!("{e}"));
        let html = &report.html;
        assert!(
            html.contains("<th class=\"num\">TTFAT p50 ms</th><th class=\"num\">reasoning %</th>"),
            "{html}"
        );
        assert!(html.contains("<td class=\"num\">60.0</td>"), "{html}");
        assert!(html.contains("TTFT by turn, c=1"), "{html}");
        assert_eq!(report.charts, plain.charts + 1);
    }

    #[test]
    fn runs_of_different_workloads_are_listed_under_the_tables_and_warned_about() {
        let a = run(|_| {});
        let mut b = run(|f| {
            f.load.ignore_eos = false;
            if let Some(s) = f.suite.as_mut() {
                s.repeat = 2;
            }
        });
        b.dir = "results/y".into();
        let report = render(&[a, b], &["results".into()], "now").unwrap_or_else(|e| panic!("{e}"));
        let line = "results/x (sim-vllm-nvfp4 / c1) and results/y (sim-vllm-nvfp4 / c1, repeat 2) (pooled into one row): ignore_eos true vs false";
        assert_eq!(
            report.warnings,
            [format!("ran different workloads: {line}")]
        );
        assert!(
            report
                .html
                .contains(&format!("<p class=\"note\">- {line}</p>")),
            "{}",
            report.html
        );
        assert!(report
            .html
            .contains("<p class=\"note\">Workload differences:"));
    }
}
