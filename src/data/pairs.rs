//! Batches of translation pairs from pair shards (`src_ids`, `tgt_ids`), in a seeded order per
//! epoch, resumable from any batch. A split's pairs are held in memory (ids only: a million pairs
//! of 30 tokens a side take about 240 MB), so an epoch is one permutation of them.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Result, bail};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::manifest::{Manifest, ShardKind};
use crate::data::shard::read_shard;
use crate::data::tokenizer::ClozeTokenizer;

/// The pairs of one split.
pub struct PairSet {
    /// (source ids, target ids), without special tokens.
    pairs: Vec<(Vec<u32>, Vec<u32>)>,
}

impl PairSet {
    /// Reads split `split` of the pair shards in `root`, written with `tokenizer`; `reverse`
    /// swaps the columns (translate from the target column to the source column).
    pub fn open(
        root: &Path,
        split: &str,
        tokenizer: &ClozeTokenizer,
        reverse: bool,
    ) -> Result<Self> {
        let manifest = Manifest::load(root)?;
        manifest.check_tokenizer(root, tokenizer, &manifest.tokenizer_path(root))?;
        if manifest.kind != ShardKind::Pairs {
            bail!(
                "{}: these are monolingual shards; translation needs pair shards (cloze shard \
                 --src-column ... --tgt-column ...)",
                root.display()
            );
        }
        let mut pairs = Vec::new();
        for entry in manifest.split(root, split)? {
            let rows = read_shard(root, entry, ShardKind::Pairs, &manifest.tokenizer.sha256)?;
            for i in 0..rows.len() {
                let source = rows.columns[0].row(i).to_vec();
                let target = rows.columns[1].row(i).to_vec();
                pairs.push(if reverse {
                    (target, source)
                } else {
                    (source, target)
                });
            }
        }
        if pairs.is_empty() {
            bail!("{}: split '{split}' holds no pairs", root.display());
        }
        Ok(Self { pairs })
    }

    /// This set without the pairs whose target is longer than `max_target_len`, and how many
    /// were dropped: for training, where a target cut short (no end token) would teach the
    /// decoder to stop early.
    pub fn without_long_targets(self, max_target_len: usize) -> (Self, usize) {
        let before = self.pairs.len();
        let pairs: Vec<_> = self
            .pairs
            .into_iter()
            .filter(|(_, target)| target.len() <= max_target_len)
            .collect();
        let dropped = before - pairs.len();
        (Self { pairs }, dropped)
    }

    /// A set of the given pairs (for tests and tools that hold pairs already).
    pub fn from_pairs(pairs: Vec<(Vec<u32>, Vec<u32>)>) -> Self {
        Self { pairs }
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    pub fn pair(&self, index: usize) -> (&[u32], &[u32]) {
        let (s, t) = &self.pairs[index];
        (s, t)
    }
}

/// Where a pair stream stands: saved with a checkpoint to continue with the next batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairPosition {
    pub epoch: u64,
    /// Pairs of this epoch's order already handed out.
    pub next: usize,
}

#[derive(Clone, Debug)]
pub struct PairLoaderConfig {
    pub batch_size: usize,
    /// Longer sources and targets are cut to these many tokens (special tokens not counted).
    pub max_source_len: usize,
    pub max_target_len: usize,
    pub seed: u64,
    /// Permute the pairs every epoch (off: stored order, for evaluation).
    pub shuffle: bool,
    /// Stop after this many epochs; `None` cycles forever.
    pub epochs: Option<u64>,
}

/// One batch of pairs, cut to the configured lengths.
#[derive(Clone, Debug, PartialEq)]
pub struct PairBatch {
    pub sources: Vec<Vec<u32>>,
    pub targets: Vec<Vec<u32>>,
    /// Pairs in this batch with a side that was cut.
    pub truncated: usize,
    pub position_after: PairPosition,
}

/// Batches of pairs from a position, synchronously.
pub struct PairStream {
    set: Arc<PairSet>,
    config: PairLoaderConfig,
    position: PairPosition,
    order: Vec<usize>,
}

fn epoch_order(len: usize, seed: u64, epoch: u64, shuffle: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    if shuffle {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&epoch.to_le_bytes());
        key[16..].copy_from_slice(b"clozepairsorder!");
        order.shuffle(&mut ChaCha8Rng::from_seed(key));
    }
    order
}

