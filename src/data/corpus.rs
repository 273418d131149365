//! Raw text corpora: plain text, TSV/CSV, Parquet and JSON lines, each optionally gzip-compressed.
//!
//! Plain text is streamed line by line; tabular formats are read with polars. Every reader skips and
//! counts what it cannot use (invalid UTF-8, over-long lines, empty records) instead of failing, and
//! fails with the file's name (and line or column) on what makes the whole file unusable.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use flate2::read::MultiGzDecoder;
use polars::prelude::{
    CsvParseOptions, CsvReadOptions, DataFrame, DataType, JsonFormat, JsonReader, ParquetReader,
    SerReader, StringChunked,
};
use serde::{Deserialize, Serialize};

/// Lines longer than this are skipped by default (bytes, after decompression).
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;
/// How many skipped lines of each kind are reported one by one before only counting.
const WARNINGS_PER_FILE: usize = 5;
/// How many leading bytes are inspected to recognise a binary file.
const SNIFF_BYTES: usize = 8192;

/// The container format of an input file, from its extension (a trailing `.gz` is ignored).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    Text,
    Tsv,
    Csv,
    Parquet,
    JsonLines,
}

impl InputFormat {
    /// Recognises `.txt`, `.tsv`, `.csv`, `.parquet`, `.jsonl`/`.ndjson`, each optionally with `.gz`.
    pub fn from_path(path: &Path) -> Result<Self> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        Ok(match ext {
            "txt" | "text" => Self::Text,
            "tsv" | "tab" => Self::Tsv,
            "csv" => Self::Csv,
            "parquet" | "pq" => Self::Parquet,
            "jsonl" | "ndjson" => Self::JsonLines,
            _ => bail!(
                "{}: unknown input format '.{ext}'; supported: .txt, .tsv, .csv, .parquet, .jsonl \
                 (each optionally .gz)",
                path.display()
            ),
        })
    }

    fn is_tabular(self) -> bool {
        self != Self::Text
    }
}

/// Where one document ends and the next begins in a plain-text file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DocBoundary {
    /// Blank lines separate documents if the file has any blank line; otherwise every line is one.
    #[default]
    Auto,
    /// A blank line separates documents (BERT's input format).
    BlankLine,
    /// Every line is a document of its own.
    Line,
}

/// How input files are read.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Columns whose values are read from tabular files, in order; empty means "the only text column".
    pub columns: Vec<String>,
    /// Lines longer than this many bytes are skipped and counted.
    pub max_line_bytes: usize,
    pub doc_boundary: DocBoundary,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            columns: Vec::new(),
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            doc_boundary: DocBoundary::Auto,
        }
    }
}

/// Consecutive text segments (sentences, lines, cells) that belong together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Document {
    pub segments: Vec<String>,
}

/// One aligned source/target pair of a parallel corpus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextPair {
    pub src: String,
    pub tgt: String,
}

/// What reading one file produced and what it skipped.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SourceReport {
    pub path: String,
    pub format: Option<InputFormat>,
    pub bytes: u64,
    pub documents: u64,
    pub segments: u64,
    pub invalid_utf8_lines: u64,
    pub long_lines: u64,
    pub empty_records: u64,
}

impl SourceReport {
    fn new(path: &Path, format: InputFormat) -> Self {
        Self {
            path: path.display().to_string(),
            format: Some(format),
            ..Self::default()
        }
    }

    /// A one-line human summary of what was skipped, or `None` when nothing was.
    pub fn skipped_summary(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.invalid_utf8_lines > 0 {
            parts.push(format!(
                "{} lines of invalid UTF-8",
                self.invalid_utf8_lines
            ));
        }
        if self.long_lines > 0 {
            parts.push(format!(
                "{} lines over the line-length limit",
                self.long_lines
            ));
        }
        if self.empty_records > 0 {
            parts.push(format!("{} empty records", self.empty_records));
        }
        (!parts.is_empty()).then(|| format!("{}: skipped {}", self.path, parts.join(", ")))
    }
}

