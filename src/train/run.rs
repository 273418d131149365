//! The training loop that pretraining and fine-tuning share: resume from the newest checkpoint,
//! steps with gradient accumulation and the device reseeded from (seed, step), non-finite steps
//! skipped, periodic validation, `metrics.csv`, the progress bar, checkpoints, and Ctrl-C. A task
//! supplies its batches, its gradients and its validation.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::checkpoint::metrics::{MetricsLog, StepMetrics, ValidMetrics};
use crate::checkpoint::{
    CHECKPOINTS_DIR, CONFIG_FILE, METRICS_FILE, TrainingState, has_checkpoints, latest_state,
    load_latest, prune_checkpoints, save_checkpoint,
};
use crate::config::train_section::TrainSection;
use crate::data::manifest::manifest_sha256;
use crate::train::optimizer::{AdamWSettings, adamw};
use crate::train::param_ids::with_seeded_param_ids;
use crate::train::step::{StepGradients, apply_gradients, step_seed};

/// A task's training batches, each with the data position after it.
pub type BatchStream<'a, B, P> = Box<dyn Iterator<Item = Result<(B, P)>> + 'a>;

/// What a training task brings to the shared loop.
pub trait TrainingTask {
    type Model: Module;
    type Batch;
    /// Where the task's data stream stands after a batch; saved in checkpoints.
    type Position: Clone + Default + Serialize + DeserializeOwned;

    /// The name of the task's own validation column in metrics.csv.
    fn valid_column(&self) -> &'static str;

    /// The training batches from `position` on, each with the position after it.
    fn batches(&self, position: Self::Position) -> BatchStream<'_, Self::Batch, Self::Position>;

    /// The gradients of one step (before step `step` is done) over `batches`.
    fn gradients(&self, model: &Self::Model, step: u64, batches: &[Self::Batch]) -> StepGradients;

    /// Validation of the model (in validation mode) on at most `max_batches` batches (0: all),
    /// or `None` when the task has no validation data.
    fn validate(&self, model: &Self::Model, max_batches: usize) -> Result<Option<ValidMetrics>>;
}

/// What identifies a run's data and settings in its checkpoints.
pub struct RunIdentity {
    /// The sha256 of the training shards' manifest.json.
    pub manifest_sha256: String,
    /// The tokenizer.json the model reads, saved in every checkpoint.
    pub tokenizer_json: Vec<u8>,
    /// The resolved configuration, saved in every checkpoint and as config.toml.
    pub config: serde_json::Value,
    pub config_toml: String,
}

/// How the training loop is launched.
pub struct LoopOptions<'a> {
    pub run_dir: &'a Path,
    pub resume: bool,
    /// An autodiff device.
    pub device: &'a Device,
    /// For messages.
    pub device_name: String,
    /// Set (by Ctrl-C) to checkpoint after the current step and stop.
    pub stop: Arc<AtomicBool>,
}

