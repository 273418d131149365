//! The Transformer decoder: N post-LN layers of masked self-attention (look-ahead and target
//! padding masks), encoder-decoder attention (queries from the decoder, keys and values from the
//! encoder's output under the source padding mask) and a feed-forward network. It decodes a whole
//! target at once (teacher forcing) or one position at a time with a key/value cache.

use burn::nn::activation::ActivationConfig;
use burn::nn::attention::generate_autoregressive_mask;
use burn::nn::transformer::{PositionWiseFeedForward, PositionWiseFeedForwardConfig};
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig};
use burn::prelude::*;

use crate::model::attention::{Attention, KeysValues};
use crate::model::config::EncoderConfig;

#[derive(Module, Debug)]
pub struct DecoderLayer {
    self_attention: Attention,
    cross_attention: Attention,
    feed_forward: PositionWiseFeedForward,
    norm_self: LayerNorm,
    norm_cross: LayerNorm,
    norm_feed_forward: LayerNorm,
    dropout: Dropout,
}

#[derive(Module, Debug)]
pub struct Decoder {
    layers: Vec<DecoderLayer>,
}

/// What one layer keeps while decoding: the keys and values of the positions decoded so far, and
/// those of the encoder's output (computed once).
#[derive(Clone, Debug)]
struct LayerCache {
    past: Option<KeysValues>,
    memory: KeysValues,
}

/// The state of incremental decoding for a batch of rows (sentences, or beams of sentences).
#[derive(Clone, Debug)]
pub struct DecoderCache {
    layers: Vec<LayerCache>,
    /// `[rows, 1, source_len]`: true at the source's padding.
    memory_hidden: Tensor<3, Bool>,
    /// Positions decoded so far.
    pub len: usize,
}

impl DecoderCache {
    /// Keeps the rows `rows`, in that order (repeats allowed): how beam search follows the
    /// hypotheses it keeps.
    pub fn select(self, rows: Tensor<1, Int>) -> Self {
        Self {
            layers: self
                .layers
                .into_iter()
                .map(|l| LayerCache {
                    past: l.past.map(|p| p.select(rows.clone())),
                    memory: l.memory.select(rows.clone()),
                })
                .collect(),
            memory_hidden: self.memory_hidden.select(0, rows),
            len: self.len,
        }
    }
}

impl DecoderLayer {
    fn new(config: &EncoderConfig, device: &Device) -> Self {
        let activation = if config.gelu {
            ActivationConfig::Gelu
        } else {
            ActivationConfig::Relu
        };
        let norm = || LayerNormConfig::new(config.d_model).init(device);
        Self {
            self_attention: Attention::new(config.d_model, config.n_heads, config.dropout, device),
            cross_attention: Attention::new(config.d_model, config.n_heads, config.dropout, device),
            feed_forward: PositionWiseFeedForwardConfig::new(config.d_model, config.d_ff)
                .with_dropout(config.dropout)
                .with_activation(activation)
                .init(device),
            norm_self: norm(),
            norm_cross: norm(),
            norm_feed_forward: norm(),
            dropout: DropoutConfig::new(config.dropout).init(),
        }
    }

    /// The sub-layers after self-attention, shared by both ways of decoding.
    fn cross_and_feed_forward(
        &self,
        x: Tensor<3>,
        memory: &KeysValues,
        memory_hidden: Tensor<3, Bool>,
    ) -> Tensor<3> {
        let attended = self
            .cross_attention
            .attend(x.clone(), memory, Some(memory_hidden));
        let x = self.norm_cross.forward(x + self.dropout.forward(attended));
        let fed = self.feed_forward.forward(x.clone());
        self.norm_feed_forward
            .forward(x + self.dropout.forward(fed))
    }

    fn forward(
        &self,
        x: Tensor<3>,
        target_hidden: Tensor<3, Bool>,
        memory: Tensor<3>,
        memory_hidden: Tensor<3, Bool>,
    ) -> Tensor<3> {
        let own = self.self_attention.keys_values(x.clone());
        let attended = self
            .self_attention
            .attend(x.clone(), &own, Some(target_hidden));
        let x = self.norm_self.forward(x + self.dropout.forward(attended));
        let memory = self.cross_attention.keys_values(memory);
        self.cross_and_feed_forward(x, &memory, memory_hidden)
    }

    /// One new position `x: [rows, 1, d_model]`, appended to the cache.
    fn step(
        &self,
        x: Tensor<3>,
        cache: &mut LayerCache,
        memory_hidden: Tensor<3, Bool>,
    ) -> Tensor<3> {
        let new = self.self_attention.keys_values(x.clone());
        let past = match cache.past.take() {
            Some(past) => past.extend(new),
            None => new,
        };
        // Only past positions are in the cache: no look-ahead mask is needed.
        let attended = self.self_attention.attend(x.clone(), &past, None);
        cache.past = Some(past);
        let x = self.norm_self.forward(x + self.dropout.forward(attended));
        self.cross_and_feed_forward(x, &cache.memory, memory_hidden)
    }
}

/// `[batch, len_q, len_k]`: true where key `j` of row `b` is padding.
fn key_padding(padding: Tensor<2, Bool>, len_q: usize) -> Tensor<3, Bool> {
    let [batch, len_k] = padding.dims();
    padding.unsqueeze_dim::<3>(1).expand([batch, len_q, len_k])
}

impl Decoder {
    pub fn new(config: &EncoderConfig, n_layers: usize, device: &Device) -> Self {
        Self {
            layers: (0..n_layers)
                .map(|_| DecoderLayer::new(config, device))
                .collect(),
        }
    }

    /// The whole target at once. `x: [batch, len, d_model]` (the embedded decoder input),
    /// `target_padding: [batch, len]`, `memory: [batch, source_len, d_model]`,
    /// `memory_padding: [batch, source_len]` (true at padding).
    pub fn forward(
        &self,
        x: Tensor<3>,
        target_padding: Tensor<2, Bool>,
        memory: Tensor<3>,
        memory_padding: Tensor<2, Bool>,
    ) -> Tensor<3> {
        let [batch, len, _] = x.dims();
        let look_ahead = generate_autoregressive_mask(batch, len, &x.device());
        let target_hidden = look_ahead.bool_or(key_padding(target_padding, len));
        let memory_hidden = key_padding(memory_padding, len);
        self.layers.iter().fold(x, |x, layer| {
            layer.forward(
                x,
                target_hidden.clone(),
                memory.clone(),
                memory_hidden.clone(),
            )
        })
    }

    /// A cache for decoding `memory` one position at a time.
    pub fn start(&self, memory: Tensor<3>, memory_padding: Tensor<2, Bool>) -> DecoderCache {
        DecoderCache {
            layers: self
                .layers
                .iter()
                .map(|layer| LayerCache {
                    past: None,
                    memory: layer.cross_attention.keys_values(memory.clone()),
                })
                .collect(),
            memory_hidden: key_padding(memory_padding, 1),
            len: 0,
        }
    }

    /// The next position: `x: [rows, 1, d_model]` (the embedded last token) -> `[rows, 1, d_model]`.
    pub fn step(&self, x: Tensor<3>, cache: &mut DecoderCache) -> Tensor<3> {
        let hidden = cache.memory_hidden.clone();
        let x = self
            .layers
            .iter()
            .zip(cache.layers.iter_mut())
            .fold(x, |x, (layer, layer_cache)| {
                layer.step(x, layer_cache, hidden.clone())
            });
        cache.len += 1;
        x
    }
}
