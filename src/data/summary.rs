//! What `cloze tokenizer train`, `cloze shard` and the pipeline's data stages print about what
//! they wrote: the inputs' skipped lines, then the output. The stages put their name before each
//! line.

use std::path::Path;

use crate::data::prepare::ShardSummary;
use crate::data::tokenizer::TrainingReport;

/// The lines about a trained tokenizer written to `out`.
pub fn tokenizer_lines(out: &Path, report: &TrainingReport) -> Vec<String> {
    let mut lines: Vec<String> = report
        .sources
        .iter()
        .filter_map(|source| source.skipped_summary())
        .collect();
    lines.push(format!(
        "wrote {} (vocab {}) from {} segments, {:.1} MB in {:.1}s",
        out.display(),
        report.vocab_size,
        report.segments,
        report.bytes as f64 / 1e6,
        report.seconds
    ));
    lines
}

/// The lines about shards written to `out`: one per split, then the whole.
pub fn shard_lines(out: &Path, summary: &ShardSummary) -> Vec<String> {
    let manifest = &summary.manifest;
    let mut lines: Vec<String> = manifest
        .sources
        .iter()
        .filter_map(|source| source.skipped_summary())
        .collect();
    for (split, entries) in &manifest.shards {
        lines.push(format!(
            "{split}: {} shards, {} documents, {} rows, {} tokens",
            entries.len(),
            entries.iter().map(|e| e.documents).sum::<u64>(),
            entries.iter().map(|e| e.rows).sum::<u64>(),
            entries.iter().map(|e| e.tokens).sum::<u64>()
        ));
    }
    lines.push(format!(
        "wrote {} from {:.1} MB of text in {:.1}s",
        out.display(),
        summary.text_bytes as f64 / 1e6,
        summary.seconds
    ));
    lines
}
