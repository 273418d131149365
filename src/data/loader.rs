//! The streaming loader: shards in a seeded per-epoch order, documents packed into sequences,
//! masked and batched on a background thread, with a position that resumes the stream exactly.
//!
//! Packing: a sequence is `[CLS]`, then tokens taken in order from the documents, a `[SEP]` after
//! each document that ends inside the sequence, and a closing `[SEP]`. A document that does not fit
//! continues in the next sequence; nothing is dropped. Every sequence but the last packed one of
//! an epoch is `seq_len` long (or one shorter, when a document ends with a single free position);
//! shorter ones are padded, and so is the last batch (it may also hold fewer sequences).
//!
//! Order: each epoch permutes all of this worker's documents together, then the packed sequences,
//! from (seed, epoch) (see [`SequenceStream`]); worker `rank` of `world` reads the shards whose
//! index `i % world == rank`, and holds them in memory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::data::batch::MaskedBatch;
use crate::data::manifest::{Manifest, ShardEntry, ShardKind};
use crate::data::masking::{MaskingConfig, mask_sequence, sequence_rng};
use crate::data::position::LoaderPosition;
use crate::data::shard::{ShardRows, read_shard};
use crate::data::tokenizer::{CLS_ID, ClozeTokenizer, SEP_ID, VocabInfo};

/// A point in the epoch's document order: the next token to pack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct PackPosition {
    /// Index into this epoch's document order.
    document: usize,
    /// Row within the document.
    row: usize,
    /// Token offset within the row.
    offset: usize,
}

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

/// The monolingual shards of one split that this worker reads, checked against the manifest.
pub struct ShardSet {
    root: PathBuf,
    manifest: Manifest,
    entries: Vec<ShardEntry>,
    vocab: VocabInfo,
}

impl ShardSet {
    /// Opens `root` with the tokenizer stored beside its manifest.
    pub fn open(root: &Path, config: &LoaderConfig) -> Result<Self> {
        let manifest = Manifest::load(root)?;
        let tokenizer = ClozeTokenizer::load(&manifest.tokenizer_path(root))?;
        Self::with_tokenizer(root, manifest, &tokenizer, config)
    }