impl PairStream {
    pub fn new(set: Arc<PairSet>, config: PairLoaderConfig, position: PairPosition) -> Self {
        let order = epoch_order(set.len(), config.seed, position.epoch, config.shuffle);
        Self {
            set,
            config,
            position,
            order,
        }
    }

    /// The next batch; an epoch's last batch may be smaller, and batches never span two epochs.
    pub fn next_batch(&mut self) -> Option<PairBatch> {
        if self.position.next >= self.order.len() {
            if self
                .config
                .epochs
                .is_some_and(|e| self.position.epoch + 1 >= e)
            {
                return None;
            }
            self.position = PairPosition {
                epoch: self.position.epoch + 1,
                next: 0,
            };
            self.order = epoch_order(
                self.set.len(),
                self.config.seed,
                self.position.epoch,
                self.config.shuffle,
            );
        }
        let end = (self.position.next + self.config.batch_size.max(1)).min(self.order.len());
        let mut batch = PairBatch {
            sources: Vec::with_capacity(end - self.position.next),
            targets: Vec::with_capacity(end - self.position.next),
            truncated: 0,
            position_after: PairPosition {
                epoch: self.position.epoch,
                next: end,
            },
        };
        for &index in &self.order[self.position.next..end] {
            let (source, target) = self.set.pair(index);
            let cut = source.len() > self.config.max_source_len
                || target.len() > self.config.max_target_len;
            batch.truncated += usize::from(cut);
            batch
                .sources
                .push(source[..source.len().min(self.config.max_source_len)].to_vec());
            batch
                .targets
                .push(target[..target.len().min(self.config.max_target_len)].to_vec());
        }
        self.position = batch.position_after;
        Some(batch)
    }
}

impl Iterator for PairStream {
    type Item = PairBatch;

    fn next(&mut self) -> Option<PairBatch> {
        self.next_batch()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_targets_are_dropped_and_counted() {
        let set = PairSet::from_pairs(vec![
            (vec![7], vec![8, 9]),
            (vec![7], vec![8, 9, 10]),
            (vec![7, 7, 7, 7], vec![8]),
        ]);
        let (kept, dropped) = set.without_long_targets(2);
        assert_eq!(dropped, 1);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept.pair(1), (&[7, 7, 7, 7][..], &[8][..]));
    }

    fn set(n: u32) -> Arc<PairSet> {
        Arc::new(PairSet::from_pairs(
            (0..n)
                .map(|i| {
                    (
                        vec![10 + i; (i % 5 + 1) as usize],
                        vec![20 + i; (i % 3 + 1) as usize],
                    )
                })
                .collect(),
        ))
    }

    fn config() -> PairLoaderConfig {
        PairLoaderConfig {
            batch_size: 4,
            max_source_len: 3,
            max_target_len: 8,
            seed: 7,
            shuffle: true,
            epochs: Some(2),
        }
    }

    #[test]
    fn each_epoch_is_a_new_permutation_and_a_resumed_stream_continues_exactly() {
        let batches: Vec<PairBatch> =
            PairStream::new(set(10), config(), PairPosition::default()).collect();
        // 10 pairs in batches of 4: 4, 4, 2 per epoch, two epochs.
        assert_eq!(
            batches.iter().map(|b| b.sources.len()).collect::<Vec<_>>(),
            [4, 4, 2, 4, 4, 2]
        );
        let firsts = |range: std::ops::Range<usize>| -> Vec<u32> {
            batches[range]
                .iter()
                .flat_map(|b| b.sources.iter().map(|s| s[0]))
                .collect()
        };
        let (mut one, mut two) = (firsts(0..3), firsts(3..6));
        assert_ne!(one, two, "the epochs are in different orders");
        one.sort();
        two.sort();
        assert_eq!(one, (10..20).collect::<Vec<u32>>());
        assert_eq!(one, two);
        // Sources longer than 3 are cut, and counted.
        assert!(
            batches
                .iter()
                .all(|b| b.sources.iter().all(|s| s.len() <= 3))
        );
        assert_eq!(batches[..3].iter().map(|b| b.truncated).sum::<usize>(), 4);

        for k in 0..batches.len() {
            let resumed: Vec<PairBatch> =
                PairStream::new(set(10), config(), batches[k].position_after).collect();
            assert_eq!(resumed, batches[k + 1..]);
        }
    }
}
