//! The pretraining run: streams the shards, trains the encoder with its MLM head, validates,
//! logs `metrics.csv`, and checkpoints so that a resumed run repeats an uninterrupted one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use burn::prelude::*;
use sha2::Digest;

use crate::data::loader::{Loader, LoaderConfig, LoaderPosition, ShardSet};
use crate::device::DeviceChoice;
use crate::eval::mlm::{MlmEvalOptions, MlmEvaluation, evaluate_mlm, most_frequent_token};
use crate::model::mlm::MlmModel;
use crate::train::checkpoint::{
    TrainingState, has_checkpoints, latest_state, load_latest, save_checkpoint,
};
use crate::train::config::PretrainConfig;
use crate::train::metrics::{MetricsLog, StepMetrics, ValidMetrics};
use crate::train::optimizer::{AdamWSettings, adamw};
use crate::train::step::{apply_gradients, compute_gradients, step_seed};

/// How a run is launched, besides its configuration.
#[derive(Clone, Debug)]
pub struct PretrainOptions {
    pub run_dir: PathBuf,
    /// Continue from the run directory's latest checkpoint (starting afresh if it has none).
    pub resume: bool,
    pub device: DeviceChoice,
    /// Set (by Ctrl-C) to checkpoint after the current step and stop.
    pub stop: Arc<AtomicBool>,
}

