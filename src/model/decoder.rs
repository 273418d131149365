//! The Transformer decoder: N layers of masked self-attention (look-ahead and target padding
//! masks), encoder-decoder attention (queries from the decoder, keys and values from the encoder's
//! output under the source padding mask) and a feed-forward network. It follows the encoder's
//! choices: post-LN or pre-LN (then with a final LayerNorm), the LayerNorm epsilon, and rotary
//! positions in self-attention. It decodes a whole target at once (teacher forcing) or one
//! position at a time with a key/value cache. Its layers may start as copies of the encoder's
//! (`with_layers_of`): BERT2BERT in Rothe et al. 2020.

use burn::module::{Module, ModuleMapper, Param};
use burn::nn::attention::generate_autoregressive_mask;
use burn::nn::transformer::{PositionWiseFeedForward, PositionWiseFeedForwardConfig};
use burn::nn::{Dropout, DropoutConfig};
use burn::prelude::*;

use crate::model::attention::{Attention, KeysValues};
use crate::model::config::TransformerConfig;
use crate::model::encoder_layer::{EncoderLayer, EncoderLayers, activation, rope};
use crate::model::layer_norm::{LayerNorm, LayerNormConfig};
use crate::model::relu::feed_forward;

#[derive(Module, Debug)]
pub struct DecoderLayer {
    self_attention: Attention,
    cross_attention: Attention,
    feed_forward: PositionWiseFeedForward,
    norm_self: LayerNorm,
    norm_cross: LayerNorm,
    norm_feed_forward: LayerNorm,
    dropout: Dropout,
    pre_ln: bool,
}

#[derive(Module, Debug)]
pub struct Decoder {
    layers: Vec<DecoderLayer>,
    /// Pre-LN stacks end with a LayerNorm; post-LN layers already end with one.
    final_norm: Option<LayerNorm>,
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
    memory_mask: Tensor<3, Bool>,
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
            memory_mask: self.memory_mask.select(0, rows),
            len: self.len,
        }
    }
}

impl DecoderLayer {
    fn new(config: &TransformerConfig, device: &Device) -> Self {
        let norm = || {
            LayerNormConfig::new(config.d_model)
                .with_epsilon(config.layer_norm_eps)
                .init(device)
        };
        let attention =
            |rope| Attention::new(config.d_model, config.n_heads, config.dropout, rope, device);
        Self {
            self_attention: attention(rope(config, device)),
            cross_attention: attention(None),
            feed_forward: PositionWiseFeedForwardConfig::new(config.d_model, config.d_ff)
                .with_dropout(config.dropout)
                .with_activation(activation(config))
                .init(device),
            norm_self: norm(),
            norm_cross: norm(),
            norm_feed_forward: norm(),
            dropout: DropoutConfig::new(config.dropout).init(),
            pre_ln: config.pre_ln,
        }
    }

    /// `x + sublayer(x)`, `norm` before the sub-layer (pre-LN) or after the sum (post-LN).
    fn residual(
        &self,
        x: Tensor<3>,
        norm: &LayerNorm,
        sublayer: impl FnOnce(Tensor<3>) -> Tensor<3>,
    ) -> Tensor<3> {
        if self.pre_ln {
            x.clone() + self.dropout.forward(sublayer(norm.forward(x)))
        } else {
            norm.forward(x.clone() + self.dropout.forward(sublayer(x)))
        }
    }

    /// The sub-layers after self-attention, shared by both ways of decoding.
    fn cross_and_feed_forward(
        &self,
        x: Tensor<3>,
        memory: &KeysValues,
        memory_mask: Tensor<3, Bool>,
    ) -> Tensor<3> {
        let x = self.residual(x, &self.norm_cross, |x| {
            self.cross_attention.attend(x, 0, memory, Some(memory_mask))
        });
        let network = &self.feed_forward;
        self.residual(x, &self.norm_feed_forward, |x| feed_forward(network, x))
    }

    fn forward(
        &self,
        x: Tensor<3>,
        target_mask: Tensor<3, Bool>,
        memory: &KeysValues,
        memory_mask: Tensor<3, Bool>,
    ) -> Tensor<3> {
        let x = self.residual(x, &self.norm_self, |x| {
            let own = self.self_attention.keys_values(x.clone(), 0);
            self.self_attention.attend(x, 0, &own, Some(target_mask))
        });
        self.cross_and_feed_forward(x, memory, memory_mask)
    }

