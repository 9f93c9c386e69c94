//! The `nvidia-smi` side of GPU sampling (the fallback when NVML cannot be
//! loaded, and the path tests drive through `STACKBENCH_NVIDIA_SMI`): which
//! fields this driver answers, and the parsing of `--format=csv,nounits`
//! lines into [`Reading`]s. Columns are found by the header's names, so a
//! field dropped at probe time, an alias (`clocks.sm` is printed as
//! `clocks.current.sm`) or units in the values do not shift anything.

use std::time::Duration;

use super::gpu_stats::Reading;
use crate::gpu::{bitmask, cells, number};

/// Everything worth sampling, best first: instantaneous power before the
/// one-second `power.draw` average of newer drivers, the energy counter,
/// temperature, clocks and the clock event reasons.
pub const FULL_FIELDS: [&str; 8] = [
    "index",
    "power.draw.instant",
    "power.draw",
    "total_energy_consumption",
    "temperature.gpu",
    "clocks.sm",
    "clocks.mem",
    "clocks_event_reasons.active",
];

/// The field set of older stackbench, used when the driver refuses a field
/// it does not name.
pub const LEGACY_FIELDS: [&str; 2] = ["index", "power.draw"];

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    /// `index`.
    Index,
    /// `power.draw.instant`.
    PowerInstant,
    /// `power.draw` (or its `power.draw.average` spelling).
    PowerDraw,
    /// `total_energy_consumption`, mJ.
    Energy,
    /// `temperature.gpu`.
    Temp,
    /// `clocks.current.sm`.
    Sm,
    /// `clocks.current.memory`.
    Mem,
    /// `clocks_event_reasons.active` / `clocks_throttle_reasons.active`.
    Reasons,
    /// Anything else.
    Other,
}

/// The column a query field or header cell names (`power.draw [W]` and
/// `power.draw` alike).
pub fn column(name: &str) -> Col {
    let name = name.split(" [").next().unwrap_or("").trim();
    match name {
        "index" => Col::Index,
        "power.draw.instant" => Col::PowerInstant,
        "power.draw" | "power.draw.average" => Col::PowerDraw,
        "total_energy_consumption" => Col::Energy,
        "temperature.gpu" => Col::Temp,
        "clocks.sm" | "clocks.current.sm" => Col::Sm,
        "clocks.mem" | "clocks.current.memory" => Col::Mem,
        "clocks_event_reasons.active" | "clocks_throttle_reasons.active" => Col::Reasons,
        _ => Col::Other,
    }
}

/// Parses `nvidia-smi --query-gpu=… --format=csv[,noheader][,nounits]`
/// output line by line. A header line (any line whose first cell is not a
/// GPU index) sets the columns; without one, the queried fields do.
#[derive(Debug, Clone)]
pub struct CsvParser {
    cols: Vec<Col>,
}

impl CsvParser {
    /// A parser expecting `fields` in this order until a header says
    /// otherwise.
    pub fn new(fields: &[&str]) -> Self {
        Self {
            cols: fields.iter().map(|f| column(f)).collect(),
        }
    }

    /// The reading on `line`, stamped `at`; `None` for a header or a line
    /// without a GPU index.
    pub fn line(&mut self, line: &str, at: Duration) -> Option<Reading> {
        let (index, cells) = self.row(line)?;
        let get = |want: Col| self.cell(&cells, want);
        let num = |want: Col| get(want).and_then(number);
        Some(Reading {
            index,
            at,
            power_w: num(Col::PowerInstant).or_else(|| num(Col::PowerDraw)),
            energy_mj: num(Col::Energy),
            temp_c: num(Col::Temp),
            sm_mhz: num(Col::Sm),
            mem_mhz: num(Col::Mem),
            reasons: get(Col::Reasons).and_then(bitmask),
        })
    }

    /// The GPU index and cells of a data line; a header line sets the
    /// columns and gives `None`, as does a line without a GPU index.
    fn row<'a>(&mut self, line: &'a str) -> Option<(u32, Vec<&'a str>)> {
        let cells = cells(line);
        let first = cells.first()?;
        if first.is_empty() {
            return None;
        }
        let Ok(index) = first.parse::<u32>() else {
            if column(first) == Col::Index {
                self.cols = cells.iter().map(|c| column(c)).collect();
            }
            return None;
        };
        Some((index, cells))
    }

    /// The cell of a data line in the `want` column.
    fn cell<'a>(&self, cells: &[&'a str], want: Col) -> Option<&'a str> {
        self.cols
            .iter()
            .position(|c| *c == want)
            .and_then(|i| cells.get(i))
            .copied()
    }
}

