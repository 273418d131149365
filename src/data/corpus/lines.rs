//! The capped line reader: a decompressed stream split into lines, with invalid UTF-8 and over-long
//! lines skipped and counted, never holding more than the cap of one line in memory.

use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, Result};

use super::SourceReport;

/// How many skipped lines of each kind are reported one by one before only counting.
const WARNINGS_PER_FILE: usize = 5;

/// Splits a decompressed stream into lines, skipping (and counting) invalid UTF-8 and over-long
/// lines; `on_line` gets the 1-based line number and the text without its line ending.
pub(super) fn for_each_line(
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
pub(super) fn read_line_capped(
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

#[cfg(test)]
mod tests {
    use crate::data::corpus::ReadOptions;
    use crate::data::corpus::tests::{docs, write};

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
}