    /// One new position `x: [rows, 1, d_model]` at position `position`, appended to the cache.
    fn step(
        &self,
        x: Tensor<3>,
        position: usize,
        cache: &mut LayerCache,
        memory_mask: Tensor<3, Bool>,
    ) -> Tensor<3> {
        let x = self.residual(x, &self.norm_self, |x| {
            let new = self.self_attention.keys_values(x.clone(), position);
            let past = match cache.past.take() {
                Some(past) => past.extend(new),
                None => new,
            };
            // Only past positions are in the cache: no look-ahead mask is needed.
            let attended = self.self_attention.attend(x, position, &past, None);
            cache.past = Some(past);
            attended
        });
        self.cross_and_feed_forward(x, &cache.memory, memory_mask)
    }
}

/// Gives every float parameter a new id, so that a copy of a module trains apart from the original
/// (parameters that share an id would share their optimizer state and updates).
struct NewParameters;

impl ModuleMapper for NewParameters {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        Param::from_tensor(param.val().detach())
    }
}

fn copy_of<M: Module>(module: &M) -> M {
    module.clone().map(&mut NewParameters)
}

impl DecoderLayer {
    /// This layer with the self-attention, feed-forward network and their LayerNorms of `layer`
    /// (copies); its cross-attention and that attention's LayerNorm are kept.
    fn with_layer_of(self, layer: &EncoderLayer) -> Self {
        // The encoder names its norms by their place in the post-LN layer.
        let (before_or_after_attention, feed_forward_norm) = if self.pre_ln {
            (&layer.norm_2, &layer.norm_1)
        } else {
            (&layer.norm_1, &layer.norm_2)
        };
        Self {
            self_attention: copy_of(&layer.mha),
            feed_forward: copy_of(&layer.pwff),
            norm_self: copy_of(before_or_after_attention),
            norm_feed_forward: copy_of(feed_forward_norm),
            ..self
        }
    }
}

/// `[batch, len_q, len_k]`: true where key `j` of row `b` is padding.
fn key_padding(padding: Tensor<2, Bool>, len_q: usize) -> Tensor<3, Bool> {
    let [batch, len_k] = padding.dims();
    padding.unsqueeze_dim::<3>(1).expand([batch, len_q, len_k])
}

impl Decoder {
    pub fn new(config: &TransformerConfig, n_layers: usize, device: &Device) -> Self {
        Self {
            layers: (0..n_layers)
                .map(|_| DecoderLayer::new(config, device))
                .collect(),
            final_norm: config.pre_ln.then(|| {
                LayerNormConfig::new(config.d_model)
                    .with_epsilon(config.layer_norm_eps)
                    .init(device)
            }),
        }
    }

    /// Decoder layer `i` starts as a copy of encoder layer `i` (but for its cross-attention, which
    /// stays new), and the final LayerNorm as the encoder's: the decoder begins with what
    /// pretraining taught the encoder about the shared vocabulary instead of from nothing.
    pub fn with_layers_of(
        self,
        encoder: &EncoderLayers,
        encoder_final_norm: Option<&LayerNorm>,
    ) -> anyhow::Result<Self> {
        let (ours, theirs) = (self.layers.len(), encoder.layers.len());
        if theirs == 0 {
            anyhow::bail!(
                "the decoder cannot start from a ModernBERT encoder's layers (their layout differs); \
                 set model.decoder_init = \"random\""
            );
        }
        if ours > theirs {
            anyhow::bail!(
                "the decoder's {ours} layers cannot start from the encoder's {theirs}: set \
                 model.decoder_layers to at most {theirs}, or model.decoder_init = \"random\""
            );
        }
        Ok(Self {
            layers: self
                .layers
                .into_iter()
                .zip(&encoder.layers)
                .map(|(layer, encoder_layer)| layer.with_layer_of(encoder_layer))
                .collect(),
            final_norm: match (self.final_norm, encoder_final_norm) {
                (Some(_), Some(norm)) => Some(copy_of(norm)),
                (own, _) => own,
            },
        })
    }

