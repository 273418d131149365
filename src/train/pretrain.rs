//! The pretraining run: the encoder with its MLM head trained on the shards by the shared loop
//! ([`crate::train::run`]), validated against the unigram baseline at the end.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};
use burn::prelude::*;

use crate::checkpoint::metrics::ValidMetrics;
use crate::checkpoint::trained::load_weights;
use crate::checkpoint::{CONFIG_FILE, EVALUATION_FILE};
use crate::checkpoint::{TrainingState, read_state, resolve_checkpoint};
use crate::config::model_section::ModelSection;
use crate::config::pretrain::PretrainConfig;
use crate::data::batch::MaskedBatch;
use crate::data::loader::{Loader, LoaderConfig, ShardSet};
use crate::data::position::LoaderPosition;
use crate::data::tokenizer::sha256_hex;
use crate::device::DeviceChoice;
use crate::eval::mlm::{MlmEvalOptions, MlmEvaluation, evaluate_mlm, most_frequent_token};
use crate::model::mlm::MlmModel;
use crate::train::run::{
    BatchStream, LoopOptions, RunIdentity, TrainingTask, check_resume_shards, check_run_directory,
    run_training,
};
use crate::train::step::{StepGradients, compute_gradients};

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

/// Masked-language modelling on monolingual shards.
struct MlmTask {
    train_set: Arc<ShardSet>,
    train_config: LoaderConfig,
    valid: Option<(Arc<ShardSet>, LoaderConfig)>,
}

impl TrainingTask for MlmTask {
    type Model = MlmModel;
    type Batch = MaskedBatch;
    type Position = LoaderPosition;

    fn valid_column(&self) -> &'static str {
        crate::checkpoint::metrics::VALID_MASK_ACCURACY
    }

    fn batches(&self, position: LoaderPosition) -> BatchStream<'_, MaskedBatch, LoaderPosition> {
        let loader = Loader::start(self.train_set.clone(), self.train_config.clone(), position);
        Box::new(loader.map(|batch| {
            batch.map(|b| {
                let after = b.position_after;
                (b, after)
            })
        }))
    }

    fn gradients(&self, model: &MlmModel, _step: u64, batches: &[MaskedBatch]) -> StepGradients {
        compute_gradients(model, batches)
    }

    fn validate(&self, model: &MlmModel, max_batches: usize) -> Result<Option<ValidMetrics>> {
        let Some((set, config)) = &self.valid else {
            return Ok(None);
        };
        let options = MlmEvalOptions {
            max_batches,
            ..MlmEvalOptions::default()
        };
        let e = evaluate_mlm(model, set.clone(), config, &options)?;
        Ok(Some(ValidMetrics {
            loss: e.loss(),
            accuracy: e.accuracy(),
            extra: e.mask().accuracy(),
        }))
    }
}

/// The configuration with the `[model]` table of its `init` checkpoint (but for the dropout), and
/// that checkpoint with its state; the configuration as it is without `init`.
pub fn with_init_model(
    config: &PretrainConfig,
) -> Result<(PretrainConfig, Option<(PathBuf, TrainingState)>)> {
    let Some(init) = &config.init else {
        return Ok((config.clone(), None));
    };
    let checkpoint =
        resolve_checkpoint(init).with_context(|| format!("init = {}", init.display()))?;
    let state = read_state(&checkpoint)?;
    let saved: PretrainConfig =
        serde_json::from_value(state.config.clone()).with_context(|| {
            format!(
                "init = {}: not a checkpoint of a masked-LM model",
                init.display()
            )
        })?;
    let mut config = config.clone();
    config.model = ModelSection {
        dropout: config.model.dropout,
        ..saved.model
    };
    Ok((config, Some((checkpoint, state))))
}

/// Runs (or resumes) a pretraining run as configured.
pub fn pretrain(config: &PretrainConfig, options: &PretrainOptions) -> Result<PretrainOutcome> {
    let (config, init) = with_init_model(config)?;
    let config = &config;
    config.validate()?;
    let run_dir = &options.run_dir;
    let conflicts = match saved_config(run_dir)? {
        Some(saved) => config.resume_conflicts(&saved),
        None => Vec::new(),
    };
    check_run_directory(run_dir, options.resume, &conflicts)?;
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
    let manifest_sha256 = check_resume_shards(run_dir, &config.data.shards, options.resume)?;
    let vocab_size = train_set.manifest().tokenizer.vocab_size;
    let tokenizer_path = train_set.manifest().tokenizer_path(&config.data.shards);
    let tokenizer_json = std::fs::read(&tokenizer_path)
        .with_context(|| format!("cannot read {}", tokenizer_path.display()))?;
    let encoder = config.model.encoder(vocab_size, config.train.seq_len)?;

    let device = options.device.device()?.autodiff();
    device.seed(config.train.seed);
    let mut model = MlmModel::new(&encoder, &device);
    if let Some((checkpoint, state)) = &init {
        if state.tokenizer_sha256 != sha256_hex(&tokenizer_json) {
            bail!(
                "init = {}: its tokenizer is not the one of the shards ({}); shard the data \
                 with {}",
                checkpoint.display(),
                tokenizer_path.display(),
                checkpoint.join(crate::checkpoint::TOKENIZER_FILE).display()
            );
        }
        model = load_weights(model, checkpoint)?;
    }
    let task = MlmTask {
        train_set: train_set.clone(),
        train_config,
        valid: valid_set.clone().map(|set| (set, valid_config.clone())),
    };
    let identity = RunIdentity {
        manifest_sha256,
        tokenizer_json,
        config: serde_json::to_value(config).context("cannot serialise the configuration")?,
        config_toml: toml::to_string_pretty(config)
            .context("cannot serialise the configuration")?,
    };
    let run = run_training(
        &task,
        model,
        &config.train,
        &identity,
        &LoopOptions {
            run_dir,
            resume: options.resume,
            device: &device,
            device_name: options.device.to_string(),
            stop: options.stop.clone(),
        },
    )?;

    let valid = match (&valid_set, run.interrupted) {
        (Some(set), false) => {
            let counts = train_set.token_counts()?;
            let vocab = train_set.vocab();
            let unigram = most_frequent_token(&counts, |id| vocab.is_special(id));
            let options = MlmEvalOptions {
                unigram,
                ..MlmEvalOptions::default()
            };
            let evaluation =
                evaluate_mlm(&run.model.valid(), set.clone(), &valid_config, &options)?;
            let path = run_dir.join(EVALUATION_FILE);
            let json = serde_json::json!({
                "step": run.steps,
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
        start_step: run.start_step,
        steps: run.steps,
        interrupted: run.interrupted,
        valid,
        tokens_per_s: run.tokens_per_s,
        seconds: run.seconds,
    })
}
