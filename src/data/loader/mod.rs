//! The streaming loader: shards in a seeded per-epoch order, documents packed into sequences,
//! masked and batched on a background thread, with a position that resumes the stream exactly.
//!
//! `shard_set` opens and checks the shards a worker reads, `packing` forms sequences from their
//! documents, `stream` orders, masks and batches them, and `worker` runs that stream on a thread
//! of its own.

use crate::data::masking::MaskingConfig;

mod packing;
mod shard_set;
mod stream;
mod worker;

pub use shard_set::ShardSet;
pub use stream::SequenceStream;
pub use worker::Loader;

/// How sequences are formed, masked and batched.
#[derive(Clone, Debug)]
pub struct LoaderConfig {
    pub split: String,
    pub seq_len: usize,
    pub batch_size: usize,
    pub seed: u64,
    pub masking: MaskingConfig,
    /// Permute documents and sequences every epoch (off: stored order, as for evaluation).
    pub shuffle: bool,
    /// Stop after this many epochs; `None` streams forever.
    pub epochs: Option<u64>,
    /// Batches prepared ahead on the background thread.
    pub prefetch: usize,
    pub rank: usize,
    pub world: usize,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        Self {
            split: "train".into(),
            seq_len: 128,
            batch_size: 32,
            seed: 0,
            masking: MaskingConfig::default(),
            shuffle: true,
            epochs: None,
            prefetch: 8,
            rank: 0,
            world: 1,
        }
    }
}