/// Checks that every input exists, is a regular file of a known format, before any work starts.
pub fn check_inputs(paths: &[PathBuf]) -> Result<()> {
    if paths.is_empty() {
        bail!("no input files given");
    }
    for path in paths {
        let meta = std::fs::metadata(path)
            .with_context(|| format!("cannot read input file {}", path.display()))?;
        if !meta.is_file() {
            bail!("{}: not a regular file", path.display());
        }
        InputFormat::from_path(path)?;
    }
    Ok(())
}

/// The bytes of text a file holds, for progress bars: a gzip file's trailer gives its
/// uncompressed size (modulo 4 GiB, so this is an estimate); otherwise the file's size.
pub fn text_size_hint(path: &Path) -> u64 {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let gzip_size = || -> std::io::Result<u64> {
        use std::io::{Seek, SeekFrom};
        let mut file = File::open(path)?;
        let mut magic = [0u8; 2];
        file.read_exact(&mut magic)?;
        if magic != [0x1f, 0x8b] || size < 18 {
            return Ok(size);
        }
        let mut trailer = [0u8; 4];
        file.seek(SeekFrom::End(-4))?;
        file.read_exact(&mut trailer)?;
        Ok(u64::from(u32::from_le_bytes(trailer)))
    };
    gzip_size().unwrap_or(size)
}

/// Opens a file, transparently decompressing gzip (recognised by its magic bytes).
fn open_decompressed(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let head = reader
        .fill_buf()
        .with_context(|| format!("cannot read {}", path.display()))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            MultiGzDecoder::new(reader),
        )))
    } else {
        Ok(Box::new(reader))
    }
}

/// Fails if the leading bytes hold a NUL byte, the mark of a binary file (as git decides it).
fn reject_binary(path: &Path, reader: &mut dyn BufRead) -> Result<()> {
    let head = reader
        .fill_buf()
        .with_context(|| format!("cannot read {}", path.display()))?;
    let head = &head[..head.len().min(SNIFF_BYTES)];
    if let Some(offset) = head.iter().position(|&b| b == 0) {
        bail!(
            "{}: looks like a binary file (NUL byte at offset {offset}), not text",
            path.display()
        );
    }
    Ok(())
}

/// Splits a decompressed stream into lines, skipping (and counting) invalid UTF-8 and over-long
/// lines; `on_line` gets the 1-based line number and the text without its line ending.
fn for_each_line(
    path: &Path,
    reader: &mut dyn BufRead,
    max_line_bytes: usize,
    report: &mut SourceReport,
    mut on_line: impl FnMut(u64, &str) -> Result<()>,
) -> Result<()> {
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = read_line_capped(reader, &mut buf, max_line_bytes)
            .with_context(|| format!("{}: read failed after line {line_no}", path.display()))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        report.bytes += n as u64;
        if n > max_line_bytes + 2 {
            report.long_lines += 1;
            if report.long_lines as usize <= WARNINGS_PER_FILE {
                tracing::warn!(
                    "{}:{line_no}: line of {n} bytes skipped (longer than the limit of {max_line_bytes} bytes)",
                    path.display()
                );
            }
            continue;
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        match std::str::from_utf8(&buf) {
            Ok(text) => on_line(line_no, text)?,
            Err(e) => {
                report.invalid_utf8_lines += 1;
                if report.invalid_utf8_lines as usize <= WARNINGS_PER_FILE {
                    tracing::warn!(
                        "{}:{line_no}: line skipped, invalid UTF-8 at byte {}",
                        path.display(),
                        e.valid_up_to()
                    );
                }
            }
        }
    }
    Ok(())
}