    /// Opens `root` for a given tokenizer, refusing shards written with another one.
    pub fn with_tokenizer(
        root: &Path,
        manifest: Manifest,
        tokenizer: &ClozeTokenizer,
        config: &LoaderConfig,
    ) -> Result<Self> {
        manifest.check_tokenizer(root, tokenizer.sha256(), &manifest.tokenizer_path(root))?;
        if manifest.kind != ShardKind::Monolingual {
            bail!(
                "{}: these are translation pair shards; masked-language batches need monolingual shards",
                root.display()
            );
        }
        if config.seq_len < 3 {
            bail!(
                "seq_len must be at least 3 ([CLS], a token, [SEP]), got {}",
                config.seq_len
            );
        }
        if config.batch_size == 0 {
            bail!("batch_size must be at least 1");
        }
        if config.world == 0 || config.rank >= config.world {
            bail!(
                "rank {} is not below world size {}",
                config.rank,
                config.world
            );
        }
        config.masking.validate()?;
        let entries: Vec<ShardEntry> = manifest
            .split(root, &config.split)?
            .iter()
            .enumerate()
            .filter(|(i, _)| i % config.world == config.rank)
            .map(|(_, e)| e.clone())
            .collect();
        if entries.is_empty() {
            bail!(
                "{}: worker {} of {} has no shard in split '{}'",
                root.display(),
                config.rank,
                config.world,
                config.split
            );
        }
        for entry in &entries {
            let path = root.join(&entry.file);
            let size = std::fs::metadata(&path)
                .with_context(|| format!("cannot read shard {}", path.display()))?
                .len();
            if entry.bytes > 0 && size != entry.bytes {
                bail!(
                    "{}: shard is truncated or was modified: {size} bytes on disk, the manifest says {}",
                    path.display(),
                    entry.bytes
                );
            }
        }
        if entries.iter().all(|e| e.tokens == 0) {
            bail!(
                "{}: split '{}' holds no tokens",
                root.display(),
                config.split
            );
        }
        Ok(Self {
            root: root.to_owned(),
            manifest,
            entries,
            vocab: tokenizer.vocab(),
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn vocab(&self) -> &VocabInfo {
        &self.vocab
    }

    /// Tokens in this worker's shards: what one epoch streams, without `[CLS]`/`[SEP]`.
    pub fn tokens(&self) -> u64 {
        self.entries.iter().map(|e| e.tokens).sum()
    }

    /// How often each id occurs in this worker's shards (indexed by id): the unigram statistics
    /// that a model must beat to show it uses context.
    pub fn token_counts(&self) -> Result<Vec<u64>> {
        let mut counts = vec![0u64; self.manifest.tokenizer.vocab_size];
        for index in 0..self.entries.len() {
            let rows = self.read(index)?;
            for i in 0..rows.len() {
                for &id in rows.columns[0].row(i) {
                    if let Some(c) = counts.get_mut(id as usize) {
                        *c += 1;
                    }
                }
            }
        }
        Ok(counts)
    }

    fn read(&self, index: usize) -> Result<ShardRows> {
        read_shard(
            &self.root,
            &self.entries[index],
            ShardKind::Monolingual,
            &self.manifest.tokenizer.sha256,
        )
    }
}

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

/// This worker's documents, every shard's rows in memory, in one list.
struct Documents {
    shards: Vec<ShardRows>,
    /// `(shard, first row, end row)` of each document, shard by shard in stored order.
    ranges: Vec<(usize, usize, usize)>,
}

impl Documents {
    fn read(set: &ShardSet) -> Result<Self> {
        let mut shards = Vec::with_capacity(set.entries.len());
        let mut ranges = Vec::new();
        for index in 0..set.entries.len() {
            let rows = set.read(index)?;
            ranges.extend(
                rows.document_ranges()
                    .into_iter()
                    .map(|(start, end)| (index, start, end)),
            );
            shards.push(rows);
        }
        Ok(Self { shards, ranges })
    }

    /// Row `row` of the document `(shard, start, _)`.
    fn row(&self, document: (usize, usize, usize), row: usize) -> &[u32] {
        let (shard, start, _) = document;
        self.shards[shard].columns[0].row(start + row)
    }
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
        self.starts.clear();
        let mut at = PackPosition::default();
        loop {
            let start = at;
            if self.pack(&mut at).is_none() {
                break;
            }
            self.starts.push(start);
        }
        self.sequence_order = permutation(self.starts.len(), seed, epoch, u64::MAX - 1, shuffle);
        self.planned = Some(epoch);
        Ok(())
    }

    /// Packs the sequence starting at `at` in this epoch's document order and moves `at` past
    /// it, or `None` at the end of the documents.
    fn pack(&self, at: &mut PackPosition) -> Option<Vec<u32>> {
        let documents = self.documents.as_ref().expect("planned");
        let order = &self.document_order;
        let seq_len = self.config.seq_len;
        let mut tokens = Vec::with_capacity(seq_len);
        tokens.push(CLS_ID);
        // Room for content, keeping one position for the closing [SEP].
        while tokens.len() < seq_len - 1 && at.document < order.len() {
            let document = documents.ranges[order[at.document]];
            let row = documents.row(document, at.row);
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
                tokens.push(SEP_ID);
            } else {
                break;
            }
        }
        if tokens.len() == 1 {
            return None;
        }
        tokens.push(SEP_ID);
        Some(tokens)
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
        let sequence = self.pack(&mut at).expect("a planned sequence");
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
                    mask_sequence(seq, &self.set.vocab, &self.config.masking, &mut rng)
                })
                .collect();
            return Ok(Some(MaskedBatch::from_sequences(
                self.config.seq_len,
                &originals,
                masked,
                &self.set.vocab,
                epoch,
                first_sequence,
                self.position,
            )));
        }
    }
}

/// Batches prepared on a background thread, at most `prefetch` ahead of the consumer.
pub struct Loader {
    receiver: crossbeam_channel::Receiver<Result<MaskedBatch>>,
    worker: Option<std::thread::JoinHandle<()>>,
    position: LoaderPosition,
}

impl Loader {
    /// Starts streaming at `position` (the default position is the start of epoch 0).
    pub fn start(set: Arc<ShardSet>, config: LoaderConfig, position: LoaderPosition) -> Self {
        let (sender, receiver) = crossbeam_channel::bounded(config.prefetch.max(1));
        let mut stream = SequenceStream::new(set, config, position);
        let worker = std::thread::spawn(move || {
            loop {
                let next = stream.next_batch();
                let stop = !matches!(next, Ok(Some(_)));
                let item = match next {
                    Ok(Some(batch)) => Ok(batch),
                    Ok(None) => break,
                    Err(e) => Err(e),
                };
                if sender.send(item).is_err() || stop {
                    break;
                }
            }
        });
        Self {
            receiver,
            worker: Some(worker),
            position,
        }
    }

    /// The position after the last batch this loader handed out: saving it and starting a new
    /// loader from it continues with the next batch.
    pub fn position(&self) -> LoaderPosition {
        self.position
    }
}

impl Iterator for Loader {
    type Item = Result<MaskedBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let Ok(item) = self.receiver.recv() else {
            // The worker is gone: the stream ended, or the worker panicked, which must not pass
            // for the end of the data.
            let panicked = self.worker.take().is_some_and(|w| w.join().is_err());
            return panicked.then(|| Err(anyhow::anyhow!("the loader thread panicked")));
        };
        if let Ok(batch) = &item {
            self.position = batch.position_after;
        }
        Some(item)
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        // Unblock a worker waiting on a full queue, then wait for it to finish.
        let (_, dead) = crossbeam_channel::bounded(0);
        drop(std::mem::replace(&mut self.receiver, dead));
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}
