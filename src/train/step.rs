//! One optimisation step of masked-language modelling, and the conversion of a loader batch into
//! the model's tensors.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use crate::data::batch::MaskedBatch;
use crate::model::mlm::{MlmInput, MlmModel};
use crate::seed::splitmix64;

/// The tensors of one batch on `device`: only the selected positions carry targets.
pub fn batch_input(batch: &MaskedBatch, device: &Device) -> MlmInput {
    let shape = [batch.batch_size, batch.seq_len];
    let ids: Vec<i64> = batch.input_ids.iter().map(|&i| i64::from(i)).collect();
    let positions = batch.masked_positions();
    let targets: Vec<i64> = positions.iter().map(|&p| batch.labels[p]).collect();
    let positions: Vec<i64> = positions.iter().map(|&p| p as i64).collect();
    let n = positions.len();
    MlmInput {
        ids: Tensor::from_data(TensorData::new(ids, shape), device),
        padding: Tensor::from_data(TensorData::new(batch.padding_mask.clone(), shape), device),
        positions: Tensor::from_data(TensorData::new(positions, [n]), device),
        targets: Tensor::from_data(TensorData::new(targets, [n]), device),
    }
}

/// What one step measured.
#[derive(Clone, Copy, Debug)]
pub struct StepReport {
    pub loss: f64,
    /// Top-1 accuracy at the selected positions.
    pub accuracy: f64,
    pub predictions: usize,
}

/// Forward, backward and an optimizer update at learning rate `lr`.
pub fn train_step(
    model: MlmModel,
    optimizer: &mut ModuleOptimizer,
    batch: &MaskedBatch,
    lr: f64,
) -> (MlmModel, StepReport) {
    let device = model.encoder.embedding.tokens.weight.device();
    let input = batch_input(batch, &device);
    let targets = input.targets.clone();
    let output = model.forward(input);
    let predictions = targets.dims()[0];
    let correct: i64 = output
        .logits
        .clone()
        .argmax(1)
        .squeeze_dim::<1>(1)
        .equal(targets)
        .int()
        .sum()
        .into_scalar();
    let loss: f64 = output.loss.clone().into_scalar();
    let grads = GradientsParams::from_grads(output.loss.backward(), &model);
    let model = optimizer.step(lr, model, grads);
    (
        model,
        StepReport {
            loss,
            accuracy: correct as f64 / predictions.max(1) as f64,
            predictions,
        },
    )
}

/// The seed of the device's random state before `step`: reseeding from (seed, step) every step
/// makes dropout, and so a resumed run, repeat an uninterrupted one exactly.
pub fn step_seed(seed: u64, step: u64) -> u64 {
    splitmix64(seed ^ splitmix64(step))
}
