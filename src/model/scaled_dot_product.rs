//! Scaled dot-product attention over split heads: the core that cloze's `Attention` and
//! ModernBERT's share. Scores scaled by `1/sqrt(d_head)`, the mask, a softmax with its statistics
//! in f32, dropout on the weights, the weighted sum of the values, and the heads merged back.
//! Unfused on purpose: under autodiff burn falls back to these operations on every backend anyway.

use burn::nn::Dropout;
use burn::prelude::*;

use crate::model::precision::softmax_f32;

/// `query: [batch, heads, len_q, d_head]`, `keys` and `values: [batch, heads, len_k, d_head]`,
/// `mask: [batch, len_q, len_k]` (true where a query must not see a key; `None`: every query sees
/// every key) -> `[batch, len_q, heads * d_head]`.
pub fn scaled_dot_product_attention(
    query: Tensor<4>,
    keys: Tensor<4>,
    values: Tensor<4>,
    mask: Option<Tensor<3, Bool>>,
    dropout: &Dropout,
) -> Tensor<3> {
    let [batch, heads, len_q, d_head] = query.dims();
    let mut scores = query
        .matmul(keys.swap_dims(2, 3))
        .div_scalar((d_head as f64).sqrt());
    if let Some(mask) = mask {
        let [_, _, _, len_k] = scores.dims();
        let mask = mask
            .unsqueeze_dim::<4>(1)
            .expand([batch, heads, len_q, len_k]);
        scores = scores.mask_fill(mask, -1.0e9);
    }
    let weights = dropout.forward(softmax_f32(scores, 3));
    weights
        .matmul(values)
        .swap_dims(1, 2)
        .reshape([batch, len_q, heads * d_head])
}
