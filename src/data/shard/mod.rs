//! One shard: an Arrow IPC file of token-id rows, written whole under a temporary name and checked
//! on read against the manifest (sha256, tokenizer) so that a damaged or foreign shard is named.
//!
//! Schema: monolingual shards hold `input_ids: List<UInt32>` and `doc_id: UInt64`; pair shards hold
//! `src_ids`, `tgt_ids` (both `List<UInt32>`) and `doc_id`. The schema metadata repeats the format
//! version, the kind and the tokenizer's sha256. A document's rows are contiguous and never span
//! two shards.
//!
//! This file is the format, the rows in memory and the checked read; `writer` writes the shards of
//! a split.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use arrow_array::{Array, ListArray, RecordBatch, UInt32Array, UInt64Array};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_ipc::reader::FileReader;
use arrow_ipc::writer::FileWriter;
use arrow_schema::{DataType, Field, Schema};

use crate::data::manifest::{FORMAT_VERSION, ShardEntry, ShardKind};
use crate::data::tokenizer::sha256_hex;

mod writer;

pub use writer::ShardWriter;

const META_VERSION: &str = "cloze.format_version";
const META_KIND: &str = "cloze.kind";
const META_TOKENIZER: &str = "cloze.tokenizer_sha256";

/// The token-id columns of a shard kind, in order.
pub fn token_columns(kind: ShardKind) -> &'static [&'static str] {
    match kind {
        ShardKind::Monolingual => &["input_ids"],
        ShardKind::Pairs => &["src_ids", "tgt_ids"],
    }
}

fn schema(kind: ShardKind, tokenizer_sha256: &str) -> Schema {
    let mut fields: Vec<Field> = token_columns(kind)
        .iter()
        .map(|name| {
            Field::new(
                *name,
                DataType::List(Arc::new(Field::new("item", DataType::UInt32, false))),
                false,
            )
        })
        .collect();
    fields.push(Field::new("doc_id", DataType::UInt64, false));
    let kind_name = match kind {
        ShardKind::Monolingual => "monolingual",
        ShardKind::Pairs => "pairs",
    };
    Schema::new(fields).with_metadata(HashMap::from([
        (META_VERSION.to_owned(), FORMAT_VERSION.to_string()),
        (META_KIND.to_owned(), kind_name.to_owned()),
        (META_TOKENIZER.to_owned(), tokenizer_sha256.to_owned()),
    ]))
}

/// Variable-length rows of token ids, stored flat.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenRows {
    offsets: Vec<usize>,
    values: Vec<u32>,
}

impl TokenRows {
    pub fn new() -> Self {
        Self {
            offsets: vec![0],
            values: Vec::new(),
        }
    }

    pub fn push(&mut self, row: &[u32]) {
        self.values.extend_from_slice(row);
        self.offsets.push(self.values.len());
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn row(&self, i: usize) -> &[u32] {
        &self.values[self.offsets[i]..self.offsets[i + 1]]
    }

    pub fn tokens(&self) -> usize {
        self.values.len()
    }

    fn to_arrow(&self) -> Result<ListArray> {
        let offsets: Vec<i32> = self
            .offsets
            .iter()
            .map(|&o| i32::try_from(o).map_err(|_| anyhow!("shard holds over 2^31 tokens")))
            .collect::<Result<_>>()?;
        Ok(ListArray::try_new(
            Arc::new(Field::new("item", DataType::UInt32, false)),
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            Arc::new(UInt32Array::from(self.values.clone())),
            None,
        )?)
    }

    fn extend_from_arrow(&mut self, list: &ListArray) -> Result<()> {
        let values = list
            .values()
            .as_any()
            .downcast_ref::<UInt32Array>()
            .ok_or_else(|| anyhow!("token ids are not UInt32"))?;
        let offsets = list.value_offsets();
        for i in 0..list.len() {
            let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
            self.values.extend_from_slice(&values.values()[start..end]);
            self.offsets.push(self.values.len());
        }
        Ok(())
    }
}

/// The rows of one shard in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardRows {
    /// One `TokenRows` per token column (see [`token_columns`]).
    pub columns: Vec<TokenRows>,
    pub doc_ids: Vec<u64>,
}

