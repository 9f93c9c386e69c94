//! The tables as data: columns, rows of typed cells (text, a figure, or no
//! figure, each with its marks) and the notes that explain the marks. The
//! tables are built once (`tables`) and written by renderers: Markdown here
//! (`markdown`), HTML in `stackbench-html`. No renderer reads another's
//! output.

/// A footnote mark beside a cell, explained by a [`Note`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mark {
    /// `†`: the client was saturated in the run.
    Saturated,
    /// `✗`: the stack answered its known-answer question wrong.
    WrongAnswer,
    /// `‡`: no request completed, so completed-only figures are absent.
    NoneCompleted,
    /// `*`: a speculative-decoding bound (per verified step).
    Speculative,
    /// `°`: a published figure from an in-process tool (no server).
    InProcess,
    /// `§`: the server decoded far fewer streams at once than the users
    /// it was given: the row is a queue, not N streams.
    Queued,
    /// `¶`: the run is flagged `cache`, `unsteady` or `throttled`
    /// (`hygiene.flags` in its run.json).
    Flagged,
}

impl Mark {
    /// The mark as printed.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Saturated => "†",
            Self::WrongAnswer => "✗",
            Self::NoneCompleted => "‡",
            Self::Speculative => "*",
            Self::InProcess => "°",
            Self::Queued => "§",
            Self::Flagged => "¶",
        }
    }

    /// A short stable name (an HTML anchor).
    pub fn name(self) -> &'static str {
        match self {
            Self::Saturated => "saturated",
            Self::WrongAnswer => "wrong-answer",
            Self::NoneCompleted => "none-completed",
            Self::Speculative => "speculative",
            Self::InProcess => "in-process",
            Self::Queued => "queued",
            Self::Flagged => "flagged",
        }
    }

    /// The note that explains the mark.
    pub fn note(self) -> Note {
        let text = match self {
            Self::Saturated => "the client was saturated in this run (see its summary): its latencies and rates are partly the client's, not the server's.",
            Self::WrongAnswer => "the stack answered its known-answer question wrong before this run (see `launch.known_answer` in its run.json): its figures are not a result — fast and wrong is not fast.",
            Self::NoneCompleted => "no request completed in this run (every one was still streaming when it ended): per-stream decode rates and E2E come from completed requests only. TTFT and inter-token latencies include the streams cut off after their first token (`+N partial` under requests); lengthen the scenario or ask for fewer output tokens.",
            Self::Speculative => "speculative decoding: the bound is per verified step, and a step can emit several tokens.",
            Self::InProcess => "published by an in-process tool (llama-bench, llama-batched-bench: no HTTP server, no streaming, no chat template; see the stack's `[reference]` method): a run through the server is expected to be somewhat lower, so part of a negative Diff is the method, not the stack.",
            Self::Queued => "a queue, not concurrent streams: the server decoded about as many streams at once as the `decoding at once` column says (the requests' decode time over the run's wall time), fewer than half the users. The total is what that many streams give; the others waited, and their wait is in TTFT. Ollama serves some model families one request at a time whatever OLLAMA_NUM_PARALLEL says.",
            Self::Flagged => "flagged as not clean or not warm (see `hygiene.flags` in its run.json): `cache`, its prompts were already in the server's cache or its cache reset was not proven (run with --reset-cache, or --cache-salt); `unsteady`, the decode rate moved more than 15% between the first and last thirds of the window (warm up longer: --warmup-requests auto); `throttled`, the GPU slowed for heat or power.",
        };
        Note {
            mark: Some(self),
            text: text.into(),
        }
    }
}

/// A line under a table (or under all of them).
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// The mark it explains, if any.
    pub mark: Option<Mark>,
    /// The text, after the mark.
    pub text: String,
}

/// What a cell holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Words (a stack, a range, a ratio): left-aligned.
    Text(String),
    /// One figure as written (`41.0`, `+3.2%`): right-aligned.
    Figure(String),
    /// No figure (`-`).
    Missing,
}

/// One cell: a value and its marks.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The value.
    pub value: Value,
    /// Footnote marks, in order.
    pub marks: Vec<Mark>,
}

