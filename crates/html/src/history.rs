//! The page of `stackbench history`: the change points first, then per
//! stack and scenario, per metric, the trend chart (see `trend`) above the
//! same table the Markdown shows (`stackbench_report::history::render`).
//! Self-contained like the report page: its style, its self-check script,
//! inline SVG, nothing fetched.

use stackbench_report::compare::Verdict;
use stackbench_report::history::render::{change_line, metric_caption, metric_table, title};
use stackbench_report::history::{GroupHistory, History, MetricHistory};

use crate::chart::ChartError;
use crate::page::{esc, SELF_CHECK, STYLE};
use crate::trend::{TrendChart, TrendMark, TrendPoint};

/// The trend chart of one metric of one group.
pub fn trend(g: &GroupHistory, m: &MetricHistory) -> TrendChart {
    let points = m
        .values
        .iter()
        .filter_map(|v| {
            Some(TrendPoint {
                number: v.point,
                value: v.value?,
                interval: v.interval.map(|[lo, hi]| (lo, hi)),
            })
        })
        .collect();
    let unit = if m.key.in_points() { " pp" } else { "%" };
    let marks = m
        .values
        .iter()
        .filter_map(|v| {
            let s = v.change.as_ref().filter(|s| s.change_point)?;
            Some(TrendMark {
                to: v.point,
                improved: s.verdict == Verdict::Improved,
                text: s.pct.map_or_else(String::new, |x| format!("{x:+.1}{unit}")),
            })
        })
        .collect();
    TrendChart {
        title: format!("{} — {}", title(g), m.name),
        y_label: m.key.name().into(),
        points,
        marks,
    }
}

fn metric_section(g: &GroupHistory, m: &MetricHistory) -> Result<(String, bool), ChartError> {
    let chart = trend(g, m);
    let mut out = format!("<h4>{}</h4>\n", esc(&m.name));
    let drawn = !chart.is_empty();
    if drawn {
        out += &format!(
            "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>\n",
            chart.svg()?,
            esc(&metric_caption(m).replace('`', ""))
        );
    } else {
        out += "<p class=\"meta\">no data (no request finished).</p>\n";
    }
    out += &crate::tables::table(&metric_table(g, m));
    Ok((out, drawn))
}

/// What the page holds.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    /// The page.
    pub html: String,
    /// Charts drawn.
    pub charts: usize,
}

/// The page of `h`, made from `sources` at `generated`.
pub fn page(h: &History, sources: &[String], generated: &str) -> Result<HistoryPage, ChartError> {
    let mut body = String::new();
    if h.change_points.is_empty() {
        body += "<p>No change points.</p>\n";
    } else {
        body += "<h2>Change points</h2>\n<ul>\n";
        for c in &h.change_points {
            body += &format!("<li>{}</li>\n", esc(&change_line(c).replace('`', "")));
        }
        body += "</ul>\n";
    }
    let mut charts = 0;
    for g in &h.groups {
        body += &format!(
            "<section>\n<h2>{} ({} points)</h2>\n",
            esc(&title(g)),
            g.points.len()
        );
        for m in &g.metrics {
            let (html, drawn) = metric_section(g, m)?;
            body += &html;
            charts += usize::from(drawn);
        }
        body += "</section>\n";
    }
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>stackbench history</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n<h1>stackbench history</h1>\n<p class=\"meta\">{} runs from {}; generated {} by stackbench {}. A point is one folder's runs of one stack and scenario; error bars are 95% bootstrap intervals; a change point is a point that <code>compare</code> would call regressed or improved against the point before it.</p>\n{body}<footer class=\"meta\" id=\"self-check\"></footer>\n<script>\n{SELF_CHECK}\n</script>\n</body>\n</html>\n",
        h.runs,
        esc(&sources.join(", ")),
        esc(generated),
        env!("CARGO_PKG_VERSION"),
    );
    Ok(HistoryPage { html, charts })
}
