//! Fine-tuning for translation: the pretrained encoder under a fresh decoder, trained on pair
//! shards with teacher forcing and label smoothing by the shared loop ([`crate::train::run`]),
//! validated by loss and BLEU on the dev pairs ([`crate::eval::translation`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail, ensure};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLearningRate;
use burn::prelude::*;

use crate::batcher::special_token_ids;
use crate::checkpoint::metrics::ValidMetrics;
use crate::checkpoint::trained::TrainedModel;
use crate::checkpoint::{EVALUATION_FILE, HYPOTHESES_FILE, REFERENCES_FILE};
use crate::config::finetune::{DecoderInit, EncoderInit, FinetuneConfig, TranslationModelConfig};
use crate::data::pairs::{PairBatch, PairLoaderConfig, PairPosition, PairSet, PairStream};
use crate::data::tokenizer::ClozeTokenizer;
use crate::eval::translation::{
    TranslationEvalOptions, TranslationEvaluation, evaluate_translation, predicted_positions,
    teacher_forced,
};
use crate::model::config::TransformerConfig;
use crate::model::precision::Precision;
use crate::model::search::SearchConfig;
use crate::model::seq2seq::Seq2Seq;
use crate::model::special_tokens::SpecialTokenIds;
use crate::train::checkpointer::RunIdentity;
use crate::train::learning_rates::encoder_scaled;
use crate::train::objective::{BatchLoss, Objective};
use crate::train::resume::{check_resume_shards, prepare_run_directory};
use crate::train::run::{RunOutcome, TrainOptions, run_training};
use crate::train::run_precision::precision;
use crate::train::task::{TaskBatches, TrainingTask};

/// How a fine-tuning run ended, with the translation of the dev pairs.
pub type FinetuneOutcome = RunOutcome<TranslationEvaluation>;

/// Drops the gradients of every parameter of a module: how the encoder is kept frozen.
struct DropGradients<'a> {
    grads: &'a mut GradientsParams,
}

impl ModuleVisitor for DropGradients<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.grads.remove::<D>(param.id);
    }
}

/// Label-smoothed cross-entropy of the targets with teacher forcing, the encoder frozen for the
/// first `freeze_encoder_steps` steps and then learning at `encoder_lr_scale` times the rate.
pub struct TranslationObjective {
    pub smoothing: f64,
    pub freeze_encoder_steps: u64,
    pub encoder_lr_scale: f64,
    pub special: SpecialTokenIds,
    pub precision: Precision,
}

impl Objective for TranslationObjective {
    type Model = Seq2Seq;
    type Batch = PairBatch;

    fn predictions(&self, batch: &PairBatch) -> usize {
        predicted_positions(batch)
    }

    fn precision(&self) -> Precision {
        self.precision
    }

    fn batch_loss(&self, model: &Seq2Seq, batch: &PairBatch) -> BatchLoss {
        let scored = teacher_forced(model, batch, self.smoothing, self.special);
        BatchLoss {
            loss: scored.loss,
            correct: scored.correct,
            tokens: scored.tokens,
        }
    }

    fn adjust_gradients(&self, model: &Seq2Seq, step: u64, grads: &mut GradientsParams) {
        if step < self.freeze_encoder_steps {
            model.encoder.visit(&mut DropGradients { grads });
        }
    }

    fn learning_rates(&self, model: &Seq2Seq, lr: f64) -> ModuleLearningRate {
        encoder_scaled(model, lr, self.encoder_lr_scale)
    }
}

struct TranslationTask {
    objective: TranslationObjective,
    train: Arc<PairSet>,
    loader: PairLoaderConfig,
    valid: Option<Arc<PairSet>>,
    tokenizer: ClozeTokenizer,
    search: SearchConfig,
}

