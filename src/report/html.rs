//! The report page: one self-contained HTML file that shows the plots (PNG files beside it), the
//! final figures and the resolved config. Every piece of text put in it is escaped.

use std::fmt::Write;

use super::figures::{FigureTable, number};
use super::metrics_table::MetricsTable;
use super::plots::{Plot, PlotSize};

/// What the page shows.
pub struct Page<'a> {
    /// The run directory, as the user named it.
    pub run_dir: &'a str,
    pub metrics: &'a MetricsTable,
    /// The plots, their PNG files beside the page.
    pub plots: &'a [Plot],
    pub size: PlotSize,
    /// The run's config.toml, if it has one.
    pub config: Option<&'a str>,
    /// The JSON files of results the run directory holds.
    pub results: &'a [FigureTable],
}

/// Escapes `text` for HTML text and double- or single-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;\
color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;\
padding:.2em .7em;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}\
img{max-width:100%;height:auto;display:block;margin:1em 0}pre{background:#f5f5f5;padding:1em;\
overflow:auto}.note{color:#a33}";

/// The page's HTML.
pub fn render(page: &Page) -> String {
    let mut html = String::new();
    let title = format!("cloze report: {}", page.run_dir);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    summary(&mut html, page.metrics);
    html.push_str("<h2>Final figures</h2>\n");
    last_step(&mut html, page.metrics);
    last_validation(&mut html, page.metrics);
    results(&mut html, page.results);
    plots(&mut html, page);
    config(&mut html, page.config);
    html.push_str("</body>\n</html>\n");
    html
}

/// What kind of run it is and how far it got, and whether metrics.csv ended cut short.
fn summary(html: &mut String, m: &MetricsTable) {
    let _ = writeln!(
        html,
        "<p>A {} run: {} steps logged, {} validation{}.</p>",
        escape(m.task.name()),
        m.train.len(),
        m.valid.len(),
        if m.valid.len() == 1 { "" } else { "s" }
    );
    if let Some(line) = m.partial_line {
        let _ = writeln!(
            html,
            "<p class=\"note\">Line {line} of {} was cut short (an interrupted run) and is left \
             out.</p>",
            escape(&m.path.display().to_string())
        );
    }
}

fn last_step(html: &mut String, m: &MetricsTable) {
    let Some(s) = m.last_step() else {
        html.push_str("<p>No training steps logged yet.</p>\n");
        return;
    };
    html.push_str("<h3>Last training step</h3>\n");
    table(
        html,
        &[
            ("step", s.step.to_string()),
            ("tokens", s.tokens.to_string()),
            ("loss", number(s.loss)),
            ("accuracy", number(s.accuracy)),
            ("learning rate", format!("{:.3e}", s.lr)),
            ("gradient norm", number(s.grad_norm)),
            ("tokens/s", format!("{:.1}", s.tokens_per_s)),
        ],
    );
}

fn last_validation(html: &mut String, m: &MetricsTable) {
    let Some((step, v)) = m.last_valid() else {
        html.push_str("<p>No validation rows.</p>\n");
        return;
    };
    let _ = writeln!(html, "<h3>Last validation (step {step})</h3>");
    table(
        html,
        &[
            ("valid loss", number(v.loss)),
            ("valid accuracy", number(v.accuracy)),
            (m.task.extra_label(), number(v.extra)),
        ],
    );
}

/// A table per JSON file of results, or why it could not be read.
fn results(html: &mut String, results: &[FigureTable]) {
    for result in results {
        let _ = writeln!(html, "<h3>{}</h3>", escape(&result.name));
        match &result.rows {
            Ok(rows) => {
                let rows: Vec<(&str, String)> =
                    rows.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                table(html, &rows);
            }
            Err(why) => {
                let _ = writeln!(html, "<p class=\"note\">{}</p>", escape(why));
            }
        }
    }
}

fn plots(html: &mut String, page: &Page) {
    html.push_str("<h2>Plots</h2>\n");
    for plot in page.plots {
        let _ = writeln!(
            html,
            "<img src=\"{}\" alt=\"{}\" width=\"{}\" height=\"{}\">",
            escape(plot.file),
            escape(plot.title),
            page.size.width,
            page.size.height
        );
    }
}

fn config(html: &mut String, config: Option<&str>) {
    html.push_str("<h2>Config</h2>\n");
    match config {
        Some(config) => {
            let _ = writeln!(html, "<pre>{}</pre>", escape(config));
        }
        None => html.push_str("<p>The run directory has no config.toml.</p>\n"),
    }
}

/// A two-column table of names and figures.
fn table(html: &mut String, rows: &[(&str, String)]) {
    html.push_str("<table>\n");
    for (name, value) in rows {
        let _ = writeln!(
            html,
            "<tr><th>{}</th><td class=\"n\">{}</td></tr>",
            escape(name),
            escape(value)
        );
    }
    html.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::metrics::{StepMetrics, ValidMetrics};
    use crate::report::metrics_table::Task;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("한국어 plain"), "한국어 plain");
    }

    #[test]
    fn the_page_escapes_everything_it_shows() {
        let metrics = MetricsTable {
            path: "<run>/metrics.csv".into(),
            task: Task::Finetuning,
            train: vec![StepMetrics {
                step: 8,
                tokens: 800,
                loss: 3.25,
                accuracy: 0.5,
                lr: 1e-3,
                grad_norm: 1.0,
                tokens_per_s: 100.0,
            }],
            valid: vec![(
                8,
                ValidMetrics {
                    loss: 3.5,
                    accuracy: 0.25,
                    extra: 12.5,
                },
            )],
            partial_line: Some(10),
        };
        let results = [FigureTable {
            name: "translate.json".into(),
            rows: Ok(vec![("<b>".into(), "x & y".into())]),
        }];
        let html = render(&Page {
            run_dir: "runs/<script>",
            metrics: &metrics,
            plots: &[],
            size: PlotSize::default(),
            config: Some("name = \"</pre><script>\""),
            results: &results,
        });
        assert!(!html.contains("<script>") && !html.contains("<b>"));
        assert!(html.contains("runs/&lt;script&gt;"));
        assert!(html.contains("<pre>name = &quot;&lt;/pre&gt;&lt;script&gt;&quot;</pre>"));
        assert!(html.contains("<th>&lt;b&gt;</th><td class=\"n\">x &amp; y</td>"));
        assert!(html.contains("<th>valid BLEU</th><td class=\"n\">12.5000</td>"));
        assert!(html.contains("Line 10 of &lt;run&gt;/metrics.csv"));
    }
}
