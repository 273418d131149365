//! The training loop that pretraining and fine-tuning share, in phases: load or start, step
//! (gradient accumulation, the device reseeded from (seed, step), non-finite steps skipped), log,
//! validate, checkpoint, stop (at the last step, on Ctrl-C, or after too many non-finite steps).

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::prelude::*;

use crate::checkpoint::{CHECKPOINTS_DIR, CONFIG_FILE, has_checkpoints, load_latest};
use crate::config::train_section::TrainSection;
use crate::device::DeviceChoice;
use crate::parallel::ProcessGroup;
use crate::train::checkpointer::{Checkpointer, RunIdentity};
use crate::train::data_parallel::{
    check_same_job, micro_batch_seed, micro_batches_per_step, own_micro_batches,
};
use crate::train::objective::Objective;
use crate::train::optimizer::{AdamWSettings, adamw};
pub use crate::train::outcome::{RunOutcome, RunResult};
use crate::train::param_ids::with_seeded_param_ids;
use crate::train::step::{StepReport, StepShare, apply_gradients, compute_gradients, step_seed};
use crate::train::step_log::StepLog;
use crate::train::task::{TaskBatch, TaskBatches, TaskModel, TrainingTask};

/// How a training run (pretraining or fine-tuning) is launched, besides its configuration.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub run_dir: PathBuf,
    /// Continue from the run directory's latest checkpoint (starting afresh if it has none).
    pub resume: bool,
    pub device: DeviceChoice,
    /// Set (by Ctrl-C) to checkpoint after the current step and stop.
    pub stop: Arc<AtomicBool>,
    /// The processes training the run together: this one alone, or the ranks of an MPI job.
    pub group: Rc<dyn ProcessGroup>,
}

/// A run stopped because too many steps in a row had a non-finite loss or gradient norm.
#[derive(Debug, thiserror::Error)]
#[error(
    "stopped at step {step}: the loss or the gradient norm was not finite for {in_a_row} steps in a \
     row (train.max_nonfinite_steps); {checkpoint} holds the weights of step {last_good}, the last \
     good one. Lower train.lr (or raise train.warmup_steps) or check the data, then continue with \
     --resume, past the skipped batches",
    last_good = step - in_a_row,
    checkpoint = checkpoint.display()
)]
pub struct NonFiniteLoss {
    pub step: u64,
    pub in_a_row: u64,
    pub checkpoint: PathBuf,
}

/// Where a run stands between steps: all that a checkpoint saves.
struct RunState<M, P> {
    step: u64,
    tokens: u64,
    model: M,
    optimizer: ModuleOptimizer,
    position: P,
}

/// A task's run state.
type TaskRun<T> = RunState<TaskModel<T>, <T as TrainingTask>::Position>;

/// A task's run state after a step, and what the step measured.
type StepOutcome<T> = (TaskRun<T>, StepReport);

/// Whether a periodic event (every `every` steps, 0: never) falls after `step`: the last step
/// has its own.
pub fn periodic(every: u64, step: u64, steps: u64) -> bool {
    every > 0 && step.is_multiple_of(every) && step < steps
}

/// Trains `model` (fresh, on the autodiff `device`; replaced by the checkpoint when resuming) for
/// `train.steps` steps in all.
pub fn run_training<T: TrainingTask>(
    task: &T,
    model: TaskModel<T>,
    train: &TrainSection,
    identity: &RunIdentity,
    options: &TrainOptions,
    device: &Device,
) -> Result<RunResult<TaskModel<T>>> {
    let run_dir = &options.run_dir;
    let group = options.group.as_ref();
    let checkpoint_dir = run_dir.join(CHECKPOINTS_DIR);
    let (keep, world) = (train.keep_checkpoints, group.world());
    let checkpointer = Checkpointer::new(checkpoint_dir, keep, train.seed, world, identity);
    // Load or start, on every rank from the same checkpoint.
    let run = load_or_start::<T>(model, train, &checkpointer.dir, options)?;
    let start = run.step;
    start_run_directory(group, run_dir, identity, start)?;
    let valid_column = task.valid_column();
    let log = StepLog::open(run_dir, train, start, run.tokens, valid_column, group)?;
    let mut session = Session {
        task,
        train,
        options,
        device,
        checkpointer,
        log,
    };
    let (run, interrupted) = session.steps(run)?;
    session.log.finish(world);
    let seconds = session.log.started.elapsed().as_secs_f64();
    // The last checkpoint, unless this session took no step and one is there already.
    if group.is_root() && (run.step > start || !has_checkpoints(&session.checkpointer.dir)) {
        let path = session.save(&run)?;
        tracing::info!("checkpoint {}", path.display());
    }
    let tokens = run.tokens - session.log.tokens_at_start;
    Ok(RunResult {
        start_step: start,
        steps: run.step,
        interrupted,
        tokens_per_s: tokens as f64 / seconds.max(1e-9),
        seconds,
        model: run.model,
    })
}

