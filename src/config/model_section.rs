//! The `[model]` table: a named size, its overrides, and the choices that shape the encoder.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::model::config::{Positions, TransformerConfig};

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
    /// GELU instead of ReLU (the original Transformer's).
    pub gelu: bool,
    /// LayerNorm before each sub-layer instead of after it (the original Transformer's post-LN).
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
    pub fn encoder(&self, vocab_size: usize, seq_len: usize) -> Result<TransformerConfig> {
        let named = TransformerConfig::named(&self.size, vocab_size)
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
        let config = TransformerConfig {
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
