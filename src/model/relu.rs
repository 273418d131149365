//! ReLU, and the position-wise feed-forward network that applies it: training on tch computes
//! ReLU's backward with LibTorch's one-pass kernel
//! ([`libtorch_kernels`](crate::model::libtorch_kernels)) where burn's autodiff compares and fills.

use burn::nn::activation::Activation;
use burn::nn::transformer::PositionWiseFeedForward;
use burn::prelude::*;

use crate::model::linear_rows::linear_rows;

pub fn relu<const D: usize>(input: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "tch")]
    if let Some(output) = crate::model::libtorch_kernels::relu(&input) {
        return output;
    }
    burn::tensor::activation::relu(input)
}

/// burn-nn's `PositionWiseFeedForward::forward`, its ReLU by [`relu`] and its layers by
/// [`linear_rows`].
pub fn feed_forward<const D: usize>(
    network: &PositionWiseFeedForward,
    input: Tensor<D>,
) -> Tensor<D> {
    let x = linear_rows(&network.linear_inner, input);
    let x = match &network.activation {
        Activation::Relu(_) => relu(x),
        other => other.forward(x),
    };
    linear_rows(&network.linear_outer, network.dropout.forward(x))
}
