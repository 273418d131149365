//! The encoder: input embedding, then N Transformer layers (post-LN by default, pre-LN by config)
//! with the key padding mask in every self-attention.

use burn::nn::{LayerNorm, LayerNormConfig};
use burn::prelude::*;

use crate::model::config::TransformerConfig;
use crate::model::embedding::InputEmbedding;
use crate::model::encoder_layer::EncoderLayers;

#[derive(Module, Debug)]
pub struct Encoder {
    pub embedding: InputEmbedding,
    pub layers: EncoderLayers,
    /// Pre-LN stacks end with a LayerNorm; post-LN layers already end with one.
    pub final_norm: Option<LayerNorm>,
}

impl Encoder {
    pub fn new(config: &TransformerConfig, device: &Device) -> Self {
        Self {
            embedding: InputEmbedding::new(config, device),
            layers: EncoderLayers::new(config, device),
            final_norm: config.pre_ln.then(|| {
                LayerNormConfig::new(config.d_model)
                    .with_epsilon(config.layer_norm_eps)
                    .init(device)
            }),
        }
    }

    /// `ids: [batch, len]`, `padding: [batch, len]` (true at `[PAD]`) -> `[batch, len, d_model]`.
    pub fn forward(&self, ids: Tensor<2, Int>, padding: Tensor<2, Bool>) -> Tensor<3> {
        let x = self.embedding.forward(ids);
        let x = self.layers.forward(x, padding);
        match &self.final_norm {
            Some(norm) => norm.forward(x),
            None => x,
        }
    }
}