impl TranslationTask {
    fn new(
        config: &FinetuneConfig,
        train: Arc<PairSet>,
        valid: Option<Arc<PairSet>>,
        tokenizer: ClozeTokenizer,
        precision: Precision,
    ) -> Self {
        let t = &config.train;
        Self {
            objective: TranslationObjective {
                smoothing: config.translation.label_smoothing,
                freeze_encoder_steps: config.translation.freeze_encoder_steps,
                encoder_lr_scale: config.translation.encoder_lr_scale,
                special: special_token_ids(tokenizer.special()),
                precision,
            },
            train,
            loader: PairLoaderConfig {
                batch_size: t.batch_size,
                max_source_len: t.seq_len - 2,
                max_target_len: t.seq_len - 1,
                seed: t.seed,
                shuffle: true,
                epochs: None,
            },
            valid,
            tokenizer,
            search: SearchConfig {
                beam: config.translation.valid_beam,
                length_penalty: config.translation.valid_length_penalty,
                max_len: t.seq_len - 1,
                early_stopping: config.translation.valid_early_stopping,
            },
        }
    }

    /// Loss, accuracy, BLEU and chrF on the first `max_batches` batches of the dev pairs (0: all).
    fn evaluate(
        &self,
        model: &Seq2Seq,
        max_batches: usize,
    ) -> Result<Option<TranslationEvaluation>> {
        let Some(valid) = &self.valid else {
            return Ok(None);
        };
        let options = TranslationEvalOptions {
            loader: &self.loader,
            tokenizer: &self.tokenizer,
            search: &self.search,
            max_batches,
        };
        evaluate_translation(model, valid.clone(), &options)
    }
}

impl TrainingTask for TranslationTask {
    type Objective = TranslationObjective;
    type Position = PairPosition;

    fn objective(&self) -> &TranslationObjective {
        &self.objective
    }

    fn valid_column(&self) -> &'static str {
        crate::checkpoint::metrics::VALID_BLEU
    }

    fn batches(&self, position: PairPosition) -> TaskBatches<'_, Self> {
        let stream = PairStream::new(self.train.clone(), self.loader.clone(), position);
        Box::new(stream.map(|b| {
            let after = b.position_after;
            Ok((b, after))
        }))
    }

    fn validate(&self, model: &Seq2Seq, max_batches: usize) -> Result<Option<ValidMetrics>> {
        Ok(self.evaluate(model, max_batches)?.map(|e| ValidMetrics {
            loss: e.loss,
            accuracy: e.accuracy,
            extra: e.bleu,
        }))
    }
}

/// The encoder a fine-tuning run starts from: its architecture, its tokenizer, and (with
/// `init = "pretrained"`) its weights.
struct EncoderStart {
    config: TransformerConfig,
    tokenizer_path: PathBuf,
    pretrained: Option<crate::model::encoder::Encoder>,
}

fn encoder_start(config: &FinetuneConfig, device: &Device) -> Result<EncoderStart> {
    let start = match &config.model.pretrained {
        Some(path) => {
            let trained = TrainedModel::load(path, None, device)
                .with_context(|| format!("model.pretrained = {}", path.display()))?;
            EncoderStart {
                config: trained.encoder.clone(),
                tokenizer_path: trained.tokenizer_path.clone(),
                pretrained: (config.model.init == EncoderInit::Pretrained)
                    .then(|| trained.model.encoder.clone()),
            }
        }
        None => {
            let manifest = crate::data::manifest::Manifest::load(&config.data.shards)?;
            let vocab = manifest.tokenizer.vocab_size;
            EncoderStart {
                config: config.encoder.encoder(vocab, config.train.seq_len)?,
                tokenizer_path: manifest.tokenizer_path(&config.data.shards),
                pretrained: None,
            }
        }
    };
    if config.train.seq_len > start.config.max_len {
        bail!(
            "train.seq_len ({}) is longer than the pretrained encoder's positions ({})",
            config.train.seq_len,
            start.config.max_len
        );
    }
    Ok(start)
}

