//! Opening an input file: gzip is decompressed transparently (recognised by its magic bytes, not
//! its name), and a file that looks binary is refused before it is parsed.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result, bail};
use flate2::read::MultiGzDecoder;

/// How many leading bytes are inspected to recognise a binary file.
const SNIFF_BYTES: usize = 8192;

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
pub(super) fn open_decompressed(path: &Path) -> Result<Box<dyn BufRead + Send>> {
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
pub(super) fn reject_binary(path: &Path, reader: &mut dyn BufRead) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use crate::data::corpus::tests::write;
    use crate::data::corpus::{DEFAULT_MAX_LINE_BYTES, TextPair, read_pairs};
    use std::io::Write;

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
}
