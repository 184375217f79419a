//! The skeleton of every `report.html`: one self-contained page (inline CSS and SVG, no scripts,
//! no external assets) with a header and a main part.

use std::fmt::{self, Write};

use super::Esc;

/// The CSS of every report page; the badge classes are the words of `words`.
const STYLE: &str = "\
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;color:#1d1d1f}\
h1{margin:.2em 0}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}\
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f4f4f6}td.n{text-align:right;font-variant-numeric:tabular-nums}\
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}\
pre{background:#f7f7f9;border:1px solid #e3e3e8;padding:.6em;white-space:pre-wrap;word-break:break-all;margin:.3em 0}\
.badge{display:inline-block;border-radius:3px;padding:0 6px;font-size:12px;font-weight:600;color:#fff;text-transform:uppercase}\
.pass{background:#2e7d32}.warn,.warning{background:#b26a00}.deviation{background:#1565c0}\
.fail,.failure{background:#c62828}.aborted{background:#6a1b9a}.untested,.follow-on{background:#8a8a8e}\
.verdict{font-size:20px;padding:2px 12px}\
.banner{background:#fff3cd;border:1px solid #e0b400;padding:.6em 1em;font-weight:600}\
.case,.req{border:1px solid #ddd;border-radius:4px;padding:.2em 1em 1em;margin:1em 0}\
.pair{display:grid;grid-template-columns:1fr 1fr;gap:1em}h4{margin:.8em 0 .2em}h5{margin:.3em 0}\
svg{max-width:100%;height:auto}.muted{color:#6e6e73}";

/// A whole page titled `title`: the `header` part, then the `main` part.
pub(crate) fn document(
    title: &str,
    header: impl FnOnce(&mut String) -> fmt::Result,
    main: impl FnOnce(&mut String) -> fmt::Result,
) -> String {
    let mut out = String::new();
    let render = |out: &mut String| -> fmt::Result {
        writeln!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{}</title><style>{STYLE}</style></head><body>",
            Esc(title)
        )?;
        header(out)?;
        writeln!(out, "<main>")?;
        main(out)?;
        writeln!(out, "</main></body></html>")
    };
    render(&mut out).expect("formatting into a String cannot fail");
    out
}

/// A coloured label; `class` is one of the words of `words`, which the CSS colours.
pub(crate) fn badge(class: &str) -> String {
    format!(r#"<span class="badge {class}">{class}</span>"#)
}

#[cfg(test)]
mod tests {
    use super::super::{severity_word, verdict_word};
    use super::*;
    use crate::finding::Severity;
    use crate::verdict::Verdict;

    #[test]
    fn wraps_header_and_main_in_one_page() {
        let html = document(
            "report <1>",
            |out| write!(out, "<header>H</header>"),
            |out| write!(out, "M"),
        );
        assert!(html.starts_with("<!DOCTYPE html>\n"));
        assert!(html.contains("<title>report &lt;1&gt;</title>"));
        assert!(html.ends_with("<body>\n<header>H</header><main>\nM</main></body></html>\n"));
    }

    #[test]
    fn every_badge_class_has_a_colour() {
        let severities = [
            Severity::Pass,
            Severity::FollowOn,
            Severity::Warning,
            Severity::Deviation,
            Severity::Failure,
        ]
        .map(severity_word);
        let verdicts = [
            Verdict::Pass,
            Verdict::Warn,
            Verdict::Deviation,
            Verdict::Fail,
            Verdict::Aborted,
            Verdict::Untested,
        ]
        .map(verdict_word);
        for class in severities.into_iter().chain(verdicts) {
            let rule = STYLE.split('}').find(|rule| {
                rule.split('{')
                    .next()
                    .unwrap()
                    .split(',')
                    .any(|s| s == format!(".{class}"))
            });
            assert!(rule.is_some_and(|r| r.contains("background:")), "{class}");
        }
    }
}
