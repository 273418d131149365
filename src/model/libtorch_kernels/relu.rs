//! ReLU with LibTorch's one-pass backward (`threshold_backward`, as PyTorch's ReLU).

use burn::backend::LibTorch;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::libtorch::TchTensor;
use burn::prelude::*;

use super::{output_gradient, raw, register, tracked, wrap};

/// ReLU's output (burn's handle: burn then leaves it unmodified).
#[derive(Clone, Debug)]
struct ReluState(TchTensor);

#[derive(Debug)]
struct ReluBackward;

impl Backward<LibTorch, 1> for ReluBackward {
    type State = ReluState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = output_gradient(&ops, grads);
        let grad = ops.state.0.tensor.threshold_backward(&grad, 0.0);
        register(&ops, 0, grads, grad);
    }
}

/// `max(x, 0)`.
pub fn relu<const D: usize>(input: &Tensor<D>) -> Option<Tensor<D>> {
    let input = tracked(input)?;
    let result = TchTensor::new(raw(&input).relu());
    Some(wrap(
        match ReluBackward
            .prepare::<NoCheckpointing>([input.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(ReluState(result.clone()), result),
            OpsKind::UnTracked(prep) => prep.finish(result),
        },
    ))
}

#[cfg(test)]
mod tests {
    use burn::tensor::TensorData;

    use super::super::testing::{assert_close, compare, leaf, tch_training, values};
    use super::*;

    #[test]
    fn matches_burns_forward_and_backward() {
        compare(
            "relu",
            &[[4, 6]],
            [4, 6],
            |x| burn::tensor::activation::relu(x[0].clone()),
            |x| relu(&x[0]),
        );
    }

    #[test]
    fn an_output_that_burn_could_overwrite_in_place_stays_as_the_backward_needs_it() {
        // The ReLU output is consumed by the addition below; were the step's handle on it not
        // burn's, the addition would overwrite it, and the backward pass would see every entry
        // positive.
        let device = tch_training();
        let x = leaf([4, 6], 3, &device);
        let grads = relu(&x).unwrap().add_scalar(100.0).sum().backward();
        let expected: Vec<f32> = values(24, 3)
            .iter()
            .map(|&v| if v > 0.0 { 1.0 } else { 0.0 })
            .collect();
        assert_close(
            x.grad(&grads).unwrap().into_data(),
            TensorData::new(expected, [4, 6]),
            0.0,
            "gradient",
        );
    }
}