/// Refuses to train unless every rank runs rank 0's job (configuration, shards and starting
/// step), then writes the run's `config.toml` (rank 0).
fn start_run_directory(
    group: &dyn ProcessGroup,
    run_dir: &Path,
    identity: &RunIdentity,
    start: u64,
) -> Result<()> {
    let job = format!(
        "starting step = {start}\nshards = {}\n{}",
        identity.manifest_sha256, identity.config_toml
    );
    check_same_job(group, &job)?;
    if group.is_root() {
        std::fs::create_dir_all(run_dir)
            .with_context(|| format!("cannot create the run directory {}", run_dir.display()))?;
        crate::fsutil::write_atomic(&run_dir.join(CONFIG_FILE), identity.config_toml.as_bytes())?;
    }
    Ok(())
}

/// What the steps of one session of a run share.
struct Session<'a, T: TrainingTask> {
    task: &'a T,
    train: &'a TrainSection,
    options: &'a TrainOptions,
    device: &'a Device,
    checkpointer: Checkpointer<'a>,
    log: StepLog,
}

impl<T: TrainingTask> Session<'_, T> {
    /// Steps from `run` to the end of the run, or to a stop request (then `true`).
    fn steps(&mut self, mut run: TaskRun<T>) -> Result<(TaskRun<T>, bool)> {
        let (task, train, group) = (self.task, self.train, self.options.group.as_ref());
        let schedule = train.schedule();
        let mut batches = task.batches(run.position.clone());
        let mut nonfinite_in_a_row = 0u64;
        let step_batches = micro_batches_per_step(group.world(), train.grad_accum);
        while run.step < train.steps {
            // Step, on this rank's micro-batches of the step's.
            let micro_batches = next_micro_batches::<T>(&mut batches, step_batches, &mut run)?;
            let own = own_micro_batches(group.rank(), train.grad_accum);
            let lr = schedule.lr(run.step);
            let step_started = Instant::now();
            let report;
            (run, report) = self.step(run, &micro_batches[own], lr);
            crate::fault::kill_point("step-killed", run.step);
            nonfinite_in_a_row = if report.is_finite() {
                0
            } else {
                nonfinite_in_a_row + 1
            };
            if nonfinite_in_a_row > 0 {
                let limit = train.max_nonfinite_steps;
                self.log
                    .skipped(run.step, &report, nonfinite_in_a_row, limit);
            }
            // Validate (rank 0), then log the step with its validation.
            let valid = if group.is_root() && periodic(train.valid_every, run.step, train.steps) {
                task.validate(&run.model.valid(), train.valid_batches)?
            } else {
                None
            };
            let seconds = step_started.elapsed().as_secs_f64();
            self.log
                .step(run.step, run.tokens, lr, &report, seconds, valid.as_ref())?;
            // Checkpoint and stop.
            if nonfinite_in_a_row >= train.max_nonfinite_steps {
                let checkpoint = self.save(&run)?;
                // Every rank stops here; none may end the job before rank 0's checkpoint is whole.
                group.barrier();
                self.log.bar.finish_and_clear();
                let (step, in_a_row) = (run.step, nonfinite_in_a_row);
                return Err(NonFiniteLoss {
                    step,
                    in_a_row,
                    checkpoint,
                }
                .into());
            }
            if group.any(self.options.stop.load(Ordering::SeqCst)) {
                let interrupted = run.step < train.steps;
                return Ok((run, interrupted));
            }
            if periodic(train.checkpoint_every, run.step, train.steps) {
                self.save(&run)?;
            }
        }
        Ok((run, false))
    }

    /// One step on this rank's `micro_batches`, the device reseeded from (seed, step,
    /// micro-batch) before each, so that a resumed run, and a micro-batch on any rank, draws the
    /// dropout of an uninterrupted one.
    fn step(&self, run: TaskRun<T>, micro_batches: &[TaskBatch<T>], lr: f64) -> StepOutcome<T> {
        let (train, group) = (self.train, self.options.group.as_ref());
        let seed = step_seed(train.seed, run.step);
        let reseed = |i: usize| self.device.seed(micro_batch_seed(seed, i));
        let share = StepShare {
            group,
            first_micro_batch: own_micro_batches(group.rank(), train.grad_accum).start,
            reseed: &reseed,
        };
        let objective = self.task.objective();
        take_step(objective, run, micro_batches, lr, train.grad_clip, &share)
    }

    /// Saves a checkpoint (rank 0 alone writes them) and returns its directory.
    fn save(&self, run: &TaskRun<T>) -> Result<PathBuf> {
        let checkpointer = &self.checkpointer;
        if !self.options.group.is_root() {
            return Ok(checkpointer.dir.clone());
        }
        checkpointer.save(
            run.step,
            run.tokens,
            &run.position,
            &run.model,
            &run.optimizer,
        )
    }
}

