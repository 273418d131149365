//! LayerNorm by LibTorch's `layer_norm`, statistics in f32 whatever the dtype. Its backward
//! kernel (`native_layer_norm_backward`) has no binding in `tch`, so the step keeps the small
//! LibTorch autograd graph of the forward call and asks LibTorch's autograd for the gradients:
//! the same kernel, reached through `run_backward`.

use burn::backend::LibTorch;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, NodeGuard, Ops, OpsKind};
use burn::backend::libtorch::TchTensor;
use burn::prelude::*;

use super::{TrackedTensor, output_gradient, raw, register, tracked, wrap};

/// The LibTorch autograd graph of one call: its output and the leaves it was built from, with
/// burn's handles on the inputs, which keep burn from overwriting them in place.
#[derive(Debug)]
struct LayerNormGraph {
    output: tch::Tensor,
    leaves: Vec<tch::Tensor>,
    _inputs: Vec<TchTensor>,
}

impl Clone for LayerNormGraph {
    fn clone(&self) -> Self {
        Self {
            output: self.output.shallow_clone(),
            leaves: self.leaves.iter().map(tch::Tensor::shallow_clone).collect(),
            _inputs: self._inputs.clone(),
        }
    }
}

#[derive(Debug)]
struct LayerNormBackward;

impl<const N: usize> Backward<LibTorch, N> for LayerNormBackward {
    type State = LayerNormGraph;

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = output_gradient(&ops, grads);
        let graph = &ops.state;
        // The gradient of sum(output * grad) with respect to each leaf is the vector-Jacobian
        // product with `grad`: `run_backward` takes no output gradient of its own.
        let objective = (&graph.output * &grad).sum(None);
        let leaf_grads = tch::Tensor::run_backward(&[objective], &graph.leaves, false, false);
        for (index, leaf_grad) in leaf_grads.into_iter().enumerate() {
            register(&ops, index, grads, leaf_grad);
        }
    }
}

/// `(x - mean) / sqrt(var + epsilon) * gamma + beta` over the last dimension, the variance
/// biased.
pub fn layer_norm<const D: usize>(
    input: &Tensor<D>,
    gamma: &Tensor<1>,
    beta: Option<&Tensor<1>>,
    epsilon: f64,
) -> Option<Tensor<D>> {
    let mut parents = vec![tracked(input)?, tracked(gamma)?];
    if let Some(beta) = beta {
        parents.push(tracked(beta)?);
    }
    let d_model = parents[1].primitive().tensor.size1().ok()?;
    let output = match parents.as_slice() {
        [input, gamma] => step([input.node(), gamma.node()], &parents, d_model, epsilon),
        [input, gamma, beta] => step(
            [input.node(), gamma.node(), beta.node()],
            &parents,
            d_model,
            epsilon,
        ),
        _ => unreachable!("an input, gamma, and beta if any"),
    };
    Some(wrap(output))
}

fn step<const N: usize>(
    nodes: [NodeGuard; N],
    parents: &[TrackedTensor],
    d_model: i64,
    epsilon: f64,
) -> TrackedTensor {
    let leaves: Vec<tch::Tensor> = parents
        .iter()
        .map(|parent| raw(parent).detach().set_requires_grad(true))
        .collect();
    let forward =
        || leaves[0].layer_norm([d_model], Some(&leaves[1]), leaves.get(2), epsilon, false);
    match LayerNormBackward
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let output = forward();
            let result = TchTensor::new(output.detach());
            let graph = LayerNormGraph {
                output,
                leaves,
                _inputs: parents.iter().map(|p| p.primitive().clone()).collect(),
            };
            prep.finish(graph, result)
        }
        OpsKind::UnTracked(prep) => prep.finish(TchTensor::new(tch::no_grad(forward))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::compare;
    use super::*;

    #[test]
    fn matches_burns_decomposition_forward_and_backward() {
        // Three dimensions for the input and, padded with ones, for gamma and beta.
        let vector = |x: &Tensor<3>| x.clone().reshape([8]);
        compare(
            "layer_norm",
            &[[2, 3, 8], [1, 1, 8], [1, 1, 8]],
            [2, 3, 8],
            |x| {
                let (gamma, beta) = (vector(&x[1]), vector(&x[2]));
                burn::tensor::module::layer_norm(x[0].clone(), gamma, Some(beta), 1e-5)
            },
            |x| layer_norm(&x[0], &vector(&x[1]), Some(&vector(&x[2])), 1e-5),
        );
        compare(
            "layer_norm without beta",
            &[[2, 3, 8], [1, 1, 8]],
            [2, 3, 8],
            |x| burn::tensor::module::layer_norm(x[0].clone(), vector(&x[1]), None, 1e-5),
            |x| layer_norm(&x[0], &vector(&x[1]), None, 1e-5),
        );
    }
}
