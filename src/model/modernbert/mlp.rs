//! ModernBERT's feed-forward network (`ModernBertMLP`), a GeGLU: `Wi` projects to twice
//! `intermediate_size` (`d_ff`), whose first half through GELU gates the second, then `Wo`.

use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::prelude::*;
use burn::tensor::activation::gelu;

use crate::model::config::TransformerConfig;
use crate::model::linear_rows::linear_rows;
use crate::model::modernbert::init::linear;
use crate::model::modernbert::settings::{INITIALIZER_RANGE, ModernBertSettings};

#[derive(Module, Debug)]
pub struct ModernBertMlp {
    /// `d_model -> 2 d_ff`: the input, then the gate.
    pub wi: Linear,
    /// `d_ff -> d_model`.
    pub wo: Linear,
    dropout: Dropout,
}

/// `gelu(input) * gate` for `h = [input, gate]` split in halves along the last dimension.
pub fn geglu(h: Tensor<3>) -> Tensor<3> {
    let [_, _, width] = h.dims();
    let half = width / 2;
    let input = h.clone().slice(s![.., .., 0..half]);
    let gate = h.slice(s![.., .., half..width]);
    gelu(input) * gate
}

impl ModernBertMlp {
    pub fn new(config: &TransformerConfig, settings: &ModernBertSettings, device: &Device) -> Self {
        let (d, d_ff) = (config.d_model, config.d_ff);
        let out_std = ModernBertSettings::output_std(config.n_layers);
        Self {
            wi: linear(d, 2 * d_ff, settings.mlp_bias, INITIALIZER_RANGE, device),
            wo: linear(d_ff, d, settings.mlp_bias, out_std, device),
            dropout: DropoutConfig::new(config.dropout).init(),
        }
    }

    /// `[batch, len, d_model]` -> `[batch, len, d_model]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let h = geglu(linear_rows(&self.wi, x));
        linear_rows(&self.wo, self.dropout.forward(h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_half_through_gelu_gates_the_second() {
        let device = Device::flex();
        let h =
            Tensor::<1>::from_floats([1.0, -2.0, 0.0, 3.0, 5.0, 7.0], &device).reshape([1, 1, 6]);
        let out = geglu(h).into_data().try_to_vec::<f32>().unwrap();
        // gelu(1) = 0.841345, gelu(-2) = -0.0455003, gelu(0) = 0.
        let want = [0.841345 * 3.0, -0.0455003 * 5.0, 0.0];
        assert_eq!(out.len(), 3);
        for (got, want) in out.iter().zip(want) {
            assert!((got - want).abs() < 1e-5, "{out:?}");
        }
    }
}