/// Parses a whole output at once, every line stamped zero (fixtures).
pub fn parse_all(fields: &[&str], text: &str) -> Vec<Reading> {
    let mut p = CsvParser::new(fields);
    text.lines()
        .filter_map(|l| p.line(l, Duration::ZERO))
        .collect()
}

/// The fields worth sampling given a probe's output for `fields`: those at
/// least one GPU answered (`[N/A]` and `[Not Supported]` everywhere drop
/// out), `power.draw` only without `power.draw.instant`, and some power
/// field always (so a GPU without one is noted as such).
pub fn reported(fields: &[&'static str], probe: &str) -> Vec<&'static str> {
    let readings = parse_all(fields, probe);
    let any = |f: fn(&Reading) -> bool| readings.iter().any(f);
    let instant = fields.contains(&"power.draw.instant")
        && raw_column_reported(fields, probe, Col::PowerInstant);
    let mut kept: Vec<&'static str> = fields
        .iter()
        .copied()
        .filter(|f| match column(f) {
            Col::Index => true,
            Col::PowerInstant => instant,
            Col::PowerDraw => !instant,
            Col::Energy => any(|r| r.energy_mj.is_some()),
            Col::Temp => any(|r| r.temp_c.is_some()),
            Col::Sm => any(|r| r.sm_mhz.is_some()),
            Col::Mem => any(|r| r.mem_mhz.is_some()),
            Col::Reasons => any(|r| r.reasons.is_some()),
            Col::Other => false,
        })
        .collect();
    if !kept
        .iter()
        .any(|f| matches!(column(f), Col::PowerInstant | Col::PowerDraw))
    {
        kept.insert(1, "power.draw");
    }
    kept
}

/// Whether any data line has a value in the `want` column.
fn raw_column_reported(fields: &[&str], probe: &str, want: Col) -> bool {
    let mut parser = CsvParser::new(fields);
    probe.lines().any(|l| {
        parser
            .row(l)
            .is_some_and(|(_, cells)| parser.cell(&cells, want).and_then(number).is_some())
    })
}

/// The power field a sampled set carries.
pub fn power_field(fields: &[&'static str]) -> &'static str {
    fields
        .iter()
        .copied()
        .find(|f| matches!(column(f), Col::PowerInstant | Col::PowerDraw))
        .unwrap_or("power.draw")
}

/// The field an `nvidia-smi` refusal names: `Field "x" is not a valid
/// field to query.`
pub fn invalid_field(output: &str) -> Option<&str> {
    let line = output
        .lines()
        .find(|l| l.contains("is not a valid field"))?;
    let start = line.find('"')? + 1;
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}

/// The next field set to try after `refused` was rejected: an older name
/// for the event reasons, else the set without it; `None` when the field
/// was not asked for (the legacy set is left).
pub fn without(fields: &[&'static str], refused: &str) -> Option<Vec<&'static str>> {
    if !fields.contains(&refused) {
        return None;
    }
    Some(
        fields
            .iter()
            .copied()
            .filter_map(|f| match f {
                f if f != refused => Some(f),
                "clocks_event_reasons.active" => Some("clocks_throttle_reasons.active"),
                _ => None,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_by_header_and_alias() {
        assert_eq!(column("clocks.current.sm [MHz]"), Col::Sm);
        assert_eq!(column("power.draw.instant [W]"), Col::PowerInstant);
        assert_eq!(column("clocks_throttle_reasons.active"), Col::Reasons);
        assert_eq!(column("utilization.gpu [%]"), Col::Other);
    }

    #[test]
    fn refusals_walk_to_older_names() {
        let msg = "Field \"clocks_event_reasons.active\" is not a valid field to query.\n";
        assert_eq!(invalid_field(msg), Some("clocks_event_reasons.active"));
        let next = without(&FULL_FIELDS, "clocks_event_reasons.active").expect("known");
        assert_eq!(next.last(), Some(&"clocks_throttle_reasons.active"));
        let next = without(&next, "total_energy_consumption").expect("known");
        assert!(!next.contains(&"total_energy_consumption"));
        assert_eq!(without(&next, "bogus"), None);
        assert_eq!(invalid_field("Failed to initialize NVML"), None);
    }
}
