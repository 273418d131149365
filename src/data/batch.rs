//! A batch of masked sequences as flat row-major arrays, ready to become tensors.

use serde::Serialize;

use crate::data::masking::{IGNORE_LABEL, MaskedSequence, Replacement};
use crate::data::position::LoaderPosition;
use crate::data::tokenizer::VocabInfo;

/// `batch_size` sequences of `seq_len` positions; shorter sequences are padded with `[PAD]`.
#[derive(Clone, Debug, PartialEq)]
pub struct MaskedBatch {
    pub batch_size: usize,
    pub seq_len: usize,
    /// What the model is fed: the corrupted ids.
    pub input_ids: Vec<u32>,
    /// The ids before corruption.
    pub original_ids: Vec<u32>,
    /// The original id at selected positions, [`IGNORE_LABEL`] elsewhere.
    pub labels: Vec<i64>,
    /// `true` at special tokens and padding.
    pub special_mask: Vec<bool>,
    /// `true` at padding, for the attention's key padding mask.
    pub padding_mask: Vec<bool>,
    /// What happened at each selected position of each sequence.
    pub selected: Vec<Vec<(usize, Replacement)>>,
    pub epoch: u64,
    /// Index within its epoch of the first sequence of the batch.
    pub first_sequence: u64,
    /// Where the loader stands after this batch: save it to resume right after it.
    pub position_after: LoaderPosition,
}

impl MaskedBatch {
    pub fn from_sequences(
        seq_len: usize,
        originals: &[Vec<u32>],
        masked: Vec<MaskedSequence>,
        vocab: &VocabInfo,
        epoch: u64,
        first_sequence: u64,
        position_after: LoaderPosition,
    ) -> Self {
        let n = originals.len() * seq_len;
        let mut batch = Self {
            batch_size: originals.len(),
            seq_len,
            input_ids: vec![vocab.special.pad; n],
            original_ids: vec![vocab.special.pad; n],
            labels: vec![IGNORE_LABEL; n],
            special_mask: vec![true; n],
            padding_mask: vec![true; n],
            selected: Vec::with_capacity(originals.len()),
            epoch,
            first_sequence,
            position_after,
        };
        for (row, (original, m)) in originals.iter().zip(masked).enumerate() {
            let base = row * seq_len;
            let len = original.len();
            batch.input_ids[base..base + len].copy_from_slice(&m.input_ids);
            batch.original_ids[base..base + len].copy_from_slice(original);
            batch.labels[base..base + len].copy_from_slice(&m.labels);
            for (i, &id) in original.iter().enumerate() {
                batch.special_mask[base + i] = vocab.is_special(id);
                batch.padding_mask[base + i] = false;
            }
            batch.selected.push(m.selected);
        }
        batch
    }

    /// Flat indices (`row * seq_len + position`) of every position with a label.
    pub fn masked_positions(&self) -> Vec<usize> {
        self.labels
            .iter()
            .enumerate()
            .filter(|&(_, &l)| l != IGNORE_LABEL)
            .map(|(i, _)| i)
            .collect()
    }

    /// Positions holding a real token (not padding).
    pub fn tokens(&self) -> usize {
        self.padding_mask.iter().filter(|&&p| !p).count()
    }

    fn row<T: Clone>(&self, values: &[T], row: usize) -> Vec<T> {
        values[row * self.seq_len..(row + 1) * self.seq_len].to_vec()
    }

    /// One sequence as the JSON object `cloze inspect` prints.
    pub fn sequence_json(&self, row: usize, token: impl Fn(u32) -> String) -> InspectRow {
        let input_ids = self.row(&self.input_ids, row);
        InspectRow {
            tokens: input_ids.iter().map(|&id| token(id)).collect(),
            input_ids,
            labels: self.row(&self.labels, row),
            original_ids: self.row(&self.original_ids, row),
            special_mask: self
                .row(&self.special_mask, row)
                .into_iter()
                .map(u8::from)
                .collect(),
        }
    }
}

/// The shape of one line of `cloze inspect`.
#[derive(Clone, Debug, Serialize)]
pub struct InspectRow {
    pub input_ids: Vec<u32>,
    pub labels: Vec<i64>,
    pub original_ids: Vec<u32>,
    /// 1 at special tokens and padding.
    pub special_mask: Vec<u8>,
    pub tokens: Vec<String>,
}
