//! The `[model]` table: a named size, its overrides, and the choices that shape the encoder.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::model::config::{Positions, TransformerConfig};
use crate::model::modernbert::settings::ModernBertSettings;

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
    /// HuggingFace ModernBERT's (`cloze export hf` and `cloze import hf` apply): a LayerNorm over
    /// the token embedding, pre-norm layers with rotary positions, sliding-window attention in
    /// all but every `global_attn_every_n_layers`-th layer, a GeGLU feed-forward network, and no
    /// biases unless asked for.
    #[serde(rename = "modernbert")]
    ModernBert,
}

/// A named size, with any of its dimensions overridden.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSection {
    /// `transformer`, `bert` or `modernbert`.
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
    /// ModernBERT's rotary base in its global layers (160000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_rope_theta: Option<f64>,
    /// ModernBERT's rotary base in its sliding-window layers (10000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_rope_theta: Option<f64>,
    /// ModernBERT's window (128): a query sees `local_attention / 2` positions either side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_attention: Option<usize>,
    /// ModernBERT: layer `i` attends globally when `i % global_attn_every_n_layers == 0` (3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_attn_every_n_layers: Option<usize>,
    /// ModernBERT: biases in the attention's projections (false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attention_bias: Option<bool>,
    /// ModernBERT: biases in the feed-forward network (false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mlp_bias: Option<bool>,
    /// ModernBERT: biases in the LayerNorms (false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub norm_bias: Option<bool>,
    /// ModernBERT: a bias in the MLM head's dense layer (false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classifier_bias: Option<bool>,
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
            global_rope_theta: None,
            local_rope_theta: None,
            local_attention: None,
            global_attn_every_n_layers: None,
            attention_bias: None,
            mlp_bias: None,
            norm_bias: None,
            classifier_bias: None,
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
        let modernbert = self.modernbert()?;
        let modern = modernbert.is_some();
        let positions = if modern {
            Positions::Rope
        } else {
            self.positions()?
        };
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
            gelu: self.gelu || bert || modern,
            pre_ln: self.pre_ln || modern,
            learned_positions: false,
            position_scheme: positions,
            rope_theta: modernbert
                .as_ref()
                .map_or(self.rope_theta.unwrap_or(named.rope_theta), |m| {
                    m.global_rope_theta
                }),
            bert_embedding: bert,
            type_vocab_size: self.type_vocab_size.unwrap_or(2),
            layer_norm_eps: self
                .layer_norm_eps
                .unwrap_or(if bert { 1e-12 } else { 1e-5 }),
            modernbert,
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

impl ModelSection {
    /// ModernBERT's settings with `arch = "modernbert"` (refusing the keys of the other
    /// architectures), else none (refusing ModernBERT's keys).
    pub fn modernbert(&self) -> Result<Option<ModernBertSettings>> {
        let own = [
            ("global_rope_theta", self.global_rope_theta.is_some()),
            ("local_rope_theta", self.local_rope_theta.is_some()),
            ("local_attention", self.local_attention.is_some()),
            (
                "global_attn_every_n_layers",
                self.global_attn_every_n_layers.is_some(),
            ),
            ("attention_bias", self.attention_bias.is_some()),
            ("mlp_bias", self.mlp_bias.is_some()),
            ("norm_bias", self.norm_bias.is_some()),
            ("classifier_bias", self.classifier_bias.is_some()),
        ];
        if self.arch != Arch::ModernBert {
            if let Some((key, _)) = own.iter().find(|(_, set)| *set) {
                bail!("model.{key} is a ModernBERT setting; it needs arch = \"modernbert\"");
            }
            return Ok(None);
        }
        if self.pre_ln {
            bail!("model.pre_ln: arch = \"modernbert\" is pre-LN; leave pre_ln out");
        }
        let positional = [
            ("positions", self.positions.is_some()),
            ("rope_theta", self.rope_theta.is_some()),
            ("learned_positions", self.learned_positions),
        ];
        if let Some((key, _)) = positional.iter().find(|(_, set)| *set) {
            bail!(
                "model.{key}: arch = \"modernbert\" has rotary positions with global_rope_theta \
                 and local_rope_theta; leave {key} out"
            );
        }
        let d = ModernBertSettings::new();
        Ok(Some(ModernBertSettings {
            global_rope_theta: self.global_rope_theta.unwrap_or(d.global_rope_theta),
            local_rope_theta: self.local_rope_theta.unwrap_or(d.local_rope_theta),
            local_attention: self.local_attention.unwrap_or(d.local_attention),
            global_attn_every_n_layers: self
                .global_attn_every_n_layers
                .unwrap_or(d.global_attn_every_n_layers),
            attention_bias: self.attention_bias.unwrap_or(d.attention_bias),
            mlp_bias: self.mlp_bias.unwrap_or(d.mlp_bias),
            norm_bias: self.norm_bias.unwrap_or(d.norm_bias),
            classifier_bias: self.classifier_bias.unwrap_or(d.classifier_bias),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modernbert() -> ModelSection {
        ModelSection {
            arch: Arch::ModernBert,
            size: "tiny".into(),
            ..ModelSection::default()
        }
    }

    #[test]
    fn modernbert_is_pre_ln_rotary_gelu_with_transformers_defaults() {
        let encoder = modernbert().encoder(100, 32).unwrap();
        let settings = encoder.modernbert.clone().unwrap();
        assert_eq!(settings, ModernBertSettings::new());
        assert!(encoder.pre_ln && encoder.gelu && !encoder.bert_embedding);
        assert_eq!(encoder.positions(), Positions::Rope);
        assert_eq!(encoder.rope_theta, 160000.0);
        assert_eq!(encoder.layer_norm_eps, 1e-5);
        let section = ModelSection {
            local_attention: Some(8),
            norm_bias: Some(true),
            ..modernbert()
        };
        let settings = section.encoder(100, 32).unwrap().modernbert.unwrap();
        assert_eq!((settings.local_attention, settings.norm_bias), (8, true));
    }

    #[test]
    fn keys_of_another_architecture_are_refused_naming_them() {
        let cases = [
            ModelSection {
                local_attention: Some(8),
                ..ModelSection::default()
            },
            ModelSection {
                arch: Arch::Bert,
                mlp_bias: Some(true),
                ..ModelSection::default()
            },
        ];
        for section in cases {
            let err = section.encoder(100, 32).unwrap_err().to_string();
            assert!(err.contains("arch = \"modernbert\""), "{err}");
        }
        let refused = [
            (
                "type_vocab_size",
                ModelSection {
                    type_vocab_size: Some(2),
                    ..modernbert()
                },
            ),
            (
                "pre_ln",
                ModelSection {
                    pre_ln: true,
                    ..modernbert()
                },
            ),
            (
                "positions",
                ModelSection {
                    positions: Some(Positions::Rope),
                    ..modernbert()
                },
            ),
            (
                "rope_theta",
                ModelSection {
                    rope_theta: Some(500.0),
                    ..modernbert()
                },
            ),
            (
                "local_attention",
                ModelSection {
                    local_attention: Some(7),
                    ..modernbert()
                },
            ),
            (
                "global_attn_every_n_layers",
                ModelSection {
                    global_attn_every_n_layers: Some(0),
                    ..modernbert()
                },
            ),
        ];
        for (key, section) in refused {
            let err = section.encoder(100, 32).unwrap_err().to_string();
            assert!(err.contains(&format!("model.{key}")), "{key}: {err}");
        }
    }
}
