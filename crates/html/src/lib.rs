//! `stackbench report`: one self-contained HTML file of SVG charts and
//! the comparison tables from any set of runs, plus HdrHistogram `.hgrm`
//! percentile files of every run's latencies and rates.
//!
//! Charts are drawn with `plotters` (SVG backend, no font features): a
//! well-kept plotting library whose axes, ticks and legends we need not
//! hand-write, and whose SVG needs nothing at view time. See `chart` for
//! the one chart type, `figures` for which charts a set of runs makes,
//! `page` for the HTML around them.

pub mod chart;
pub mod figures;
pub mod page;

use stackbench_core::histogram::LatencyHistograms;
use stackbench_core::run_file::RunFile;

pub use chart::ChartError;
use figures::{Figure, Latency};
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

/// A run's short name: stack, scenario (or `c<N>`), and the repeat when
/// the report holds repeats.
fn run_name(r: &RunFile, repeats: bool) -> String {
    let scenario = r.suite.as_ref().map_or_else(
        || stackbench_report::level_label(&r.load),
        |s| s.scenario.clone(),
    );
    let repeat = r
        .suite
        .as_ref()
        .filter(|_| repeats)
        .map_or_else(String::new, |s| format!(" r{}", s.repeat));
    format!("{} / {scenario}{repeat}", figures::stack_name(r))
}

fn hgrm_files(k: usize, name: &str, r: &RunFile) -> Vec<(String, String)> {
    let Ok(h) = LatencyHistograms::deserialize(&r.histograms) else {
        return Vec::new();
    };
    let folder = format!(
        "hgrm/{k:02}-{}",
        safe(&name.replace(" / ", "-").replace(' ', "-"))
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
    }
    Ok(out + "</section>\n")
}

/// Renders the report of `runs`; `sources` are the folders as the user
/// named them, `generated` the time to print.
pub fn render(
    runs: &[ReportRun],
    sources: &[String],
    generated: &str,
) -> Result<Report, ChartError> {
    let files: Vec<&RunFile> = runs.iter().map(|r| &r.file).collect();
    let order = figures::stack_order(&files);
    let levels = figures::levels(&files);
    let mut charts = 0;
    let mut body = String::new();
    let owned: Vec<RunFile> = files.iter().map(|r| (*r).clone()).collect();
    body += &format!(
        "<section>\n<h2>Tables</h2>\n{}</section>\n",
        page::markdown_tables(&stackbench_report::comparison_tables(&owned))
    );
    if levels.len() > 1 {
        body += &section(
            "Across concurrency levels",
            &[
                figures::throughput_vs_interactivity(&order, &files),
                figures::throughput_vs_concurrency(&order, &files),
            ],
            &mut charts,
        )?;
    }
    for &c in &levels {
        let at: Vec<&RunFile> = files
            .iter()
            .copied()
            .filter(|r| r.load.concurrency == c && r.load.request_rate.is_none())
            .collect();
        let title = if c == 1 {
            "Single user (c=1)".to_string()
        } else {
            format!("{c} concurrent users")
        };
        body += &section(
            &title,
            &[
                figures::decode_histogram(&order, &at, c),
                figures::percentile_curve(&order, &at, c, Latency::Ttft),
                figures::percentile_curve(&order, &at, c, Latency::Itl),
                figures::tok_s_over_time(&order, &at, c),
            ],
            &mut charts,
        )?;
    }
    let mut hgrm = Vec::new();
    let mut rows = String::new();
    let repeats = files
        .iter()
        .any(|r| r.suite.as_ref().is_some_and(|s| s.repeat > 1));
    for (k, r) in runs.iter().enumerate() {
        let name = run_name(&r.file, repeats);
        let files = hgrm_files(k, &name, &r.file);
        let links: Vec<String> = files
            .iter()
            .map(|(p, _)| {
                let name = p.rsplit('/').next().unwrap_or(p);
                format!("<a href=\"{}\">{}</a>", esc(p), esc(name))
            })
            .collect();
        rows += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>\n",
            esc(&name),
            esc(&r.file.started_at),
            if r.file.complete { "yes" } else { "no" },
            esc(&r.dir),
            links.join(" ")
        );
        hgrm.extend(files);
    }
    body += &format!(
        "<section>\n<h2>Runs</h2>\n<p>Percentile files (<code>.hgrm</code>, HdrHistogram's text format: load them into HdrHistogram's plotter to overlay runs) are next to this page.</p>\n<table>\n<thead><tr><th>run</th><th>started</th><th>complete</th><th>folder</th><th>.hgrm</th></tr></thead>\n<tbody>\n{rows}</tbody>\n</table>\n</section>\n"
    );
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>stackbench report</title>\n<style>\n{}\n</style>\n</head>\n<body>\n<h1>stackbench report</h1>\n<p class=\"meta\">{} runs from {}; generated {} by stackbench {}.</p>\n{body}<footer class=\"meta\" id=\"self-check\"></footer>\n<script>\n{}\n</script>\n</body>\n</html>\n",
        page::STYLE,
        runs.len(),
        esc(&sources.join(", ")),
        esc(generated),
        env!("CARGO_PKG_VERSION"),
        page::SELF_CHECK,
    );
    Ok(Report { html, hgrm, charts })
}
