//! LayerNorm: burn-nn's module (the same fields, so checkpoints and the HF name maps are
//! unchanged), with one difference: training on tch computes it with LibTorch's kernels
//! ([`libtorch_kernels`](crate::model::libtorch_kernels)), where burn's autodiff would decompose
//! it into a dozen passes over the activations. burn-nn's `LayerNorm` keeps its epsilon private,
//! so a call from outside could not pass it on.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::prelude::*;

/// `(x - mean) / sqrt(var + epsilon) * gamma + beta` over the last dimension.
#[derive(Module, Debug)]
pub struct LayerNorm {
    pub gamma: Param<Tensor<1>>,
    pub beta: Option<Param<Tensor<1>>>,
    epsilon: f64,
}

/// burn-nn's `LayerNormConfig`, field for field.
#[derive(Config, Debug)]
pub struct LayerNormConfig {
    pub d_model: usize,
    #[config(default = 1e-5)]
    pub epsilon: f64,
    /// A learnt bias (beta).
    #[config(default = true)]
    pub bias: bool,
}

impl LayerNormConfig {
    pub fn init(&self, device: &Device) -> LayerNorm {
        LayerNorm {
            gamma: Initializer::Ones.init([self.d_model], device),
            beta: self
                .bias
                .then(|| Initializer::Zeros.init([self.d_model], device)),
            epsilon: self.epsilon,
        }
    }
}

impl LayerNorm {
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let gamma = self.gamma.val();
        let beta = self.beta.as_ref().map(Param::val);
        #[cfg(feature = "tch")]
        if let Some(output) =
            crate::model::libtorch_kernels::layer_norm(&input, &gamma, beta.as_ref(), self.epsilon)
        {
            return output;
        }
        burn::tensor::module::layer_norm(input, gamma, beta, self.epsilon)
    }
}
