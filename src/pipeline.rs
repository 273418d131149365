//! Pipeline files: the stages of one experiment (`[tokenizer]`, `[shard]`, `[pretrain]`) in one
//! TOML file, run in order by `cloze run`.
//!
//! A data stage whose output exists and whose stamp (a sha256 of the stage's settings and of
//! every input file's bytes, kept beside the output as `<out>.stamp`) matches is skipped. The
//! pretraining stage always resumes its run directory: a finished run is only re-evaluated, an
//! interrupted one continues, and one trained with other settings is refused.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::corpus::{DEFAULT_MAX_LINE_BYTES, DocBoundary, ReadOptions};
use crate::data::prepare::{ShardOptions, ShardSummary, write_shards};
use crate::data::tokenizer::{Normalization, TokenizerConfig, TrainingReport, train_tokenizer};
use crate::train::config::PretrainConfig;
use crate::train::finetune_config::FinetuneConfig;

/// A pipeline file.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    pub tokenizer: Option<TokenizerStage>,
    pub shard: Option<ShardStage>,
    /// Translation pairs (a shard stage with `src_column` and `tgt_column`), for `[finetune]`.
    pub pairs: Option<ShardStage>,
    pub pretrain: Option<PretrainConfig>,
    pub finetune: Option<FinetuneConfig>,
}

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
    0.01
}
fn default_rows_per_shard() -> usize {
    100_000
}

impl Pipeline {
    /// Reads a pipeline file; `overrides` are `stage.key=value` (`pretrain.train.steps=10`).
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let pipeline: Self = crate::config::load(path, None, overrides)?;
        if pipeline.tokenizer.is_none() && pipeline.shard.is_none() && pipeline.pretrain.is_none() {
            anyhow::bail!(
                "{}: no stage; a pipeline file has [tokenizer], [shard] and/or [pretrain] tables",
                path.display()
            );
        }
        Ok(pipeline)
    }
}

/// The fingerprint of a stage: its settings and the bytes of its inputs.
pub fn stamp(settings: &impl Serialize, inputs: &[PathBuf]) -> Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(settings)?);
    for input in inputs {
        let bytes = std::fs::read(input)
            .with_context(|| format!("cannot read input {}", input.display()))?;
        hasher.update(input.to_string_lossy().as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn stamp_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".stamp");
    out.with_file_name(name)
}

/// Whether `out` exists and was made from exactly this `stamp`.
pub fn up_to_date(out: &Path, stamp: &str) -> bool {
    out.exists() && std::fs::read_to_string(stamp_path(out)).is_ok_and(|s| s.trim() == stamp)
}

/// Records that `out` was made from `stamp`.
pub fn record(out: &Path, stamp: &str) -> Result<()> {
    crate::fsutil::write_atomic(&stamp_path(out), stamp.as_bytes())
}

/// Runs the tokenizer stage unless it is up to date; `None` when skipped.
pub fn run_tokenizer(stage: &TokenizerStage) -> Result<Option<TrainingReport>> {
    let stamp = stamp(stage, &stage.inputs)?;
    if up_to_date(&stage.out, &stamp) {
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

/// Runs the shard stage unless it is up to date (the tokenizer file counts as an input);
/// `None` when skipped. A stale output directory is replaced once the new shards are complete.
pub fn run_shard(stage: &ShardStage) -> Result<Option<ShardSummary>> {
    let mut inputs = stage.inputs.clone();
    inputs.extend(stage.valid_inputs.iter().cloned());
    inputs.push(stage.tokenizer.clone());
    let stamp = stamp(stage, &inputs)?;
    if up_to_date(&stage.out, &stamp) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_changes_with_the_settings_and_the_input_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("a.txt");
        std::fs::write(&input, "one\n").unwrap();
        let inputs = vec![input.clone()];
        let a = stamp(&("x", 1), &inputs).unwrap();
        assert_eq!(a, stamp(&("x", 1), &inputs).unwrap());
        assert_ne!(a, stamp(&("x", 2), &inputs).unwrap());
        std::fs::write(&input, "two\n").unwrap();
        assert_ne!(a, stamp(&("x", 1), &inputs).unwrap());

        let out = dir.path().join("out");
        assert!(!up_to_date(&out, &a));
        std::fs::create_dir(&out).unwrap();
        record(&out, &a).unwrap();
        assert!(up_to_date(&out, &a));
        assert!(!up_to_date(&out, "other"));
        assert!(dir.path().join("out.stamp").exists());
    }

    #[test]
    fn the_shipped_pipelines_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
        for entry in std::fs::read_dir(root).unwrap() {
            let path = entry.unwrap().path();
            let pipeline = Pipeline::load(&path, &[]).unwrap();
            if let Some(p) = pipeline.pretrain {
                p.validate().unwrap();
            }
        }
    }
}
