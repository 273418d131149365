//! LibTorch's own kernels for operations that burn's autodiff otherwise decomposes into many
//! small ones: LayerNorm (about nine operations forward and more backward), softmax and
//! log-softmax (five forward, six backward), ReLU's backward (a comparison, then a fill) and the
//! rotary rotation (slices, a negation, a concatenation, and each slice's gradient padded back to
//! full width). Each small operation is a pass over the activations, and in bf16 each is also a
//! conversion, so on tch these passes took more of a training step than its matrix products'
//! share left room for (README, "Where a step's time goes").
//!
//! Each function takes tensors that live on `Autodiff<LibTorch>` (training on tch) and returns
//! `None` for any other tensor, where the caller keeps burn's operations: flex, and LibTorch
//! without autodiff (evaluation, translation), compute as before. Each backward pass is a burn
//! autodiff step (`Backward`) whose state holds what LibTorch's backward kernel needs, as burn's
//! handles where burn could otherwise overwrite the tensor in place (burn writes in place into a
//! tensor whose storage it sees no other handle on).
//!
//! burn marks burn-tch deprecated (in favour of its CubeCL backends); this project builds on it
//! for LibTorch, hence the `allow` below.

#![allow(deprecated)]

mod layer_norm;
mod relu;
mod rotary;
mod softmax;

pub use layer_norm::layer_norm;
pub use relu::relu;
pub use rotary::rotary;
pub use softmax::{log_softmax_to_f32, softmax_f32};

use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::Ops;
use burn::backend::libtorch::TchTensor;
use burn::backend::{Autodiff, LibTorch};
use burn::prelude::*;
use burn::tensor::BackendPrimitive;

type Tracked = Autodiff<LibTorch>;
type TrackedTensor = <Float as BackendPrimitive<Tracked>>::Primitive;

/// The `Autodiff<LibTorch>` primitive behind `tensor`, or `None` on any other backend.
fn tracked<const D: usize>(tensor: &Tensor<D>) -> Option<TrackedTensor> {
    tensor.clone().try_into_primitive::<Tracked>().ok()
}

fn wrap<const D: usize>(tensor: TrackedTensor) -> Tensor<D> {
    Tensor::from_primitive::<Tracked>(tensor)
}

fn raw(tensor: &TrackedTensor) -> tch::Tensor {
    tensor.primitive().tensor.shallow_clone()
}

/// The gradient arriving at the output of `ops`' step.
fn output_gradient<S, const N: usize>(ops: &Ops<S, N>, grads: &mut Gradients) -> tch::Tensor {
    grads.consume::<LibTorch>(&ops.node).tensor
}

/// Registers `grad` for the parent of `ops` at `index`, if that parent wants one.
fn register<S, const N: usize>(
    ops: &Ops<S, N>,
    index: usize,
    grads: &mut Gradients,
    grad: tch::Tensor,
) {
    if let Some(node) = &ops.parents[index] {
        grads.register::<LibTorch>(node.id, TchTensor::new(grad));
    }
}

/// What the kernels' tests share: each kernel against burn's operations on flex, forward and
/// backward, on the same values.
#[cfg(test)]
mod testing {
    use burn::prelude::*;
    use burn::tensor::TensorData;

    use crate::device::DeviceChoice;

    pub fn tch_training() -> Device {
        DeviceChoice::TchCpu.device().unwrap().autodiff()
    }

