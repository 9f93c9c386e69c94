//! Prometheus text exposition format (what vLLM's and llama-server's
//! `/metrics` serve), parsed into samples.
//!
//! Handles `# HELP` / `# TYPE` comments, labels with quoted and escaped
//! values, optional timestamps, `NaN` and `±Inf`; skips the `_created`
//! samples prometheus_client adds (they are timestamps, not counters).

use std::collections::BTreeMap;

/// One sample: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name, e.g. `llamacpp:tokens_predicted_total`.
    pub name: String,
    /// Labels in key order.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
}

/// A line that is not valid exposition format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}: {text}")]
pub struct PromError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: &'static str,
    /// The line.
    pub text: String,
}

/// Parses a whole page.
pub fn parse_prometheus(text: &str) -> Result<Vec<Sample>, PromError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |reason| PromError {
            line: i + 1,
            reason,
            text: raw.to_string(),
        };
        let (name, rest) = split_name(line).ok_or_else(|| err("no metric name"))?;
        let (labels, rest) = if let Some(after) = rest.strip_prefix('{') {
            parse_labels(after).ok_or_else(|| err("bad labels"))?
        } else {
            (BTreeMap::new(), rest)
        };
        let value_text = rest
            .split_whitespace()
            .next()
            .ok_or_else(|| err("no value"))?;
        let value = parse_value(value_text).ok_or_else(|| err("bad value"))?;
        if name.ends_with("_created") {
            continue;
        }
        out.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    Ok(out)
}

fn split_name(line: &str) -> Option<(&str, &str)> {
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    (end > 0).then(|| (&line[..end], line[end..].trim_start()))
}

/// Parses `k="v",k2="v2"}` (the part after `{`); returns labels and the rest.
fn parse_labels(mut s: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix('}') {
            return Some((labels, rest.trim_start()));
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim().to_string();
        let mut chars = s[eq + 1..].trim_start().char_indices();
        let body_start = s.len() - s[eq + 1..].trim_start().len();
        if chars.next()?.1 != '"' {
            return None;
        }
        let mut value = String::new();
        let mut escaped = false;
        let mut end = None;
        for (j, c) in chars {
            match (escaped, c) {
                (true, 'n') => {
                    value.push('\n');
                    escaped = false;
                }
                (true, c) => {
                    value.push(c);
                    escaped = false;
                }
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(body_start + j + 1);
                    break;
                }
                (false, c) => value.push(c),
            }
        }
        labels.insert(key, value);
        s = s[end?..].trim_start();
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// Sum of every sample named `name` (all label sets), or `None` if absent.
pub fn total(samples: &[Sample], name: &str) -> Option<f64> {
    let mut found = false;
    let sum = samples
        .iter()
        .filter(|s| s.name == name)
        .inspect(|_| found = true)
        .map(|s| s.value)
        .sum();
    found.then_some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_escapes_timestamps_and_specials() {
        let page = "# HELP x help\n# TYPE x counter\nx_total 3\nvllm:num_requests_running{engine=\"0\",model_name=\"a \\\"q\\\" b\"} 2 1700000000000\nh_bucket{le=\"+Inf\"} +Inf\nn NaN\nvllm:x_created 1.7e9\n";
        let s = parse_prometheus(page).unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].name, "x_total");
        assert_eq!(s[1].labels["model_name"], "a \"q\" b");
        assert_eq!(s[1].labels["engine"], "0");
        assert_eq!(s[1].value, 2.0);
        assert!(s[2].value.is_infinite());
        assert!(s[3].value.is_nan());
    }

    #[test]
    fn bad_lines_are_errors_with_their_number() {
        let e = parse_prometheus("ok 1\nbroken{le=\"1\" 2\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(parse_prometheus("x notanumber").is_err());
    }

    #[test]
    fn totals_sum_label_sets() {
        let s = parse_prometheus("a{p=\"1\"} 2\na{p=\"2\"} 3\n").unwrap();
        assert_eq!(total(&s, "a"), Some(5.0));
        assert_eq!(total(&s, "b"), None);
    }
}
