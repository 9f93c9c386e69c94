//! The history as tables ([`metric_table`], typed, so the HTML page shows
//! the same) and as Markdown ([`markdown`]): per stack and scenario, one
//! table per metric with each point's time, image, version and host, its
//! value and interval, the change from the point before and the verdict,
//! change points marked; and the change points listed first, each with
//! the points on either side.

use crate::markdown::grid;
use crate::table::{Cell, Table};

use super::{GroupHistory, History, MetricHistory, Point, PointValue, Step};
use crate::compare::{MetricKey, Verdict};

/// The marker a change point carries in tables and on charts.
pub const CHANGE_MARK: &str = "◆ change point";

fn fmt(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// The image cell: tag and short ID, else the ID alone.
fn image_cell(p: &Point) -> Cell {
    match (&p.image, p.short_id()) {
        (Some(i), Some(id)) => Cell::text(format!("{i} ({id})")),
        (Some(i), None) => Cell::text(i.clone()),
        (None, Some(id)) => Cell::text(id),
        (None, None) => Cell::missing(),
    }
}

fn opt_text(s: &Option<String>) -> Cell {
    s.clone().map_or_else(Cell::missing, Cell::text)
}

fn change_cells(key: MetricKey, step: Option<&Step>) -> [Cell; 3] {
    let Some(s) = step else {
        return [Cell::missing(), Cell::missing(), Cell::missing()];
    };
    let unit = if key.in_points() { " pp" } else { "%" };
    let change = s.pct.map_or_else(Cell::missing, |x| {
        if key.in_points() {
            Cell::text(format!("{x:+.1} pp"))
        } else {
            Cell::figure(format!("{x:+.1}%"))
        }
    });
    let ci = s.interval.map_or_else(Cell::missing, |[lo, hi]| {
        Cell::text(format!("[{lo:+.1}, {hi:+.1}]{unit}"))
    });
    let verdict = match (&s.why, s.change_point) {
        _ if !s.workload_changed.is_empty() => format!(
            "not judged: the workload changed ({})",
            stackbench_core::workload::join(&s.workload_changed)
        ),
        (_, true) => format!("{} {CHANGE_MARK}", s.verdict.text()),
        (Some(why), false) => format!("{}: {why}", s.verdict.text()),
        (None, false) => s.verdict.text().into(),
    };
    [change, ci, Cell::text(verdict)]
}

fn row(p: &Point, key: MetricKey, v: &PointValue) -> Vec<Cell> {
    let [change, ci, verdict] = change_cells(key, v.change.as_ref());
    vec![
        Cell::figure(p.number.to_string()),
        Cell::text(p.started_at.clone()),
        image_cell(p),
        opt_text(&p.version),
        Cell::text(p.host.clone()),
        Cell::figure(v.samples.to_string()),
        v.value.map_or_else(Cell::missing, |x| Cell::figure(fmt(x))),
        v.interval.map_or_else(Cell::missing, |[lo, hi]| {
            Cell::text(format!("{}–{}", fmt(lo), fmt(hi)))
        }),
        change,
        ci,
        verdict,
    ]
}

/// One metric of one group as a table, a row per point.
pub fn metric_table(g: &GroupHistory, m: &MetricHistory) -> Table {
    let rows = g
        .points
        .iter()
        .zip(&m.values)
        .map(|(p, v)| row(p, m.key, v))
        .collect();
    Table::new(
        &[
            "point",
            "started (UTC)",
            "image",
            "version",
            "host",
            "n",
            "value",
            "95% CI",
            "vs previous",
            "95% CI of change",
            "verdict",
        ],
        rows,
    )
}

/// The line under a metric's heading: threshold and direction.
pub fn metric_caption(m: &MetricHistory) -> String {
    let unit = if m.key.in_points() { " points" } else { "%" };
    let better = match m.better {
        crate::compare::Better::Higher => "higher is better",
        crate::compare::Better::Lower => "lower is better",
        crate::compare::Better::Neither => {
            "neither way is better: a change beyond it reads *changed*, not a change point"
        }
    };
    format!(
        "{} (`{}`): a change point needs the whole 95% interval of the change beyond ±{}{unit}, {better}.",
        m.name, m.key, m.threshold,
    )
}

/// One change point as a sentence.
pub fn change_line(c: &super::ChangePoint) -> String {
    let pct = match (c.pct, c.key.in_points()) {
        (Some(x), true) => format!(" {x:+.1} pp"),
        (Some(x), false) => format!(" {x:+.1}%"),
        (None, _) => String::new(),
    };
    let ci = c
        .interval
        .map(|[lo, hi]| format!(" (95% CI [{lo:+.1}, {hi:+.1}])"))
        .unwrap_or_default();
    format!(
        "{} / {}: `{}` {}{pct}{ci} from {} to {}",
        c.stack,
        c.scenario,
        c.key,
        c.verdict.text(),
        c.before,
        c.after
    )
}

/// A series' name: stack (with its quantization) and scenario.
pub fn title(g: &GroupHistory) -> String {
    if g.quantization.is_empty() {
        format!("{} / {}", g.stack, g.scenario)
    } else {
        format!("{} {} / {}", g.stack, g.quantization, g.scenario)
    }
}

/// The history as Markdown.
pub fn markdown(h: &History) -> String {
    let points: usize = h.groups.iter().map(|g| g.points.len()).sum();
    let regressed = h
        .change_points
        .iter()
        .filter(|c| c.verdict == Verdict::Regressed)
        .count();
    let mut out = format!(
        "## stackbench history\n\n{} runs, {points} points over {} stack/scenario series; {} change points ({regressed} regressed). A point is one folder's runs of one stack and scenario (a suite's repeats together); each is judged against the point before it as `compare` would judge the two.\n",
        h.runs,
        h.groups.len(),
        h.change_points.len(),
    );
    if !h.change_points.is_empty() {
        out += "\n";
        for c in &h.change_points {
            out += &format!("- {CHANGE_MARK}: {}\n", change_line(c));
        }
    }
    for g in &h.groups {
        out += &format!("\n### {} ({} points)\n", title(g), g.points.len());
        for m in &g.metrics {
            out += &format!("\n{}\n\n", metric_caption(m));
            out += &grid(&metric_table(g, m));
        }
    }
    out
}
