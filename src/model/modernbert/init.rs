//! ModernBERT's initialisation (transformers' `_init_weights`): weights from a normal
//! distribution truncated at `INITIALIZER_CUTOFF` standard deviations, biases zero.

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;

use crate::model::modernbert::settings::INITIALIZER_CUTOFF;

/// Draws from N(0, std²) and redraws what falls beyond the cutoff; after eight redraws the
/// chance that a value is still outside is below 1e-10, and the clamp settles those.
pub fn truncated_normal<const D: usize>(shape: [usize; D], std: f64, device: &Device) -> Tensor<D> {
    let bound = INITIALIZER_CUTOFF * std;
    let draw = || Tensor::<D>::random(shape, Distribution::Normal(0.0, std), device);
    let mut x = draw();
    for _ in 0..8 {
        let outside = x.clone().abs().greater_elem(bound);
        x = x.mask_where(outside, draw());
    }
    x.clamp(-bound, bound)
}

/// A linear layer `d_in -> d_out` with truncated-normal weights of `std` and, with `bias`, a zero
/// bias.
pub fn linear(d_in: usize, d_out: usize, bias: bool, std: f64, device: &Device) -> Linear {
    let mut layer = LinearConfig::new(d_in, d_out).with_bias(bias).init(device);
    layer.weight = Param::from_tensor(truncated_normal([d_in, d_out], std, device));
    if let Some(b) = layer.bias.as_mut() {
        *b = Param::from_tensor(Tensor::zeros([d_out], device));
    }
    layer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_stay_within_the_cutoff_with_the_asked_spread() {
        let device = Device::flex();
        let _rng = crate::seed::device_rng_lock();
        device.seed(1);
        let x = truncated_normal([200, 200], 0.5, &device);
        let values = x.into_data().try_to_vec::<f32>().unwrap();
        let bound = (INITIALIZER_CUTOFF * 0.5) as f32;
        assert!(values.iter().all(|v| v.abs() <= bound));
        // A standard normal truncated at ±2 has standard deviation 0.8796.
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var.sqrt() - 0.5 * 0.8796).abs() < 0.01, "{}", var.sqrt());
    }
}