/// The training pairs whose target fits `train.seq_len - 1` tokens (a target cut short would
/// teach the decoder to stop early), and the dev pairs when they read.
fn open_pairs(
    config: &FinetuneConfig,
    tokenizer: &ClozeTokenizer,
) -> Result<(Arc<PairSet>, Option<Arc<PairSet>>)> {
    let data = &config.data;
    let longest = config.train.seq_len - 1;
    let (train, dropped) = PairSet::open(&data.shards, &data.train_split, tokenizer, data.reverse)
        .with_context(|| format!("data.shards = {}", data.shards.display()))?
        .without_long_targets(longest);
    if dropped > 0 {
        tracing::info!(
            "left out {dropped} training pairs whose target is longer than {longest} tokens \
             (train.seq_len - 1): cut short, they would teach the decoder to stop early"
        );
    }
    ensure!(
        !train.is_empty(),
        "every training pair's target is longer than train.seq_len - 1 = {longest} tokens"
    );
    let valid = match PairSet::open(&data.shards, &data.valid_split, tokenizer, data.reverse) {
        Ok(set) => Some(Arc::new(set)),
        Err(e) => {
            tracing::warn!("no validation: {e:#}");
            None
        }
    };
    Ok((Arc::new(train), valid))
}

/// Runs (or resumes) a fine-tuning run as configured.
pub fn finetune(config: &FinetuneConfig, options: &TrainOptions) -> Result<FinetuneOutcome> {
    config.validate()?;
    prepare_run_directory(config, options)?;
    let device = options.device.device()?.autodiff();
    let t = &config.train;
    let encoder = encoder_start(config, &device)?;
    let tokenizer = ClozeTokenizer::load(&encoder.tokenizer_path)?;
    let tokenizer_files = tokenizer.files();
    let (train, valid) = open_pairs(config, &tokenizer)?;
    let manifest_sha256 =
        check_resume_shards(&options.run_dir, &config.data.shards, options.resume)?;
    device.seed(t.seed);
    let layers = config.model.decoder_layers;
    let mut model = match encoder.pretrained {
        Some(pretrained) => Seq2Seq::with_encoder(pretrained, &encoder.config, layers, &device),
        None => Seq2Seq::new(&encoder.config, layers, &device),
    };
    if config.model.decoder_init == DecoderInit::Encoder {
        model.decoder = model
            .decoder
            .with_layers_of(&model.encoder.layers, model.encoder.final_norm.as_ref())?;
    }
    let precision = precision(&config.train, options)?;
    let task = TranslationTask::new(config, train, valid, tokenizer, precision);
    let saved = TranslationModelConfig {
        finetune: config.clone(),
        encoder: encoder.config,
        decoder_layers: layers,
    };
    let identity = RunIdentity {
        manifest_sha256,
        tokenizer: tokenizer_files,
        config: serde_json::to_value(&saved).context("cannot serialise the configuration")?,
        config_toml: toml::to_string_pretty(config)
            .context("cannot serialise the configuration")?,
        precision,
    };
    let run = run_training(&task, model, t, &identity, options, &device)?;
    // The final validation: rank 0's, which alone writes the run's files.
    let valid = if run.interrupted || !options.group.is_root() {
        None
    } else {
        task.evaluate(&run.model.valid(), 0)?
    };
    if let Some(e) = &valid {
        write_evaluation(e, run.steps, config, &options.run_dir)?;
    }
    Ok(run.outcome(&options.run_dir, valid))
}

/// The final validation's figures (`valid.json`), and its translations and references, a line
/// each, in the run directory.
fn write_evaluation(
    e: &TranslationEvaluation,
    step: u64,
    config: &FinetuneConfig,
    run_dir: &Path,
) -> Result<()> {
    let json = serde_json::json!({
        "step": step,
        "split": config.data.valid_split,
        "loss": e.loss,
        "accuracy": e.accuracy,
        "bleu": e.bleu,
        "chrf": e.chrf,
        "sentences": e.sentences,
        "beam": config.translation.valid_beam,
    });
    crate::fsutil::write_atomic(
        &run_dir.join(EVALUATION_FILE),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    let lines = |pick: fn(&(String, String, String)) -> &String| {
        e.examples
            .iter()
            .map(|x| pick(x).as_str())
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    };
    crate::fsutil::write_atomic(&run_dir.join(HYPOTHESES_FILE), lines(|x| &x.1).as_bytes())?;
    crate::fsutil::write_atomic(&run_dir.join(REFERENCES_FILE), lines(|x| &x.2).as_bytes())
}