    /// Deterministic values in [-2, 2) that both backends receive bit for bit.
    pub fn values(count: usize, seed: u64) -> Vec<f32> {
        let step = |state: u64| {
            state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407)
        };
        let mut state = step(seed);
        (0..count)
            .map(|_| {
                state = step(state);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
            })
            .collect()
    }

    pub fn leaf<const D: usize>(shape: [usize; D], seed: u64, device: &Device) -> Tensor<D> {
        let count = shape.iter().product();
        Tensor::from_data(TensorData::new(values(count, seed), shape), device).require_grad()
    }

    pub fn assert_close(found: TensorData, expected: TensorData, tolerance: f32, what: &str) {
        let found: Vec<f32> = found.iter::<f32>().collect();
        let expected: Vec<f32> = expected.iter::<f32>().collect();
        assert_eq!(found.len(), expected.len(), "{what}");
        for (i, (f, e)) in found.iter().zip(&expected).enumerate() {
            assert!(
                (f - e).abs() <= tolerance * (1.0 + e.abs()),
                "{what}[{i}]: {f} against {e}"
            );
        }
    }

    /// The output of `op` on leaves made on `device`, and the leaves' gradients of
    /// `sum(output * weights)` (for the leaves that get one), the weights fixed and unequal so
    /// that every gradient path counts.
    fn output_and_gradients<const D: usize, const E: usize>(
        device: &Device,
        shapes: &[[usize; E]],
        output_shape: [usize; D],
        op: impl Fn(&[Tensor<E>]) -> Tensor<D>,
    ) -> (TensorData, Vec<TensorData>) {
        let leaves: Vec<Tensor<E>> = shapes
            .iter()
            .enumerate()
            .map(|(i, shape)| leaf(*shape, i as u64 + 1, device))
            .collect();
        let output = op(&leaves);
        let weights = leaf(output_shape, 99, device).detach();
        let grads = (output.clone() * weights).sum().backward();
        let gradients = leaves
            .iter()
            .filter_map(|leaf| leaf.grad(&grads).map(Tensor::into_data))
            .collect();
        (output.into_data(), gradients)
    }

    /// `libtorch_op` on tch against `burn_op` on flex, within 1e-5.
    pub fn compare<const D: usize, const E: usize>(
        what: &str,
        shapes: &[[usize; E]],
        output_shape: [usize; D],
        burn_op: impl Fn(&[Tensor<E>]) -> Tensor<D>,
        libtorch_op: impl Fn(&[Tensor<E>]) -> Option<Tensor<D>>,
    ) {
        let flex = Device::flex().autodiff();
        let (expected, expected_grads) =
            output_and_gradients(&flex, shapes, output_shape, &burn_op);
        let (found, found_grads) =
            output_and_gradients(&tch_training(), shapes, output_shape, |x| {
                libtorch_op(x).expect("a LibTorch autodiff tensor takes LibTorch's kernel")
            });
        assert_close(found, expected, 1e-5, what);
        assert_eq!(found_grads.len(), expected_grads.len(), "{what}: gradients");
        for (i, (f, e)) in found_grads.into_iter().zip(expected_grads).enumerate() {
            assert_close(f, e, 1e-5, &format!("{what}, gradient of input {i}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{DType, FloatDType, TensorData};

    use super::testing::{assert_close, leaf, tch_training, values};
    use super::*;
    use crate::device::DeviceChoice;

    #[test]
    fn bf16_inputs_give_bf16_outputs_and_gradients_close_to_f32() {
        let device = tch_training();
        let x = leaf([2, 3, 8], 1, &device);
        let gamma = leaf([8], 2, &device);
        let x16 = x.clone().cast(FloatDType::BF16);
        let gamma16 = gamma.clone().cast(FloatDType::BF16);
        let normed = layer_norm(&x16, &gamma16, None, 1e-5).unwrap();
        let weights = softmax_f32(&normed, 2).unwrap();
        let activated = relu(&weights.clone().sub_scalar(0.1)).unwrap();
        for (name, tensor) in [
            ("layer_norm", &normed),
            ("softmax", &weights),
            ("relu", &activated),
        ] {
            assert_eq!(tensor.dtype(), DType::BF16, "{name} keeps bf16");
        }
        let log_probs = log_softmax_to_f32(&activated, 2).unwrap();
        assert_eq!(
            log_probs.dtype(),
            DType::F32,
            "log_softmax_to_f32 gives f32"
        );
        let grads = log_probs.clone().sum().backward();

        let flex = Device::flex().autodiff();
        let x_ref = leaf([2, 3, 8], 1, &flex);
        let gamma_ref = leaf([8], 2, &flex);
        let normed_ref =
            burn::tensor::module::layer_norm(x_ref.clone(), gamma_ref.clone(), None, 1e-5);
        let activated_ref = burn::tensor::activation::relu(
            burn::tensor::activation::softmax(normed_ref, 2).sub_scalar(0.1),
        );
        let log_probs_ref = burn::tensor::activation::log_softmax(activated_ref, 2);
        let grads_ref = log_probs_ref.clone().sum().backward();
        assert_close(
            log_probs.into_data(),
            log_probs_ref.into_data(),
            2e-2,
            "bf16 output",
        );
        assert_close(
            x.grad(&grads).unwrap().into_data(),
            x_ref.grad(&grads_ref).unwrap().into_data(),
            5e-2,
            "bf16 gradient of the input",
        );
        assert_close(
            gamma.grad(&grads).unwrap().into_data(),
            gamma_ref.grad(&grads_ref).unwrap().into_data(),
            5e-2,
            "bf16 gradient of gamma",
        );
    }

    #[test]
    fn other_tensors_keep_burns_operations() {
        let devices = [
            Device::flex().autodiff(),
            Device::flex(),
            DeviceChoice::TchCpu.device().unwrap(),
        ];
        for device in devices {
            let constant = |count: usize, seed| {
                Tensor::<1>::from_data(TensorData::new(values(count, seed), [count]), &device)
            };
            let x = constant(16, 1).reshape([2, 8]);
            let gamma = constant(8, 2);
            let table = constant(16, 3).reshape([2, 8]);
            assert!(layer_norm(&x, &gamma, None, 1e-5).is_none(), "{device:?}");
            assert!(softmax_f32(&x, 1).is_none(), "{device:?}");
            assert!(log_softmax_to_f32(&x, 1).is_none(), "{device:?}");
            assert!(relu(&x).is_none(), "{device:?}");
            let x4 = x.reshape([1, 1, 2, 8]);
            assert!(rotary(&x4, &table, &table).is_none(), "{device:?}");
        }
    }
}
