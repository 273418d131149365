//! Multi-head attention whose keys and values are exposed, so that incremental decoding can keep
//! them in a cache and beam search can reorder that cache by hypothesis.
//!
//! Written here rather than taken from burn-nn: burn's `MultiHeadAttention` cache recomputes the
//! attention of every position at each step and keeps its state private, so it can neither be
//! reordered between beams nor decode in time linear in the length; and it has no rotary
//! positions. The parameters keep burn's names (`query`, `key`, `value`, `output`), so encoder
//! checkpoints written with burn's layers still load.

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;

use crate::model::linear_rows::linear_rows;
use crate::model::rope::Rope;
use crate::model::scaled_dot_product::scaled_dot_product_attention;

#[derive(Module, Debug)]
pub struct Attention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub output: Linear,
    dropout: Dropout,
    /// Rotates queries and keys by their positions (self-attention with rotary positions).
    rope: Option<Rope>,
    n_heads: usize,
}

/// Keys and values, `[batch, heads, len, d_head]` each.
#[derive(Clone, Debug)]
pub struct KeysValues {
    pub keys: Tensor<4>,
    pub values: Tensor<4>,
}

impl KeysValues {
    /// Appends `more` along the length.
    pub fn extend(self, more: KeysValues) -> Self {
        Self {
            keys: Tensor::cat(vec![self.keys, more.keys], 2),
            values: Tensor::cat(vec![self.values, more.values], 2),
        }
    }

    /// Keeps the rows `rows` of the batch, in that order (repeats allowed).
    pub fn select(self, rows: Tensor<1, Int>) -> Self {
        Self {
            keys: self.keys.select(0, rows.clone()),
            values: self.values.select(0, rows),
        }
    }
}

/// `[batch, len, len]`, true where a query must not see a key, from the keys' `padding: [batch,
/// len]`; `None` when no key is padding, so that a packed batch (pretraining's are) skips the
/// masking and its backward pass altogether.
pub fn key_padding_mask(padding: Tensor<2, Bool>) -> Option<Tensor<3, Bool>> {
    let [batch, len] = padding.dims();
    if !padding.clone().any().into_scalar::<bool>() {
        return None;
    }
    Some(padding.unsqueeze_dim::<3>(1).expand([batch, len, len]))
}

impl Attention {
    pub fn new(
        d_model: usize,
        n_heads: usize,
        dropout: f64,
        rope: Option<Rope>,
        device: &Device,
    ) -> Self {
        let linear = || LinearConfig::new(d_model, d_model).init(device);
        Self {
            query: linear(),
            key: linear(),
            value: linear(),
            output: linear(),
            dropout: DropoutConfig::new(dropout).init(),
            rope,
            n_heads,
        }
    }

    /// Rotates `x: [batch, heads, len, d_head]` at positions `start..` if positions are rotary.
    fn rotate(&self, x: Tensor<4>, start: usize) -> Tensor<4> {
        match &self.rope {
            Some(rope) => rope.rotate(x, start),
            None => x,
        }
    }

    /// `[batch, len, d_model]` -> `[batch, heads, len, d_head]`.
    fn split_heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [batch, len, d_model] = x.dims();
        x.reshape([batch, len, self.n_heads, d_model / self.n_heads])
            .swap_dims(1, 2)
    }

    /// The keys and values of `x: [batch, len, d_model]`, whose rows sit at positions
    /// `start..start + len` (what rotary positions need; otherwise unused).
    pub fn keys_values(&self, x: Tensor<3>, start: usize) -> KeysValues {
        KeysValues {
            keys: self.rotate(self.split_heads(linear_rows(&self.key, x.clone())), start),
            values: self.split_heads(linear_rows(&self.value, x)),
        }
    }

    /// Attends from `x` (`[batch, len_q, d_model]`, at positions `start..start + len_q`) to `kv`
    /// (length `len_k`); `attention_mask` (`[batch, len_q, len_k]`, true where a query must not
    /// see a key) masks the scores.
    pub fn attend(
        &self,
        x: Tensor<3>,
        start: usize,
        kv: &KeysValues,
        attention_mask: Option<Tensor<3, Bool>>,
    ) -> Tensor<3> {
        let query = self.rotate(self.split_heads(linear_rows(&self.query, x)), start);
        let context = scaled_dot_product_attention(
            query,
            kv.keys.clone(),
            kv.values.clone(),
            attention_mask,
            &self.dropout,
        );
        linear_rows(&self.output, context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_without_padding_has_no_mask_and_one_with_padding_hides_those_keys() {
        let device = Device::flex();
        let padding = |values: Vec<bool>| {
            Tensor::<2, Bool>::from_data(TensorData::new(values, [2, 3]), &device)
        };
        assert!(key_padding_mask(padding(vec![false; 6])).is_none());
        let mask = key_padding_mask(padding(vec![false, false, true, false, false, false]))
            .unwrap()
            .into_data()
            .try_to_vec::<bool>()
            .unwrap();
        // Row 0: every query hides key 2; row 1 hides nothing.
        let row0 = [false, false, true].repeat(3);
        assert_eq!(mask, [row0, vec![false; 9]].concat());
    }

    #[test]
    fn attending_in_pieces_equals_attending_at_once_with_and_without_rotary_positions() {
        let device = Device::flex();
        let _rng = crate::seed::device_rng_lock();
        for rope in [None, Some(Rope::new(4, 16, 10000.0, &device))] {
            device.seed(5);
            let attention = Attention::new(8, 2, 0.0, rope, &device);
            let x = Tensor::<3>::random([2, 5, 8], burn::tensor::Distribution::Default, &device);
            let all = attention.keys_values(x.clone(), 0);
            let whole = attention.attend(x.clone(), 0, &all, None);
            let first = attention.keys_values(x.clone().slice(s![.., 0..3]), 0);
            let rest = attention.keys_values(x.clone().slice(s![.., 3..5]), 3);
            let joined = first.extend(rest);
            let again = attention.attend(x.clone(), 0, &joined, None);
            let diff: f32 = (whole.clone() - again).abs().max().into_scalar();
            assert!(diff < 1e-6, "{diff}");
            // The last query alone, at its position, sees what it saw among all queries.
            let last = attention.attend(x.slice(s![.., 4..5]), 4, &joined, None);
            let diff: f32 = (whole.slice(s![.., 4..5]) - last).abs().max().into_scalar();
            assert!(diff < 1e-6, "{diff}");
        }
    }
}
