//! What `cloze report` prints about what it wrote.

use crate::report::ReportSummary;

/// A metrics line left out, each file written, then what the run held.
pub fn report_lines(summary: &ReportSummary) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(line) = summary.partial_line {
        lines.push(format!(
            "line {line} of metrics.csv was cut short (an interrupted run): left out"
        ));
    }
    lines.extend(
        summary
            .files
            .iter()
            .map(|file| format!("wrote {}", file.display())),
    );
    lines.push(format!(
        "{} run: {} steps, {} validation{}",
        summary.task.name(),
        summary.steps,
        summary.validations,
        if summary.validations == 1 { "" } else { "s" }
    ));
    lines
}