impl Cell {
    /// A text cell.
    pub fn text(s: impl Into<String>) -> Self {
        Self {
            value: Value::Text(s.into()),
            marks: Vec::new(),
        }
    }

    /// A figure already written.
    pub fn figure(s: impl Into<String>) -> Self {
        Self {
            value: Value::Figure(s.into()),
            marks: Vec::new(),
        }
    }

    /// `x` with `digits` decimals, or no figure.
    pub fn num(x: Option<f64>, digits: usize) -> Self {
        x.map_or_else(Self::missing, |v| Self::figure(format!("{v:.digits$}")))
    }

    /// No figure.
    pub fn missing() -> Self {
        Self {
            value: Value::Missing,
            marks: Vec::new(),
        }
    }

    /// The cell with `marks` added.
    pub fn marked(mut self, marks: impl IntoIterator<Item = Mark>) -> Self {
        self.marks.extend(marks);
        self
    }

    /// The value as text, without marks.
    pub fn value_text(&self) -> &str {
        match &self.value {
            Value::Text(s) | Value::Figure(s) => s,
            Value::Missing => "-",
        }
    }

    /// The cell as plain text: marks follow text after a space, and
    /// figures directly (`vLLM †`, `-‡`, `123*`).
    pub fn plain(&self) -> String {
        let gap = if matches!(self.value, Value::Text(_)) {
            " "
        } else {
            ""
        };
        let mut out = self.value_text().to_string();
        for m in &self.marks {
            out += gap;
            out += m.symbol();
        }
        out
    }

    /// Whether the cell holds a figure or none (a numeric column's cells).
    pub fn is_numeric(&self) -> bool {
        !matches!(self.value, Value::Text(_))
    }
}

/// One table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// Its heading, if it has one.
    pub title: Option<String>,
    /// Column headers.
    pub columns: Vec<String>,
    /// Rows, each as wide as `columns`.
    pub rows: Vec<Vec<Cell>>,
    /// Lines under it.
    pub notes: Vec<Note>,
}

impl Table {
    /// A table of `columns` and `rows`, with no title or notes.
    pub fn new(columns: &[&str], rows: Vec<Vec<Cell>>) -> Self {
        Self {
            title: None,
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows,
            notes: Vec::new(),
        }
    }

    /// Per column: right-aligned, because every cell is a figure or none.
    pub fn numeric_columns(&self) -> Vec<bool> {
        (0..self.columns.len())
            .map(|i| {
                !self.rows.is_empty()
                    && self
                        .rows
                        .iter()
                        .all(|r| r.get(i).is_some_and(Cell::is_numeric))
            })
            .collect()
    }

    /// Inserts a column at `at` with one cell per row.
    pub fn insert_column(&mut self, at: usize, header: &str, cells: Vec<Cell>) {
        self.columns.insert(at, header.to_string());
        for (row, c) in self.rows.iter_mut().zip(cells) {
            row.insert(at, c);
        }
    }
}

/// A set of tables and the notes under all of them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tables {
    /// The tables, in order.
    pub tables: Vec<Table>,
    /// Notes under the last table.
    pub notes: Vec<Note>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_follow_text_after_a_space_and_figures_directly() {
        let c = Cell::text("vLLM").marked([Mark::Saturated, Mark::WrongAnswer]);
        assert_eq!(c.plain(), "vLLM † ✗");
        assert_eq!(Cell::missing().marked([Mark::NoneCompleted]).plain(), "-‡");
        assert_eq!(
            Cell::figure("123").marked([Mark::Speculative]).plain(),
            "123*"
        );
        assert_eq!(Cell::num(Some(1.25), 1).plain(), "1.2");
    }

    #[test]
    fn a_column_is_numeric_when_every_cell_is_a_figure_or_none() {
        let t = Table::new(
            &["a", "b"],
            vec![
                vec![Cell::text("x"), Cell::num(Some(1.0), 1)],
                vec![Cell::text("y"), Cell::missing()],
            ],
        );
        assert_eq!(t.numeric_columns(), [false, true]);
        assert_eq!(Table::new(&["a"], vec![]).numeric_columns(), [false]);
    }
}
