//! Plain-text files: documents are runs of lines, split at blank lines or at every line (see
//! [`DocBoundary`]).

use std::path::Path;

use anyhow::{Context, Result};

use super::lines::{for_each_line, read_line_capped};
use super::open::{open_decompressed, reject_binary};
use super::{DocBoundary, Document, InputFormat, ReadOptions, SourceReport};

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

pub(super) fn read_text_documents(
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

#[cfg(test)]
mod tests {
    use crate::data::corpus::ReadOptions;
    use crate::data::corpus::tests::{docs, write};

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
}
