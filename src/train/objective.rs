//! What a step minimises: the loss of one micro-batch, and how many positions it predicts (the
//! weight that makes a step's loss the mean over all its micro-batches' positions).

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLearningRate;
use burn::prelude::*;

use crate::batcher::mlm_input;
use crate::data::batch::MaskedBatch;
use crate::model::mlm::MlmModel;
use crate::model::precision::Precision;

/// What one micro-batch scores.
pub struct BatchLoss {
    /// The mean loss over the micro-batch's predicted positions, with its autodiff graph.
    pub loss: Tensor<1>,
    /// Positions predicted right (top-1).
    pub correct: i64,
    /// Real (non-padding) tokens read.
    pub tokens: usize,
}

/// A training objective over a model and its batches.
pub trait Objective {
    type Model: Module;
    type Batch;

    /// The positions `batch` predicts, known before the forward pass.
    fn predictions(&self, batch: &Self::Batch) -> usize;

    /// The float type the forward and backward passes compute in (`train.precision`).
    fn precision(&self) -> Precision;

    /// The forward pass over `batch`.
    fn batch_loss(&self, model: &Self::Model, batch: &Self::Batch) -> BatchLoss;

    /// Changes the summed gradients of step `step` before they are measured and applied (by
    /// default, none): how fine-tuning keeps its encoder frozen for its first steps.
    fn adjust_gradients(&self, _model: &Self::Model, _step: u64, _grads: &mut GradientsParams) {}

    /// The learning rate of each parameter when the schedule gives `lr` (by default, `lr` for
    /// all): how fine-tuning may move its encoder slower than its decoder.
    fn learning_rates(&self, _model: &Self::Model, lr: f64) -> ModuleLearningRate {
        lr.into()
    }
}

/// Masked-language modelling: cross-entropy at the selected positions.
#[derive(Clone, Copy, Debug, Default)]
pub struct MlmObjective {
    pub precision: Precision,
}

impl Objective for MlmObjective {
    type Model = MlmModel;
    type Batch = MaskedBatch;

    fn predictions(&self, batch: &MaskedBatch) -> usize {
        batch.masked_positions().len()
    }

    fn precision(&self) -> Precision {
        self.precision
    }

    fn batch_loss(&self, model: &MlmModel, batch: &MaskedBatch) -> BatchLoss {
        let device = model.encoder.embedding.tokens.weight.device();
        let input = mlm_input(batch, &device);
        let targets = input.targets.clone();
        let output = model.forward(input);
        let correct = output
            .logits
            .argmax(1)
            .squeeze_dim::<1>(1)
            .equal(targets)
            .int()
            .sum()
            .into_scalar::<i64>();
        BatchLoss {
            loss: output.loss,
            correct,
            tokens: batch.tokens(),
        }
    }
}
