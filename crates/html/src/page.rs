//! The HTML around the charts: one self-contained page (inline CSS, inline
//! SVG, one small inline script and nothing fetched), the comparison
//! tables rendered from their Markdown, and a list of runs with their
//! `.hgrm` files.

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(|c| c.trim().to_string()).collect()
}

/// The Markdown that `stackbench_report` writes (headings, pipe tables,
/// paragraphs) as HTML. Not a general Markdown renderer: it only needs to
/// read our own tables.
pub fn markdown_tables(md: &str) -> String {
    let mut out = String::new();
    let lines: Vec<&str> = md.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if let Some(h) = line.strip_prefix("## ") {
            out += &format!("<h3>{}</h3>\n", esc(h));
            i += 1;
        } else if line.starts_with('|') {
            let mut rows = Vec::new();
            while i < lines.len() && lines[i].trim().starts_with('|') {
                rows.push(cells(lines[i]));
                i += 1;
            }
            out += &table(&rows);
        } else if !line.is_empty() {
            out += &format!("<p>{}</p>\n", esc(line.trim_start_matches('\\')));
            i += 1;
        } else {
            i += 1;
        }
    }
    out
}

fn table(rows: &[Vec<String>]) -> String {
    let Some((head, rest)) = rows.split_first() else {
        return String::new();
    };
    let (align, body) = match rest.split_first() {
        Some((sep, body)) if sep.iter().all(|c| c.chars().all(|ch| "-: ".contains(ch))) => (
            sep.iter().map(|c| c.ends_with(':')).collect::<Vec<_>>(),
            body,
        ),
        _ => (vec![false; head.len()], rest),
    };
    let cell = |tag: &str, k: usize, text: &str| {
        let class = if align.get(k).copied().unwrap_or(false) {
            " class=\"num\""
        } else {
            ""
        };
        format!("<{tag}{class}>{}</{tag}>", esc(text))
    };
    let mut out = String::from("<table>\n<thead><tr>");
    for (k, h) in head.iter().enumerate() {
        out += &cell("th", k, h);
    }
    out += "</tr></thead>\n<tbody>\n";
    for r in body {
        out += "<tr>";
        for (k, c) in r.iter().enumerate() {
            out += &cell("td", k, c);
        }
        out += "</tr>\n";
    }
    out + "</tbody>\n</table>\n"
}

/// The page's style: readable on screen and in print, no web fonts.
pub const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}h3{margin-top:1.5em}
.meta{color:#666;font-size:.9em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0 1em}th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left}th{background:#f6f6f6}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1.2em 0;page-break-inside:avoid}figure svg{max-width:100%;height:auto;border:1px solid #eee}figcaption{color:#555;font-size:.88em;max-width:760px}
code{font-size:.9em}";

/// Checks, in the browser, that every chart laid out with something drawn
/// in it, and counts script errors; writes both on `<body>` (where a
/// headless browser's DOM dump shows them) and in the footer.
pub const SELF_CHECK: &str = "(function(){var errors=0;window.addEventListener('error',function(){errors++;document.body.setAttribute('data-errors',errors);});
var figs=document.querySelectorAll('figure svg'),drawn=0;
for(var i=0;i<figs.length;i++){var b=figs[i].getBBox();var marks=figs[i].querySelectorAll('polyline,path,circle,line,rect').length;if(b.width>0&&b.height>0&&marks>4){drawn++;}}
document.body.setAttribute('data-plots',figs.length);document.body.setAttribute('data-drawn',drawn);document.body.setAttribute('data-errors',errors);
var f=document.getElementById('self-check');if(f){f.textContent=drawn+' of '+figs.length+' charts drawn.';}})();";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_markdown_tables_become_html_tables() {
        let md = "## Single-user <tok/s>\n\n| Stack | tok/s |\n| ----- | ----: |\n| vLLM  |  55.9 |\n\n\\* note\n";
        let html = markdown_tables(md);
        assert!(
            html.contains("<h3>Single-user &lt;tok/s&gt;</h3>"),
            "{html}"
        );
        assert!(
            html.contains("<th>Stack</th><th class=\"num\">tok/s</th>"),
            "{html}"
        );
        assert!(
            html.contains("<td>vLLM</td><td class=\"num\">55.9</td>"),
            "{html}"
        );
        assert!(html.contains("<p>* note</p>"), "{html}");
        assert!(!html.contains("-----"), "{html}");
    }
}
