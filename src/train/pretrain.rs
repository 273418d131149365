//! The pretraining run: the encoder with its MLM head trained on the shards by the shared loop
//! ([`crate::train::run`]), validated against the unigram baseline at the end.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use burn::prelude::*;

use crate::checkpoint::metrics::ValidMetrics;
use crate::checkpoint::trained::load_weights;
use crate::checkpoint::{
    EVALUATION_FILE, TOKENIZER_FILE, TrainingState, read_state, resolve_checkpoint,
};
use crate::config::model_section::ModelSection;
use crate::config::pretrain::PretrainConfig;
use crate::data::loader::{Loader, LoaderConfig, ShardSet};
use crate::data::position::LoaderPosition;
use crate::data::tokenizer::{ClozeTokenizer, sha256_hex};
use crate::eval::mlm::{MlmEvalOptions, MlmEvaluation, evaluate_mlm, most_frequent_token};
use crate::model::mlm::MlmModel;
use crate::model::precision::Precision;
use crate::train::checkpointer::RunIdentity;
use crate::train::objective::MlmObjective;
use crate::train::resume::{check_resume_shards, prepare_run_directory};
use crate::train::run::{RunOutcome, TrainOptions, run_training};
use crate::train::run_precision::precision;
use crate::train::task::{TaskBatches, TrainingTask};

/// How a pretraining run ended, with the validation against the unigram baseline.
pub type PretrainOutcome = RunOutcome<MlmEvaluation>;

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
    objective: MlmObjective,
    train_set: Arc<ShardSet>,
    train_config: LoaderConfig,
    valid: Option<(Arc<ShardSet>, LoaderConfig)>,
}

impl TrainingTask for MlmTask {
    type Objective = MlmObjective;
    type Position = LoaderPosition;

    fn objective(&self) -> &MlmObjective {
        &self.objective
    }

    fn valid_column(&self) -> &'static str {
        crate::checkpoint::metrics::VALID_MASK_ACCURACY
    }

    fn batches(&self, position: LoaderPosition) -> TaskBatches<'_, Self> {
        let loader = Loader::start(self.train_set.clone(), self.train_config.clone(), position);
        Box::new(loader.map(|batch| {
            batch.map(|b| {
                let after = b.position_after;
                (b, after)
            })
        }))
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

impl MlmTask {
    /// The train split of the shards, and the valid split when it has tokens.
    fn open(config: &PretrainConfig, precision: Precision) -> Result<Self> {
        let train_config = loader_config(config, &config.data.train_split);
        let train_set = Arc::new(
            ShardSet::open(&config.data.shards, &train_config)
                .with_context(|| format!("data.shards = {}", config.data.shards.display()))?,
        );
        let valid_config = loader_config(config, &config.data.valid_split);
        let valid = if train_set.manifest().total_tokens(&config.data.valid_split) > 0 {
            let set = ShardSet::open(&config.data.shards, &valid_config)?;
            Some((Arc::new(set), valid_config))
        } else {
            tracing::warn!(
                "{} has no '{}' split (or it is empty): no validation",
                config.data.shards.display(),
                config.data.valid_split
            );
            None
        };
        Ok(Self {
            objective: MlmObjective { precision },
            train_set,
            train_config,
            valid,
        })
    }

    /// The whole valid split against the unigram baseline (the train split's most frequent
    /// token), written to the run directory's `valid.json`.
    fn final_validation(
        &self,
        model: &MlmModel,
        step: u64,
        config: &PretrainConfig,
        run_dir: &Path,
    ) -> Result<Option<MlmEvaluation>> {
        let Some((set, valid_config)) = &self.valid else {
            return Ok(None);
        };
        let counts = self.train_set.token_counts()?;
        let vocab = self.train_set.vocab();
        let options = MlmEvalOptions {
            unigram: most_frequent_token(&counts, |id| vocab.is_special(id)),
            ..MlmEvalOptions::default()
        };
        let evaluation = evaluate_mlm(model, set.clone(), valid_config, &options)?;
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
        let path = run_dir.join(EVALUATION_FILE);
        crate::fsutil::write_atomic(&path, serde_json::to_string_pretty(&json)?.as_bytes())?;
        Ok(Some(evaluation))
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
pub fn pretrain(config: &PretrainConfig, options: &TrainOptions) -> Result<PretrainOutcome> {
    let (config, init) = with_init_model(config)?;
    let config = &config;
    config.validate()?;
    prepare_run_directory(config, options)?;
    let precision = precision(&config.train, options)?;
    let task = MlmTask::open(config, precision)?;
    let manifest = task.train_set.manifest();
    let manifest_sha256 =
        check_resume_shards(&options.run_dir, &config.data.shards, options.resume)?;
    let tokenizer_path = manifest.tokenizer_path(&config.data.shards);
    let tokenizer = ClozeTokenizer::load(&tokenizer_path)?.files();
    let encoder = config
        .model
        .encoder(manifest.tokenizer.vocab_size, config.train.seq_len)?;

    let device = options.device.device()?.autodiff();
    device.seed(config.train.seed);
    let mut model = MlmModel::new(&encoder, &device);
    if let Some((checkpoint, state)) = &init {
        check_init_tokenizer(checkpoint, state, &tokenizer.json, &tokenizer_path)?;
        model = load_weights(model, checkpoint)?;
    }
    let identity = RunIdentity {
        manifest_sha256,
        tokenizer,
        config: serde_json::to_value(config).context("cannot serialise the configuration")?,
        config_toml: toml::to_string_pretty(config)
            .context("cannot serialise the configuration")?,
        precision,
    };
    let run = run_training(&task, model, &config.train, &identity, options, &device)?;
    // The final validation: rank 0's, which alone writes the run's files.
    let valid = if run.interrupted || !options.group.is_root() {
        None
    } else {
        task.final_validation(&run.model.valid(), run.steps, config, &options.run_dir)?
    };
    Ok(run.outcome(&options.run_dir, valid))
}

/// Refuses an `init` checkpoint trained with another tokenizer than the shards'.
fn check_init_tokenizer(
    checkpoint: &Path,
    state: &TrainingState,
    tokenizer_json: &[u8],
    tokenizer_path: &Path,
) -> Result<()> {
    if state.tokenizer_sha256 != sha256_hex(tokenizer_json) {
        bail!(
            "init = {}: its tokenizer is not the one of the shards ({}); shard the data with {}",
            checkpoint.display(),
            tokenizer_path.display(),
            checkpoint.join(TOKENIZER_FILE).display()
        );
    }
    Ok(())
}
