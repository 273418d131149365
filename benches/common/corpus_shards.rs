//! What several benchmarks start from: a tokenizer (the default configuration) trained on some
//! corpora, and monolingual shards of them.

use std::path::{Path, PathBuf};

use anyhow::Result;
use cloze::data::corpus::ReadOptions;
use cloze::data::prepare::{ShardOptions, write_shards};
use cloze::data::tokenizer::{TokenizerConfig, train_tokenizer};

/// A file of the project's `data/`.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

/// Trains `work/tokenizer.json` on `inputs` and writes `work/shards`; returns both paths.
pub fn tokenizer_and_shards(
    work: &Path,
    inputs: &[PathBuf],
    valid_fraction: f64,
    rows_per_shard: usize,
) -> Result<(PathBuf, PathBuf)> {
    let tokenizer = work.join("tokenizer.json");
    train_tokenizer(
        inputs,
        &ReadOptions::default(),
        &TokenizerConfig::default(),
        &tokenizer,
    )?;
    let shards = work.join("shards");
    write_shards(&ShardOptions {
        valid_fraction,
        rows_per_shard,
        ..ShardOptions::new(tokenizer.clone(), inputs.to_vec(), shards.clone())
    })?;
    Ok((tokenizer, shards))
}