/// Reads one line into `buf`, keeping at most `cap + 2` bytes of it, and returns its full length.
/// A line of any length is consumed without holding more than the cap in memory.
fn read_line_capped(
    reader: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<usize> {
    let mut total = 0usize;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(total);
        }
        let (chunk, done) = match memchr_newline(available) {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let len = chunk.len();
        let keep = (cap + 2).saturating_sub(buf.len()).min(len);
        buf.extend_from_slice(&chunk[..keep]);
        total += len;
        reader.consume(len);
        if done {
            return Ok(total);
        }
    }
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

/// Streams the documents of one file into `sink`, returning what was read and skipped.
pub fn read_documents(
    path: &Path,
    options: &ReadOptions,
    sink: impl FnMut(Document) -> Result<()>,
) -> Result<SourceReport> {
    let format = InputFormat::from_path(path)?;
    let report = if format.is_tabular() {
        read_tabular_documents(path, format, options, sink)?
    } else {
        read_text_documents(path, options, sink)?
    };
    if report.documents == 0 {
        bail!(
            "{}: no text found ({} bytes read{})",
            path.display(),
            report.bytes,
            report
                .skipped_summary()
                .map(|s| format!("; {}", s.split_once(": ").map_or("", |p| p.1)))
                .unwrap_or_default()
        );
    }
    Ok(report)
}

/// Whether a plain-text file has a blank line, which makes blank lines document boundaries.
fn has_blank_line(path: &Path, max_line_bytes: usize) -> Result<bool> {
    let mut reader = open_decompressed(path)?;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if read_line_capped(reader.as_mut(), &mut buf, max_line_bytes)
            .with_context(|| format!("cannot read {}", path.display()))?
            == 0
        {
            return Ok(false);
        }
        if buf.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(true);
        }
    }
}

fn read_text_documents(
    path: &Path,
    options: &ReadOptions,
    mut sink: impl FnMut(Document) -> Result<()>,
) -> Result<SourceReport> {
    let per_line = match options.doc_boundary {
        DocBoundary::Line => true,
        DocBoundary::BlankLine => false,
        DocBoundary::Auto => !has_blank_line(path, options.max_line_bytes)?,
    };
    let mut reader = open_decompressed(path)?;
    reject_binary(path, reader.as_mut())?;
    let mut report = SourceReport::new(path, InputFormat::Text);
    let mut doc = Document::default();
    let mut counts = (0u64, 0u64);
    let mut flush = |doc: &mut Document, counts: &mut (u64, u64)| -> Result<()> {
        if !doc.segments.is_empty() {
            counts.0 += 1;
            counts.1 += doc.segments.len() as u64;
            sink(std::mem::take(doc))?;
        }
        Ok(())
    };
    for_each_line(
        path,
        reader.as_mut(),
        options.max_line_bytes,
        &mut report,
        |_, line| {
            let text = line.trim();
            if text.is_empty() {
                flush(&mut doc, &mut counts)
            } else {
                doc.segments.push(text.to_owned());
                if per_line {
                    flush(&mut doc, &mut counts)?;
                }
                Ok(())
            }
        },
    )?;
    flush(&mut doc, &mut counts)?;
    report.documents = counts.0;
    report.segments = counts.1;
    Ok(report)
}

/// Loads a tabular file into a frame whose columns are all strings.
fn load_frame(
    path: &Path,
    format: InputFormat,
    max_line_bytes: usize,
    report: &mut SourceReport,
) -> Result<DataFrame> {
    let mut reader = open_decompressed(path)?;
    let frame = if format == InputFormat::Parquet {
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
            .with_context(|| format!("{}: not a readable Parquet file", path.display()))?
    } else {
        reject_binary(path, reader.as_mut())?;
        // Clean line by line first, so that one bad line costs one record, not the file.
        let mut clean = Vec::new();
        for_each_line(path, reader.as_mut(), max_line_bytes, report, |_, line| {
            clean.extend_from_slice(line.as_bytes());
            clean.push(b'\n');
            Ok(())
        })?;
        if clean.iter().all(|b| b.is_ascii_whitespace()) {
            bail!("{}: file is empty", path.display());
        }
        let cursor = Cursor::new(clean);
        match format {
            InputFormat::JsonLines => JsonReader::new(cursor)
                .with_json_format(JsonFormat::JsonLines)
                .infer_schema_len(None)
                .finish()
                .with_context(|| format!("{}: not valid JSON lines", path.display()))?,
            _ => {
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
                    .with_context(|| {
                        format!("{}: not a readable {format:?} file", path.display())
                    })?
            }
        }
    };
    Ok(frame)
}

