//! The encoder: input embedding, then N Transformer layers (post-LN by default, pre-LN by config)
//! or, with `arch = "modernbert"`, ModernBERT's layers, with the key padding mask in every
//! self-attention.

use crate::model::layer_norm::{LayerNorm, LayerNormConfig};
use burn::prelude::*;

use crate::model::config::TransformerConfig;
use crate::model::embedding::InputEmbedding;
use crate::model::encoder_layer::EncoderLayers;
use crate::model::modernbert::layers::ModernBertLayers;

#[derive(Module, Debug)]
pub struct Encoder {
    pub embedding: InputEmbedding,
    /// The Transformer's (and BERT's) layers; none with ModernBERT.
    pub layers: EncoderLayers,
    /// ModernBERT's layers, in place of `layers`.
    pub modernbert: Option<ModernBertLayers>,
    /// Pre-LN stacks end with a LayerNorm; post-LN layers already end with one.
    pub final_norm: Option<LayerNorm>,
}

impl Encoder {
    pub fn new(config: &TransformerConfig, device: &Device) -> Self {
        Self {
            embedding: InputEmbedding::new(config, device),
            layers: EncoderLayers::new(config, device),
            modernbert: config
                .modernbert
                .as_ref()
                .map(|settings| ModernBertLayers::new(config, settings, device)),
            final_norm: config.pre_ln.then(|| {
                LayerNormConfig::new(config.d_model)
                    .with_epsilon(config.layer_norm_eps)
                    .with_bias(config.norm_bias())
                    .init(device)
            }),
        }
    }

    /// `ids: [batch, len]`, `padding: [batch, len]` (true at `[PAD]`) -> `[batch, len, d_model]`.
    pub fn forward(&self, ids: Tensor<2, Int>, padding: Tensor<2, Bool>) -> Tensor<3> {
        let x = self.embedding.forward(ids);
        let x = match &self.modernbert {
            Some(layers) => layers.forward(x, padding),
            None => self.layers.forward(x, padding),
        };
        match &self.final_norm {
            Some(norm) => norm.forward(x),
            None => x,
        }
    }
}
