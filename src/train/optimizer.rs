//! AdamW with BERT's parameter groups (no weight decay on LayerNorm parameters and biases), and
//! clipping by the global gradient norm, which burn's clipping (per tensor) does not do.

use burn::module::{Module, ModuleVisitor, Param, ParamGroup};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

/// The paths of LayerNorm parameters (`gamma`, `beta`) and biases.
const NO_DECAY: &str = r"(^|\.)(bias|beta|gamma)$";

/// AdamW's hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWSettings {
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    pub weight_decay: f64,
}

/// AdamW with `weight_decay` on the weight matrices and embeddings, and none on LayerNorm
/// parameters and biases.
pub fn adamw(settings: AdamWSettings) -> ModuleOptimizer {
    let config = |decay: f64| {
        AdamWConfig::new()
            .with_beta_1(settings.beta1 as f32)
            .with_beta_2(settings.beta2 as f32)
            .with_epsilon(settings.epsilon as f32)
            .with_weight_decay(decay as f32)
    };
    let no_decay = ParamGroup::from_regex(NO_DECAY).expect("a valid pattern");
    config(settings.weight_decay)
        .init()
        .with_group(no_decay, config(0.0).build(), None)
}

/// Sums the squares of every parameter's gradient, or scales every gradient by a factor.
struct GradientPass<'a> {
    grads: &'a mut GradientsParams,
    squares: Vec<Tensor<1>>,
    scale: Option<f64>,
}

impl ModuleVisitor for GradientPass<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        match self.scale {
            None => {
                if let Some(g) = self.grads.get::<D>(param.id) {
                    self.squares.push(g.square().sum());
                }
            }
            Some(factor) => {
                if let Some(g) = self.grads.remove::<D>(param.id) {
                    self.grads.register(param.id, g.mul_scalar(factor));
                }
            }
        }
    }
}

/// The global L2 norm of the gradients of `module`'s parameters.
pub fn gradient_norm<M: Module>(module: &M, grads: &mut GradientsParams) -> f64 {
    let mut pass = GradientPass {
        grads,
        squares: Vec::new(),
        scale: None,
    };
    module.visit(&mut pass);
    if pass.squares.is_empty() {
        return 0.0;
    }
    let total: f32 = Tensor::cat(pass.squares, 0).sum().into_scalar();
    f64::from(total).sqrt()
}

/// Scales every gradient by `factor`.
pub fn scale_gradients<M: Module>(module: &M, grads: &mut GradientsParams, factor: f64) {
    let mut pass = GradientPass {
        grads,
        squares: Vec::new(),
        scale: Some(factor),
    };
    module.visit(&mut pass);
}

/// Scales gradients whose global norm is `norm` down to `max_norm` (when above 0).
pub fn clip_gradients<M: Module>(
    module: &M,
    grads: &mut GradientsParams,
    norm: f64,
    max_norm: f64,
) {
    if max_norm > 0.0 && norm > max_norm {
        scale_gradients(module, grads, max_norm / (norm + 1e-6));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};

    #[derive(Module, Debug)]
    struct Net {
        linear: Linear,
        norm: LayerNorm,
    }

    fn net(device: &Device) -> Net {
        let _rng = crate::seed::device_rng_lock();
        device.seed(1);
        Net {
            linear: LinearConfig::new(4, 4).init(device),
            norm: LayerNormConfig::new(4).init(device),
        }
    }

    fn flat<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn weight_decay_spares_layer_norm_parameters_and_biases() {
        let device = Device::flex().autodiff();
        let model = net(&device);
        let before_weight = flat(model.linear.weight.val());
        let before_bias = flat(model.linear.bias.as_ref().unwrap().val());
        let before_gamma = flat(model.norm.gamma.val());
        let before_beta = flat(model.norm.beta.as_ref().unwrap().val());
        // A loss with zero gradient everywhere: only weight decay moves parameters.
        let x = Tensor::<2>::ones([2, 4], &device);
        let loss = model
            .norm
            .forward(model.linear.forward(x))
            .sum()
            .mul_scalar(0.0);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let mut optimizer = adamw(AdamWSettings {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-6,
            weight_decay: 0.5,
        });
        let model = optimizer.step(0.1, model, grads);
        let after_weight = flat(model.linear.weight.val());
        for (a, b) in before_weight.iter().zip(&after_weight) {
            assert!((b - a * 0.95).abs() < 1e-6, "weight {a} -> {b}");
        }
        assert_eq!(flat(model.linear.bias.as_ref().unwrap().val()), before_bias);
        assert_eq!(flat(model.norm.gamma.val()), before_gamma);
        assert_eq!(flat(model.norm.beta.as_ref().unwrap().val()), before_beta);
    }

    #[test]
    fn clipping_scales_the_global_norm_down_to_the_limit() {
        let device = Device::flex().autodiff();
        let model = net(&device);
        let x = Tensor::<2>::ones([2, 4], &device).mul_scalar(3.0);
        let loss = model.linear.forward(x).sum();
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        // d(sum(xW + b))/dW = 6 in each of 16 entries, /db = 2 in each of 4: norm sqrt(592).
        let norm = gradient_norm(&model, &mut grads);
        assert!((norm - 592f64.sqrt()).abs() < 1e-3, "{norm}");
        clip_gradients(&model, &mut grads, norm, 1.0);
        let clipped = gradient_norm(&model, &mut grads);
        assert!((clipped - 1.0).abs() < 1e-4);
        // Below the limit nothing changes.
        clip_gradients(&model, &mut grads, clipped, 5.0);
        assert!((gradient_norm(&model, &mut grads) - 1.0).abs() < 1e-4);
    }
}
