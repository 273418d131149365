//! The Transformer's sizes and options, with the named sizes `tiny`, `small` and `base`: one
//! configuration for the encoder and for the decoder fine-tuning puts over it.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::model::modernbert::settings::ModernBertSettings;

/// How the model knows where a token is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Positions {
    /// Sinusoids added to the token embeddings ("Attention Is All You Need").
    #[default]
    Sinusoidal,
    /// A learned table added to the token embeddings (BERT's).
    Learned,
    /// Rotary embeddings: queries and keys rotated inside every self-attention, nothing added to
    /// the input. Learns context far faster in masked-LM pretraining (README, "What the
    /// quickstart learns").
    Rope,
}

impl Positions {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sinusoidal => "sinusoidal",
            Self::Learned => "learned",
            Self::Rope => "rope",
        }
    }
}

/// Everything that shapes the encoder and its MLM head, and the decoder (which has the encoder's
/// widths, heads, norms and positions; only its depth is set apart).
#[derive(Config, Debug, PartialEq)]
pub struct TransformerConfig {
    pub vocab_size: usize,
    #[config(default = 256)]
    pub d_model: usize,
    #[config(default = 4)]
    pub n_layers: usize,
    #[config(default = 4)]
    pub n_heads: usize,
    #[config(default = 1024)]
    pub d_ff: usize,
    /// The longest sequence the model takes: the rows of the position table (`max_positions` in
    /// the `[model]` table; `train.seq_len` by default).
    #[config(default = 512)]
    pub max_len: usize,
    #[config(default = 0.1)]
    pub dropout: f64,
    /// GELU in the feed-forward network and the MLM head; ReLU (the original Transformer's) otherwise.
    #[config(default = false)]
    pub gelu: bool,
    /// LayerNorm before each sub-layer (pre-LN) instead of after it (post-LN, the original Transformer's).
    #[config(default = false)]
    pub pre_ln: bool,
    /// Learned position embeddings: how configs written before `positions` say
    /// `positions = "learned"`; read, never written as true.
    #[config(default = false)]
    pub learned_positions: bool,
    /// How positions enter the model; see [`TransformerConfig::positions`].
    #[config(default = "Positions::Sinusoidal")]
    pub position_scheme: Positions,
    /// The base of the rotary frequencies, `theta^(-2i/d_head)`.
    #[config(default = 10000.0)]
    pub rope_theta: f64,
    /// BERT's input embedding: no sqrt(d_model) scale, a token-type (segment) embedding whose
    /// row 0 is added everywhere, and a LayerNorm over the sum (with `arch = "bert"`).
    #[config(default = false)]
    pub bert_embedding: bool,
    /// Rows of the token-type table (BERT's `type_vocab_size`), with `bert_embedding`.
    #[config(default = 2)]
    pub type_vocab_size: usize,
    /// Every LayerNorm's epsilon (BERT's `layer_norm_eps` is 1e-12).
    #[config(default = 1e-5)]
    pub layer_norm_eps: f64,
    /// ModernBERT's layers instead of the Transformer's (with `arch = "modernbert"`, which also
    /// sets pre-LN, rotary positions at `global_rope_theta` and GELU for the decoder).
    pub modernbert: Option<ModernBertSettings>,
}

impl TransformerConfig {
    /// The position scheme in force: learned with BERT's embedding or an old config's
    /// `learned_positions`, else `position_scheme`.
    pub fn positions(&self) -> Positions {
        if self.learned_positions || self.bert_embedding {
            Positions::Learned
        } else {
            self.position_scheme
        }
    }

    /// Whether the encoder's LayerNorms and the MLM head's have biases (ModernBERT's
    /// `norm_bias`; always for the Transformer's and BERT's).
    pub fn norm_bias(&self) -> bool {
        self.modernbert.as_ref().is_none_or(|m| m.norm_bias)
    }

    pub fn d_head(&self) -> usize {
        self.d_model / self.n_heads
    }

    /// A named size: `tiny` (tests), `small` (d256, 4 layers, 4 heads, ff 1024) or `base`
    /// (d512, 6 layers, 8 heads, ff 2048, the sizes of the original Transformer).
    pub fn named(size: &str, vocab_size: usize) -> anyhow::Result<Self> {
        let (d_model, n_layers, n_heads, d_ff) = match size {
            "tiny" => (64, 2, 2, 128),
            "small" => (256, 4, 4, 1024),
            "base" => (512, 6, 8, 2048),
            other => anyhow::bail!("unknown model size '{other}'; choose tiny, small or base"),
        };
        Ok(Self::new(vocab_size)
            .with_d_model(d_model)
            .with_n_layers(n_layers)
            .with_n_heads(n_heads)
            .with_d_ff(d_ff))
    }

    /// Checks what burn would otherwise reject with a panic.
    pub fn validate(&self) -> anyhow::Result<()> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("d_model", self.d_model),
            ("n_layers", self.n_layers),
            ("n_heads", self.n_heads),
            ("d_ff", self.d_ff),
            ("max_len", self.max_len),
        ];
        for (name, value) in positive {
            if value == 0 {
                anyhow::bail!("model.{name} must be at least 1");
            }
        }
        if !self.d_model.is_multiple_of(self.n_heads) {
            anyhow::bail!(
                "model.d_model ({}) must be divisible by model.n_heads ({})",
                self.d_model,
                self.n_heads
            );
        }
        if self.positions() == Positions::Rope && !self.d_head().is_multiple_of(2) {
            anyhow::bail!(
                "model.positions = \"rope\" needs an even head size; d_model / n_heads is {}",
                self.d_head()
            );
        }
        if self.positions() == Positions::Rope
            && !(self.rope_theta.is_finite() && self.rope_theta > 1.0)
        {
            anyhow::bail!(
                "model.rope_theta must be a number above 1, got {}",
                self.rope_theta
            );
        }
        if self.bert_embedding && self.type_vocab_size == 0 {
            anyhow::bail!("model.type_vocab_size must be at least 1");
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            anyhow::bail!(
                "model.layer_norm_eps must be a positive number, got {}",
                self.layer_norm_eps
            );
        }
        if let Some(settings) = &self.modernbert {
            settings.validate()?;
        }
        if !(0.0..1.0).contains(&self.dropout) {
            anyhow::bail!("model.dropout must be in [0, 1), got {}", self.dropout);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_sizes_and_validation_errors_name_the_field() {
        let small = TransformerConfig::named("small", 8192).unwrap();
        assert_eq!(
            (small.d_model, small.n_layers, small.n_heads, small.d_ff),
            (256, 4, 4, 1024)
        );
        let base = TransformerConfig::named("base", 8192).unwrap();
        assert_eq!(
            (base.d_model, base.n_layers, base.n_heads, base.d_ff),
            (512, 6, 8, 2048)
        );
        assert!(
            TransformerConfig::named("huge", 8192)
                .unwrap_err()
                .to_string()
                .contains("huge")
        );
        let err = small
            .clone()
            .with_n_heads(3)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("model.d_model") && err.contains("model.n_heads"),
            "{err}"
        );
        let err = small.with_d_ff(0).validate().unwrap_err().to_string();
        assert!(err.contains("model.d_ff"), "{err}");
    }
}
