//! Multi-head attention whose keys and values are exposed, so that incremental decoding can keep
//! them in a cache and beam search can reorder that cache by hypothesis.
//!
//! Written here rather than taken from burn-nn: burn's `MultiHeadAttention` cache recomputes the
//! attention of every position at each step and keeps its state private, so it can neither be
//! reordered between beams nor decode in time linear in the length.

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

#[derive(Module, Debug)]
pub struct Attention {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    dropout: Dropout,
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

impl Attention {
    pub fn new(d_model: usize, n_heads: usize, dropout: f64, device: &Device) -> Self {
        let linear = || LinearConfig::new(d_model, d_model).init(device);
        Self {
            query: linear(),
            key: linear(),
            value: linear(),
            output: linear(),
            dropout: DropoutConfig::new(dropout).init(),
            n_heads,
        }
    }

    /// `[batch, len, d_model]` -> `[batch, heads, len, d_head]`.
    fn split_heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [batch, len, d_model] = x.dims();
        x.reshape([batch, len, self.n_heads, d_model / self.n_heads])
            .swap_dims(1, 2)
    }

    /// The keys and values of `x`: `[batch, len, d_model]`.
    pub fn keys_values(&self, x: Tensor<3>) -> KeysValues {
        KeysValues {
            keys: self.split_heads(self.key.forward(x.clone())),
            values: self.split_heads(self.value.forward(x)),
        }
    }

    /// Attends from `x` (`[batch, len_q, d_model]`) to `kv` (length `len_k`); `hidden`
    /// (`[batch, len_q, len_k]`, true where a query must not see a key) masks the scores.
    pub fn attend(
        &self,
        x: Tensor<3>,
        kv: &KeysValues,
        hidden: Option<Tensor<3, Bool>>,
    ) -> Tensor<3> {
        let [batch, len_q, d_model] = x.dims();
        let d_head = d_model / self.n_heads;
        let query = self.split_heads(self.query.forward(x));
        let mut scores = query
            .matmul(kv.keys.clone().swap_dims(2, 3))
            .div_scalar((d_head as f64).sqrt());
        if let Some(hidden) = hidden {
            let [_, heads, _, len_k] = scores.dims();
            let hidden = hidden
                .unsqueeze_dim::<4>(1)
                .expand([batch, heads, len_q, len_k]);
            scores = scores.mask_fill(hidden, -1.0e9);
        }
        let weights = self.dropout.forward(softmax(scores, 3));
        let context = weights
            .matmul(kv.values.clone())
            .swap_dims(1, 2)
            .reshape([batch, len_q, d_model]);
        self.output.forward(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attending_in_pieces_equals_attending_at_once() {
        let device = Device::flex();
        let _rng = crate::seed::device_rng_lock();
        device.seed(5);
        let attention = Attention::new(8, 2, 0.0, &device);
        let x = Tensor::<3>::random([2, 5, 8], burn::tensor::Distribution::Default, &device);
        let all = attention.keys_values(x.clone());
        let whole = attention.attend(x.clone(), &all, None);
        let first = attention.keys_values(x.clone().slice(s![.., 0..3]));
        let rest = attention.keys_values(x.clone().slice(s![.., 3..5]));
        let joined = first.extend(rest);
        let again = attention.attend(x, &joined, None);
        let diff: f32 = (whole - again).abs().max().into_scalar();
        assert!(diff < 1e-6, "{diff}");
    }
}
