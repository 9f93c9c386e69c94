//! The HTML around the charts and tables: one self-contained page (inline
//! CSS, inline SVG, one small inline script and nothing fetched).

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The whole page around `body`: `runs` runs from `sources`, generated at
/// `generated`.
pub fn document(body: &str, runs: usize, sources: &[String], generated: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>stackbench report</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n<h1>stackbench report</h1>\n<p class=\"meta\">{runs} runs from {}; generated {} by stackbench {}.</p>\n{body}<footer class=\"meta\" id=\"self-check\"></footer>\n<script>\n{SELF_CHECK}\n</script>\n</body>\n</html>\n",
        esc(&sources.join(", ")),
        esc(generated),
        env!("CARGO_PKG_VERSION"),
    )
}

/// The page's style: readable on screen and in print, no web fonts.
pub const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}h3{margin-top:1.5em}
.meta{color:#666;font-size:.9em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0 1em}th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left}th{background:#f6f6f6}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1.2em 0;page-break-inside:avoid}figure svg{max-width:100%;height:auto;border:1px solid #eee}figcaption{color:#555;font-size:.88em;max-width:760px}
code{font-size:.9em}.note{font-size:.88em;color:#444}sup.mark a{text-decoration:none;color:inherit}.warning{color:#8a3b00;font-size:.9em}";

/// Checks, in the browser, that every chart laid out with something drawn
/// in it, and counts script errors; writes both on `<body>` (where a
/// headless browser's DOM dump shows them) and in the footer.
pub const SELF_CHECK: &str = "(function(){var errors=0;window.addEventListener('error',function(){errors++;document.body.setAttribute('data-errors',errors);});
var figs=document.querySelectorAll('figure svg'),drawn=0;
for(var i=0;i<figs.length;i++){var b=figs[i].getBBox();var marks=figs[i].querySelectorAll('polyline,path,circle,line,rect').length;if(b.width>0&&b.height>0&&marks>4){drawn++;}}
document.body.setAttribute('data-plots',figs.length);document.body.setAttribute('data-drawn',drawn);document.body.setAttribute('data-errors',errors);
var f=document.getElementById('self-check');if(f){f.textContent=drawn+' of '+figs.length+' charts drawn.';}})();";
