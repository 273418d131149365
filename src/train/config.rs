//! The pretraining stage's configuration: every knob, its default, and its checks. The keys are
//! the TOML keys (`data.shards`, `model.size`, `train.steps`, ...) that `--set` overrides.

use std::path::PathBuf;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::data::masking::MaskingConfig;
use crate::model::config::{EncoderConfig, Positions};
use crate::train::schedule::{Decay, LrSchedule};

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

/// The encoder's architecture family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// The "Attention Is All You Need" encoder, shaped by `gelu`, `pre_ln` and `positions`.
    #[default]
    Transformer,
    /// HuggingFace BERT's (so that `cloze export hf` and `cloze import hf` apply): learned
    /// positions, token-type embeddings, a LayerNorm over the embeddings, GELU, post-LN,
    /// LayerNorm epsilon 1e-12 unless `layer_norm_eps` says otherwise.
    Bert,
}

/// A named size, with any of its dimensions overridden.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSection {
    /// `transformer` or `bert`.
    pub arch: Arch,
    /// `tiny`, `small` or `base`.
    pub size: String,
    pub d_model: Option<usize>,
    pub n_layers: Option<usize>,
    pub n_heads: Option<usize>,
    pub d_ff: Option<usize>,
    pub dropout: f64,
    /// GELU instead of ReLU (the source material's).
    pub gelu: bool,
    /// LayerNorm before each sub-layer instead of after it (the source material's post-LN).
    pub pre_ln: bool,
    /// `sinusoidal` (added to the input, the default), `learned` (a table added to the input) or
    /// `rope` (rotary: queries and keys rotated inside attention); `bert` is always `learned`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub positions: Option<Positions>,
    /// The base of the rotary frequencies (10000), with `positions = "rope"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rope_theta: Option<f64>,
    /// The old spelling of `positions = "learned"`, still read.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub learned_positions: bool,
    /// Rows of the position table; `train.seq_len` by default (an imported BERT keeps its own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_positions: Option<usize>,
    /// Every LayerNorm's epsilon: 1e-5, or 1e-12 with `arch = "bert"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer_norm_eps: Option<f64>,
    /// Rows of BERT's token-type table (2 unless an imported model says otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_vocab_size: Option<usize>,
}

impl Default for ModelSection {
    fn default() -> Self {
        Self {
            arch: Arch::Transformer,
            size: "small".into(),
            d_model: None,
            n_layers: None,
            n_heads: None,
            d_ff: None,
            dropout: 0.1,
            gelu: false,
            pre_ln: false,
            positions: None,
            rope_theta: None,
            learned_positions: false,
            max_positions: None,
            layer_norm_eps: None,
            type_vocab_size: None,
        }
    }
}

impl ModelSection {
    /// The encoder for a vocabulary and a sequence length.
    pub fn encoder(&self, vocab_size: usize, seq_len: usize) -> Result<EncoderConfig> {
        let named = EncoderConfig::named(&self.size, vocab_size)
            .map_err(|e| anyhow::anyhow!("model.size: {e}"))?;
        let bert = self.arch == Arch::Bert;
        if bert && self.pre_ln {
            bail!("model.pre_ln: arch = \"bert\" is post-LN; leave pre_ln out");
        }
        if !bert && self.type_vocab_size.is_some() {
            bail!("model.type_vocab_size is a BERT setting; it needs arch = \"bert\"");
        }
        let positions = self.positions()?;
        if self.rope_theta.is_some() && positions != Positions::Rope {
            bail!(
                "model.rope_theta is a setting of rotary positions; it needs positions = \"rope\""
            );
        }
        let max_len = self.max_positions.unwrap_or(seq_len);
        if max_len < seq_len {
            bail!("model.max_positions ({max_len}) is shorter than train.seq_len ({seq_len})");
        }
        let config = EncoderConfig {
            d_model: self.d_model.unwrap_or(named.d_model),
            n_layers: self.n_layers.unwrap_or(named.n_layers),
            n_heads: self.n_heads.unwrap_or(named.n_heads),
            d_ff: self.d_ff.unwrap_or(named.d_ff),
            max_len,
            dropout: self.dropout,
            gelu: self.gelu || bert,
            pre_ln: self.pre_ln,
            learned_positions: false,
            position_scheme: positions,
            rope_theta: self.rope_theta.unwrap_or(named.rope_theta),
            bert_embedding: bert,
            type_vocab_size: self.type_vocab_size.unwrap_or(2),
            layer_norm_eps: self
                .layer_norm_eps
                .unwrap_or(if bert { 1e-12 } else { 1e-5 }),
            ..named
        };
        config.validate()?;
        Ok(config)
    }
}

