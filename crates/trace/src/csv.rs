//! Azure LLM inference trace CSV (Azure/AzurePublicDataset, 2023 and
//! 2024): a header naming `TIMESTAMP`, `ContextTokens` and
//! `GeneratedTokens` (any order, other columns ignored), then one request
//! a row. `TIMESTAMP` is a UTC date and time, `2023-11-16
//! 18:15:46.6805900` (fraction optional, up to 9 digits, `T` also taken as
//! the separator), or a plain number of seconds. No quoting: the trace has
//! none, and a quoted field is an error, not a guess.

use crate::jsonl::time_us;
use crate::{in_arrival_order, Entry, TraceError};

/// The columns a row needs, by position.
struct Columns {
    time: usize,
    context: usize,
    generated: usize,
    width: usize,
}

fn columns(header: &str) -> Result<Columns, TraceError> {
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let find = |name: &str| {
        names
            .iter()
            .position(|n| n.trim_start_matches('\u{feff}') == name)
            .ok_or_else(|| {
                TraceError::at(
                    1,
                    format!("the header has no {name} column (it has: {header})"),
                )
            })
    };
    Ok(Columns {
        time: find("TIMESTAMP")?,
        context: find("ContextTokens")?,
        generated: find("GeneratedTokens")?,
        width: names.len(),
    })
}

/// The entries of an Azure CSV.
pub(crate) fn read(text: &str) -> Result<Vec<Entry>, TraceError> {
    let mut lines = text.lines().enumerate();
    let header = lines
        .next()
        .map(|(_, h)| h)
        .ok_or_else(|| TraceError::at(1, "empty file: expected a CSV header"))?;
    let cols = columns(header)?;
    let mut entries = Vec::new();
    for (i, row) in lines {
        let n = i + 1;
        if row.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = row.split(',').map(str::trim).collect();
        if fields.len() != cols.width || row.contains('"') {
            return Err(TraceError::at(
                n,
                format!("expected {} comma-separated fields, got: {row}", cols.width),
            ));
        }
        let at = timestamp_us(fields[cols.time]).ok_or_else(|| {
            TraceError::at(
                n,
                format!("TIMESTAMP {:?} is not a time", fields[cols.time]),
            )
        })?;
        let count = |k: usize, name: &str| {
            fields[k].parse::<u32>().map_err(|_| {
                TraceError::at(n, format!("{name} {:?} is not a token count", fields[k]))
            })
        };
        let entry = Entry {
            line: n,
            at_us: 0,
            input_tokens: count(cols.context, "ContextTokens")?,
            output_tokens: count(cols.generated, "GeneratedTokens")?,
            blocks: Vec::new(),
            link: None,
            chat: None,
        };
        entries.push((at, entry));
    }
    Ok(in_arrival_order(entries))
}

/// A TIMESTAMP as µs since 1970 (or since 0 for plain seconds).
fn timestamp_us(s: &str) -> Option<u64> {
    if let Ok(secs) = s.parse::<f64>() {
        return time_us(secs, 1e6);
    }
    let (date, time) = s.split_once([' ', 'T'])?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.trim_end_matches('Z');
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, min, sec) = (t.next()??, t.next()??, t.next()??);
    let valid = (1..=12).contains(&m) && (1..=31).contains(&day) && h < 24 && min < 60 && sec < 61;
    if !valid || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_us = format!("{frac:0<6}")[..6].parse::<u64>().ok()?;
    let secs = days_from_civil(y, m, day) * 86_400 + h * 3600 + min * 60 + sec;
    u64::try_from(secs)
        .ok()?
        .checked_mul(1_000_000)?
        .checked_add(frac_us)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{read as read_trace, Format};

    #[test]
    fn azure_rows_become_entries_timed_from_the_first() {
        let text = "TIMESTAMP,ContextTokens,GeneratedTokens\n\
            2023-11-16 18:15:46.6805900,374,44\n\
            2023-11-16 18:15:50.9951690,396,109\n\
            2023-11-16 18:15:46.0000000,1000,5\n";
        let t = read_trace(Format::Azure, text.as_bytes()).unwrap();
        assert_eq!(t.block_tokens, None);
        let got: Vec<_> = t
            .entries
            .iter()
            .map(|e| (e.line, e.at_us, e.input_tokens, e.output_tokens))
            .collect();
        assert_eq!(
            got,
            vec![
                (4, 0, 1000, 5),
                (2, 680_590, 374, 44),
                (3, 4_995_169, 396, 109)
            ]
        );
    }

    #[test]
    fn timestamps_are_read_as_utc_dates_or_seconds() {
        assert_eq!(timestamp_us("1970-01-02 00:00:01"), Some(86_401_000_000));
        assert_eq!(
            timestamp_us("2000-03-01T00:00:00Z"),
            Some(951_868_800_000_000)
        );
        assert_eq!(timestamp_us("12.5"), Some(12_500_000));
        for bad in [
            "2023-13-01 00:00:00",
            "yesterday",
            "2023-11-16",
            "2023-11-16 18:15:46.x",
            "-4",
        ] {
            assert_eq!(timestamp_us(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_bad_row_or_header_is_named() {
        let head = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
        for (text, line, says) in [
            ("TIMESTAMP,Context,Generated\n1,2,3", 1, "ContextTokens"),
            (&*format!("{head}1,2,3\n1,2"), 3, "3 comma-separated"),
            (&*format!("{head}1,two,3"), 2, "ContextTokens \"two\""),
            (&*format!("{head}soon,2,3"), 2, "not a time"),
            (&*format!("{head}\"1\",2,3"), 2, "fields"),
        ] {
            let e = read_trace(Format::Azure, text.as_bytes()).unwrap_err();
            assert_eq!(e.line, line, "{text}");
            assert!(e.why.contains(says), "{e}");
        }
    }
}
