//! Token embedding scaled by sqrt(d_model) plus positions (sinusoids, or learned by config).

use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer};
use burn::prelude::*;

use crate::model::config::EncoderConfig;

#[derive(Module, Debug)]
pub struct InputEmbedding {
    pub tokens: Embedding,
    /// Learned positions, when configured.
    positions: Option<Embedding>,
    /// `PE(pos, 2i) = sin(pos / 10000^(2i/d))`, `PE(pos, 2i+1) = cos(...)`: `[max_len, d_model]`.
    sinusoids: Tensor<2>,
    dropout: Dropout,
    scale: f64,
}

/// The sinusoidal position table of the source material, `[len, d_model]`.
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
    pub fn new(config: &EncoderConfig, device: &Device) -> Self {
        Self {
            // std 1/sqrt(d): scaled by sqrt(d) the input has unit variance, like the sinusoids,
            // and the tied output projection starts with logits of unit variance.
            tokens: EmbeddingConfig::new(config.vocab_size, config.d_model)
                .with_initializer(Initializer::Normal {
                    mean: 0.0,
                    std: 1.0 / (config.d_model as f64).sqrt(),
                })
                .init(device),
            positions: config
                .learned_positions
                .then(|| EmbeddingConfig::new(config.max_len, config.d_model).init(device)),
            sinusoids: sinusoids(config.max_len, config.d_model, device),
            dropout: DropoutConfig::new(config.dropout).init(),
            scale: (config.d_model as f64).sqrt(),
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
        let tokens = self.tokens.forward(ids).mul_scalar(self.scale);
        let end = start + len;
        let positions = match &self.positions {
            Some(table) => {
                let index = Tensor::<1, Int>::arange(start as i64..end as i64, &device)
                    .reshape([1, len])
                    .repeat_dim(0, batch);
                table.forward(index)
            }
            None => self
                .sinusoids
                .clone()
                .slice(s![start..end])
                .unsqueeze::<3>(),
        };
        self.dropout.forward(tokens + positions)
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
