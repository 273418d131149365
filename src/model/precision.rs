//! Mixed precision: the forward and backward passes of a training step in bf16 while the
//! optimizer keeps f32 weights and moments. burn has no autocast, so the step computes on a view
//! of the model whose parameters are bf16 casts of the f32 ones: the cast is differentiable, so
//! the gradients arrive at the f32 parameters in f32, and checkpoints never see a bf16 tensor.
//!
//! Inside the model the dtype follows the activations (the view's embedding table is bf16), and
//! what is not a parameter (rotary and sinusoid tables) is cast to it where it meets them; a
//! stray f32 tensor would make LibTorch promote the rest of the pass back to f32. The softmax and
//! the loss take their statistics in f32 ([`softmax_f32`], and the callers cast logits).

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn::tensor::{DType, FloatDType};
use serde::{Deserialize, Serialize};

/// The float type a training step computes in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    /// bf16 matrix products and activations over f32 master weights.
    Bf16,
}

impl Precision {
    pub fn dtype(self) -> FloatDType {
        match self {
            Self::F32 => FloatDType::F32,
            Self::Bf16 => FloatDType::BF16,
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
        })
    }
}

/// Replaces every float parameter by its cast to one dtype, keeping its id.
struct CastParameters(FloatDType);

impl ModuleMapper for CastParameters {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|tensor| tensor.cast(dtype))
    }
}

/// `model` with its parameters seen in `precision`'s dtype, connected to the originals in the
/// autodiff graph: gradients of a loss computed on the view are the originals' gradients.
pub fn computing_view<M: Module>(model: &M, precision: Precision) -> M {
    model.clone().map(&mut CastParameters(precision.dtype()))
}

/// A constant (f32) table in the dtype of the activations `like` that it meets.
pub fn as_dtype_of<const D: usize, const E: usize>(
    table: Tensor<D>,
    like: &Tensor<E>,
) -> Tensor<D> {
    table.cast(FloatDType::from(like.dtype()))
}

/// Softmax along `dim` with its maximum and sum in f32 whatever the input's dtype, returned in
/// the input's dtype: in bf16, the normaliser of a row of 128 scores would lose the small ones.
pub fn softmax_f32<const D: usize>(scores: Tensor<D>, dim: usize) -> Tensor<D> {
    #[cfg(feature = "tch")]
    if let Some(weights) = crate::model::libtorch_kernels::softmax_f32(&scores, dim) {
        return weights;
    }
    let dtype = scores.dtype();
    if dtype == DType::F32 {
        return softmax(scores, dim);
    }
    softmax(scores.cast(FloatDType::F32), dim).cast(FloatDType::from(dtype))
}

/// What the tests of a bf16 pass share.
#[cfg(test)]
pub mod testing {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::optim::GradientsParams;
    use burn::prelude::*;
    use burn::tensor::DType;

    struct GradientDtypes<'a> {
        grads: &'a GradientsParams,
        found: Vec<Option<DType>>,
    }

    impl ModuleVisitor for GradientDtypes<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.found
                .push(self.grads.get::<D>(param.id).map(|g| g.dtype()));
        }
    }

    /// The dtype of the gradient of each of `model`'s float parameters, `None` where it has none.
    pub fn gradient_dtypes<M: Module>(model: &M, grads: &GradientsParams) -> Vec<Option<DType>> {
        let mut visitor = GradientDtypes {
            grads,
            found: Vec::new(),
        };
        model.visit(&mut visitor);
        visitor.found
    }

    /// flex, and LibTorch's CPU in a build with it: the backend that promotes a stray f32
    /// tensor, and so the one where a bf16 pass can silently fall back to f32.
    pub fn devices() -> Vec<Device> {
        #[allow(unused_mut)]
        let mut devices = vec![Device::flex()];
        #[cfg(feature = "tch")]
        devices.push(crate::device::DeviceChoice::TchCpu.device().unwrap());
        devices
    }
}
