//! Which pictures a set of runs makes, and their data: per concurrency
//! level the decode tok/s histogram (stacks overlaid), TTFT and ITL
//! percentile curves, output tok/s over time with the steady window and,
//! for multi-turn runs, TTFT by turn;
//! across levels, throughput against concurrency and against per-user
//! speed (the curve deployments are chosen by). Stacks, their colours and
//! names, and levels come from `stackbench_core::identity`; each run's
//! histograms are decoded once, and a run whose histograms do not decode
//! is named in [`Figure::left_out`] of every chart it belongs in.

use stackbench_core::histogram::{Hist, HistError, LatencyHistograms};
use stackbench_core::identity::{closed_levels, stacks, Level, RunIdentity, StackEntry};
use stackbench_core::run_file::RunFile;
use stackbench_report::median;

use crate::chart::{LineChart, Series};

/// Bins of the decode-rate histogram.
const BINS: usize = 30;
/// Percentile curves stop at 99.99%: beyond it a few hundred requests
/// say nothing.
const MAX_NINES: f64 = 4.0;

/// One picture with its explanation.
#[derive(Debug, Clone)]
pub struct Figure {
    /// The chart.
    pub chart: LineChart,
    /// What it shows and how to read it.
    pub caption: String,
    /// Runs that belong in the chart but are not in it (their histograms
    /// do not decode), by name: the page says so under the chart.
    pub left_out: Vec<String>,
}

/// One run as the charts see it: its file, identity, stack (colour) and
/// name, and its histograms decoded once.
#[derive(Debug)]
pub struct RunView<'a> {
    /// Its `run.json`.
    pub file: &'a RunFile,
    /// Stack, scenario, level and repeat.
    pub identity: RunIdentity,
    /// Its stack's place in the stack order: its colour.
    pub stack: usize,
    /// Its short name: stack (with quantization), scenario, and the
    /// repeat when the report holds repeats.
    pub name: String,
    /// Its histograms, or why they do not decode.
    pub hists: Result<LatencyHistograms, HistError>,
}

/// The views of `runs`, and the stacks among them in first-seen order (a
/// stack keeps its colour everywhere).
pub fn views<'a>(runs: &[&'a RunFile]) -> (Vec<StackEntry>, Vec<RunView<'a>>) {
    let order = stacks(runs.iter().copied());
    let repeats = runs.iter().any(|r| RunIdentity::of(r).repeat > 1);
    let views = runs
        .iter()
        .map(|&file| {
            let identity = RunIdentity::of(file);
            let key = identity.stack_key();
            let stack = order.iter().position(|s| s.key == key).unwrap_or(0);
            let repeat = if repeats {
                format!(" r{}", identity.repeat)
            } else {
                String::new()
            };
            let name = format!(
                "{} / {}{repeat}",
                order
                    .get(stack)
                    .map_or_else(String::new, StackEntry::display),
                identity.scenario_or_level()
            );
            RunView {
                file,
                identity,
                stack,
                name,
                hists: LatencyHistograms::deserialize(&file.histograms),
            }
        })
        .collect();
    (order, views)
}

/// The closed-loop runs at `c` users.
pub fn at_level<'v, 'a>(runs: &'v [RunView<'a>], c: u32) -> Vec<&'v RunView<'a>> {
    runs.iter()
        .filter(|r| r.identity.level == Level::Users(c))
        .collect()
}

