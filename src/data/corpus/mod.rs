//! Raw text corpora: plain text, TSV/CSV, Parquet and JSON lines, each optionally gzip-compressed.
//!
//! Plain text is streamed line by line; tabular formats are read with polars. Every reader skips and
//! counts what it cannot use (invalid UTF-8, over-long lines, empty records) instead of failing, and
//! fails with the file's name (and line or column) on what makes the whole file unusable.
//!
//! This file says what an input is and sends each file to the reader of its format: `text` for
//! plain text, `table` for the tabular formats, `pairs` for translation pairs; `open` and `lines`
//! are what they share (decompression, the binary check, the capped line reader).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

mod lines;
mod open;
mod pairs;
mod table;
mod text;

pub use open::text_size_hint;
pub use pairs::read_pairs;

/// Lines longer than this are skipped by default (bytes, after decompression).
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

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

/// Streams the documents of one file into `sink`, returning what was read and skipped.
pub fn read_documents(
    path: &Path,
    options: &ReadOptions,
    sink: impl FnMut(Document) -> Result<()>,
) -> Result<SourceReport> {
    let format = InputFormat::from_path(path)?;
    let report = if format.is_tabular() {
        table::read_tabular_documents(path, format, options, sink)?
    } else {
        text::read_text_documents(path, options, sink)?
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Write;

    pub(super) fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        File::create(&path).unwrap().write_all(bytes).unwrap();
        path
    }

    pub(super) fn docs(
        path: &Path,
        options: &ReadOptions,
    ) -> Result<(Vec<Document>, SourceReport)> {
        let mut out = Vec::new();
        let report = read_documents(path, options, |d| {
            out.push(d);
            Ok(())
        })?;
        Ok((out, report))
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
