//! One ModernBERT layer (`ModernBertEncoderLayer`), pre-norm: `x + attn(attn_norm(x))`, then
//! `x + mlp(mlp_norm(x))`. The first layer has no attention norm (the embedding ends with one).

use crate::model::layer_norm::{LayerNorm, LayerNormConfig};
use burn::prelude::*;

use crate::model::config::TransformerConfig;
use crate::model::modernbert::attention::ModernBertAttention;
use crate::model::modernbert::mlp::ModernBertMlp;
use crate::model::modernbert::settings::ModernBertSettings;

#[derive(Module, Debug)]
pub struct ModernBertLayer {
    /// None in layer 0 (transformers' `Identity`).
    pub attn_norm: Option<LayerNorm>,
    pub attn: ModernBertAttention,
    pub mlp_norm: LayerNorm,
    pub mlp: ModernBertMlp,
    /// Attends to the whole sequence rather than a window.
    pub global: bool,
}

/// A LayerNorm of the encoder's width, epsilon and (per `norm_bias`) bias.
pub fn norm(config: &TransformerConfig, device: &Device) -> LayerNorm {
    LayerNormConfig::new(config.d_model)
        .with_epsilon(config.layer_norm_eps)
        .with_bias(config.norm_bias())
        .init(device)
}

impl ModernBertLayer {
    /// Layer number `index` of the stack.
    pub fn new(
        config: &TransformerConfig,
        settings: &ModernBertSettings,
        index: usize,
        device: &Device,
    ) -> Self {
        let global = settings.is_global(index);
        Self {
            attn_norm: (index > 0).then(|| norm(config, device)),
            attn: ModernBertAttention::new(config, settings, global, device),
            mlp_norm: norm(config, device),
            mlp: ModernBertMlp::new(config, settings, device),
            global,
        }
    }

    /// `x: [batch, len, d_model]`; the masks `[batch, len, len]` (true where a query must not see
    /// a key) of global layers (`None` when no key is padding) and of sliding-window layers.
    pub fn forward(
        &self,
        x: Tensor<3>,
        global_mask: Option<Tensor<3, Bool>>,
        local_mask: Tensor<3, Bool>,
    ) -> Tensor<3> {
        let normed = match &self.attn_norm {
            Some(norm) => norm.forward(x.clone()),
            None => x.clone(),
        };
        let mask = if self.global {
            global_mask
        } else {
            Some(local_mask)
        };
        let x = x + self.attn.forward(normed, mask);
        x.clone() + self.mlp.forward(self.mlp_norm.forward(x))
    }
}
