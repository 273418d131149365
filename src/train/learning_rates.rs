//! The learning rate of each part of a translation model: the encoder (with the embeddings it
//! shares with the decoder) may learn slower than the fresh decoder, so that fine-tuning keeps
//! more of what pretraining taught it (discriminative fine-tuning, Howard and Ruder 2018).

use burn::module::ParamGroup;
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLearningRate;
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;

use crate::model::seq2seq::Seq2Seq;

/// `lr` for every parameter of `model` but the encoder's, which learn at `lr * encoder_scale`.
pub fn encoder_scaled(model: &Seq2Seq, lr: f64, encoder_scale: f64) -> ModuleLearningRate {
    if encoder_scale == 1.0 {
        return lr.into();
    }
    ModuleLrScheduler::new(lr)
        .with_group(
            ParamGroup::ids_from_module(model.encoder.clone()),
            lr * encoder_scale,
        )
        .step()
}

#[cfg(test)]
mod tests {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::optim::GradientsParams;
    use burn::prelude::*;

    use super::*;
    use crate::model::config::TransformerConfig;
    use crate::model::copy_model::copy_batch;
    use crate::train::optimizer::{AdamWSettings, adamw};

    /// Every float parameter's values, in visiting order.
    #[derive(Default)]
    struct Values(Vec<Vec<f32>>);

    impl ModuleVisitor for Values {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0
                .push(param.val().into_data().try_to_vec::<f32>().unwrap());
        }
    }

    fn values<M: Module>(module: &M) -> Vec<Vec<f32>> {
        let mut values = Values::default();
        module.visit(&mut values);
        values.0
    }

    /// How much each value moved from `before` to `after`.
    fn moves(before: &[Vec<f32>], after: &[Vec<f32>]) -> Vec<f32> {
        before
            .iter()
            .flatten()
            .zip(after.iter().flatten())
            .map(|(b, a)| a - b)
            .collect()
    }

    #[test]
    fn the_encoder_moves_by_its_scale_and_the_decoder_as_before() {
        let device = Device::flex().autodiff();
        device.seed(5);
        let config = TransformerConfig::named("tiny", 40)
            .unwrap()
            .with_dropout(0.0);
        let model = Seq2Seq::new(&config, 1, &device);
        let sequences = vec![vec![7, 8, 9], vec![10, 11]];
        let settings = AdamWSettings {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.01,
        };
        let step = |scale: f64| {
            let loss = model.loss(copy_batch(&sequences, &device), 0.0).loss;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let lr = encoder_scaled(&model, 1e-2, scale);
            adamw(settings).step(lr, model.clone(), grads)
        };
        let (full, scaled) = (step(1.0), step(0.25));
        let full_moves = moves(&values(&model.encoder), &values(&full.encoder));
        let scaled_moves = moves(&values(&model.encoder), &values(&scaled.encoder));
        assert!(full_moves.iter().any(|m| m.abs() > 1e-3));
        for (f, s) in full_moves.iter().zip(&scaled_moves) {
            assert!((s - 0.25 * f).abs() < 1e-6, "{s} against a quarter of {f}");
        }
        assert_eq!(values(&full.decoder), values(&scaled.decoder));
        assert_ne!(values(&full.decoder), values(&model.decoder));
    }
}