/// How a run ended.
#[derive(Clone, Debug)]
pub struct PretrainOutcome {
    pub run_dir: PathBuf,
    /// The step the run started from (0, or the checkpoint it resumed).
    pub start_step: u64,
    /// Steps completed in all.
    pub steps: u64,
    /// Stopped before `train.steps` by a stop request.
    pub interrupted: bool,
    /// Validation at the end, with the unigram baseline, when there is a valid split.
    pub valid: Option<MlmEvaluation>,
    /// Tokens per second over this session's steps.
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

pub const CONFIG_FILE: &str = "config.toml";
pub const METRICS_FILE: &str = "metrics.csv";
pub const CHECKPOINT_DIR: &str = crate::train::checkpoint::CHECKPOINTS_DIR;
/// The validation at the end of the run, with the unigram baseline.
pub const EVALUATION_FILE: &str = "valid.json";

/// The configuration saved in a run directory.
pub fn saved_config(run_dir: &Path) -> Result<Option<PretrainConfig>> {
    let path = run_dir.join(CONFIG_FILE);
    if !path.exists() {
        return Ok(None);
    }
    crate::config::load(&path, Some("pretrain"), &[]).map(Some)
}

fn loader_config(config: &PretrainConfig, split: &str) -> LoaderConfig {
    LoaderConfig {
        split: split.to_owned(),
        seq_len: config.train.seq_len,
        batch_size: config.train.batch_size,
        seed: config.train.seed,
        masking: config.masking.clone(),
        prefetch: config.data.prefetch,
        ..LoaderConfig::default()
    }
}

/// Runs (or resumes) a pretraining run as configured.
pub fn pretrain(config: &PretrainConfig, options: &PretrainOptions) -> Result<PretrainOutcome> {
    config.validate()?;
    let run_dir = &options.run_dir;
    let checkpoint_dir = run_dir.join(CHECKPOINT_DIR);
    if has_checkpoints(&checkpoint_dir) {
        if !options.resume {
            bail!(
                "{} already holds a run; pass --resume to continue it, or choose another --run-dir",
                run_dir.display()
            );
        }
        if let Some(saved) = saved_config(run_dir)? {
            let conflicts = config.resume_conflicts(&saved);
            if !conflicts.is_empty() {
                bail!(
                    "cannot resume {}: {} differ from the run's {}; start a new run instead",
                    run_dir.display(),
                    conflicts.join(", "),
                    run_dir.join(CONFIG_FILE).display()
                );
            }
        }
    }

    // What a killed run may have left: temporary files of interrupted writes.
    crate::fsutil::remove_temporaries(run_dir);
    let train_config = loader_config(config, &config.data.train_split);
    let train_set = Arc::new(
        ShardSet::open(&config.data.shards, &train_config)
            .with_context(|| format!("data.shards = {}", config.data.shards.display()))?,
    );
    let valid_config = loader_config(config, &config.data.valid_split);
    let valid_set = if train_set.manifest().total_tokens(&config.data.valid_split) > 0 {
        Some(Arc::new(ShardSet::open(
            &config.data.shards,
            &valid_config,
        )?))
    } else {
        tracing::warn!(
            "{} has no '{}' split (or it is empty): no validation",
            config.data.shards.display(),
            config.data.valid_split
        );
        None
    };
    let manifest_path = config.data.shards.join("manifest.json");
    let manifest_sha256 = hex::encode(sha2::Sha256::digest(
        std::fs::read(&manifest_path)
            .with_context(|| format!("cannot read {}", manifest_path.display()))?,
    ));
    let vocab_size = train_set.manifest().tokenizer.vocab_size;
    let tokenizer_path = train_set.manifest().tokenizer_path(&config.data.shards);
    let tokenizer_json = std::fs::read(&tokenizer_path)
        .with_context(|| format!("cannot read {}", tokenizer_path.display()))?;
    let tokenizer_sha256 = crate::data::tokenizer::sha256_hex(&tokenizer_json);
    let encoder = config.model.encoder(vocab_size, config.train.seq_len)?;

    if options.resume
        && let Some(state) = latest_state(&checkpoint_dir)
        && !state.manifest_sha256.is_empty()
        && state.manifest_sha256 != manifest_sha256
    {
        bail!(
            "cannot resume {}: the shards in {} were rewritten since its checkpoint; start a \
             new run (another --run-dir) or remove this one",
            run_dir.display(),
            config.data.shards.display()
        );
    }
    let device = options.device.device()?.autodiff();
    let seed = config.train.seed;
    device.seed(seed);
    let model = MlmModel::new(&encoder, &device);
    let t = &config.train;
    let settings = AdamWSettings {
        beta1: t.beta1,
        beta2: t.beta2,
        epsilon: t.epsilon,
        weight_decay: t.weight_decay,
    };
    let (start, mut tokens, mut model, mut optimizer, position) = if options.resume {
        match load_latest(&checkpoint_dir, model.clone(), || adamw(settings))? {
            Some((state, model, optimizer)) => {
                tracing::info!("resuming {} at step {}", run_dir.display(), state.step);
                (state.step, state.tokens, model, optimizer, state.loader)
            }
            None => (0, 0, model, adamw(settings), LoaderPosition::default()),
        }
    } else {
        (0, 0, model, adamw(settings), LoaderPosition::default())
    };
    tracing::info!(
        "{} parameters on {}; {} steps of {} x {} x {} tokens",
        model.num_params(),
        options.device,
        t.steps,
        t.grad_accum,
        t.batch_size,
        t.seq_len
    );
    std::fs::create_dir_all(run_dir)
        .with_context(|| format!("cannot create the run directory {}", run_dir.display()))?;
    let resolved = toml::to_string_pretty(config).context("cannot serialise the configuration")?;
    crate::fsutil::write_atomic(&run_dir.join(CONFIG_FILE), resolved.as_bytes())?;
    let mut metrics = MetricsLog::open(&run_dir.join(METRICS_FILE), start)?;
    let schedule = t.schedule();
    let mut loader = Loader::start(train_set.clone(), train_config, position);
    let bar = crate::progress::steps_bar(t.steps, start);
    let started = Instant::now();
    let session_tokens_at_start = tokens;
    let mut step = start;
    let mut interrupted = false;
    let mut nonfinite_in_a_row = 0u64;
    let checkpoint = |step: u64,
                      tokens: u64,
                      loader: &Loader,
                      model: &MlmModel,
                      optimizer: &burn::optim::ModuleOptimizer| {
        let state = TrainingState {
            step,
            tokens,
            loader: loader.position(),
            seed,
            manifest_sha256: manifest_sha256.clone(),
            tokenizer_sha256: tokenizer_sha256.clone(),
            config: serde_json::to_value(config).expect("a config serialises"),
        };
        save_checkpoint(
            &checkpoint_dir,
            &state,
            model,
            optimizer,
            &tokenizer_json,
            t.keep_checkpoints,
        )
    };
    while step < t.steps {
        device.seed(step_seed(seed, step));
        let mut micro_batches = Vec::with_capacity(t.grad_accum);
        for _ in 0..t.grad_accum {
            let batch = loader
                .next()
                .ok_or_else(|| anyhow!("the training split ended unexpectedly"))??;
            micro_batches.push(batch);
        }
        let lr = schedule.lr(step);
        let step_started = Instant::now();
        let mut gradients = compute_gradients(&model, &micro_batches);
        if crate::fault::active("nonfinite-loss", step + 1) {
            gradients.report.loss = f64::NAN;
        }
        let report = gradients.report;
        if report.is_finite() {
            model = apply_gradients(model, &mut optimizer, gradients, lr, t.grad_clip);
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
                    t.max_nonfinite_steps
                )
            });
        }
        let valid = if t.valid_every > 0 && step.is_multiple_of(t.valid_every) && step < t.steps {
            match &valid_set {
                Some(set) => Some(validate(&model, set, &valid_config, t.valid_batches)?),
                None => None,
            }
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
        if bar.is_hidden() && (step.is_multiple_of(t.log_every.max(1)) || step == t.steps) {
            tracing::info!(
                "step {step}/{}: loss {:.4}, accuracy {:.4}, lr {lr:.2e}, grad norm {:.3}, {session_rate:.0} tokens/s",
                t.steps,
                report.loss,
                report.accuracy,
                report.grad_norm
            );
        }
        if let Some(v) = valid {
            bar.suspend(|| {
                tracing::info!(
                    "step {step}: valid loss {:.4}, accuracy {:.4}, at [MASK] {:.4}",
                    v.loss,
                    v.accuracy,
                    v.mask_accuracy
                )
            });
        }
        if nonfinite_in_a_row >= t.max_nonfinite_steps {
            let path = checkpoint(step, tokens, &loader, &model, &optimizer)?;
            bar.finish_and_clear();
            return Err(NonFiniteLoss {
                step,
                in_a_row: nonfinite_in_a_row,
                checkpoint: path,
            }
            .into());
        }
        if options.stop.load(Ordering::SeqCst) {
            interrupted = step < t.steps;
            break;
        }
        if t.checkpoint_every > 0 && step.is_multiple_of(t.checkpoint_every) && step < t.steps {
            checkpoint(step, tokens, &loader, &model, &optimizer)?;
        }
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    if step > start || !has_checkpoints(&checkpoint_dir) {
        let path = checkpoint(step, tokens, &loader, &model, &optimizer)?;
        tracing::info!("checkpoint {}", path.display());
    }
    let valid = match (&valid_set, interrupted) {
        (Some(set), false) => {
            let counts = train_set.token_counts()?;
            let vocab = train_set.vocab();
            let unigram = most_frequent_token(&counts, |id| vocab.is_special(id));
            let options = MlmEvalOptions {
                unigram,
                ..MlmEvalOptions::default()
            };
            let evaluation = evaluate_mlm(&model.valid(), set.clone(), &valid_config, &options)?;
            let path = run_dir.join(EVALUATION_FILE);
            let json = serde_json::json!({
                "step": step,
                "split": config.data.valid_split,
                "loss": evaluation.loss(),
                "accuracy": evaluation.accuracy(),
                "top5": evaluation.all.top5_accuracy(),
                "mask_accuracy": evaluation.mask().accuracy(),
                "unigram_mask_accuracy": evaluation.unigram_mask_accuracy(),
                "predictions": evaluation.predictions(),
                "mask_predictions": evaluation.mask().predictions,
            });
            crate::fsutil::write_atomic(&path, serde_json::to_string_pretty(&json)?.as_bytes())?;
            Some(evaluation)
        }
        _ => None,
    };
    Ok(PretrainOutcome {
        run_dir: run_dir.clone(),
        start_step: start,
        steps: step,
        interrupted,
        valid,
        tokens_per_s: (tokens - session_tokens_at_start) as f64 / seconds.max(1e-9),
        seconds,
    })
}

fn validate(
    model: &MlmModel,
    set: &Arc<ShardSet>,
    config: &LoaderConfig,
    max_batches: usize,
) -> Result<ValidMetrics> {
    let options = MlmEvalOptions {
        max_batches,
        ..MlmEvalOptions::default()
    };
    let e = evaluate_mlm(&model.valid(), set.clone(), config, &options)?;
    Ok(ValidMetrics {
        loss: e.loss(),
        accuracy: e.accuracy(),
        mask_accuracy: e.mask().accuracy(),
    })
}
