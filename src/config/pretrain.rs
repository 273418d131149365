//! The pretraining stage's configuration: every knob, its default, and its checks. The keys are
//! the TOML keys (`data.shards`, `model.size`, `train.steps`, ...) that `--set` overrides.

use std::path::PathBuf;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::config::model_section::ModelSection;
use crate::config::train_section::TrainSection;
use crate::config::{TrainingConfig, differing};
use crate::data::masking::MaskingConfig;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PretrainConfig {
    /// Where the run is written (`config.toml`, `metrics.csv`, `checkpoints/`); by default
    /// `runs/<config file name>`.
    pub run_dir: Option<PathBuf>,
    /// Start from the weights of this checkpoint (a cloze checkpoint or run directory, or the
    /// output of `cloze import hf`) instead of random ones. The `[model]` table is then the
    /// checkpoint's, but for `model.dropout`; the shards must use the checkpoint's tokenizer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<PathBuf>,
    pub data: DataSection,
    pub model: ModelSection,
    pub train: TrainSection,
    pub masking: MaskingConfig,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataSection {
    /// A directory written by `cloze shard` (monolingual).
    pub shards: PathBuf,
    /// The split trained on.
    pub train_split: String,
    /// The split validated on; validation is skipped when the shards have no such split.
    pub valid_split: String,
    /// Batches prepared ahead on the loader thread.
    pub prefetch: usize,
}

impl Default for DataSection {
    fn default() -> Self {
        Self {
            shards: PathBuf::new(),
            train_split: "train".into(),
            valid_split: "valid".into(),
            prefetch: 8,
        }
    }
}

impl PretrainConfig {
    /// Checks every value a run would otherwise fail on later, naming the key.
    pub fn validate(&self) -> Result<()> {
        if self.data.shards.as_os_str().is_empty() {
            bail!("data.shards is not set: name a directory written by `cloze shard`");
        }
        let t = &self.train;
        let at_least_one = [
            ("train.steps", t.steps as usize),
            ("train.batch_size", t.batch_size),
            ("train.grad_accum", t.grad_accum),
            ("train.keep_checkpoints", t.keep_checkpoints),
            ("train.max_nonfinite_steps", t.max_nonfinite_steps as usize),
            ("data.prefetch", self.data.prefetch),
        ];
        for (key, value) in at_least_one {
            if value == 0 {
                bail!("{key} must be at least 1");
            }
        }
        if t.seq_len < 3 {
            bail!(
                "train.seq_len must be at least 3 ([CLS], a token, [SEP]), got {}",
                t.seq_len
            );
        }
        let positive = [("train.lr", t.lr), ("train.epsilon", t.epsilon)];
        for (key, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                bail!("{key} must be a positive number, got {value}");
            }
        }
        let unit = [
            ("train.final_lr_fraction", t.final_lr_fraction),
            ("train.beta1", t.beta1),
            ("train.beta2", t.beta2),
        ];
        for (key, value) in unit {
            if !(0.0..=1.0).contains(&value) {
                bail!("{key} must be in [0, 1], got {value}");
            }
        }
        if !(t.weight_decay.is_finite() && t.weight_decay >= 0.0) {
            bail!(
                "train.weight_decay must be 0 or more, got {}",
                t.weight_decay
            );
        }
        if !(t.grad_clip.is_finite() && t.grad_clip >= 0.0) {
            bail!(
                "train.grad_clip must be 0 (off) or more, got {}",
                t.grad_clip
            );
        }
        self.masking
            .validate()
            .map_err(|e| anyhow::anyhow!("masking.{e}"))?;
        self.model.encoder(8, t.seq_len)?;
        Ok(())
    }
}

impl TrainingConfig for PretrainConfig {
    const SECTION: &'static str = "pretrain";

    fn train(&self) -> &TrainSection {
        &self.train
    }

    /// The keys that must match for `--resume` to continue a run: everything but the length of
    /// the run, how often it checkpoints, validates and logs, and how many non-finite steps it
    /// tolerates.
    fn resume_conflicts(&self, saved: &PretrainConfig) -> Vec<&'static str> {
        let checks = [
            (
                "data",
                self.data.shards == saved.data.shards
                    && self.data.train_split == saved.data.train_split,
            ),
            ("init", self.init == saved.init),
            ("model", self.model == saved.model),
            ("masking", self.masking == saved.masking),
        ];
        let mut conflicts = differing(checks);
        conflicts.extend(self.train.resume_conflicts(&saved.train));
        conflicts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PretrainConfig {
        let mut c = PretrainConfig::default();
        c.data.shards = "shards".into();
        c
    }

    #[test]
    fn defaults_are_valid_and_bad_values_name_their_key() {
        config().validate().unwrap();
        type Breaker = fn(&mut PretrainConfig);
        let cases: [(&str, Breaker); 7] = [
            ("data.shards", |c| c.data.shards = PathBuf::new()),
            ("train.steps", |c| c.train.steps = 0),
            ("train.seq_len", |c| c.train.seq_len = 2),
            ("train.lr", |c| c.train.lr = -1.0),
            ("train.beta2", |c| c.train.beta2 = 1.5),
            ("model.size", |c| c.model.size = "huge".into()),
            ("model.d_model", |c| c.model.n_heads = Some(3)),
        ];
        for (key, break_it) in cases {
            let mut c = config();
            break_it(&mut c);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn a_longer_run_may_resume_but_another_model_may_not() {
        let saved = config();
        let mut longer = saved.clone();
        longer.train.steps *= 2;
        longer.train.checkpoint_every = 7;
        assert!(longer.resume_conflicts(&saved).is_empty());
        let mut other = saved.clone();
        other.model.pre_ln = true;
        other.train.seq_len = 64;
        assert_eq!(other.resume_conflicts(&saved), ["model", "train.seq_len"]);
    }
}
