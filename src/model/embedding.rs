//! Token embedding scaled by sqrt(d_model) plus positions (sinusoids, or learned by config; none
//! with rotary positions, which act inside attention); or BERT's: token, learned position and
//! token-type embeddings summed, then a LayerNorm; or ModernBERT's: the token embedding alone,
//! then a LayerNorm.

use burn::module::Param;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer};
use burn::prelude::*;

use crate::model::config::{Positions, TransformerConfig};
use crate::model::layer_norm::{LayerNorm, LayerNormConfig};
use crate::model::modernbert::init::truncated_normal;
use crate::model::modernbert::settings::INITIALIZER_RANGE;
use crate::model::precision::as_dtype_of;

#[derive(Module, Debug)]
pub struct InputEmbedding {
    pub tokens: Embedding,
    /// Learned positions, when configured.
    pub positions: Option<Embedding>,
    /// BERT's token-type table; cloze adds its row 0 (one segment) everywhere.
    pub token_types: Option<Embedding>,
    /// BERT's LayerNorm over the summed embeddings.
    pub norm: Option<LayerNorm>,
    /// `PE(pos, 2i) = sin(pos / 10000^(2i/d))`, `PE(pos, 2i+1) = cos(...)`: `[max_len, d_model]`,
    /// with sinusoidal positions.
    sinusoids: Option<Tensor<2>>,
    dropout: Dropout,
    scale: f64,
}

/// The sinusoidal position table of the original Transformer, `[len, d_model]`.
pub fn sinusoids(len: usize, d_model: usize, device: &Device) -> Tensor<2> {
    let mut values = Vec::with_capacity(len * d_model);
    for pos in 0..len {
        for i in 0..d_model {
            let angle = pos as f64 / 10000f64.powf((2 * (i / 2)) as f64 / d_model as f64);
            values.push(if i % 2 == 0 { angle.sin() } else { angle.cos() } as f32);
        }
    }
    Tensor::from_data(TensorData::new(values, [len, d_model]), device)
}

impl InputEmbedding {
    pub fn new(config: &TransformerConfig, device: &Device) -> Self {
        let d = config.d_model;
        // Cloze: std 1/sqrt(d), so that scaled by sqrt(d) the input has unit variance, like the
        // sinusoids, and the tied output projection starts with logits of unit variance. BERT:
        // its initializer_range, 0.02, for every table.
        let std = if config.bert_embedding {
            0.02
        } else {
            1.0 / (d as f64).sqrt()
        };
        let table = |rows: usize| {
            EmbeddingConfig::new(rows, d)
                .with_initializer(Initializer::Normal { mean: 0.0, std })
                .init(device)
        };
        let bert = config.bert_embedding;
        let modernbert = config.modernbert.is_some();
        let mut tokens = table(config.vocab_size);
        if modernbert {
            // ModernBERT's: truncated normal, std initializer_range.
            tokens.weight = Param::from_tensor(truncated_normal(
                [config.vocab_size, d],
                INITIALIZER_RANGE,
                device,
            ));
        }
        Self {
            tokens,
            positions: (config.positions() == Positions::Learned).then(|| table(config.max_len)),
            token_types: bert.then(|| table(config.type_vocab_size)),
            norm: (bert || modernbert).then(|| {
                LayerNormConfig::new(d)
                    .with_epsilon(config.layer_norm_eps)
                    .with_bias(config.norm_bias())
                    .init(device)
            }),
            sinusoids: (config.positions() == Positions::Sinusoidal)
                .then(|| sinusoids(config.max_len, d, device)),
            dropout: DropoutConfig::new(config.dropout).init(),
            scale: if bert || modernbert {
                1.0
            } else {
                (d as f64).sqrt()
            },
        }
    }

    /// `ids: [batch, len]` -> `[batch, len, d_model]`.
    pub fn forward(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        self.forward_from(ids, 0)
    }

    /// As [`forward`](Self::forward) for tokens at positions `start..start + len`: how a decoder
    /// embeds one new token at a time.
    pub fn forward_from(&self, ids: Tensor<2, Int>, start: usize) -> Tensor<3> {
        let [batch, len] = ids.dims();
        let device = ids.device();
        let mut x = self.tokens.forward(ids).mul_scalar(self.scale);
        let end = start + len;
        if let Some(table) = &self.positions {
            let index = Tensor::<1, Int>::arange(start as i64..end as i64, &device)
                .reshape([1, len])
                .repeat_dim(0, batch);
            x = x + table.forward(index);
        }
        if let Some(sinusoids) = &self.sinusoids {
            let table = as_dtype_of(sinusoids.clone().slice(s![start..end]), &x);
            x = x + table.unsqueeze::<3>();
        }
        if let Some(types) = &self.token_types {
            x = x + types.weight.val().slice(s![0..1]).unsqueeze::<3>();
        }
        if let Some(norm) = &self.norm {
            x = norm.forward(x);
        }
        self.dropout.forward(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinusoids_follow_the_source_formula() {
        let table = sinusoids(50, 8, &Device::flex());
        let values = table.into_data().try_to_vec::<f32>().unwrap();
        let at = |pos: usize, i: usize| values[pos * 8 + i] as f64;
        assert_eq!(at(0, 0), 0.0);
        assert_eq!(at(0, 1), 1.0);
        assert!((at(7, 2) - (7.0 / 10000f64.powf(2.0 / 8.0)).sin()).abs() < 1e-6);
        assert!((at(31, 5) - (31.0 / 10000f64.powf(4.0 / 8.0)).cos()).abs() < 1e-6);
    }
}
