//! The training loss: cross-entropy of logits against target ids, with optional label
//! smoothing, in f32 whatever the logits' dtype. It is burn-nn's `CrossEntropyLoss` (the mean over
//! rows; smoothing spreads `alpha` evenly over the classes); training on tch takes the
//! log-probabilities with LibTorch's log-softmax kernels
//! ([`libtorch_kernels`](crate::model::libtorch_kernels)), where burn's autodiff would decompose
//! them into a dozen passes over a `[rows, vocabulary]` tensor.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::tensor::FloatDType;

/// `logits: [rows, classes]`, `targets: [rows]` -> the loss `[1]`.
pub fn cross_entropy(
    logits: Tensor<2>,
    targets: Tensor<1, Int>,
    smoothing: Option<f32>,
) -> Tensor<1> {
    #[cfg(feature = "tch")]
    if let Some(log_probs) = crate::model::libtorch_kernels::log_softmax_to_f32(&logits, 1) {
        let [rows, classes] = log_probs.dims();
        let of_targets = log_probs
            .clone()
            .gather(1, targets.reshape([rows, 1]))
            .reshape([rows]);
        let per_row = match smoothing {
            None => of_targets,
            // sum over classes of log p * ((1 - alpha) * one_hot + alpha / classes)
            Some(alpha) => {
                of_targets * (1.0 - alpha)
                    + log_probs.sum_dim(1).reshape([rows]) * (alpha / classes as f32)
            }
        };
        return per_row.mean().neg();
    }
    CrossEntropyLossConfig::new()
        .with_smoothing(smoothing)
        .init(&logits.device())
        .forward(logits.cast(FloatDType::F32), targets)
}

#[cfg(all(test, feature = "tch"))]
mod tests {
    use burn::tensor::TensorData;

    use super::*;
    use crate::device::DeviceChoice;

    /// The loss and the logits' gradient.
    fn loss_and_gradient(device: &Device, smoothing: Option<f32>) -> (f32, Vec<f32>) {
        let values: Vec<f32> = (0..5 * 7)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 4.0)
            .collect();
        let logits = Tensor::<2>::from_data(TensorData::new(values, [5, 7]), device).require_grad();
        let targets = Tensor::<1, Int>::from_data([0, 6, 3, 3, 1], device);
        let loss = cross_entropy(logits.clone(), targets, smoothing);
        let grads = loss.backward();
        let grad = logits
            .grad(&grads)
            .unwrap()
            .into_data()
            .iter::<f32>()
            .collect();
        (loss.into_scalar::<f32>(), grad)
    }

    #[test]
    fn libtorchs_kernels_give_burns_loss_and_gradient_with_and_without_smoothing() {
        let flex = Device::flex().autodiff();
        let tch = DeviceChoice::TchCpu.device().unwrap().autodiff();
        for smoothing in [None, Some(0.1)] {
            let (expected, expected_grad) = loss_and_gradient(&flex, smoothing);
            let (found, found_grad) = loss_and_gradient(&tch, smoothing);
            assert!(
                (found - expected).abs() < 1e-5,
                "{smoothing:?}: {found} against {expected}"
            );
            for (f, e) in found_grad.iter().zip(&expected_grad) {
                assert!((f - e).abs() < 1e-6, "{smoothing:?}: {f} against {e}");
            }
        }
    }
}
