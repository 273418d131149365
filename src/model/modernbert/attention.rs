//! ModernBERT's self-attention (`ModernBertAttention`): one fused projection `Wqkv` whose output
//! is the queries, then the keys, then the values (each head's dimensions together), rotary
//! positions on queries and keys with the layer's base, scaled dot products under the layer's
//! mask (key padding, and the window in sliding-window layers), and `Wo`.

use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::prelude::*;

use crate::model::config::TransformerConfig;
use crate::model::linear_rows::linear_rows;
use crate::model::modernbert::init::linear;
use crate::model::modernbert::settings::{INITIALIZER_RANGE, ModernBertSettings};
use crate::model::rope::Rope;
use crate::model::scaled_dot_product::scaled_dot_product_attention;

#[derive(Module, Debug)]
pub struct ModernBertAttention {
    /// `d_model -> 3 d_model`: queries, keys, values.
    pub wqkv: Linear,
    pub wo: Linear,
    rope: Rope,
    dropout: Dropout,
    n_heads: usize,
}

impl ModernBertAttention {
    /// The attention of a global layer (`global`) or a sliding-window one.
    pub fn new(
        config: &TransformerConfig,
        settings: &ModernBertSettings,
        global: bool,
        device: &Device,
    ) -> Self {
        let d = config.d_model;
        let theta = if global {
            settings.global_rope_theta
        } else {
            settings.local_rope_theta
        };
        let out_std = ModernBertSettings::output_std(config.n_layers);
        Self {
            wqkv: linear(d, 3 * d, settings.attention_bias, INITIALIZER_RANGE, device),
            wo: linear(d, d, settings.attention_bias, out_std, device),
            rope: Rope::new(config.d_head(), config.max_len, theta, device),
            dropout: DropoutConfig::new(config.dropout).init(),
            n_heads: config.n_heads,
        }
    }

    /// `[batch, len, d_model]` -> `[batch, heads, len, d_head]`.
    fn split_heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [batch, len, d_model] = x.dims();
        x.reshape([batch, len, self.n_heads, d_model / self.n_heads])
            .swap_dims(1, 2)
    }

    /// `x: [batch, len, d_model]`; `mask: [batch, len, len]`, true where a query must not see a
    /// key (`None`: every query sees every key).
    pub fn forward(&self, x: Tensor<3>, mask: Option<Tensor<3, Bool>>) -> Tensor<3> {
        let [_, _, d] = x.dims();
        let qkv = linear_rows(&self.wqkv, x);
        let part = |i: usize| self.split_heads(qkv.clone().slice(s![.., .., i * d..(i + 1) * d]));
        let query = self.rope.rotate(part(0), 0);
        let key = self.rope.rotate(part(1), 0);
        let context = scaled_dot_product_attention(query, key, part(2), mask, &self.dropout);
        self.dropout.forward(linear_rows(&self.wo, context))
    }
}
