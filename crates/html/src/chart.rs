//! Chart primitives over plotters' SVG backend: a line chart (with
//! optional points, point labels and vertical markers) is all the report
//! needs. plotters draws axes, ticks, labels and legends well and writes
//! plain SVG with no fonts or scripts to embed; without its font features
//! it sizes text with a built-in estimate and leaves the face to the
//! browser, so the report stays self-contained.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Width and height of every chart, px.
pub const SIZE: (u32, u32) = (760, 380);

/// Distinct series colours (Tableau 10), in order.
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// The colour of series `i`.
pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A chart failed to draw.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw '{title}': {message}")]
pub struct ChartError {
    /// The chart.
    pub title: String,
    /// What plotters said.
    pub message: String,
}

/// One line of a chart.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Colour index (see [`colour`]): repeats of one stack share it.
    pub colour: usize,
    /// The points, in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Mark each point with a dot.
    pub dots: bool,
    /// Text beside each point (empty: none).
    pub labels: Vec<String>,
    /// Vertical dashed markers at these x values (e.g. a steady window).
    pub markers: Vec<f64>,
    /// Leave out of the legend (a repeat of a series already there).
    pub hide_in_legend: bool,
}

/// A line chart.
#[derive(Debug, Clone, Default)]
pub struct LineChart {
    /// Caption.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// How x tick values are written (default: the number).
    pub x_ticks: Option<fn(&f64) -> String>,
    /// Start the y axis at 0.
    pub y_from_zero: bool,
}

/// The padded range of `values` (from 0 when asked); the trend chart
/// uses it too.
pub(crate) fn bounds(values: impl Iterator<Item = f64>, from_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if from_zero {
        lo = lo.min(0.0);
    }
    if hi - lo < 1e-9 {
        let pad = hi.abs().max(1.0) * 0.05;
        lo -= pad;
        hi += pad;
    }
    let pad = (hi - lo) * 0.05;
    (if from_zero { lo } else { lo - pad }, hi + pad)
}

/// The chart area `draw` draws series into.
type Area<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// One series: its line (and legend entry), dots, point labels and
/// markers spanning `y` (the y range).
fn draw_series(
    chart: &mut Area<'_, '_>,
    s: &Series,
    y: (f64, f64),
) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    let c = colour(s.colour);
    let line = chart.draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))?;
    if !s.hide_in_legend {
        line.label(&s.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
    }
    if s.dots {
        chart.draw_series(s.points.iter().map(|p| Circle::new(*p, 3, c.filled())))?;
    }
    let labelled = s
        .points
        .iter()
        .zip(&s.labels)
        .filter(|(_, l)| !l.is_empty());
    chart.draw_series(
        labelled.map(|(p, l)| Text::new(l.clone(), *p, ("sans-serif", 11).into_font().color(&c))),
    )?;
    for &m in &s.markers {
        chart.draw_series(DashedLineSeries::new(
            vec![(m, y.0), (m, y.1)],
            6,
            4,
            c.mix(0.7).stroke_width(1),
        ))?;
    }
    Ok(())
}

/// An SVG document of the chart size, drawn by `draw`; its error names
/// the chart `title`.
pub(crate) fn render_svg(
    title: &str,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String>,
) -> Result<String, ChartError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        draw(&root).map_err(|message| ChartError {
            title: title.to_string(),
            message,
        })?;
    }
    Ok(out)
}

impl LineChart {
    /// True when no series has a point.
    pub fn is_empty(&self) -> bool {
        self.series.iter().all(|s| s.points.is_empty())
    }

    /// The chart as an SVG document.
    pub fn svg(&self) -> Result<String, ChartError> {
        render_svg(&self.title, |root| self.draw(root))
    }

    fn draw(&self, root: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String> {
        let err = |e: &dyn std::fmt::Display| e.to_string();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let xs = self.series.iter().flat_map(|s| {
            s.points
                .iter()
                .map(|p| p.0)
                .chain(s.markers.iter().copied())
        });
        let (x0, x1) = bounds(xs, false);
        let ys = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1));
        let (y0, mut y1) = bounds(ys, self.y_from_zero);
        let legend = self.series.iter().any(|s| !s.hide_in_legend);
        if legend {
            // Headroom, so that the legend (upper right) covers no line.
            y1 += (y1 - y0) * 0.08 * (1 + self.series.len()) as f64;
        }
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| err(&e))?;
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .light_line_style(RGBColor(235, 235, 235));
        if let Some(f) = &self.x_ticks {
            mesh.x_label_formatter(f);
        }
        mesh.draw().map_err(|e| err(&e))?;
        for s in &self.series {
            draw_series(&mut chart, s, (y0, y1)).map_err(|e| err(&e))?;
        }
        if legend {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .draw()
                .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_an_svg_with_its_lines_labels_and_legend() {
        let chart = LineChart {
            title: "t <1>".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![Series {
                name: "vLLM".into(),
                points: vec![(1.0, 2.0), (2.0, 4.0)],
                dots: true,
                labels: vec!["c=1".into(), "c=2".into()],
                markers: vec![1.5],
                ..Default::default()
            }],
            ..Default::default()
        };
        let svg = chart.svg().unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("t &lt;1&gt;"), "title escaped");
        // plotters writes each text on its own line inside <text>.
        assert!(svg.contains("\nvLLM\n") && svg.contains("\nc=2\n"), "{svg}");
        assert!(svg.contains("<polyline"), "{svg}");
        assert!(svg.contains("<circle"), "{svg}");
    }

    #[test]
    fn flat_or_empty_data_still_has_a_range() {
        assert_eq!(bounds([].into_iter(), false), (0.0, 1.0));
        let (lo, hi) = bounds([5.0, 5.0].into_iter(), false);
        assert!(lo < 5.0 && hi > 5.0);
    }
}
