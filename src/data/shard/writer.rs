//! Writing the shards of one split: rows are gathered until a shard is full, and a shard closes
//! only at a document boundary; a run that does not finish leaves no shard behind.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{ShardRows, encode_shard};
use crate::data::manifest::{ShardEntry, ShardKind};
use crate::data::tokenizer::sha256_hex;
use crate::fsutil;

/// Writes the rows of one split into numbered shards of about `rows_per_shard` rows each.
/// A shard closes only at a document boundary. Unless [`ShardWriter::finish`] is reached, every
/// file it wrote is removed again when it is dropped.
pub struct ShardWriter {
    dir: PathBuf,
    prefix: String,
    kind: ShardKind,
    tokenizer_sha256: String,
    rows_per_shard: usize,
    rows: ShardRows,
    documents: u64,
    entries: Vec<ShardEntry>,
    written: Vec<PathBuf>,
    finished: bool,
}

impl ShardWriter {
    /// Shards go to `root/split/shard-NNNNN.arrow`; manifest entries name them relative to `root`.
    pub fn new(
        root: &Path,
        split: &str,
        kind: ShardKind,
        tokenizer_sha256: &str,
        rows_per_shard: usize,
    ) -> Result<Self> {
        let dir = root.join(split);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self {
            dir,
            prefix: split.to_owned(),
            kind,
            tokenizer_sha256: tokenizer_sha256.to_owned(),
            rows_per_shard: rows_per_shard.max(1),
            rows: ShardRows::new(kind),
            documents: 0,
            entries: Vec::new(),
            written: Vec::new(),
            finished: false,
        })
    }

    /// Adds one row: one id slice per token column.
    pub fn push_row(&mut self, doc_id: u64, columns: &[&[u32]]) {
        debug_assert_eq!(columns.len(), self.rows.columns.len());
        for (rows, ids) in self.rows.columns.iter_mut().zip(columns) {
            rows.push(ids);
        }
        self.rows.doc_ids.push(doc_id);
    }

    /// Marks the end of a document; the shard is written once it is full.
    pub fn end_document(&mut self) -> Result<()> {
        self.documents += 1;
        if self.rows.len() >= self.rows_per_shard {
            self.write_shard()?;
        }
        Ok(())
    }

    fn write_shard(&mut self) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let name = format!("shard-{:05}.arrow", self.entries.len());
        let path = self.dir.join(&name);
        let rows = std::mem::replace(&mut self.rows, ShardRows::new(self.kind));
        let bytes = encode_shard(self.kind, &self.tokenizer_sha256, &rows)?;
        crate::fault::write_error("shard-disk-full", self.entries.len() as u64)
            .with_context(|| format!("cannot write {}", path.display()))?;
        fsutil::write_atomic(&path, &bytes)?;
        self.written.push(path);
        self.entries.push(ShardEntry {
            file: format!("{}/{name}", self.prefix),
            rows: rows.len() as u64,
            documents: std::mem::take(&mut self.documents),
            tokens: rows.columns.iter().map(|c| c.tokens() as u64).sum(),
            sha256: sha256_hex(&bytes),
            bytes: bytes.len() as u64,
        });
        Ok(())
    }

    /// Writes the last shard and returns the manifest entries of all of them.
    pub fn finish(mut self) -> Result<Vec<ShardEntry>> {
        self.write_shard()?;
        self.finished = true;
        Ok(std::mem::take(&mut self.entries))
    }
}

impl Drop for ShardWriter {
    fn drop(&mut self) {
        if !self.finished {
            for path in &self.written {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unfinished_writer_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = ShardWriter::new(dir.path(), "valid", ShardKind::Pairs, "abc", 1).unwrap();
        writer.push_row(0, &[&[1, 2], &[3]]);
        writer.end_document().unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path().join("valid")).unwrap().count(),
            1
        );
        drop(writer);
        assert_eq!(
            std::fs::read_dir(dir.path().join("valid")).unwrap().count(),
            0
        );
    }
}