impl ShardRows {
    fn new(kind: ShardKind) -> Self {
        Self {
            columns: vec![TokenRows::new(); token_columns(kind).len()],
            doc_ids: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.doc_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.doc_ids.is_empty()
    }

    /// Row ranges `[start, end)` of each document, in stored order.
    pub fn document_ranges(&self) -> Vec<(usize, usize)> {
        let mut ranges = Vec::new();
        let mut start = 0;
        for i in 1..=self.doc_ids.len() {
            if i == self.doc_ids.len() || self.doc_ids[i] != self.doc_ids[start] {
                ranges.push((start, i));
                start = i;
            }
        }
        ranges
    }
}

fn encode_shard(kind: ShardKind, tokenizer_sha256: &str, rows: &ShardRows) -> Result<Vec<u8>> {
    let schema = Arc::new(schema(kind, tokenizer_sha256));
    let mut arrays: Vec<Arc<dyn Array>> = Vec::new();
    for column in &rows.columns {
        arrays.push(Arc::new(column.to_arrow()?));
    }
    arrays.push(Arc::new(UInt64Array::from(rows.doc_ids.clone())));
    let batch = RecordBatch::try_new(schema.clone(), arrays)?;
    let mut bytes = Vec::new();
    let mut writer = FileWriter::try_new(&mut bytes, &schema)?;
    writer.write(&batch)?;
    writer.finish()?;
    drop(writer);
    Ok(bytes)
}

/// Reads one shard listed in a manifest, checking its tokenizer and its sha256.
pub fn read_shard(
    root: &Path,
    entry: &ShardEntry,
    kind: ShardKind,
    tokenizer_sha256: &str,
) -> Result<ShardRows> {
    let path = root.join(&entry.file);
    let bytes =
        std::fs::read(&path).with_context(|| format!("cannot read shard {}", path.display()))?;
    let parsed = decode_shard(&bytes, kind, tokenizer_sha256);
    let sha = sha256_hex(&bytes);
    match parsed {
        Err(ShardError::ForeignTokenizer(found)) => bail!(
            "{}: shard was written with another tokenizer (sha256 {found}); the manifest's is {tokenizer_sha256}",
            path.display()
        ),
        _ if sha != entry.sha256 => bail!(
            "{}: shard is truncated or was modified: sha256 {sha}, manifest says {} ({} bytes on disk)",
            path.display(),
            entry.sha256,
            bytes.len()
        ),
        Err(e) => Err(anyhow!(e)).with_context(|| format!("{}: unreadable shard", path.display())),
        Ok(rows) if rows.len() as u64 != entry.rows => bail!(
            "{}: shard holds {} rows, manifest says {}",
            path.display(),
            rows.len(),
            entry.rows
        ),
        Ok(rows) => Ok(rows),
    }
}

#[derive(Debug, thiserror::Error)]
enum ShardError {
    #[error("written with tokenizer {0}")]
    ForeignTokenizer(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Arrow(#[from] arrow_schema::ArrowError),
}

fn decode_shard(
    bytes: &[u8],
    kind: ShardKind,
    tokenizer_sha256: &str,
) -> Result<ShardRows, ShardError> {
    let reader = FileReader::try_new(Cursor::new(bytes), None)?;
    let schema = reader.schema();
    match schema.metadata().get(META_TOKENIZER) {
        Some(sha) if sha == tokenizer_sha256 => {}
        Some(sha) => return Err(ShardError::ForeignTokenizer(sha.clone())),
        None => {
            return Err(ShardError::Invalid(format!(
                "no {META_TOKENIZER} in the schema metadata"
            )));
        }
    }
    let names = token_columns(kind);
    let mut rows = ShardRows::new(kind);
    for batch in reader {
        let batch = batch?;
        for (name, target) in names.iter().zip(rows.columns.iter_mut()) {
            let list = batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<ListArray>())
                .ok_or_else(|| ShardError::Invalid(format!("no List<UInt32> column '{name}'")))?;
            target
                .extend_from_arrow(list)
                .map_err(|e| ShardError::Invalid(e.to_string()))?;
        }
        let doc_ids = batch
            .column_by_name("doc_id")
            .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
            .ok_or_else(|| ShardError::Invalid("no UInt64 column 'doc_id'".into()))?;
        rows.doc_ids.extend_from_slice(doc_ids.values());
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_round_trip_and_close_at_document_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer =
            ShardWriter::new(dir.path(), "train", ShardKind::Monolingual, "abc", 3).unwrap();
        for doc in 0..4u64 {
            for row in 0..2u32 {
                writer.push_row(doc, &[&[doc as u32 + 10, row + 20]]);
            }
            writer.end_document().unwrap();
        }
        let entries = writer.finish().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            (entries[0].rows, entries[0].documents, entries[0].tokens),
            (4, 2, 8)
        );
        let rows = read_shard(dir.path(), &entries[1], ShardKind::Monolingual, "abc").unwrap();
        assert_eq!(rows.doc_ids, [2, 2, 3, 3]);
        assert_eq!(rows.columns[0].row(3), [13, 21]);
        assert_eq!(rows.document_ranges(), [(0, 2), (2, 4)]);

        let err = format!(
            "{:#}",
            read_shard(dir.path(), &entries[0], ShardKind::Monolingual, "xyz").unwrap_err()
        );
        assert!(
            err.contains("shard-00000.arrow") && err.contains("another tokenizer"),
            "{err}"
        );

        let path = dir.path().join(&entries[0].file);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = format!(
            "{:#}",
            read_shard(dir.path(), &entries[0], ShardKind::Monolingual, "abc").unwrap_err()
        );
        assert!(
            err.contains("shard-00000.arrow") && err.contains("truncated"),
            "{err}"
        );
    }
}
