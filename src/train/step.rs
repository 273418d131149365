//! One optimisation step: gradients summed over micro-batches (the one gradient accumulator of
//! pretraining and fine-tuning), measured, clipped and applied.

use std::time::Instant;

use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLearningRate;
use burn::optim::{GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use crate::data::batch::MaskedBatch;
use crate::model::mlm::MlmModel;
use crate::model::precision::{Precision, computing_view};
use crate::parallel::{ProcessGroup, SingleProcess};
use crate::seed::splitmix64;
use crate::train::data_parallel::sum_gradients;
use crate::train::objective::{MlmObjective, Objective};
use crate::train::optimizer::{clip_gradients, gradient_norm};

/// What one step measured.
#[derive(Clone, Copy, Debug)]
pub struct StepReport {
    /// Mean cross-entropy over the selected positions of all micro-batches.
    pub loss: f64,
    /// Top-1 accuracy at the selected positions.
    pub accuracy: f64,
    pub predictions: usize,
    /// Real (non-padding) tokens in the micro-batches.
    pub tokens: usize,
    /// The global gradient norm before clipping.
    pub grad_norm: f64,
    /// Seconds spent in the step's sums over the ranks of the job, waiting for the slowest
    /// included (0 in a job of one).
    pub sync_seconds: f64,
}

impl StepReport {
    /// Whether the loss and the gradient norm are finite: a step that is not must not be applied.
    pub fn is_finite(&self) -> bool {
        self.loss.is_finite() && self.grad_norm.is_finite()
    }
}

/// The gradients of one step, computed but not applied yet, with what the step measured.
pub struct StepGradients {
    pub grads: GradientsParams,
    pub report: StepReport,
}

/// A rank's part of a step: its job, where its micro-batches sit among the step's, and how the
/// device is reseeded before each.
pub struct StepShare<'a> {
    pub group: &'a dyn ProcessGroup,
    /// The index, among the step's micro-batches, of this rank's first.
    pub first_micro_batch: usize,
    /// Reseeds the device's random state (dropout) for the step's micro-batch of this index.
    pub reseed: &'a dyn Fn(usize),
}

impl StepShare<'static> {
    /// A whole step in one process, the device's random state left as it is.
    pub fn whole() -> Self {
        fn keep_seed(_: usize) {}
        Self {
            group: &SingleProcess,
            first_micro_batch: 0,
            reseed: &keep_seed,
        }
    }
}

/// Forward and backward passes over this rank's `micro_batches` of step `step`, whose gradients
/// are summed over them and over every rank of the job, with weights that make the loss the mean
/// over all the step's predicted positions.
pub fn compute_gradients<O: Objective>(
    objective: &O,
    model: &O::Model,
    step: u64,
    micro_batches: &[O::Batch],
    share: &StepShare,
) -> StepGradients {
    let own: usize = micro_batches.iter().map(|b| objective.predictions(b)).sum();
    let mut total = [own as f64];
    let sync_started = Instant::now();
    share.group.sum_f64(&mut total);
    let mut sync_seconds = sync_started.elapsed().as_secs_f64();
    let total = total[0] as usize;
    let mut accumulator = GradientsAccumulator::<O::Model>::new();
    let (mut loss, mut correct, mut tokens) = (0.0, 0i64, 0);
    for (i, batch) in micro_batches.iter().enumerate() {
        (share.reseed)(share.first_micro_batch + i);
        let scored = match objective.precision() {
            Precision::F32 => objective.batch_loss(model, batch),
            other => objective.batch_loss(&computing_view(model, other), batch),
        };
        let weight = objective.predictions(batch) as f64 / total.max(1) as f64;
        let weighted = scored.loss.mul_scalar(weight);
        loss += f64::from(weighted.clone().into_scalar::<f32>());
        correct += scored.correct;
        tokens += scored.tokens;
        accumulator.accumulate(
            model,
            GradientsParams::from_grads(weighted.backward(), model),
        );
    }
    let mut measured = [loss, correct as f64, tokens as f64];
    let mut grads = accumulator.grads();
    let sync_started = Instant::now();
    share.group.sum_f64(&mut measured);
    sum_gradients(share.group, model, &mut grads);
    sync_seconds += sync_started.elapsed().as_secs_f64();
    let [loss, correct, tokens] = measured;
    let (correct, tokens) = (correct as i64, tokens as usize);
    objective.adjust_gradients(model, step, &mut grads);
    let grad_norm = gradient_norm(model, &mut grads);
    StepGradients {
        grads,
        report: StepReport {
            loss,
            accuracy: correct as f64 / total.max(1) as f64,
            predictions: total,
            tokens,
            grad_norm,
            sync_seconds,
        },
    }
}

/// Clips the gradients to a global norm of `grad_clip` (0: no clipping) and takes an optimizer
/// step at learning rate `lr` (one for all parameters, or one per group).
pub fn apply_gradients<M: Module>(
    model: M,
    optimizer: &mut ModuleOptimizer,
    gradients: StepGradients,
    lr: impl Into<ModuleLearningRate>,
    grad_clip: f64,
) -> M {
    let StepGradients { mut grads, report } = gradients;
    clip_gradients(&model, &mut grads, report.grad_norm, grad_clip);
    optimizer.step(lr, model, grads)
}

/// One optimizer step of masked-language modelling in `precision`: [`compute_gradients`], then
/// [`apply_gradients`] unless the loss or the gradient norm is not finite, in which case the
/// model is returned unchanged.
pub fn train_step(
    model: MlmModel,
    optimizer: &mut ModuleOptimizer,
    micro_batches: &[MaskedBatch],
    lr: f64,
    grad_clip: f64,
    precision: Precision,
) -> (MlmModel, StepReport) {
    let objective = MlmObjective { precision };
    let gradients = compute_gradients(&objective, &model, 0, micro_batches, &StepShare::whole());
    let report = gradients.report;
    if !report.is_finite() {
        return (model, report);
    }
    (
        apply_gradients(model, optimizer, gradients, lr, grad_clip),
        report,
    )
}

/// The seed of the device's random state before `step`: reseeding from (seed, step) every step
/// makes dropout, and so a resumed run, repeat an uninterrupted one exactly.
pub fn step_seed(seed: u64, step: u64) -> u64 {
    splitmix64(seed ^ splitmix64(step))
}
