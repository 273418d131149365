//! Tabular files (TSV, CSV, Parquet, JSON lines), read whole with polars into string columns.

use std::io::{BufRead, Cursor};
use std::path::Path;

use anyhow::{Context, Result, bail};
use polars::prelude::{
    CsvParseOptions, CsvReadOptions, DataFrame, DataType, JsonFormat, JsonReader, ParquetReader,
    SerReader, StringChunked,
};

use super::lines::for_each_line;
use super::open::{open_decompressed, reject_binary};
use super::{Document, InputFormat, ReadOptions, SourceReport};

/// Loads a tabular file into a frame whose columns are all strings.
pub(super) fn load_frame(
    path: &Path,
    format: InputFormat,
    max_line_bytes: usize,
    report: &mut SourceReport,
) -> Result<DataFrame> {
    let mut reader = open_decompressed(path)?;
    if format == InputFormat::Parquet {
        return read_parquet(path, reader.as_mut(), report);
    }
    reject_binary(path, reader.as_mut())?;
    let clean = clean_lines(path, reader.as_mut(), max_line_bytes, report)?;
    let cursor = Cursor::new(clean);
    match format {
        InputFormat::JsonLines => JsonReader::new(cursor)
            .with_json_format(JsonFormat::JsonLines)
            .infer_schema_len(None)
            .finish()
            .with_context(|| format!("{}: not valid JSON lines", path.display())),
        _ => read_delimited(path, format, cursor),
    }
}

fn read_parquet(
    path: &Path,
    reader: &mut dyn BufRead,
    report: &mut SourceReport,
) -> Result<DataFrame> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    report.bytes = bytes.len() as u64;
    if bytes.is_empty() {
        bail!("{}: file is empty", path.display());
    }
    ParquetReader::new(Cursor::new(bytes))
        .finish()
        .with_context(|| format!("{}: not a readable Parquet file", path.display()))
}

/// The readable lines of a text-based table, each ending in `\n`: cleaned line by line first, so
/// that one bad line costs one record, not the file.
fn clean_lines(
    path: &Path,
    reader: &mut dyn BufRead,
    max_line_bytes: usize,
    report: &mut SourceReport,
) -> Result<Vec<u8>> {
    let mut clean = Vec::new();
    for_each_line(path, reader, max_line_bytes, report, |_, line| {
        clean.extend_from_slice(line.as_bytes());
        clean.push(b'\n');
        Ok(())
    })?;
    if clean.iter().all(|b| b.is_ascii_whitespace()) {
        bail!("{}: file is empty", path.display());
    }
    Ok(clean)
}

/// TSV or CSV with a header row; every column is read as text.
fn read_delimited(path: &Path, format: InputFormat, cursor: Cursor<Vec<u8>>) -> Result<DataFrame> {
    let separator = if format == InputFormat::Tsv {
        b'\t'
    } else {
        b','
    };
    // TSV has no quoting: a quote character is text. CSV follows RFC 4180.
    let quote = (format == InputFormat::Csv).then_some(b'"');
    CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .with_parse_options(
            CsvParseOptions::default()
                .with_separator(separator)
                .with_quote_char(quote)
                .with_truncate_ragged_lines(true),
        )
        .into_reader_with_file_handle(cursor)
        .finish()
        .with_context(|| format!("{}: not a readable {format:?} file", path.display()))
}

/// The string values of the named columns, row by row (`None` for nulls).
pub(super) fn string_columns(
    path: &Path,
    frame: &DataFrame,
    names: &[String],
) -> Result<Vec<StringChunked>> {
    let available: Vec<String> = frame
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let names: Vec<String> = if names.is_empty() {
        let text_columns: Vec<&String> = frame
            .columns()
            .iter()
            .zip(&available)
            .filter(|(c, _)| c.dtype() == &DataType::String)
            .map(|(_, n)| n)
            .collect();
        match text_columns.as_slice() {
            [only] => vec![(*only).clone()],
            _ => bail!(
                "{}: choose the text column(s) with --column; available columns: {}",
                path.display(),
                available.join(", ")
            ),
        }
    } else {
        names.to_vec()
    };
    names
        .iter()
        .map(|name| {
            let column = frame.column(name).map_err(|_| {
                anyhow::anyhow!(
                    "{}: no column '{name}'; available columns: {}",
                    path.display(),
                    available.join(", ")
                )
            })?;
            let strings = column.cast(&DataType::String).with_context(|| {
                format!("{}: column '{name}' cannot be read as text", path.display())
            })?;
            Ok(strings.str()?.clone())
        })
        .collect()
}

/// Every row of a tabular file is one document whose segments are the chosen columns, in order.
pub(super) fn read_tabular_documents(
    path: &Path,
    format: InputFormat,
    options: &ReadOptions,
    mut sink: impl FnMut(Document) -> Result<()>,
) -> Result<SourceReport> {
    let mut report = SourceReport::new(path, format);
    let frame = load_frame(path, format, options.max_line_bytes, &mut report)?;
    let columns = string_columns(path, &frame, &options.columns)?;
    for row in 0..frame.height() {
        let segments: Vec<String> = columns
            .iter()
            .filter_map(|c| c.get(row))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if segments.is_empty() {
            report.empty_records += 1;
            continue;
        }
        report.documents += 1;
        report.segments += segments.len() as u64;
        sink(Document { segments })?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use crate::data::corpus::ReadOptions;
    use crate::data::corpus::tests::{docs, write};

    #[test]
    fn unknown_column_lists_the_available_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "t.csv", b"a,b\n1,\"x, y\"\n");
        let options = ReadOptions {
            columns: vec!["c".into()],
            ..ReadOptions::default()
        };
        let err = format!("{:#}", docs(&path, &options).unwrap_err());
        assert!(
            err.contains("t.csv") && err.contains("no column 'c'") && err.contains("a, b"),
            "{err}"
        );
        let options = ReadOptions {
            columns: vec!["b".into()],
            ..ReadOptions::default()
        };
        assert_eq!(docs(&path, &options).unwrap().0[0].segments, ["x, y"]);
    }
}