/// The run as its newest loadable checkpoint left it when resuming, else `model` at step 0.
fn load_or_start<T: TrainingTask>(
    model: TaskModel<T>,
    train: &TrainSection,
    checkpoint_dir: &Path,
    options: &TrainOptions,
) -> Result<TaskRun<T>> {
    let settings = AdamWSettings {
        beta1: train.beta1,
        beta2: train.beta2,
        epsilon: train.epsilon,
        weight_decay: train.weight_decay,
    };
    let model = with_seeded_param_ids(model, train.seed);
    let world = options.group.world();
    tracing::info!(
        "{} parameters on {}; {} steps of {world} rank(s) x {} x {} sequences (an effective batch \
         of {})",
        model.num_params(),
        options.device,
        train.steps,
        train.grad_accum,
        train.batch_size,
        world * train.grad_accum * train.batch_size
    );
    let loaded = if options.resume {
        load_latest(checkpoint_dir, model.clone(), || adamw(settings))?
    } else {
        None
    };
    let Some((state, model, optimizer)) = loaded else {
        return Ok(RunState {
            step: 0,
            tokens: 0,
            model,
            optimizer: adamw(settings),
            position: T::Position::default(),
        });
    };
    tracing::info!(
        "resuming {} at step {}",
        options.run_dir.display(),
        state.step
    );
    let position = serde_json::from_value(state.loader.clone()).with_context(|| {
        format!(
            "{}: the data position of step {} does not read (a pretraining run written before \
             cloze mixed its sources cannot continue in this version: start it afresh)",
            checkpoint_dir.display(),
            state.step
        )
    })?;
    Ok(RunState {
        step: state.step,
        tokens: state.tokens,
        model,
        optimizer,
        position,
    })
}

/// The `count` micro-batches of the next step; the run's data position moves past them.
fn next_micro_batches<T: TrainingTask>(
    batches: &mut TaskBatches<'_, T>,
    count: usize,
    run: &mut TaskRun<T>,
) -> Result<Vec<TaskBatch<T>>> {
    let mut micro_batches = Vec::with_capacity(count);
    for _ in 0..count {
        let (batch, after) = batches
            .next()
            .ok_or_else(|| anyhow!("the training split ended unexpectedly"))??;
        micro_batches.push(batch);
        run.position = after;
    }
    Ok(micro_batches)
}

/// One step: the gradients, applied unless the loss or the gradient norm is not finite (then the
/// weights and the optimizer state stay as they were); the step counts either way.
fn take_step<O: Objective, P>(
    objective: &O,
    mut run: RunState<O::Model, P>,
    micro_batches: &[O::Batch],
    lr: f64,
    grad_clip: f64,
    share: &StepShare,
) -> (RunState<O::Model, P>, StepReport) {
    let mut gradients = compute_gradients(objective, &run.model, run.step, micro_batches, share);
    if crate::fault::active("nonfinite-loss", run.step + 1) {
        gradients.report.loss = f64::NAN;
    }
    let report = gradients.report;
    if report.is_finite() {
        let lr = objective.learning_rates(&run.model, lr);
        run.model = apply_gradients(run.model, &mut run.optimizer, gradients, lr, grad_clip);
    }
    run.step += 1;
    run.tokens += report.tokens as u64;
    (run, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_events_fall_on_multiples_before_the_last_step() {
        let due: Vec<u64> = (1..=10).filter(|&s| periodic(4, s, 10)).collect();
        assert_eq!(due, [4, 8]);
        // The last step is not periodic even when a multiple: the run's end handles it.
        assert!(!periodic(5, 10, 10));
        assert!((1..=10).all(|s| !periodic(0, s, 10)));
    }
}
