//! One encoder layer: self-attention under the key padding mask, then the position-wise
//! feed-forward network, each a residual branch with a LayerNorm after it (post-LN) or before it
//! (pre-LN).
//!
//! burn-nn's `TransformerEncoderLayer` does the same without rotary positions; this one keeps its
//! field names, its order of initialisation and its arithmetic, so checkpoints and the HF name map
//! written for burn's layers are unchanged, and a model without rotary positions computes what it
//! computed before.

use burn::nn::activation::ActivationConfig;
use burn::nn::transformer::{PositionWiseFeedForward, PositionWiseFeedForwardConfig};
use burn::nn::{Dropout, DropoutConfig};
use burn::prelude::*;

use crate::model::attention::{Attention, key_padding_mask};
use crate::model::config::{Positions, TransformerConfig};
use crate::model::layer_norm::{LayerNorm, LayerNormConfig};
use crate::model::relu::feed_forward;
use crate::model::rope::Rope;

#[derive(Module, Debug)]
pub struct EncoderLayer {
    pub mha: Attention,
    pub pwff: PositionWiseFeedForward,
    /// After attention (post-LN), or before the feed-forward network (pre-LN).
    pub norm_1: LayerNorm,
    /// After the feed-forward network (post-LN), or before attention (pre-LN).
    pub norm_2: LayerNorm,
    dropout: Dropout,
    pre_ln: bool,
}

/// The stack of layers (one field, so that parameter paths read `layers.layers.N` as burn's do);
/// empty when ModernBERT's layers take their place.
#[derive(Module, Debug)]
pub struct EncoderLayers {
    pub layers: Vec<EncoderLayer>,
}

/// The feed-forward activation an encoder config asks for.
pub fn activation(config: &TransformerConfig) -> ActivationConfig {
    if config.gelu {
        ActivationConfig::Gelu
    } else {
        ActivationConfig::Relu
    }
}

/// The rotary tables of a config's self-attention, if its positions are rotary.
pub fn rope(config: &TransformerConfig, device: &Device) -> Option<Rope> {
    (config.positions() == Positions::Rope)
        .then(|| Rope::new(config.d_head(), config.max_len, config.rope_theta, device))
}

impl EncoderLayer {
    pub fn new(config: &TransformerConfig, device: &Device) -> Self {
        let norm = || {
            LayerNormConfig::new(config.d_model)
                .with_epsilon(config.layer_norm_eps)
                .init(device)
        };
        let mha = Attention::new(
            config.d_model,
            config.n_heads,
            config.dropout,
            rope(config, device),
            device,
        );
        let norm_1 = norm();
        let norm_2 = norm();
        let pwff = PositionWiseFeedForwardConfig::new(config.d_model, config.d_ff)
            .with_dropout(config.dropout)
            .with_activation(activation(config))
            .init(device);
        Self {
            mha,
            pwff,
            norm_1,
            norm_2,
            dropout: DropoutConfig::new(config.dropout).init(),
            pre_ln: config.pre_ln,
        }
    }

    /// `x: [batch, len, d_model]`; `attention_mask: [batch, len, len]`, true where a query must
    /// not see a key (`None`: every query sees every key).
    pub fn forward(&self, x: Tensor<3>, attention_mask: Option<Tensor<3, Bool>>) -> Tensor<3> {
        let branch = if self.pre_ln {
            self.norm_2.forward(x.clone())
        } else {
            x.clone()
        };
        let own = self.mha.keys_values(branch.clone(), 0);
        let attended = self.mha.attend(branch, 0, &own, attention_mask);
        let mut x = x + self.dropout.forward(attended);
        let branch = if self.pre_ln {
            self.norm_1.forward(x.clone())
        } else {
            x = self.norm_1.forward(x);
            x.clone()
        };
        let x = x + self.dropout.forward(feed_forward(&self.pwff, branch));
        if self.pre_ln {
            x
        } else {
            self.norm_2.forward(x)
        }
    }
}

impl EncoderLayers {
    pub fn new(config: &TransformerConfig, device: &Device) -> Self {
        Self {
            layers: (0..config.n_layers)
                .filter(|_| config.modernbert.is_none())
                .map(|_| EncoderLayer::new(config, device))
                .collect(),
        }
    }

    /// `x: [batch, len, d_model]`, `padding: [batch, len]` (true at `[PAD]`).
    pub fn forward(&self, x: Tensor<3>, padding: Tensor<2, Bool>) -> Tensor<3> {
        let attention_mask = key_padding_mask(padding);
        self.layers
            .iter()
            .fold(x, |x, layer| layer.forward(x, attention_mask.clone()))
    }
}
