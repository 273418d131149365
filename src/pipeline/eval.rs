//! `[eval]`: `cloze eval mlm` as a stage. The `[pretrain]` run's latest checkpoint, evaluated on
//! a split of its shards with masks drawn from a fixed seed, writes `<run_dir>/eval.json` (the
//! JSON `cloze eval mlm --json` prints). Its stamp covers the settings, the checkpoint (its
//! state.json and model) and the shards' manifest.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{MODEL_FILE, STATE_FILE, resolve_checkpoint};
use crate::config::pretrain::PretrainConfig;
use crate::data::manifest::MANIFEST_FILE;
use crate::device::DeviceChoice;
use crate::eval::checkpoint_mlm::{
    MlmEvalData, MlmEvalOutcome, MlmEvalRequest, evaluate_checkpoint,
};
use crate::eval::summary::figure;
use crate::pipeline::stamp::Stamp;

/// The file the stage writes in the pretraining run directory.
pub const EVAL_FILE: &str = "eval.json";

/// The `[eval]` table. Every key has a default, so `[eval]` alone is a stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalStage {
    /// The shards evaluated; by default the `[pretrain]` stage's `data.shards`.
    pub shards: Option<PathBuf>,
    /// Their split.
    pub split: String,
    /// Seed of the masks.
    pub seed: u64,
    /// Fraction of tokens selected for prediction; by default the checkpoint's `masking.mask_prob`.
    pub mask_prob: Option<f64>,
    /// Sequences per batch.
    pub batch_size: usize,
    /// Sequence length; by default (and at most) the checkpoint's `train.seq_len`.
    pub seq_len: Option<usize>,
    /// Stop after this many batches (0: the whole split).
    pub max_batches: usize,
}

impl Default for EvalStage {
    fn default() -> Self {
        Self {
            shards: None,
            split: "valid".into(),
            seed: 0,
            mask_prob: None,
            batch_size: 32,
            seq_len: None,
            max_batches: 0,
        }
    }
}

impl EvalStage {
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            bail!("eval.batch_size must be at least 1");
        }
        if self.split.is_empty() {
            bail!("eval.split is empty: name a split of the shards (\"valid\")");
        }
        if let Some(p) = self.mask_prob
            && !(p > 0.0 && p <= 1.0)
        {
            bail!("eval.mask_prob must be in (0, 1], got {p}");
        }
        if let Some(n) = self.seq_len
            && n < 3
        {
            bail!("eval.seq_len must be at least 3, got {n}");
        }
        Ok(())
    }
}

/// What the stage evaluates, resolved against the `[pretrain]` stage.
#[derive(Serialize)]
struct Settings<'a> {
    stage: &'a EvalStage,
    shards: &'a Path,
    checkpoint: &'a Path,
}

/// The stage's output, and the stamp it must carry, for the pretraining run as it is now.
pub struct EvalPlan {
    pub out: PathBuf,
    pub checkpoint: PathBuf,
    pub shards: PathBuf,
    pub stamp: Stamp,
}

/// Resolves the stage against the pretraining run's latest checkpoint.
pub fn plan(stage: &EvalStage, pretrain: &PretrainConfig) -> Result<EvalPlan> {
    let run_dir = pretrain.run_dir.clone().unwrap_or_default();
    let checkpoint = resolve_checkpoint(&run_dir)?;
    let shards = stage
        .shards
        .clone()
        .unwrap_or_else(|| pretrain.data.shards.clone());
    let settings = Settings {
        stage,
        shards: &shards,
        checkpoint: &checkpoint,
    };
    let stamp = Stamp::new(
        &settings,
        &[
            ("checkpoint state", &checkpoint.join(STATE_FILE)),
            ("checkpoint model", &checkpoint.join(MODEL_FILE)),
            ("shards manifest", &shards.join(MANIFEST_FILE)),
        ],
    )?;
    Ok(EvalPlan {
        out: run_dir.join(EVAL_FILE),
        checkpoint,
        shards,
        stamp,
    })
}

/// Evaluates and writes `eval.json`, then its stamp.
pub fn run(stage: &EvalStage, plan: &EvalPlan, device: DeviceChoice) -> Result<MlmEvalOutcome> {
    let request = MlmEvalRequest {
        checkpoint: plan.checkpoint.clone(),
        tokenizer: None,
        data: MlmEvalData::Shards {
            dir: plan.shards.clone(),
            split: stage.split.clone(),
        },
        seed: stage.seed,
        mask_prob: stage.mask_prob,
        batch_size: stage.batch_size,
        seq_len: stage.seq_len,
        max_batches: stage.max_batches,
        device,
        progress: true,
    };
    let outcome = evaluate_checkpoint(&request)?;
    let json = serde_json::to_string(&outcome.evaluation.report())? + "\n";
    crate::fsutil::write_atomic(&plan.out, json.as_bytes())?;
    plan.stamp.record(&plan.out)?;
    Ok(outcome)
}

/// What the stage wrote, and its headline figures.
pub fn summary_line(stage: &EvalStage, plan: &EvalPlan, outcome: &MlmEvalOutcome) -> String {
    let report = outcome.evaluation.report();
    format!(
        "wrote {} (step {}, {} split, seed {}): top-1 {}, top-5 {}, loss {} at {} positions",
        plan.out.display(),
        outcome.step,
        stage.split,
        stage.seed,
        figure(report.accuracy, 4),
        figure(report.top5, 4),
        figure(report.loss, 4),
        report.predictions
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_is_a_valid_stage_and_bad_keys_are_named() {
        let stage: EvalStage = toml::from_str("").unwrap();
        assert_eq!(stage, EvalStage::default());
        stage.validate().unwrap();
        let bad: EvalStage = toml::from_str("mask_prob = 1.5").unwrap();
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("eval.mask_prob")
        );
        let bad: EvalStage = toml::from_str("seq_len = 2").unwrap();
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("eval.seq_len")
        );
    }
}
