//! The sequence stream: packed sequences in a seeded order, masked and batched, from a position.
//!
//! Order: each epoch permutes all of this worker's documents together, then the packed sequences,
//! from (seed, epoch) (see [`SequenceStream`]); worker `rank` of `world` reads the shards whose
//! index `i % world == rank`, and holds them in memory.

use std::sync::Arc;

use anyhow::Result;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::packing::{Documents, PackPosition};
use super::{LoaderConfig, ShardSet};
use crate::data::batch::MaskedBatch;
use crate::data::masking::{mask_sequence, sequence_rng};
use crate::data::position::LoaderPosition;

fn permutation(len: usize, seed: u64, epoch: u64, salt: u64, shuffle: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    if shuffle {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&epoch.to_le_bytes());
        key[16..24].copy_from_slice(&salt.to_le_bytes());
        key[24..].copy_from_slice(b"clozeord");
        order.shuffle(&mut ChaCha8Rng::from_seed(key));
    }
    order
}

/// Produces packed sequences one at a time from a position, synchronously.
///
/// Mixing: each epoch permutes all of this worker's documents at once, packs them in that order,
/// and then permutes the packed sequences themselves, so that every source is in the stream from
/// the first step in its proportion, and a long document (a State of the Union address fills
/// about 200 sequences of 64) is spread over the whole epoch instead of consecutive batches. Only
/// where each sequence starts is kept (24 bytes a sequence); a sequence is packed when it is
/// handed out. A position is (epoch, sequences handed out): resuming needs nothing else.
pub struct SequenceStream {
    set: Arc<ShardSet>,
    config: LoaderConfig,
    position: LoaderPosition,
    /// Read on first use, on the thread that streams.
    documents: Option<Documents>,
    /// This epoch's order of `documents.ranges`.
    document_order: Vec<usize>,
    /// Where each sequence of this epoch starts, in packing order.
    starts: Vec<PackPosition>,
    /// This epoch's order of `starts`.
    sequence_order: Vec<usize>,
    /// The epoch the three lists above were made for.
    planned: Option<u64>,
}

impl SequenceStream {
    pub fn new(set: Arc<ShardSet>, config: LoaderConfig, position: LoaderPosition) -> Self {
        Self {
            set,
            config,
            position,
            documents: None,
            document_order: Vec::new(),
            starts: Vec::new(),
            sequence_order: Vec::new(),
            planned: None,
        }
    }

    pub fn position(&self) -> LoaderPosition {
        self.position
    }

    /// Orders this epoch's documents, finds where each packed sequence starts, and orders the
    /// sequences, from (seed, epoch).
    fn plan_epoch(&mut self) -> Result<()> {
        if self.documents.is_none() {
            self.documents = Some(Documents::read(&self.set)?);
        }
        let (seed, epoch, shuffle) = (self.config.seed, self.position.epoch, self.config.shuffle);
        let documents = self.documents.as_ref().expect("read above");
        self.document_order = permutation(documents.ranges.len(), seed, epoch, u64::MAX, shuffle);
        self.starts = documents.sequence_starts(&self.document_order, self.config.seq_len);
        self.sequence_order = permutation(self.starts.len(), seed, epoch, u64::MAX - 1, shuffle);
        self.planned = Some(epoch);
        Ok(())
    }

    /// The next sequence of this epoch, or `None` once the epoch is exhausted (the position then
    /// moves to the start of the next epoch).
    pub fn next_sequence(&mut self) -> Result<Option<Vec<u32>>> {
        if self.planned != Some(self.position.epoch) {
            self.plan_epoch()?;
        }
        let Some(&index) = self.sequence_order.get(self.position.sequence as usize) else {
            self.position = LoaderPosition {
                epoch: self.position.epoch + 1,
                sequence: 0,
            };
            return Ok(None);
        };
        let mut at = self.starts[index];
        let documents = self.documents.as_ref().expect("planned");
        let sequence = documents
            .pack(&self.document_order, self.config.seq_len, &mut at)
            .expect("a planned sequence");
        self.position.sequence += 1;
        Ok(Some(sequence))
    }

    /// The next batch, masked, or `None` when the configured number of epochs is done. A batch
    /// never spans two epochs.
    pub fn next_batch(&mut self) -> Result<Option<MaskedBatch>> {
        loop {
            let epoch = self.position.epoch;
            if self.config.epochs.is_some_and(|limit| epoch >= limit) {
                return Ok(None);
            }
            let first_sequence = self.position.sequence;
            let mut originals = Vec::with_capacity(self.config.batch_size);
            while originals.len() < self.config.batch_size {
                match self.next_sequence()? {
                    Some(seq) => originals.push(seq),
                    None => break,
                }
            }
            if originals.is_empty() {
                continue;
            }
            let masked = originals
                .iter()
                .enumerate()
                .map(|(i, seq)| {
                    let index = (first_sequence + i as u64) * self.config.world as u64
                        + self.config.rank as u64;
                    let mut rng = sequence_rng(self.config.seed, epoch, index);
                    mask_sequence(seq, self.set.vocab(), &self.config.masking, &mut rng)
                })
                .collect();
            return Ok(Some(MaskedBatch::from_sequences(
                self.config.seq_len,
                &originals,
                masked,
                self.set.vocab(),
                epoch,
                first_sequence,
                self.position,
            )));
        }
    }
}