impl ModelSection {
    /// The position scheme the keys ask for, refusing contradictions.
    pub fn positions(&self) -> Result<Positions> {
        let bert = self.arch == Arch::Bert;
        match (self.positions, self.learned_positions || bert) {
            (None, false) => Ok(Positions::Sinusoidal),
            (None, true) | (Some(Positions::Learned), _) => Ok(Positions::Learned),
            (Some(other), true) => bail!(
                "model.positions = \"{}\": {} has learned positions",
                other.name(),
                if bert {
                    "arch = \"bert\""
                } else {
                    "model.learned_positions = true"
                }
            ),
            (Some(other), false) => Ok(other),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSection {
    /// Optimizer steps in all.
    pub steps: u64,
    /// Sequences per micro-batch.
    pub batch_size: usize,
    /// Tokens per sequence, `[CLS]` and `[SEP]` included.
    pub seq_len: usize,
    /// Micro-batches whose gradients are summed into one step.
    pub grad_accum: usize,
    /// Peak learning rate.
    pub lr: f64,
    pub warmup_steps: u64,
    /// `linear` or `cosine` decay after warmup.
    pub decay: Decay,
    /// The learning rate at the last step, as a fraction of the peak.
    pub final_lr_fraction: f64,
    /// AdamW's decoupled weight decay; LayerNorm parameters and biases get none.
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    /// The global gradient norm is scaled down to this; 0 turns clipping off.
    pub grad_clip: f64,
    /// Seeds the initial weights, the data order, the masks and dropout.
    pub seed: u64,
    /// Steps between checkpoints (and one at the end); 0 writes only the last.
    pub checkpoint_every: u64,
    /// Checkpoints kept; older ones are removed.
    pub keep_checkpoints: usize,
    /// Steps between validations (and one at the end); 0 validates only at the end.
    pub valid_every: u64,
    /// Batches per validation; 0 reads the whole valid split.
    pub valid_batches: usize,
    /// Steps between log lines when standard error is not a terminal (no progress bar).
    pub log_every: u64,
    /// A step whose loss or gradient norm is not finite is skipped (the weights and optimizer
    /// state stay as they were); after this many in a row the run checkpoints and stops.
    pub max_nonfinite_steps: u64,
}

impl Default for TrainSection {
    fn default() -> Self {
        Self {
            steps: 1000,
            batch_size: 32,
            seq_len: 128,
            grad_accum: 1,
            lr: 5e-4,
            warmup_steps: 100,
            decay: Decay::Linear,
            final_lr_fraction: 0.0,
            weight_decay: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-6,
            grad_clip: 1.0,
            seed: 0,
            checkpoint_every: 500,
            keep_checkpoints: 3,
            valid_every: 500,
            valid_batches: 0,
            log_every: 50,
            max_nonfinite_steps: 10,
        }
    }
}

/// The keys of `(key, same)` checks whose values differ.
pub fn differing(checks: impl IntoIterator<Item = (&'static str, bool)>) -> Vec<&'static str> {
    checks
        .into_iter()
        .filter(|(_, same)| !same)
        .map(|(key, _)| key)
        .collect()
}

impl TrainSection {
    /// The keys of this table that a resumed run may not change: those that shape the batches,
    /// the data order and the random state.
    pub fn resume_conflicts(&self, saved: &TrainSection) -> Vec<&'static str> {
        differing([
            ("train.batch_size", self.batch_size == saved.batch_size),
            ("train.seq_len", self.seq_len == saved.seq_len),
            ("train.grad_accum", self.grad_accum == saved.grad_accum),
            ("train.seed", self.seed == saved.seed),
        ])
    }

    pub fn schedule(&self) -> LrSchedule {
        LrSchedule {
            peak: self.lr,
            warmup_steps: self.warmup_steps,
            total_steps: self.steps,
            decay: self.decay,
            final_fraction: self.final_lr_fraction,
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

    /// The keys that must match for `--resume` to continue a run: everything but the length of
    /// the run, how often it checkpoints, validates and logs, and how many non-finite steps it
    /// tolerates.
    pub fn resume_conflicts(&self, saved: &PretrainConfig) -> Vec<&'static str> {
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
