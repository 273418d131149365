//! The fine-tuning stage's configuration: the pair shards, where the encoder comes from, the
//! decoder, the translation loss, and the same `[train]` table as pretraining.

use std::path::PathBuf;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::config::model_section::ModelSection;
use crate::config::train_section::TrainSection;
use crate::config::{TrainingConfig, differing};
use crate::model::config::TransformerConfig;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FinetuneConfig {
    /// Where the run is written; by default `runs/<config file name>`.
    pub run_dir: Option<PathBuf>,
    pub data: PairDataSection,
    pub model: FinetuneModelSection,
    /// The encoder's architecture when there is no pretrained checkpoint (the keys of
    /// pretraining's `[model]` table).
    pub encoder: ModelSection,
    pub train: TrainSection,
    pub translation: TranslationSection,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PairDataSection {
    /// A directory of pair shards (`cloze shard --src-column ko --tgt-column en`).
    pub shards: PathBuf,
    pub train_split: String,
    /// The dev pairs: validation loss and BLEU.
    pub valid_split: String,
    /// Translate from the target column to the source column (en to ko for ko-en shards).
    pub reverse: bool,
}

impl Default for PairDataSection {
    fn default() -> Self {
        Self {
            shards: PathBuf::new(),
            train_split: "train".into(),
            valid_split: "valid".into(),
            reverse: false,
        }
    }
}

/// Where the encoder's weights come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EncoderInit {
    /// The encoder and embeddings of the `model.pretrained` checkpoint.
    #[default]
    Pretrained,
    /// Random weights, of the pretrained checkpoint's architecture when `model.pretrained` is
    /// set (a baseline at the same size), else of `model.size` and the other model keys.
    Random,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FinetuneModelSection {
    pub init: EncoderInit,
    /// A pretraining checkpoint or run directory.
    pub pretrained: Option<PathBuf>,
    /// Decoder layers (the encoder's width, heads, feed-forward size, dropout, LayerNorm
    /// placement and positions).
    pub decoder_layers: usize,
    /// Where the decoder's layers start: `random`, or copies of the encoder's first layers.
    pub decoder_init: DecoderInit,
}

impl Default for FinetuneModelSection {
    fn default() -> Self {
        Self {
            init: EncoderInit::Pretrained,
            pretrained: None,
            decoder_layers: 4,
            decoder_init: DecoderInit::Random,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TranslationSection {
    /// Label smoothing of the cross-entropy.
    pub label_smoothing: f64,
    /// The encoder (and the shared embeddings) stay frozen for this many first steps.
    pub freeze_encoder_steps: u64,
    /// The encoder (and the shared embeddings) learn at this times the schedule's rate once
    /// they move; the decoder at the rate itself.
    pub encoder_lr_scale: f64,
    /// Beam width of the BLEU validation (1: greedy).
    pub valid_beam: usize,
    /// Length penalty of the BLEU validation's beam search.
    pub valid_length_penalty: f64,
    /// The BLEU validation's beam search stops a sentence once `valid_beam` hypotheses have
    /// finished, rather than once no live one can outrank them.
    pub valid_early_stopping: bool,
}

impl Default for TranslationSection {
    fn default() -> Self {
        Self {
            label_smoothing: 0.1,
            freeze_encoder_steps: 0,
            encoder_lr_scale: 1.0,
            valid_beam: 1,
            valid_length_penalty: 1.0,
            valid_early_stopping: false,
        }
    }
}

impl FinetuneConfig {
    pub fn validate(&self) -> Result<()> {
        if self.data.shards.as_os_str().is_empty() {
            bail!("data.shards is not set: name a directory of pair shards");
        }
        if self.model.init == EncoderInit::Pretrained && self.model.pretrained.is_none() {
            bail!(
                "model.pretrained is not set: name a pretraining checkpoint, or use --init random"
            );
        }
        if self.model.decoder_layers == 0 {
            bail!("model.decoder_layers must be at least 1");
        }

        let s = self.translation.label_smoothing;
        if !(0.0..1.0).contains(&s) {
            bail!("translation.label_smoothing must be in [0, 1), got {s}");
        }
        let scale = self.translation.encoder_lr_scale;
        if !(scale.is_finite() && scale > 0.0) {
            bail!("translation.encoder_lr_scale must be a positive number, got {scale}");
        }
        if self.translation.valid_beam == 0 {
            bail!("translation.valid_beam must be at least 1");
        }
        let probe = crate::config::pretrain::PretrainConfig {
            data: crate::config::pretrain::DataSection {
                shards: self.data.shards.clone(),
                ..Default::default()
            },
            model: self.encoder.clone(),
            train: self.train.clone(),
            ..Default::default()
        };
        probe.validate()
    }
}

impl TrainingConfig for FinetuneConfig {
    const SECTION: &'static str = "finetune";

    fn train(&self) -> &TrainSection {
        &self.train
    }

    /// The keys that must match for `--resume`: all but the length of the run and how often it
    /// checkpoints, validates and logs.
    fn resume_conflicts(&self, saved: &FinetuneConfig) -> Vec<&'static str> {
        let checks = [
            ("data", self.data == saved.data),
            (
                "model",
                self.model == saved.model && self.encoder == saved.encoder,
            ),
            (
                "translation.label_smoothing",
                self.translation.label_smoothing == saved.translation.label_smoothing,
            ),
            (
                "translation.freeze_encoder_steps",
                self.translation.freeze_encoder_steps == saved.translation.freeze_encoder_steps,
            ),
            (
                "translation.encoder_lr_scale",
                self.translation.encoder_lr_scale == saved.translation.encoder_lr_scale,
            ),
        ];
        let mut conflicts = differing(checks);
        conflicts.extend(self.train.resume_conflicts(&saved.train));
        conflicts
    }
}

/// Where the decoder's weights come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecoderInit {
    /// New weights.
    #[default]
    Random,
    /// Layer `i`'s self-attention, feed-forward network and their LayerNorms (and the final
    /// LayerNorm) copied from encoder layer `i`; the cross-attention new.
    Encoder,
}

/// What a translation checkpoint records as its config: the fine-tuning config and the resolved
/// architecture, so that `cloze translate` can rebuild the model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TranslationModelConfig {
    pub finetune: FinetuneConfig,
    pub encoder: TransformerConfig,
    pub decoder_layers: usize,
}
