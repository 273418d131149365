//! The shards of one split that a worker reads, opened and checked before any is streamed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::LoaderConfig;
use crate::data::manifest::{Manifest, ShardEntry, ShardKind};
use crate::data::shard::{ShardRows, read_shard};
use crate::data::tokenizer::{ClozeTokenizer, VocabInfo};

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
        manifest.check_tokenizer(root, tokenizer, &manifest.tokenizer_path(root))?;
        if manifest.kind != ShardKind::Monolingual {
            bail!(
                "{}: these are translation pair shards; masked-language batches need monolingual shards",
                root.display()
            );
        }
        check_config(config)?;
        let entries = worker_entries(root, &manifest, config)?;
        check_sizes(root, &entries)?;
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

    /// How many shards this worker reads.
    pub(super) fn shard_count(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn read(&self, index: usize) -> Result<ShardRows> {
        read_shard(
            &self.root,
            &self.entries[index],
            ShardKind::Monolingual,
            &self.manifest.tokenizer.sha256,
        )
    }
}

/// Refuses settings no stream can be made with.
fn check_config(config: &LoaderConfig) -> Result<()> {
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
    Ok(())
}

/// The entries of the split that worker `rank` of `world` reads: those whose index is `rank`
/// modulo `world`.
fn worker_entries(
    root: &Path,
    manifest: &Manifest,
    config: &LoaderConfig,
) -> Result<Vec<ShardEntry>> {
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
    Ok(entries)
}

/// Refuses a shard whose size on disk is not the manifest's.
fn check_sizes(root: &Path, entries: &[ShardEntry]) -> Result<()> {
    for entry in entries {
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
    Ok(())
}
