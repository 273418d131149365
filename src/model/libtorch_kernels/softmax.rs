//! Softmax and log-softmax by LibTorch's kernels, computed in f32 (maximum, exponentials, sum,
//! and the backward's row dot products) whatever the input's dtype: softmax returns the input's
//! dtype (attention weights), log-softmax f32 (a loss's log-probabilities).

use burn::backend::LibTorch;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::libtorch::TchTensor;
use burn::prelude::*;
use tch::Kind;

use super::{output_gradient, raw, register, tracked, wrap};

/// Which of the two, its f32 output (burn's own tensor where burn returns it, so that burn
/// leaves it unmodified), the dimension, and the input's dtype.
#[derive(Clone, Debug)]
struct SoftmaxState {
    log: bool,
    output: TchTensor,
    dim: i64,
    kind: Kind,
}

#[derive(Debug)]
struct SoftmaxBackward;

impl Backward<LibTorch, 1> for SoftmaxBackward {
    type State = SoftmaxState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = output_gradient(&ops, grads).to_kind(Kind::Float);
        let state = &ops.state;
        let (output, dim) = (&state.output.tensor, state.dim);
        let grad = if state.log {
            tch::Tensor::internal_log_softmax_backward_data(&grad, output, dim, Kind::Float)
        } else {
            tch::Tensor::internal_softmax_backward_data(&grad, output, dim, Kind::Float)
        };
        register(&ops, 0, grads, grad.to_kind(state.kind));
    }
}

fn softmax_step<const D: usize>(input: &Tensor<D>, dim: usize, log: bool) -> Option<Tensor<D>> {
    let input = tracked(input)?;
    let values = raw(&input);
    let kind = values.kind();
    let dim = dim as i64;
    let values = values.to_kind(Kind::Float);
    let output = TchTensor::new(if log {
        values.internal_log_softmax(dim, false)
    } else {
        values.internal_softmax(dim, false)
    });
    let result = if log || kind == Kind::Float {
        output.clone()
    } else {
        TchTensor::new(output.tensor.to_kind(kind))
    };
    let state = SoftmaxState {
        log,
        output,
        dim,
        kind,
    };
    Some(wrap(
        match SoftmaxBackward
            .prepare::<NoCheckpointing>([input.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(state, result),
            OpsKind::UnTracked(prep) => prep.finish(result),
        },
    ))
}

/// Softmax along `dim`, in the input's dtype.
pub fn softmax_f32<const D: usize>(scores: &Tensor<D>, dim: usize) -> Option<Tensor<D>> {
    softmax_step(scores, dim, false)
}

/// Log-softmax along `dim`, in f32.
pub fn log_softmax_to_f32<const D: usize>(logits: &Tensor<D>, dim: usize) -> Option<Tensor<D>> {
    softmax_step(logits, dim, true)
}

#[cfg(test)]
mod tests {
    use super::super::testing::compare;
    use super::*;

    #[test]
    fn softmax_matches_burns_decomposition_forward_and_backward() {
        for dim in [3, 1] {
            compare(
                &format!("softmax over dimension {dim}"),
                &[[2, 3, 5, 5]],
                [2, 3, 5, 5],
                |x| burn::tensor::activation::softmax(x[0].clone(), dim),
                |x| softmax_f32(&x[0], dim),
            );
        }
    }

    #[test]
    fn log_softmax_matches_burns_decomposition_forward_and_backward() {
        compare(
            "log_softmax",
            &[[6, 7]],
            [6, 7],
            |x| burn::tensor::activation::log_softmax(x[0].clone(), 1),
            |x| log_softmax_to_f32(&x[0], 1),
        );
    }
}