/// The string values of the named columns, row by row (`None` for nulls).
fn string_columns(path: &Path, frame: &DataFrame, names: &[String]) -> Result<Vec<StringChunked>> {
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
fn read_tabular_documents(
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        File::create(&path).unwrap().write_all(bytes).unwrap();
        path
    }

    fn docs(path: &Path, options: &ReadOptions) -> Result<(Vec<Document>, SourceReport)> {
        let mut out = Vec::new();
        let report = read_documents(path, options, |d| {
            out.push(d);
            Ok(())
        })?;
        Ok((out, report))
    }

    #[test]
    fn blank_lines_separate_documents_and_auto_falls_back_to_lines() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a.txt", b"one\ntwo\n\nthree\r\n");
        let (d, r) = docs(&a, &ReadOptions::default()).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].segments, ["one", "two"]);
        assert_eq!(d[1].segments, ["three"]);
        assert_eq!((r.documents, r.segments), (2, 3));
        let b = write(dir.path(), "b.txt", b"one\ntwo\nthree\n");
        let (d, _) = docs(&b, &ReadOptions::default()).unwrap();
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn invalid_utf8_and_long_lines_are_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = b"good\n\xff\xfe bad\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', 5000));
        bytes.extend(b"\nalso good\n");
        let path = write(dir.path(), "c.txt", &bytes);
        let options = ReadOptions {
            max_line_bytes: 1000,
            ..ReadOptions::default()
        };
        let (d, r) = docs(&path, &options).unwrap();
        let texts: Vec<_> = d.iter().flat_map(|d| d.segments.clone()).collect();
        assert_eq!(texts, ["good", "also good"]);
        assert_eq!((r.invalid_utf8_lines, r.long_lines), (1, 1));
        assert!(
            r.skipped_summary()
                .unwrap()
                .contains("1 lines of invalid UTF-8")
        );
    }

    #[test]
    fn gzip_is_read_transparently() {
        let dir = tempfile::tempdir().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all("ko\ten\n안녕\thello\n".as_bytes()).unwrap();
        let path = write(dir.path(), "p.tsv.gz", &gz.finish().unwrap());
        let mut pairs = Vec::new();
        read_pairs(&path, "ko", "en", DEFAULT_MAX_LINE_BYTES, |p| {
            pairs.push(p);
            Ok(())
        })
        .unwrap();
        assert_eq!(
            pairs,
            [TextPair {
                src: "안녕".into(),
                tgt: "hello".into()
            }]
        );
    }

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

    #[test]
    fn jsonl_and_binary_and_empty_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "j.jsonl",
            b"{\"text\": \"hi\", \"n\": 1}\n{\"text\": \"there\", \"n\": 2}\n",
        );
        let (d, _) = docs(&path, &ReadOptions::default()).unwrap();
        assert_eq!(d.len(), 2);
        let bin = write(dir.path(), "bin.txt", b"ab\0cd\n");
        let err = format!("{:#}", docs(&bin, &ReadOptions::default()).unwrap_err());
        assert!(err.contains("bin.txt") && err.contains("binary"), "{err}");
        let empty = write(dir.path(), "e.txt", b"\n\n");
        let err = format!("{:#}", docs(&empty, &ReadOptions::default()).unwrap_err());
        assert!(err.contains("e.txt") && err.contains("no text"), "{err}");
        let err = format!(
            "{:#}",
            check_inputs(&[dir.path().join("missing.txt")]).unwrap_err()
        );
        assert!(err.contains("missing.txt"), "{err}");
    }
}
