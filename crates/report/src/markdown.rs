//! The Markdown renderer of [`crate::table`]: pipe tables with figure
//! columns right-aligned, `## ` headings, notes as paragraphs. Markdown
//! reads well in a terminal too, so it is also what the CLI prints.

use crate::table::{Mark, Note, Table, Tables};

/// A note as a Markdown line (`*` escaped so it is not a list item).
pub fn note(n: &Note) -> String {
    match n.mark {
        Some(Mark::Speculative) => format!("\\* {}\n", n.text),
        Some(m) => format!("{} {}\n", m.symbol(), n.text),
        None => format!("{}\n", n.text),
    }
}

/// The pipe table of `t`, without its title and notes.
pub fn grid(t: &Table) -> String {
    let rows: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|r| r.iter().map(|c| c.plain()).collect())
        .collect();
    let numeric = t.numeric_columns();
    let mut widths: Vec<usize> = t.columns.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let pad = |s: &str, w: usize, right: bool| {
        let n = w.saturating_sub(s.chars().count());
        if right {
            format!("{}{s}", " ".repeat(n))
        } else {
            format!("{s}{}", " ".repeat(n))
        }
    };
    let padded = |cells: &[String]| -> Vec<String> {
        cells
            .iter()
            .zip(&widths)
            .zip(&numeric)
            .map(|((c, w), r)| pad(c, *w, *r))
            .collect()
    };
    let mut out = line(padded(&t.columns));
    out += &line(
        widths
            .iter()
            .zip(&numeric)
            .map(|(w, r)| {
                let dashes = "-".repeat((*w).max(3) - 1);
                format!("{dashes}{}", if *r { ":" } else { "-" })
            })
            .collect(),
    );
    for row in &rows {
        out += &line(padded(row));
    }
    out
}

/// `t` with its `## ` title and its notes.
pub fn table(t: &Table) -> String {
    let mut out = t
        .title
        .as_ref()
        .map_or_else(String::new, |h| format!("## {h}\n\n"));
    out += &grid(t);
    for n in &t.notes {
        out += "\n";
        out += &note(n);
    }
    out
}

/// Every table, a blank line apart, then the closing notes.
pub fn tables(ts: &Tables) -> String {
    let mut out = ts.tables.iter().map(table).collect::<Vec<_>>().join("\n");
    for n in &ts.notes {
        out += "\n";
        out += &note(n);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Cell;

    #[test]
    fn table_aligns_numbers_right_and_text_left() {
        let t = Table::new(
            &["Stack", "tok/s"],
            vec![
                vec![Cell::text("vLLM"), Cell::num(Some(55.9), 1)],
                vec![Cell::text("Ollama"), Cell::num(Some(24.0), 1)],
            ],
        );
        let expected =
            "| Stack  | tok/s |\n| ------ | ----: |\n| vLLM   |  55.9 |\n| Ollama |  24.0 |\n";
        assert_eq!(grid(&t), expected);
    }

    #[test]
    fn titles_and_notes_frame_the_grid() {
        let mut t = Table::new(&["a"], vec![vec![Cell::missing()]]);
        t.title = Some("Head".into());
        t.notes.push(Mark::Speculative.note());
        let md = table(&t);
        assert!(md.starts_with("## Head\n\n| "), "{md}");
        assert!(md.ends_with("\n\\* speculative decoding: the bound is per verified step, and a step can emit several tokens.\n"), "{md}");
    }
}
