//! The data stages: `[tokenizer]` (`cloze tokenizer train`), `[shard]` and `[pairs]`
//! (`cloze shard`). Each is skipped when its output exists and its stamp (a sha256 of the stage's
//! settings and of every input file's bytes, `<out>.stamp`) matches.

use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::data::corpus::{DEFAULT_MAX_LINE_BYTES, DocBoundary, ReadOptions};
use crate::data::prepare::{
    DEFAULT_ROWS_PER_SHARD, DEFAULT_VALID_FRACTION, ShardOptions, ShardSummary, write_shards,
};
use crate::data::tokenizer::{Normalization, TokenizerConfig, TrainingReport, train_tokenizer};
use crate::pipeline::stamp::{record, stamp, up_to_date};

/// `cloze tokenizer train` as a stage.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerStage {
    pub inputs: Vec<PathBuf>,
    /// Where tokenizer.json is written.
    pub out: PathBuf,
    #[serde(default = "default_vocab_size")]
    pub vocab_size: usize,
    #[serde(default = "default_min_frequency")]
    pub min_frequency: u64,
    #[serde(default)]
    pub normalization: Normalization,
    #[serde(default)]
    pub lowercase: bool,
    #[serde(default)]
    pub columns: Vec<String>,
    #[serde(default)]
    pub doc_boundary: DocBoundary,
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
}

/// `cloze shard` as a stage.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShardStage {
    /// The tokenizer.json to encode with (usually the tokenizer stage's `out`).
    pub tokenizer: PathBuf,
    pub inputs: Vec<PathBuf>,
    /// Inputs held out whole in the valid split (a dev set). Left out of the stamp when empty,
    /// so that stages written before it existed stay up to date.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub valid_inputs: Vec<PathBuf>,
    /// The shard directory.
    pub out: PathBuf,
    #[serde(default = "default_valid_fraction")]
    pub valid_fraction: f64,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "default_rows_per_shard")]
    pub rows_per_shard: usize,
    /// Source and target columns of translation pairs (both or neither).
    pub src_column: Option<String>,
    pub tgt_column: Option<String>,
    #[serde(default)]
    pub columns: Vec<String>,
    #[serde(default)]
    pub doc_boundary: DocBoundary,
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
}

fn default_vocab_size() -> usize {
    TokenizerConfig::default().vocab_size
}
fn default_min_frequency() -> u64 {
    TokenizerConfig::default().min_frequency
}
fn default_max_line_bytes() -> usize {
    DEFAULT_MAX_LINE_BYTES
}
fn default_valid_fraction() -> f64 {
    DEFAULT_VALID_FRACTION
}
fn default_rows_per_shard() -> usize {
    DEFAULT_ROWS_PER_SHARD
}

/// Runs the tokenizer stage unless it is up to date (and not forced); `None` when skipped.
pub fn run_tokenizer(stage: &TokenizerStage, force: bool) -> Result<Option<TrainingReport>> {
    let stamp = stamp(stage, &stage.inputs)?;
    if !force && up_to_date(&stage.out, &stamp) {
        return Ok(None);
    }
    let read = ReadOptions {
        columns: stage.columns.clone(),
        max_line_bytes: stage.max_line_bytes,
        doc_boundary: stage.doc_boundary,
    };
    let config = TokenizerConfig {
        vocab_size: stage.vocab_size,
        min_frequency: stage.min_frequency,
        normalization: stage.normalization,
        lowercase: stage.lowercase,
    };
    let report = train_tokenizer(&stage.inputs, &read, &config, &stage.out)?;
    record(&stage.out, &stamp)?;
    Ok(Some(report))
}

/// Runs the shard stage unless it is up to date (and not forced) (the tokenizer file counts as an input);
/// `None` when skipped. A stale output directory is replaced once the new shards are complete.
pub fn run_shard(stage: &ShardStage, force: bool) -> Result<Option<ShardSummary>> {
    let mut inputs = stage.inputs.clone();
    inputs.extend(stage.valid_inputs.iter().cloned());
    inputs.push(stage.tokenizer.clone());
    let stamp = stamp(stage, &inputs)?;
    if !force && up_to_date(&stage.out, &stamp) {
        return Ok(None);
    }
    let options = ShardOptions {
        tokenizer: stage.tokenizer.clone(),
        inputs: stage.inputs.clone(),
        valid_inputs: stage.valid_inputs.clone(),
        out: stage.out.clone(),
        read: ReadOptions {
            columns: stage.columns.clone(),
            max_line_bytes: stage.max_line_bytes,
            doc_boundary: stage.doc_boundary,
        },
        pair_columns: match (&stage.src_column, &stage.tgt_column) {
            (Some(s), Some(t)) => Some((s.clone(), t.clone())),
            (None, None) => None,
            _ => anyhow::bail!(
                "shard.src_column and shard.tgt_column go together: set both or neither"
            ),
        },
        valid_fraction: stage.valid_fraction,
        seed: stage.seed,
        rows_per_shard: stage.rows_per_shard,
        overwrite: true,
    };
    let summary = write_shards(&options)?;
    record(&stage.out, &stamp)?;
    Ok(Some(summary))
}
