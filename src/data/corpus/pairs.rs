//! Translation pairs: two columns of a tabular file, row by row.

use std::path::Path;

use anyhow::{Result, bail};
use polars::prelude::StringChunked;

use super::table::{load_frame, string_columns};
use super::{InputFormat, SourceReport, TextPair};

/// Streams the aligned pairs of a tabular file; rows with an empty side are skipped and counted.
pub fn read_pairs(
    path: &Path,
    src_column: &str,
    tgt_column: &str,
    max_line_bytes: usize,
    mut sink: impl FnMut(TextPair) -> Result<()>,
) -> Result<SourceReport> {
    let format = InputFormat::from_path(path)?;
    if !format.is_tabular() {
        bail!(
            "{}: pairs are read from a tabular file (.tsv, .csv, .parquet, .jsonl), not plain text",
            path.display()
        );
    }
    let mut report = SourceReport::new(path, format);
    let frame = load_frame(path, format, max_line_bytes, &mut report)?;
    let columns = string_columns(
        path,
        &frame,
        &[src_column.to_owned(), tgt_column.to_owned()],
    )?;
    for row in 0..frame.height() {
        fn side(c: &StringChunked, row: usize) -> Option<&str> {
            c.get(row).map(str::trim).filter(|s| !s.is_empty())
        }
        match (side(&columns[0], row), side(&columns[1], row)) {
            (Some(src), Some(tgt)) => {
                report.documents += 1;
                report.segments += 2;
                sink(TextPair {
                    src: src.to_owned(),
                    tgt: tgt.to_owned(),
                })?;
            }
            _ => report.empty_records += 1,
        }
    }
    if report.documents == 0 {
        bail!("{}: no pair with text on both sides", path.display());
    }
    Ok(report)
}
