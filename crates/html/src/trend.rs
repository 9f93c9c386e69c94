//! The trend chart of `stackbench history`: one metric of one stack and
//! scenario over its points in time order, each point with its 95 %
//! interval as an error bar, and each change point marked where it
//! happened (a dashed line between the two points, red for a regression,
//! green for an improvement, with the change written beside it). Drawn
//! with plotters' SVG backend in the report's size, font and colours
//! (see `chart`), so it sits on a page like the report's charts.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::chart::{bounds, colour, ChartError};

/// Regressed: red; improved: green (the report's palette).
const BAD: RGBColor = RGBColor(214, 39, 40);
const GOOD: RGBColor = RGBColor(44, 160, 44);

/// The plotting area of a trend.
type Area<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// One point of a trend.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendPoint {
    /// Its number (1, 2, …): the x position.
    pub number: usize,
    /// The value.
    pub value: f64,
    /// The 95 % interval, when there is one.
    pub interval: Option<(f64, f64)>,
}

/// A change point: the change into point `to` from the one before.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendMark {
    /// The point after the change.
    pub to: usize,
    /// An improvement (green) or a regression (red).
    pub improved: bool,
    /// Written beside the marker (`-9.9%`).
    pub text: String,
}

/// A metric over time.
#[derive(Debug, Clone, Default)]
pub struct TrendChart {
    /// Caption.
    pub title: String,
    /// Y axis label.
    pub y_label: String,
    /// The points, in time order.
    pub points: Vec<TrendPoint>,
    /// The change points.
    pub marks: Vec<TrendMark>,
}

/// `#3` under the point 3 on the x axis; nothing between points.
fn tick(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-6 && *x >= 1.0 {
        format!("#{}", x.round() as usize)
    } else {
        String::new()
    }
}

impl TrendChart {
    /// True when no point has a value.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The chart as an SVG document.
    pub fn svg(&self) -> Result<String, ChartError> {
        crate::chart::render_svg(&self.title, |root| self.draw(root))
    }

    fn draw(&self, root: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String> {
        let err = |e: &dyn std::fmt::Display| e.to_string();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let n = self.points.iter().map(|p| p.number).max().unwrap_or(1) as f64;
        let ys = self.points.iter().flat_map(|p| {
            let (lo, hi) = p.interval.unwrap_or((p.value, p.value));
            [p.value, lo, hi]
        });
        let (y0, y1) = bounds(ys, false);
        // Headroom for the change labels above the points.
        let y1 = y1 + (y1 - y0) * 0.12;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(64)
            .build_cartesian_2d(0.5..n + 0.5, y0..y1)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("point (time order)")
            .y_desc(&self.y_label)
            .x_labels((n as usize).clamp(2, 24))
            .x_label_formatter(&tick)
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| err(&e))?;
        self.draw_points(&mut chart).map_err(|e| err(&e))?;
        self.draw_marks(&mut chart, (y0, y1)).map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))
    }

    fn draw_points<DB: DrawingBackend>(
        &self,
        chart: &mut Area<'_, DB>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let c = colour(0);
        let xy = |p: &TrendPoint| (p.number as f64, p.value);
        chart.draw_series(LineSeries::new(
            self.points.iter().map(xy),
            c.stroke_width(2),
        ))?;
        let cap = 0.08;
        for p in &self.points {
            let Some((lo, hi)) = p.interval else { continue };
            let x = p.number as f64;
            let bar = [
                vec![(x, lo), (x, hi)],
                vec![(x - cap, lo), (x + cap, lo)],
                vec![(x - cap, hi), (x + cap, hi)],
            ];
            chart.draw_series(
                bar.into_iter()
                    .map(|l| PathElement::new(l, c.stroke_width(1))),
            )?;
        }
        chart.draw_series(
            self.points
                .iter()
                .map(|p| Circle::new(xy(p), 4, c.filled())),
        )?;
        Ok(())
    }

    fn draw_marks<DB: DrawingBackend>(
        &self,
        chart: &mut Area<'_, DB>,
        (y0, y1): (f64, f64),
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        for m in &self.marks {
            let colour = if m.improved { GOOD } else { BAD };
            let x = m.to as f64 - 0.5;
            chart.draw_series(DashedLineSeries::new(
                vec![(x, y0), (x, y1)],
                6,
                4,
                colour.stroke_width(2),
            ))?;
            if let Some(p) = self.points.iter().find(|p| p.number == m.to) {
                let at = (p.number as f64, p.value);
                chart.draw_series([Circle::new(at, 8, colour.stroke_width(2))])?;
            }
            let label = format!("{} {}", if m.improved { "▲" } else { "▼" }, m.text);
            let top = y1 - (y1 - y0) * 0.04;
            chart.draw_series([Text::new(
                label,
                (x + 0.05, top),
                ("sans-serif", 12).into_font().color(&colour),
            )])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trend_draws_points_intervals_and_its_change_point() {
        let chart = TrendChart {
            title: "decode <tok/s>".into(),
            y_label: "tok/s".into(),
            points: (1..=4)
                .map(|k| {
                    let v = if k >= 3 { 90.0 } else { 100.0 };
                    TrendPoint {
                        number: k,
                        value: v,
                        interval: Some((v - 1.0, v + 1.0)),
                    }
                })
                .collect(),
            marks: vec![TrendMark {
                to: 3,
                improved: false,
                text: "-10.0%".into(),
            }],
        };
        let svg = chart.svg().unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("decode &lt;tok/s&gt;"), "title escaped");
        assert!(svg.contains("\n▼ -10.0%\n"), "the change is written: {svg}");
        assert!(svg.contains("\n#3\n"), "x ticks name points: {svg}");
        // Four dots and one ring around the point after the change.
        assert_eq!(svg.matches("<circle").count(), 5, "{svg}");
        assert!(svg.contains("stroke=\"#D62728\""), "a red marker: {svg}");
    }
}
