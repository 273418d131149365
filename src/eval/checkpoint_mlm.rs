//! `cloze eval mlm`: a pretrained checkpoint evaluated on shards or on raw text, which is
//! tokenized with the checkpoint's tokenizer and packed as in training.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use crate::checkpoint::trained::TrainedModel;
use crate::data::corpus::ReadOptions;
use crate::data::loader::{LoaderConfig, ShardSet};
use crate::data::manifest::Manifest;
use crate::data::masking::MaskingConfig;
use crate::data::prepare::{ShardOptions, write_shards};
use crate::device::DeviceChoice;
use crate::eval::mlm::{MlmEvalOptions, MlmEvaluation, evaluate_mlm};
use crate::eval::script::vocabulary_scripts;

/// What is evaluated.
#[derive(Clone, Debug)]
pub enum MlmEvalData {
    /// A split of a directory written by `cloze shard`.
    Shards { dir: PathBuf, split: String },
    /// Raw text files, in any format `cloze shard` reads.
    Text {
        inputs: Vec<PathBuf>,
        read: ReadOptions,
    },
}

#[derive(Clone, Debug)]
pub struct MlmEvalRequest {
    /// A checkpoint, a checkpoints directory or a run directory.
    pub checkpoint: PathBuf,
    /// The tokenizer, when not the one saved with the checkpoint.
    pub tokenizer: Option<PathBuf>,
    pub data: MlmEvalData,
    /// Seed of the masks.
    pub seed: u64,
    /// Overrides the checkpoint's masking.mask_prob.
    pub mask_prob: Option<f64>,
    pub batch_size: usize,
    /// Sequence length; the checkpoint's train.seq_len by default, at most that.
    pub seq_len: Option<usize>,
    /// Stop after this many batches (0: all).
    pub max_batches: usize,
    pub device: DeviceChoice,
    pub progress: bool,
}

/// What an evaluation of a checkpoint found.
pub struct MlmEvalOutcome {
    pub evaluation: MlmEvaluation,
    pub checkpoint: PathBuf,
    pub step: u64,
    pub seq_len: usize,
    pub mask_prob: f64,
    /// One line per input file that had lines skipped (invalid UTF-8, over-long, empty).
    pub skipped: Vec<String>,
}

pub fn evaluate_checkpoint(request: &MlmEvalRequest) -> Result<MlmEvalOutcome> {
    if request.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let device = request.device.device()?;
    let trained = TrainedModel::load(&request.checkpoint, request.tokenizer.as_deref(), &device)?;
    let seq_len = request.seq_len.unwrap_or(trained.max_positions());
    if seq_len > trained.max_positions() || seq_len < 3 {
        bail!(
            "--seq-len must be between 3 and {} (the length {} was trained on), got {seq_len}",
            trained.max_positions(),
            trained.checkpoint.display()
        );
    }
    let masking = masking_for(&trained.config.masking, request.mask_prob)?;
    // Raw text becomes shards in a temporary directory, removed when this returns.
    let (_staging, dir, split, skipped) = match &request.data {
        MlmEvalData::Shards { dir, split } => (None, dir.clone(), split.clone(), Vec::new()),
        MlmEvalData::Text { inputs, read } => {
            let (tmp, dir, skipped) = shard_text(&trained, inputs, read)?;
            (Some(tmp), dir, "train".to_owned(), skipped)
        }
    };
    let config = LoaderConfig {
        split,
        seq_len,
        batch_size: request.batch_size,
        seed: request.seed,
        masking: masking.clone(),
        ..LoaderConfig::default()
    };
    let manifest = Manifest::load(&dir)?;
    let set = ShardSet::with_tokenizer(&dir, manifest, &trained.tokenizer, &config).with_context(
        || {
            format!(
                "the shards do not fit checkpoint {}",
                trained.checkpoint.display()
            )
        },
    )?;
    let options = MlmEvalOptions {
        max_batches: request.max_batches,
        unigram: None,
        scripts: Some(vocabulary_scripts(&trained.tokenizer)),
        progress: request.progress,
    };
    let evaluation = evaluate_mlm(&trained.model, Arc::new(set), &config, &options)?;
    Ok(MlmEvalOutcome {
        evaluation,
        checkpoint: trained.checkpoint,
        step: trained.state.step,
        seq_len,
        mask_prob: masking.mask_prob,
        skipped,
    })
}

/// The checkpoint's masking, with `--mask-prob` if given.
fn masking_for(trained: &MaskingConfig, mask_prob: Option<f64>) -> Result<MaskingConfig> {
    let mut masking = trained.clone();
    if let Some(p) = mask_prob {
        masking.mask_prob = p;
    }
    masking
        .validate()
        .context("--mask-prob and the checkpoint's masking")?;
    Ok(masking)
}

/// `inputs` written as a train split of shards with the checkpoint's tokenizer, in a temporary
/// directory (returned, to keep it alive); with a line per input that had lines skipped.
fn shard_text(
    trained: &TrainedModel,
    inputs: &[PathBuf],
    read: &ReadOptions,
) -> Result<(tempfile::TempDir, PathBuf, Vec<String>)> {
    let tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
    let out = tmp.path().join("shards");
    let summary = write_shards(&ShardOptions {
        read: read.clone(),
        valid_fraction: 0.0,
        ..ShardOptions::new(trained.tokenizer_path.clone(), inputs.to_vec(), out.clone())
    })?;
    let skipped = summary
        .manifest
        .sources
        .iter()
        .filter_map(|s| s.skipped_summary())
        .collect();
    if summary.manifest.total_tokens("train") == 0 {
        let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
        bail!("{}: no text to evaluate", names.join(", "));
    }
    Ok((tmp, out, skipped))
}