    fn finish(&self, x: Tensor<3>) -> Tensor<3> {
        match &self.final_norm {
            Some(norm) => norm.forward(x),
            None => x,
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
        let target_mask = look_ahead.bool_or(key_padding(target_padding, len));
        let memory_mask = key_padding(memory_padding, len);
        let x = self.layers.iter().fold(x, |x, layer| {
            let memory = layer.cross_attention.keys_values(memory.clone(), 0);
            layer.forward(x, target_mask.clone(), &memory, memory_mask.clone())
        });
        self.finish(x)
    }

    /// A cache for decoding `memory` one position at a time.
    pub fn start(&self, memory: Tensor<3>, memory_padding: Tensor<2, Bool>) -> DecoderCache {
        DecoderCache {
            layers: self
                .layers
                .iter()
                .map(|layer| LayerCache {
                    past: None,
                    memory: layer.cross_attention.keys_values(memory.clone(), 0),
                })
                .collect(),
            memory_mask: key_padding(memory_padding, 1),
            len: 0,
        }
    }

    /// The next position: `x: [rows, 1, d_model]` (the embedded last token) -> `[rows, 1, d_model]`.
    pub fn step(&self, x: Tensor<3>, cache: &mut DecoderCache) -> Tensor<3> {
        let memory_mask = cache.memory_mask.clone();
        let position = cache.len;
        let x = self
            .layers
            .iter()
            .zip(cache.layers.iter_mut())
            .fold(x, |x, (layer, layer_cache)| {
                layer.step(x, position, layer_cache, memory_mask.clone())
            });
        cache.len += 1;
        self.finish(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::Positions;
    use crate::model::encoder::Encoder;

    fn values(param: &Param<Tensor<2>>) -> Vec<f32> {
        param.val().into_data().iter::<f32>().collect()
    }

    fn ones_times(norm: &mut LayerNorm, factor: f32) {
        norm.gamma = Param::from_tensor(norm.gamma.val() * factor);
    }

    #[test]
    fn decoder_layers_start_as_new_copies_of_the_encoder_layers() {
        let device = Device::flex();
        for pre_ln in [false, true] {
            let config = TransformerConfig::named("tiny", 40)
                .unwrap()
                .with_position_scheme(Positions::Rope)
                .with_pre_ln(pre_ln);
            let mut encoder = Encoder::new(&config, &device);
            // Norms told apart by their scale, to see which lands where.
            for layer in &mut encoder.layers.layers {
                ones_times(&mut layer.norm_1, 2.0);
                ones_times(&mut layer.norm_2, 3.0);
            }
            let fresh = Decoder::new(&config, 2, &device);
            let cross_before = values(&fresh.layers[1].cross_attention.query.weight);
            let decoder = fresh
                .with_layers_of(&encoder.layers, encoder.final_norm.as_ref())
                .unwrap();
            for (ours, theirs) in decoder.layers.iter().zip(&encoder.layers.layers) {
                for (a, b) in [
                    (&ours.self_attention.query.weight, &theirs.mha.query.weight),
                    (
                        &ours.self_attention.output.weight,
                        &theirs.mha.output.weight,
                    ),
                    (
                        &ours.feed_forward.linear_inner.weight,
                        &theirs.pwff.linear_inner.weight,
                    ),
                ] {
                    assert_eq!(values(a), values(b));
                    assert_ne!(a.id, b.id, "a copy trains apart from the encoder");
                }
                let scale = |norm: &LayerNorm| norm.gamma.val().into_data().iter::<f32>().next();
                let (attention_norm, feed_forward_norm) =
                    if pre_ln { (3.0, 2.0) } else { (2.0, 3.0) };
                assert_eq!(
                    scale(&ours.norm_self),
                    Some(attention_norm),
                    "pre_ln {pre_ln}"
                );
                assert_eq!(scale(&ours.norm_feed_forward), Some(feed_forward_norm));
                assert_eq!(scale(&ours.norm_cross), Some(1.0));
            }
            assert_eq!(
                values(&decoder.layers[1].cross_attention.query.weight),
                cross_before,
                "the cross-attention stays new"
            );
            assert_eq!(decoder.final_norm.is_some(), pre_ln);
        }
    }

    #[test]
    fn a_decoder_deeper_than_the_encoder_or_over_modernbert_is_refused() {
        let device = Device::flex();
        let config = TransformerConfig::named("tiny", 40).unwrap();
        let encoder = Encoder::new(&config, &device);
        let deep = Decoder::new(&config, config.n_layers + 1, &device);
        let err = deep.with_layers_of(&encoder.layers, None).unwrap_err();
        assert!(
            err.to_string().contains("model.decoder_layers to at most"),
            "{err}"
        );
        let none = EncoderLayers { layers: Vec::new() };
        let err = Decoder::new(&config, 1, &device)
            .with_layers_of(&none, None)
            .unwrap_err();
        assert!(err.to_string().contains("ModernBERT"), "{err}");
    }
}
