//! The HTML renderer of `stackbench_report`'s tables: each [`Table`] as a
//! `<table>` with figure columns right-aligned, its marks as superscripts
//! linked to the notes that explain them, and `code` in notes as
//! `<code>`. It reads the typed tables, never their Markdown.

use stackbench_report::table::{Cell, Mark, Note, Table, Tables};

use crate::page::esc;

/// Escaped text with `` `code` `` spans as `<code>`.
fn inline(text: &str) -> String {
    text.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{}</code>", esc(part))
            } else {
                esc(part)
            }
        })
        .collect()
}

fn mark(m: Mark) -> String {
    format!(
        "<sup class=\"mark\"><a href=\"#note-{}\">{}</a></sup>",
        m.name(),
        esc(m.symbol())
    )
}

fn cell(tag: &str, numeric: bool, c: &Cell) -> String {
    let class = if numeric { " class=\"num\"" } else { "" };
    let marks: String = c.marks.iter().map(|m| mark(*m)).collect();
    format!("<{tag}{class}>{}{marks}</{tag}>", esc(c.value_text()))
}

/// A note as a paragraph, anchored by its mark.
pub fn note(n: &Note) -> String {
    match n.mark {
        Some(m) => format!(
            "<p class=\"note\" id=\"note-{}\">{} {}</p>\n",
            m.name(),
            esc(m.symbol()),
            inline(&n.text)
        ),
        None => format!("<p class=\"note\">{}</p>\n", inline(&n.text)),
    }
}

/// One table with its title and notes.
pub fn table(t: &Table) -> String {
    let numeric = t.numeric_columns();
    let mut out = t
        .title
        .as_ref()
        .map_or_else(String::new, |h| format!("<h3>{}</h3>\n", esc(h)));
    out += "<table>\n<thead><tr>";
    for (h, n) in t.columns.iter().zip(&numeric) {
        out += &cell("th", *n, &Cell::text(h.clone()));
    }
    out += "</tr></thead>\n<tbody>\n";
    for r in &t.rows {
        out += "<tr>";
        for (c, n) in r.iter().zip(&numeric) {
            out += &cell("td", *n, c);
        }
        out += "</tr>\n";
    }
    out += "</tbody>\n</table>\n";
    out + &t.notes.iter().map(note).collect::<String>()
}

/// Every table, then the closing notes.
pub fn tables(ts: &Tables) -> String {
    ts.tables.iter().map(table).collect::<String>() + &ts.notes.iter().map(note).collect::<String>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_tables_become_html_tables_with_linked_marks() {
        let mut t = Table::new(
            &["Stack", "tok/s"],
            vec![vec![
                Cell::text("vLLM <fast>").marked([Mark::Saturated]),
                Cell::num(Some(55.9), 1),
            ]],
        );
        t.title = Some("Single-user <tok/s>".into());
        t.notes.push(Mark::Speculative.note());
        let ts = Tables {
            tables: vec![t],
            notes: vec![Mark::WrongAnswer.note()],
        };
        let html = tables(&ts);
        assert!(
            html.contains("<h3>Single-user &lt;tok/s&gt;</h3>"),
            "{html}"
        );
        assert!(
            html.contains("<th>Stack</th><th class=\"num\">tok/s</th>"),
            "{html}"
        );
        assert!(
            html.contains("<td>vLLM &lt;fast&gt;<sup class=\"mark\"><a href=\"#note-saturated\">†</a></sup></td><td class=\"num\">55.9</td>"),
            "{html}"
        );
        assert!(
            html.contains("<p class=\"note\" id=\"note-speculative\">* speculative decoding:"),
            "{html}"
        );
        assert!(
            html.contains("(see <code>launch.known_answer</code> in its run.json)"),
            "{html}"
        );
        assert!(!html.contains("---") && !html.contains('|'), "{html}");
    }
}
