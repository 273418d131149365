//! Packing documents into sequences.
//!
//! A sequence is `[CLS]`, then tokens taken in order from the documents, a `[SEP]` after
//! each document that ends inside the sequence, and a closing `[SEP]`. A document that does not fit
//! continues in the next sequence; nothing is dropped. Every sequence but the last packed one of
//! an epoch is `seq_len` long (or one shorter, when a document ends with a single free position);
//! shorter ones are padded, and so is the last batch (it may also hold fewer sequences).

use anyhow::Result;

use super::ShardSet;
use crate::data::shard::ShardRows;

/// A point in the epoch's document order: the next token to pack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct PackPosition {
    /// Index into this epoch's document order.
    document: usize,
    /// Row within the document.
    row: usize,
    /// Token offset within the row.
    offset: usize,
}

/// This worker's documents, every shard's rows in memory, in one list.
pub(super) struct Documents {
    shards: Vec<ShardRows>,
    /// `(shard, first row, end row)` of each document, shard by shard in stored order.
    pub(super) ranges: Vec<(usize, usize, usize)>,
    /// The vocabulary's `[CLS]` and `[SEP]`.
    cls: u32,
    sep: u32,
}

impl Documents {
    pub(super) fn read(set: &ShardSet) -> Result<Self> {
        let mut shards = Vec::with_capacity(set.shard_count());
        let mut ranges = Vec::new();
        for index in 0..set.shard_count() {
            let rows = set.read(index)?;
            ranges.extend(
                rows.document_ranges()
                    .into_iter()
                    .map(|(start, end)| (index, start, end)),
            );
            shards.push(rows);
        }
        let special = &set.vocab().special;
        Ok(Self {
            shards,
            ranges,
            cls: special.cls,
            sep: special.sep,
        })
    }

    /// Row `row` of the document `(shard, start, _)`.
    fn row(&self, document: (usize, usize, usize), row: usize) -> &[u32] {
        let (shard, start, _) = document;
        self.shards[shard].columns[0].row(start + row)
    }

    /// Where each sequence of an epoch starts when the documents are packed in `order`.
    pub(super) fn sequence_starts(&self, order: &[usize], seq_len: usize) -> Vec<PackPosition> {
        let mut starts = Vec::new();
        let mut at = PackPosition::default();
        loop {
            let start = at;
            if self.pack(order, seq_len, &mut at).is_none() {
                break;
            }
            starts.push(start);
        }
        starts
    }

    /// Packs the sequence starting at `at` in the document order `order` and moves `at` past
    /// it, or `None` at the end of the documents.
    pub(super) fn pack(
        &self,
        order: &[usize],
        seq_len: usize,
        at: &mut PackPosition,
    ) -> Option<Vec<u32>> {
        let mut tokens = Vec::with_capacity(seq_len);
        tokens.push(self.cls);
        // Room for content, keeping one position for the closing [SEP].
        while tokens.len() < seq_len - 1 && at.document < order.len() {
            let document = self.ranges[order[at.document]];
            let row = self.row(document, at.row);
            let take = (seq_len - 1 - tokens.len()).min(row.len() - at.offset);
            tokens.extend_from_slice(&row[at.offset..at.offset + take]);
            at.offset += take;
            if at.offset < row.len() {
                continue;
            }
            at.offset = 0;
            at.row += 1;
            if document.1 + at.row < document.2 {
                continue;
            }
            at.row = 0;
            at.document += 1;
            // The document ended: separate it from the next one if a token of that still fits.
            if seq_len - 1 - tokens.len() >= 2 && at.document < order.len() {
                tokens.push(self.sep);
            } else {
                break;
            }
        }
        if tokens.len() == 1 {
            return None;
        }
        tokens.push(self.sep);
        Some(tokens)
    }
}
