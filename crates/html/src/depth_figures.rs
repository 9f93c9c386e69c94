//! The long-context curve: prompt processing (pp) and generation (tg)
//! against context depth, one line per stack, at one concurrency level —
//! the picture a long-context or agent user chooses a stack by (decode
//! slows as the context grows). Drawn when a stack has runs at two depths
//! or more; each point is the median over that depth's repeats.

use stackbench_core::identity::StackEntry;
use stackbench_core::run_file::RunFile;
use stackbench_report::depth::depth_of as depth;
use stackbench_report::median;

use crate::chart::{LineChart, Series};
use crate::figures::{legend_name, runs_per_stack, Figure, RunView};

/// Per stack: (depth, median of `f` over that depth's runs), depths in
/// order; only stacks with two depths or more.
fn curves(
    order: &[StackEntry],
    runs: &[&RunView<'_>],
    f: fn(&RunFile) -> Option<f64>,
) -> Vec<(usize, Vec<(f64, f64)>)> {
    runs_per_stack(order, runs)
        .into_iter()
        .filter_map(|(i, rs)| {
            let mut depths: Vec<u32> = rs.iter().map(|r| depth(r.file)).collect();
            depths.sort_unstable();
            depths.dedup();
            let points: Vec<(f64, f64)> = depths
                .iter()
                .filter_map(|&d| {
                    let at = rs.iter().filter(|r| depth(r.file) == d);
                    let y = median(at.filter_map(|r| f(r.file)).collect())?;
                    Some((f64::from(d), y))
                })
                .collect();
            (points.len() > 1).then_some((i, points))
        })
        .collect()
}

/// One figure of `f` against depth; `None` when no stack has two depths.
fn against_depth(
    order: &[StackEntry],
    runs: &[&RunView<'_>],
    f: fn(&RunFile) -> Option<f64>,
    (title, y_label, caption): (&str, &str, &str),
) -> Option<Figure> {
    let series: Vec<Series> = curves(order, runs, f)
        .into_iter()
        .map(|(i, points)| Series {
            name: legend_name(order, i),
            colour: i,
            points,
            dots: true,
            ..Default::default()
        })
        .collect();
    (!series.is_empty()).then(|| Figure {
        chart: LineChart {
            title: title.into(),
            x_label: "context depth, tokens".into(),
            y_label: y_label.into(),
            series,
            x_ticks: None,
            y_from_zero: true,
        },
        caption: caption.into(),
        left_out: Vec::new(),
    })
}

/// pp and tg against depth at one level (none without two depths).
pub fn against_depth_figures(order: &[StackEntry], runs: &[&RunView<'_>]) -> Vec<Figure> {
    let pp = against_depth(
        order,
        runs,
        |r| r.summary.prefill_tok_s.p50,
        (
            "Prompt processing by context depth",
            "pp tok/s p50",
            "Prefill rate of each request's new prompt over its context (cached depth), or of its whole prompt (uncached), median per depth: llama-bench's pp512 @ dD through the server's API.",
        ),
    );
    let tg = against_depth(
        order,
        runs,
        |r| r.summary.decode_tok_s.p50,
        (
            "Generation by context depth",
            "tg tok/s p50 (per request)",
            "Per-request decode rate with the depth and the prompt before it, median per depth: llama-bench's tg128 @ dD. The fall with depth is what a long-context user pays.",
        ),
    );
    pp.into_iter().chain(tg).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::views;
    use stackbench_core::depth::DepthLoad;

    /// The fixture at `depth`, its scenario named after it, with these
    /// pp and tg medians.
    fn at(depth: u32, pp: f64, tg: f64) -> RunFile {
        let mut r: RunFile =
            serde_json::from_str(include_str!("../../report/tests/fixtures/run-v2-sim.json"))
                .unwrap_or_else(|e| panic!("fixture: {e}"));
        r.load.depth = (depth > 0).then_some(DepthLoad {
            tokens: depth,
            cached: true,
            server_context: None,
            context_from: None,
        });
        if let Some(s) = r.suite.as_mut() {
            s.scenario = format!("d{depth}");
        }
        r.summary.prefill_tok_s.p50 = Some(pp);
        r.summary.decode_tok_s.p50 = Some(tg);
        r
    }

    #[test]
    fn pp_and_tg_are_drawn_against_depth_in_depth_order() {
        let runs = [
            at(4096, 800.0, 30.0),
            at(0, 1000.0, 40.0),
            at(1024, 900.0, 35.0),
        ];
        let refs: Vec<&RunFile> = runs.iter().collect();
        let (order, seen) = views(&refs);
        let all: Vec<&RunView<'_>> = seen.iter().collect();
        let figs = against_depth_figures(&order, &all);
        assert_eq!(figs.len(), 2);
        let points = |f: &Figure| f.chart.series[0].points.clone();
        assert_eq!(
            points(&figs[0]),
            [(0.0, 1000.0), (1024.0, 900.0), (4096.0, 800.0)]
        );
        assert_eq!(
            points(&figs[1]),
            [(0.0, 40.0), (1024.0, 35.0), (4096.0, 30.0)]
        );
        // One depth: no curve to draw.
        let one = [at(0, 1000.0, 40.0)];
        let refs: Vec<&RunFile> = one.iter().collect();
        let (order, seen) = views(&refs);
        let all: Vec<&RunView<'_>> = seen.iter().collect();
        assert!(against_depth_figures(&order, &all).is_empty());
    }
}