/// How a run ended.
pub struct RunResult<M> {
    /// The model after the last step, on the autodiff device.
    pub model: M,
    pub start_step: u64,
    pub steps: u64,
    /// Stopped before `train.steps` by a stop request.
    pub interrupted: bool,
    pub tokens_per_s: f64,
    pub seconds: f64,
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

/// Trains `model` (fresh, on the autodiff device; replaced by the checkpoint when resuming) for
/// `train.steps` steps in all.
pub fn run_training<T: TrainingTask>(
    task: &T,
    model: T::Model,
    train: &TrainSection,
    identity: &RunIdentity,
    options: &LoopOptions,
) -> Result<RunResult<T::Model>> {
    let run_dir = options.run_dir;
    let checkpoint_dir = run_dir.join(CHECKPOINTS_DIR);
    let settings = AdamWSettings {
        beta1: train.beta1,
        beta2: train.beta2,
        epsilon: train.epsilon,
        weight_decay: train.weight_decay,
    };
    let model = with_seeded_param_ids(model, train.seed);
    let loaded = if options.resume {
        load_latest(&checkpoint_dir, model.clone(), || adamw(settings))?
    } else {
        None
    };
    let (start, mut tokens, mut model, mut optimizer, position) = match loaded {
        Some((state, model, optimizer)) => {
            tracing::info!("resuming {} at step {}", run_dir.display(), state.step);
            let position: T::Position =
                serde_json::from_value(state.loader.clone()).with_context(|| {
                    format!(
                        "{}: the data position of step {} does not read (a pretraining run written before \
                         cloze mixed its sources cannot continue in this version: start it afresh)",
                        checkpoint_dir.display(),
                        state.step
                    )
                })?;
            (state.step, state.tokens, model, optimizer, position)
        }
        None => (0, 0, model, adamw(settings), T::Position::default()),
    };
    tracing::info!(
        "{} parameters on {}; {} steps of {} x {} sequences",
        model.num_params(),
        options.device_name,
        train.steps,
        train.grad_accum,
        train.batch_size
    );
    std::fs::create_dir_all(run_dir)
        .with_context(|| format!("cannot create the run directory {}", run_dir.display()))?;
    crate::fsutil::write_atomic(&run_dir.join(CONFIG_FILE), identity.config_toml.as_bytes())?;
    let mut metrics = MetricsLog::open(&run_dir.join(METRICS_FILE), start, task.valid_column())?;
    let schedule = train.schedule();
    let mut batches = task.batches(position.clone());
    let mut position = position;
    let bar = crate::progress::steps_bar(train.steps, start);
    let started = Instant::now();
    let session_tokens_at_start = tokens;
    let mut step = start;
    let mut interrupted = false;
    let mut nonfinite_in_a_row = 0u64;
    let tokenizer_sha256 = crate::data::tokenizer::sha256_hex(&identity.tokenizer_json);
    let checkpoint = |step: u64,
                      tokens: u64,
                      position: &T::Position,
                      model: &T::Model,
                      optimizer: &ModuleOptimizer| {
        let state = TrainingState {
            step,
            tokens,
            loader: serde_json::to_value(position).expect("a position serialises"),
            seed: train.seed,
            manifest_sha256: identity.manifest_sha256.clone(),
            tokenizer_sha256: tokenizer_sha256.clone(),
            config: identity.config.clone(),
        };
        let saved = save_checkpoint(
            &checkpoint_dir,
            &state,
            model,
            optimizer,
            &identity.tokenizer_json,
        )?;
        prune_checkpoints(&checkpoint_dir, train.keep_checkpoints, step)?;
        Ok::<_, anyhow::Error>(saved)
    };
    while step < train.steps {
        options.device.seed(step_seed(train.seed, step));
        let mut micro_batches = Vec::with_capacity(train.grad_accum);
        for _ in 0..train.grad_accum {
            let (batch, after) = batches
                .next()
                .ok_or_else(|| anyhow!("the training split ended unexpectedly"))??;
            micro_batches.push(batch);
            position = after;
        }
        let lr = schedule.lr(step);
        let step_started = Instant::now();
        let mut gradients = task.gradients(&model, step, &micro_batches);
        if crate::fault::active("nonfinite-loss", step + 1) {
            gradients.report.loss = f64::NAN;
        }
        let report = gradients.report;
        if report.is_finite() {
            model = apply_gradients(model, &mut optimizer, gradients, lr, train.grad_clip);
            nonfinite_in_a_row = 0;
        } else {
            nonfinite_in_a_row += 1;
        }
        step += 1;
        tokens += report.tokens as u64;
        if nonfinite_in_a_row > 0 {
            bar.suspend(|| {
                tracing::warn!(
                    "step {step}: loss {}, gradient norm {}: skipped, the weights are those of step {} \
                     ({nonfinite_in_a_row} such steps in a row; the run stops at {})",
                    report.loss,
                    report.grad_norm,
                    step - nonfinite_in_a_row,
                    train.max_nonfinite_steps
                )
            });
        }
        let valid = if train.valid_every > 0
            && step.is_multiple_of(train.valid_every)
            && step < train.steps
        {
            task.validate(&model.valid(), train.valid_batches)?
        } else {
            None
        };
        let elapsed = started.elapsed().as_secs_f64();
        let session_rate = (tokens - session_tokens_at_start) as f64 / elapsed.max(1e-9);
        metrics.append(
            &StepMetrics {
                step,
                tokens,
                loss: report.loss,
                accuracy: report.accuracy,
                lr,
                grad_norm: report.grad_norm,
                tokens_per_s: report.tokens as f64 / step_started.elapsed().as_secs_f64(),
            },
            valid.as_ref(),
        )?;
        bar.set_position(step);
        bar.set_message(format!(
            "loss {:.3} acc {:.3} {:.0} tok/s",
            report.loss, report.accuracy, session_rate
        ));
        if bar.is_hidden() && (step.is_multiple_of(train.log_every.max(1)) || step == train.steps) {
            tracing::info!(
                "step {step}/{}: loss {:.4}, accuracy {:.4}, lr {lr:.2e}, grad norm {:.3}, {session_rate:.0} tokens/s",
                train.steps,
                report.loss,
                report.accuracy,
                report.grad_norm
            );
        }
        if let Some(v) = valid {
            bar.suspend(|| {
                tracing::info!(
                    "step {step}: valid loss {:.4}, accuracy {:.4}, {} {:.4}",
                    v.loss,
                    v.accuracy,
                    task.valid_column(),
                    v.extra
                )
            });
        }
        if nonfinite_in_a_row >= train.max_nonfinite_steps {
            let path = checkpoint(step, tokens, &position, &model, &optimizer)?;
            bar.finish_and_clear();
            return Err(NonFiniteLoss {
                step,
                in_a_row: nonfinite_in_a_row,
                checkpoint: path,
            }
            .into());
        }
        if options.stop.load(Ordering::SeqCst) {
            interrupted = step < train.steps;
            break;
        }
        if train.checkpoint_every > 0
            && step.is_multiple_of(train.checkpoint_every)
            && step < train.steps
        {
            checkpoint(step, tokens, &position, &model, &optimizer)?;
        }
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    if step > start || !has_checkpoints(&checkpoint_dir) {
        let path = checkpoint(step, tokens, &position, &model, &optimizer)?;
        tracing::info!("checkpoint {}", path.display());
    }
    Ok(RunResult {
        model,
        start_step: start,
        steps: step,
        interrupted,
        tokens_per_s: (tokens - session_tokens_at_start) as f64 / seconds.max(1e-9),
        seconds,
    })
}

/// Whether a checkpoint trained on the shards whose manifest hashed to `recorded` may resume on
/// shards whose manifest hashes to `current`: the same shards, or a checkpoint that recorded
/// none (written by `cloze import hf`, which saw no shards).
pub fn may_resume_on(recorded: &str, current: &str) -> bool {
    recorded.is_empty() || recorded == current
}

/// The sha256 of the manifest of `shards`, after refusing to resume `run_dir` on shards other
/// than those its newest checkpoint was trained on.
pub fn check_resume_shards(run_dir: &Path, shards: &Path, resume: bool) -> Result<String> {
    let current = manifest_sha256(shards)?;
    if resume
        && let Some(state) = latest_state(&run_dir.join(CHECKPOINTS_DIR))
        && !may_resume_on(&state.manifest_sha256, &current)
    {
        bail!(
            "cannot resume {}: the shards in {} were rewritten since its checkpoint; start a \
             new run (another --run-dir) or remove this one",
            run_dir.display(),
            shards.display()
        );
    }
    Ok(current)
}

/// Refuses to start over a run directory that holds checkpoints unless resuming, and to resume
/// with settings that conflict with the saved ones (`conflicts` lists the differing keys).
pub fn check_run_directory(run_dir: &Path, resume: bool, conflicts: &[&str]) -> Result<()> {
    if !has_checkpoints(&run_dir.join(CHECKPOINTS_DIR)) {
        return Ok(());
    }
    if !resume {
        bail!(
            "{} already holds a run; pass --resume to continue it, or choose another --run-dir",
            run_dir.display()
        );
    }
    if !conflicts.is_empty() {
        bail!(
            "cannot resume {}: {} differ from the run's {}; start a new run instead",
            run_dir.display(),
            conflicts.join(", "),
            run_dir.join(CONFIG_FILE).display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_resumes_only_on_the_shards_it_was_trained_on() {
        assert!(may_resume_on("abc", "abc"));
        assert!(!may_resume_on("abc", "abd"));
        // An imported checkpoint saw no shards: any will do.
        assert!(may_resume_on("", "abc"));
    }

    #[test]
    fn a_run_directory_with_checkpoints_is_resumed_or_refused() {
        let dir = tempfile::tempdir().unwrap();
        // Nothing there yet: starting is fine, with or without --resume.
        check_run_directory(dir.path(), false, &[]).unwrap();
        check_run_directory(dir.path(), true, &["train.lr"]).unwrap();
        std::fs::create_dir_all(dir.path().join(CHECKPOINTS_DIR).join("step-0000004")).unwrap();
        let fresh = check_run_directory(dir.path(), false, &[]).unwrap_err();
        assert!(fresh.to_string().contains("--resume"), "{fresh}");
        check_run_directory(dir.path(), true, &[]).unwrap();
        let changed = check_run_directory(dir.path(), true, &["train.lr", "model.size"])
            .unwrap_err()
            .to_string();
        assert!(changed.contains("train.lr, model.size differ"), "{changed}");
    }
}