/// The names of `runs` whose histograms do not decode.
fn undecodable(runs: &[&RunView<'_>]) -> Vec<String> {
    runs.iter()
        .filter(|r| r.hists.is_err())
        .map(|r| r.name.clone())
        .collect()
}

/// The runs of each stack among `runs` (their stack as
/// `stackbench_core::identity::stacks` told them apart), in stack order.
pub(crate) fn runs_per_stack<'v, 'a>(
    order: &[StackEntry],
    runs: &[&'v RunView<'a>],
) -> Vec<(usize, Vec<&'v RunView<'a>>)> {
    (0..order.len())
        .map(|i| (i, runs.iter().copied().filter(|r| r.stack == i).collect()))
        .filter(|(_, v): &(usize, Vec<_>)| !v.is_empty())
        .collect()
}

/// A stack's name in legends: its identity label with the quantization.
pub(crate) fn legend_name(order: &[StackEntry], i: usize) -> String {
    order.get(i).map_or_else(String::new, StackEntry::display)
}

/// The per-request decode tok/s histogram at one level, stacks overlaid
/// (repeats merged), as the share of requests in each bin.
pub fn decode_histogram(order: &[StackEntry], runs: &[&RunView<'_>], c: u32) -> Figure {
    let per_stack: Vec<(usize, String, Hist)> = runs_per_stack(order, runs)
        .into_iter()
        .filter_map(|(i, rs)| {
            let mut h = Hist::rate();
            for r in rs.iter().filter_map(|r| r.hists.as_ref().ok()) {
                h.merge(&r.decode_mtps);
            }
            (!h.is_empty()).then(|| (i, legend_name(order, i), h))
        })
        .collect();
    let all: Vec<(u64, u64)> = per_stack
        .iter()
        .flat_map(|(_, _, h)| h.recorded())
        .collect();
    let lo = all.iter().map(|v| v.0).min().unwrap_or(0) as f64 / 1000.0;
    let hi = all.iter().map(|v| v.0).max().unwrap_or(0) as f64 / 1000.0;
    let (lo, hi) = if hi - lo < 1e-6 {
        (lo * 0.95, hi * 1.05 + 1e-3)
    } else {
        (lo, hi)
    };
    let width = (hi - lo) / BINS as f64;
    let series = per_stack
        .into_iter()
        .map(|(i, name, h)| {
            let mut bins = [0u64; BINS];
            for (v, n) in h.recorded() {
                let k = ((v as f64 / 1000.0 - lo) / width) as usize;
                bins[k.min(BINS - 1)] += n;
            }
            let total = h.len().max(1) as f64;
            let mut points = vec![(lo, 0.0)];
            for (k, n) in bins.iter().enumerate() {
                let share = *n as f64 / total * 100.0;
                let (a, b) = (lo + k as f64 * width, lo + (k + 1) as f64 * width);
                points.extend([(a, share), (b, share)]);
            }
            points.push((hi, 0.0));
            Series {
                name: format!("{name} (n={})", h.len()),
                colour: i,
                points,
                ..Default::default()
            }
        })
        .collect();
    Figure {
        chart: LineChart {
            title: format!("Per-request decode tok/s, c={c}"),
            x_label: "decode tok/s (tokens after the first / time from first to last token)".into(),
            y_label: "% of requests".into(),
            series,
            y_from_zero: true,
            ..Default::default()
        },
        caption: format!(
            "How fast each request decoded at {c} concurrent users, from the HDR histogram of every measured request ({BINS} bins over the range of all stacks; repeats merged). A narrow peak is a steady server; a wide or double peak, one that batches unevenly."
        ),
        left_out: undecodable(runs),
    }
}

fn nines(q: f64) -> f64 {
    (-(1.0 - q).log10()).min(MAX_NINES)
}

/// Ticks at whole nines only (0%, 90%, 99%, 99.9%, …); the axis's other
/// ticks stay unlabelled.
fn nines_tick(x: &f64) -> String {
    if (x - x.round()).abs() > 1e-6 {
        return String::new();
    }
    let p = 100.0 * (1.0 - 10f64.powf(-x.round()));
    if p < 99.0 {
        format!("{p:.0}%")
    } else {
        let s = format!("{p:.3}");
        format!("{}%", s.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// A latency's percentile curve per run at one level (HdrHistogram's
/// view: x is the percentile on a "nines" scale).
pub fn percentile_curve(
    order: &[StackEntry],
    runs: &[&RunView<'_>],
    c: u32,
    metric: Latency,
) -> Figure {
    let mut seen: Vec<usize> = Vec::new();
    let series = runs
        .iter()
        .filter_map(|r| {
            let h = r.hists.as_ref().ok()?;
            let hist = match metric {
                Latency::Ttft => &h.ttft_us,
                Latency::Itl => &h.itl_us,
            };
            if hist.is_empty() {
                return None;
            }
            let points: Vec<(f64, f64)> = hist
                .percentile_steps(5)
                .into_iter()
                .filter(|(q, _, _)| *q < 1.0 && nines(*q) < MAX_NINES)
                .map(|(q, v, _)| (nines(q), v as f64 / 1000.0))
                .collect();
            let i = r.stack;
            let repeat = seen.contains(&i);
            seen.push(i);
            Some(Series {
                name: legend_name(order, i),
                colour: i,
                points,
                hide_in_legend: repeat,
                ..Default::default()
            })
        })
        .collect();
    let (what, long) = match metric {
        Latency::Ttft => ("TTFT", "time to first token"),
        Latency::Itl => ("ITL", "inter-token latency (one sample per token)"),
    };
    Figure {
        chart: LineChart {
            title: format!("{what} by percentile, c={c}"),
            x_label: "percentile".into(),
            y_label: format!("{what} ms"),
            series,
            x_ticks: Some(nines_tick),
            y_from_zero: true,
        },
        caption: format!(
            "The {long} at every percentile, from the run's HDR histogram (the same data as the .hgrm files); one line per run, repeats in the stack's colour. Flat then steep: a tail of slow requests."
        ),
        left_out: undecodable(runs),
    }
}

/// Which latency a percentile curve shows.
#[derive(Debug, Clone, Copy)]
pub enum Latency {
    /// Time to first token.
    Ttft,
    /// Inter-token latency.
    Itl,
}

/// Output tok/s per second of the measured phase, per run at one level,
/// with each run's steady window marked.
pub fn tok_s_over_time(order: &[StackEntry], runs: &[&RunView<'_>], c: u32) -> Figure {
    let mut seen: Vec<usize> = Vec::new();
    let series = runs
        .iter()
        .filter_map(|v| {
            let r = v.file;
            let t = r.timeline.as_ref()?;
            let step_us = u64::from(t.interval_ms.max(1)) * 1000;
            let per_s = (1_000_000 / step_us).max(1) as usize;
            let start = r.summary.measured_start_us;
            let first = usize::try_from(start / step_us).ok()?;
            let points: Vec<(f64, f64)> = t
                .tokens
                .get(first..)?
                .chunks(per_s)
                .enumerate()
                .filter(|(_, ch)| ch.len() == per_s)
                .map(|(k, ch)| {
                    let tokens: u64 = ch.iter().map(|&x| u64::from(x)).sum();
                    (k as f64 + 0.5, tokens as f64)
                })
                .collect();
            let at = |us: u64| us.saturating_sub(start) as f64 / 1e6;
            let markers = r
                .summary
                .steady_window
                .map(|w| vec![at(w.start_us), at(w.end_us)])
                .unwrap_or_default();
            let i = v.stack;
            let repeat = seen.contains(&i);
            seen.push(i);
            Some(Series {
                name: legend_name(order, i),
                colour: i,
                points,
                markers,
                hide_in_legend: repeat,
                ..Default::default()
            })
        })
        .collect();
    Figure {
        chart: LineChart {
            title: format!("Output tok/s over time, c={c}"),
            x_label: "seconds since measuring began".into(),
            y_label: "output tok/s (1 s bins)".into(),
            series,
            y_from_zero: true,
            ..Default::default()
        },
        caption: format!(
            "Tokens received per second by all {c} users together. Dashed lines mark each run's steady window (first request done → first user out of work), the span the total tok/s is measured over; ramp-up and drain lie outside it."
        ),
        left_out: Vec::new(),
    }
}

/// Integer ticks only (turns).
fn whole_tick(x: &f64) -> String {
    if (x - x.round()).abs() > 1e-6 {
        String::new()
    } else {
        format!("{:.0}", x.round())
    }
}

/// A point's label: the share of the turn's prompt the server took from
/// its cache, when it said.
fn cached_label(t: &stackbench_core::summary::TurnSummary) -> String {
    t.cache_hit_share
        .map_or_else(String::new, |h| format!("{:.0}% cached", h * 100.0))
}

/// TTFT p50 by turn of each multi-turn run at one level (from the run's
/// per-turn summary), each point labelled with its cached share where the
/// server reported one; `None` when no run at the level held
/// conversations.
pub fn ttft_by_turn(order: &[StackEntry], runs: &[&RunView<'_>], c: u32) -> Option<Figure> {
    let mut seen: Vec<usize> = Vec::new();
    let series: Vec<Series> = runs
        .iter()
        .filter(|v| !v.file.summary.turns.is_empty())
        .map(|v| {
            let turns: Vec<_> = v
                .file
                .summary
                .turns
                .iter()
                .filter_map(|t| t.ttft_ms.p50.map(|ms| (t, ms)))
                .collect();
            let i = v.stack;
            let repeat = seen.contains(&i);
            seen.push(i);
            Series {
                name: legend_name(order, i),
                colour: i,
                points: turns
                    .iter()
                    .map(|(t, ms)| (f64::from(t.turn), *ms))
                    .collect(),
                labels: turns.iter().map(|(t, _)| cached_label(t)).collect(),
                dots: true,
                hide_in_legend: repeat,
                ..Default::default()
            }
        })
        .collect();
    if series.is_empty() {
        return None;
    }
    Some(Figure {
        chart: LineChart {
            title: format!("TTFT by turn, c={c}"),
            x_label: "turn of the conversation".into(),
            y_label: "TTFT p50 ms".into(),
            series,
            x_ticks: Some(whole_tick),
            y_from_zero: true,
        },
        caption: format!(
            "Median time to first token of each turn of the conversations at {c} concurrent users; each turn resends the history, so its prompt grows. A server that keeps the history in its prompt cache (the share beside each point, where it reports one) holds later turns near the first; one that does not prefills the whole history again."
        ),
        left_out: Vec::new(),
    })
}

/// One stack's points across levels: its colour, name, and per level
/// (concurrency, per-user decode tok/s p50, total tok/s).
type StackLevels = (usize, String, Vec<(u32, f64, f64)>);

/// Per stack, per level, medians over repeats.
fn level_points(order: &[StackEntry], runs: &[&RunView<'_>]) -> Vec<StackLevels> {
    runs_per_stack(order, runs)
        .into_iter()
        .map(|(i, rs)| {
            let files: Vec<&RunFile> = rs.iter().map(|r| r.file).collect();
            let pts = closed_levels(files.iter().copied())
                .into_iter()
                .filter_map(|c| {
                    let at: Vec<&RunFile> = files
                        .iter()
                        .copied()
                        .filter(|r| Level::of(&r.load) == Level::Users(c))
                        .collect();
                    let user = median(
                        at.iter()
                            .filter_map(|r| r.summary.decode_tok_s.p50)
                            .collect(),
                    )?;
                    let total = median(at.iter().map(|r| r.summary.output_tok_s).collect())?;
                    Some((c, user, total))
                })
                .collect();
            (i, legend_name(order, i), pts)
        })
        .collect()
}

/// Total tok/s against concurrency, one line per stack.
pub fn throughput_vs_concurrency(order: &[StackEntry], runs: &[&RunView<'_>]) -> Figure {
    let series = level_points(order, runs)
        .into_iter()
        .map(|(i, name, pts)| Series {
            name,
            colour: i,
            points: pts.iter().map(|p| ((p.0 as f64).log2(), p.2)).collect(),
            dots: true,
            ..Default::default()
        })
        .collect();
    Figure {
        chart: LineChart {
            title: "Total output tok/s by concurrency".into(),
            x_label: "concurrent users".into(),
            y_label: "total tok/s (steady state)".into(),
            series,
            x_ticks: Some(|x| {
                // Powers of two only: the levels people sweep.
                if (x - x.round()).abs() > 1e-6 {
                    String::new()
                } else {
                    format!("{:.0}", 2f64.powf(x.round()))
                }
            }),
            y_from_zero: true,
        },
        caption: "Steady-state total output tok/s at each concurrency level (log-2 axis; medians of repeats). Where a line flattens, the server is saturated.".into(),
        left_out: Vec::new(),
    }
}

/// Total tok/s against per-user tok/s across levels, one line per stack.
pub fn throughput_vs_interactivity(order: &[StackEntry], runs: &[&RunView<'_>]) -> Figure {
    let series = level_points(order, runs)
        .into_iter()
        .map(|(i, name, pts)| Series {
            name,
            colour: i,
            points: pts.iter().map(|p| (p.1, p.2)).collect(),
            labels: pts.iter().map(|p| format!("c={}", p.0)).collect(),
            dots: true,
            ..Default::default()
        })
        .collect();
    Figure {
        chart: LineChart {
            title: "Throughput vs interactivity".into(),
            x_label: "per-user decode tok/s (p50)".into(),
            y_label: "total tok/s (steady state)".into(),
            series,
            y_from_zero: true,
            ..Default::default()
        },
        caption: "Each point is one concurrency level: how fast each user is served (x) against how much the box serves in all (y). Up and to the right is better; a deployment picks the point whose per-user speed it can accept.".into(),
        left_out: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_configs_under_one_label_get_two_colours_and_names() {
        let run = |name: &str, repeat: u32| {
            let mut r: RunFile =
                serde_json::from_str(include_str!("../../report/tests/fixtures/run-v2-sim.json"))
                    .unwrap_or_else(|e| panic!("fixture: {e}"));
            if let Some(s) = r.stack.as_mut() {
                s.name = name.into();
            }
            if let Some(s) = r.suite.as_mut() {
                s.repeat = repeat;
            }
            r
        };
        let (a, b, a2) = (run("vllm", 1), run("vllm-eager", 1), run("vllm", 2));
        let (order, views) = views(&[&a, &b, &a2]);
        assert_eq!(order.len(), 2);
        let seen: Vec<(usize, &str)> = views.iter().map(|v| (v.stack, v.name.as_str())).collect();
        assert_eq!(
            seen,
            [
                (0, "vllm NVFP4 / c1 r1"),
                (1, "vllm-eager NVFP4 / c1 r1"),
                (0, "vllm NVFP4 / c1 r2"),
            ]
        );
        let at: Vec<&RunView<'_>> = at_level(&views, 1);
        assert_eq!(
            runs_per_stack(&order, &at)[0].1.len(),
            2,
            "repeats together"
        );
    }

    #[test]
    fn a_multi_turn_run_makes_a_ttft_by_turn_chart_with_its_cached_shares() {
        let mut r: RunFile =
            serde_json::from_str(include_str!("../../report/tests/fixtures/run-v2-sim.json"))
                .unwrap_or_else(|e| panic!("fixture: {e}"));
        let (order, plain) = views(&[&r]);
        let at: Vec<&RunView<'_>> = at_level(&plain, 1);
        assert!(ttft_by_turn(&order, &at, 1).is_none(), "single-turn runs");
        r.summary.turns = (1..=3u32)
            .map(|turn| {
                let mut t = stackbench_core::summary::TurnSummary {
                    turn,
                    requests: 4,
                    ..Default::default()
                };
                t.ttft_ms.p50 = Some(100.0 - f64::from(turn) * 10.0);
                t.cache_hit_share = (turn > 1).then_some(0.5);
                t
            })
            .collect();
        let (order, multi) = views(&[&r]);
        let at: Vec<&RunView<'_>> = at_level(&multi, 1);
        let f = ttft_by_turn(&order, &at, 1).unwrap_or_else(|| panic!("no chart"));
        let s = &f.chart.series[0];
        assert_eq!(s.points, [(1.0, 90.0), (2.0, 80.0), (3.0, 70.0)]);
        assert_eq!(s.labels, ["", "50% cached", "50% cached"]);
        let svg = f.chart.svg().unwrap_or_else(|e| panic!("{e}"));
        assert!(svg.contains("TTFT by turn, c=1"), "{svg}");
        assert_eq!(whole_tick(&2.0), "2");
        assert_eq!(whole_tick(&2.5), "");
    }

    #[test]
    fn nines_ticks_read_as_percentiles() {
        assert_eq!(nines_tick(&0.0), "0%");
        assert_eq!(nines_tick(&1.0), "90%");
        assert_eq!(nines_tick(&2.0), "99%");
        assert_eq!(nines_tick(&3.0), "99.9%");
        assert_eq!(nines_tick(&1.5), "");
        assert!((nines(0.99) - 2.0).abs() < 1e-9);
    }
}
