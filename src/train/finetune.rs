//! Fine-tuning for translation: the pretrained encoder under a fresh decoder, trained on pair
//! shards with teacher forcing and label smoothing by the shared loop ([`crate::train::run`]),
//! validated by loss and BLEU on the dev pairs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail, ensure};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use serde::Serialize;

use crate::batcher::{special_token_ids, translation_input};
use crate::data::pairs::{PairBatch, PairLoaderConfig, PairPosition, PairSet, PairStream};
use crate::data::tokenizer::ClozeTokenizer;
use crate::device::DeviceChoice;
use crate::eval::bleu::{corpus_bleu, corpus_chrf};
use crate::model::beam_search::beam_search;
use crate::model::search::SearchConfig;
use crate::model::seq2seq::Seq2Seq;
use crate::train::finetune_config::{EncoderInit, FinetuneConfig, TranslationModelConfig};
use crate::train::metrics::ValidMetrics;
use crate::train::run::{
    BatchStream, CONFIG_FILE, LoopOptions, RunIdentity, TrainingTask, check_resume_shards,
    check_run_directory, run_training,
};
use crate::train::step::{StepGradients, StepReport};
use crate::train::trained::TrainedModel;

/// The validation at the end of a fine-tuning run.
pub const EVALUATION_FILE: &str = "valid.json";
/// The dev translations of the final model, one per line, beside `valid.ref`.
pub const HYPOTHESES_FILE: &str = "valid.hyp";
pub const REFERENCES_FILE: &str = "valid.ref";

#[derive(Clone, Debug)]
pub struct FinetuneOptions {
    pub run_dir: PathBuf,
    pub resume: bool,
    pub device: DeviceChoice,
    pub stop: Arc<AtomicBool>,
}

/// Validation figures of a translation model on pairs.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TranslationEvaluation {
    pub loss: f64,
    pub accuracy: f64,
    pub bleu: f64,
    pub chrf: f64,
    pub sentences: usize,
    /// (source, hypothesis, reference) of every pair, in order.
    pub examples: Vec<(String, String, String)>,
}

#[derive(Clone, Debug)]
pub struct FinetuneOutcome {
    pub run_dir: PathBuf,
    pub start_step: u64,
    pub steps: u64,
    pub interrupted: bool,
    pub valid: Option<TranslationEvaluation>,
    pub tokens_per_s: f64,
    pub seconds: f64,
}

/// Drops the gradients of every parameter of a module: how the encoder is kept frozen.
struct DropGradients<'a> {
    grads: &'a mut GradientsParams,
}

impl ModuleVisitor for DropGradients<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.grads.remove::<D>(param.id);
    }
}

/// Loss, token accuracy and real tokens of one batch, on a model in either mode.
fn batch_loss(
    model: &Seq2Seq,
    batch: &PairBatch,
    smoothing: f64,
) -> (Tensor<1>, i64, usize, usize) {
    let device = model.encoder.embedding.tokens.weight.device();
    let input = translation_input(batch, &device);
    let target = input.target.clone();
    let mask = input.target_padding.clone().bool_not();
    let (loss, logits) = model.loss(input, smoothing, special_token_ids());
    let correct = logits
        .argmax(2)
        .squeeze_dim::<2>(2)
        .equal(target)
        .bool_and(mask)
        .int()
        .sum()
        .into_scalar::<i64>();
    let predicted: usize = batch.targets.iter().map(|t| t.len() + 1).sum();
    let tokens = batch.sources.iter().map(|s| s.len() + 2).sum::<usize>() + predicted;
    (loss, correct, predicted, tokens)
}

struct TranslationTask {
    train: Arc<PairSet>,
    loader: PairLoaderConfig,
    valid: Option<Arc<PairSet>>,
    tokenizer: ClozeTokenizer,
    smoothing: f64,
    freeze_encoder_steps: u64,
    search: SearchConfig,
}

impl TranslationTask {
    /// Loss and accuracy (teacher forcing) and BLEU and chrF (decoding) on the first
    /// `max_batches` batches of the dev pairs (0: all).
    fn evaluate(
        &self,
        model: &Seq2Seq,
        max_batches: usize,
    ) -> Result<Option<TranslationEvaluation>> {
        let Some(valid) = &self.valid else {
            return Ok(None);
        };
        let config = PairLoaderConfig {
            shuffle: false,
            epochs: Some(1),
            ..self.loader.clone()
        };
        let stream = PairStream::new(valid.clone(), config, PairPosition::default());
        let (mut loss_sum, mut correct, mut predicted) = (0.0, 0i64, 0usize);
        let (mut sources, mut hypotheses, mut references) = (Vec::new(), Vec::new(), Vec::new());
        for (i, batch) in stream.enumerate() {
            if max_batches > 0 && i >= max_batches {
                break;
            }
            let (loss, c, n, _) = batch_loss(model, &batch, 0.0);
            loss_sum += f64::from(loss.into_scalar::<f32>()) * n as f64;
            correct += c;
            predicted += n;
            let outputs = beam_search(model, &batch.sources, &self.search, special_token_ids());
            for (source, output) in batch.sources.iter().zip(outputs) {
                sources.push(self.tokenizer.decode(source)?);
                hypotheses.push(self.tokenizer.decode(&output)?);
            }
            for target in &batch.targets {
                references.push(self.tokenizer.decode(target)?);
            }
        }
        if predicted == 0 {
            return Ok(None);
        }
        let bleu = corpus_bleu(&hypotheses, &references)?;
        let chrf = corpus_chrf(&hypotheses, &references)?;
        Ok(Some(TranslationEvaluation {
            loss: loss_sum / predicted as f64,
            accuracy: correct as f64 / predicted as f64,
            bleu: bleu.score,
            chrf: chrf.score,
            sentences: hypotheses.len(),
            examples: sources
                .into_iter()
                .zip(hypotheses)
                .zip(references)
                .map(|((s, h), r)| (s, h, r))
                .collect(),
        }))
    }
}

impl TrainingTask for TranslationTask {
    type Model = Seq2Seq;
    type Batch = PairBatch;
    type Position = PairPosition;

    fn valid_column(&self) -> &'static str {
        crate::train::metrics::VALID_BLEU
    }

    fn batches(&self, position: PairPosition) -> BatchStream<'_, PairBatch, PairPosition> {
        let stream = PairStream::new(self.train.clone(), self.loader.clone(), position);
        Box::new(stream.map(|b| {
            let after = b.position_after;
            Ok((b, after))
        }))
    }

    fn gradients(&self, model: &Seq2Seq, step: u64, batches: &[PairBatch]) -> StepGradients {
        let total: usize = batches
            .iter()
            .flat_map(|b| b.targets.iter().map(|t| t.len() + 1))
            .sum();
        let mut accumulator = GradientsAccumulator::<Seq2Seq>::new();
        let (mut loss_sum, mut correct, mut tokens) = (0.0, 0i64, 0usize);
        for batch in batches {
            let (loss, c, n, t) = batch_loss(model, batch, self.smoothing);
            let weighted = loss.mul_scalar(n as f64 / total.max(1) as f64);
            loss_sum += f64::from(weighted.clone().into_scalar::<f32>());
            correct += c;
            tokens += t;
            accumulator.accumulate(
                model,
                GradientsParams::from_grads(weighted.backward(), model),
            );
        }
        let mut grads = accumulator.grads();
        if step < self.freeze_encoder_steps {
            model
                .encoder
                .visit(&mut DropGradients { grads: &mut grads });
        }
        let grad_norm = crate::train::optimizer::gradient_norm(model, &mut grads);
        StepGradients {
            grads,
            report: StepReport {
                loss: loss_sum,
                accuracy: correct as f64 / total.max(1) as f64,
                predictions: total,
                tokens,
                grad_norm,
            },
        }
    }

    fn validate(&self, model: &Seq2Seq, max_batches: usize) -> Result<Option<ValidMetrics>> {
        Ok(self.evaluate(model, max_batches)?.map(|e| ValidMetrics {
            loss: e.loss,
            accuracy: e.accuracy,
            extra: e.bleu,
        }))
    }
}

/// The fine-tuning configuration saved in a run directory.
pub fn saved_config(run_dir: &Path) -> Result<Option<FinetuneConfig>> {
    let path = run_dir.join(CONFIG_FILE);
    if !path.exists() {
        return Ok(None);
    }
    crate::config::load(&path, Some("finetune"), &[]).map(Some)
}

/// Runs (or resumes) a fine-tuning run as configured.
pub fn finetune(config: &FinetuneConfig, options: &FinetuneOptions) -> Result<FinetuneOutcome> {
    config.validate()?;
    let run_dir = &options.run_dir;
    let conflicts = match saved_config(run_dir)? {
        Some(saved) => config.resume_conflicts(&saved),
        None => Vec::new(),
    };
    check_run_directory(run_dir, options.resume, &conflicts)?;
    crate::fsutil::remove_temporaries(run_dir);

    let device = options.device.device()?.autodiff();
    let t = &config.train;
    // The encoder's architecture, tokenizer and (with init = pretrained) weights.
    let (encoder_config, tokenizer_path, pretrained) = match &config.model.pretrained {
        Some(path) => {
            let trained = TrainedModel::load(path, None, &device)
                .with_context(|| format!("model.pretrained = {}", path.display()))?;
            let encoder = (config.model.init == EncoderInit::Pretrained)
                .then(|| trained.model.encoder.clone());
            (
                trained.encoder.clone(),
                trained.tokenizer_path.clone(),
                encoder,
            )
        }
        None => {
            let manifest = crate::data::manifest::Manifest::load(&config.data.shards)?;
            let tokenizer_path = manifest.tokenizer_path(&config.data.shards);
            let vocab = manifest.tokenizer.vocab_size;
            (
                config.encoder.encoder(vocab, t.seq_len)?,
                tokenizer_path,
                None,
            )
        }
    };
    if t.seq_len > encoder_config.max_len {
        bail!(
            "train.seq_len ({}) is longer than the pretrained encoder's positions ({})",
            t.seq_len,
            encoder_config.max_len
        );
    }
    let tokenizer = ClozeTokenizer::load(&tokenizer_path)?;
    let tokenizer_json = std::fs::read(&tokenizer_path)
        .with_context(|| format!("cannot read {}", tokenizer_path.display()))?;
    let (train, dropped) = PairSet::open(
        &config.data.shards,
        &config.data.train_split,
        &tokenizer,
        config.data.reverse,
    )
    .with_context(|| format!("data.shards = {}", config.data.shards.display()))?
    .without_long_targets(t.seq_len - 1);
    if dropped > 0 {
        tracing::info!(
            "left out {dropped} training pairs whose target is longer than {} tokens \
             (train.seq_len - 1): cut short, they would teach the decoder to stop early",
            t.seq_len - 1
        );
    }
    ensure!(
        !train.is_empty(),
        "every training pair's target is longer than train.seq_len - 1 = {} tokens",
        t.seq_len - 1
    );
    let train = Arc::new(train);
    let valid = match PairSet::open(
        &config.data.shards,
        &config.data.valid_split,
        &tokenizer,
        config.data.reverse,
    ) {
        Ok(set) => Some(Arc::new(set)),
        Err(e) => {
            tracing::warn!("no validation: {e:#}");
            None
        }
    };
    let manifest_sha256 = check_resume_shards(run_dir, &config.data.shards, options.resume)?;
    device.seed(t.seed);
    let model = match pretrained {
        Some(encoder) => Seq2Seq::with_encoder(
            encoder,
            &encoder_config,
            config.model.decoder_layers,
            &device,
        ),
        None => Seq2Seq::new(&encoder_config, config.model.decoder_layers, &device),
    };
    let task = TranslationTask {
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
        smoothing: config.translation.label_smoothing,
        freeze_encoder_steps: config.translation.freeze_encoder_steps,
        search: SearchConfig {
            beam: config.translation.valid_beam,
            length_penalty: config.translation.valid_length_penalty,
            max_len: t.seq_len - 1,
        },
    };
    let saved = TranslationModelConfig {
        finetune: config.clone(),
        encoder: encoder_config,
        decoder_layers: config.model.decoder_layers,
    };
    let identity = RunIdentity {
        manifest_sha256,
        tokenizer_json,
        config: serde_json::to_value(&saved).context("cannot serialise the configuration")?,
        config_toml: toml::to_string_pretty(config)
            .context("cannot serialise the configuration")?,
    };
    let run = run_training(
        &task,
        model,
        t,
        &identity,
        &LoopOptions {
            run_dir,
            resume: options.resume,
            device: &device,
            device_name: options.device.to_string(),
            stop: options.stop.clone(),
        },
    )?;
    let valid = if run.interrupted {
        None
    } else {
        task.evaluate(&run.model.valid(), 0)?
    };
    if let Some(e) = &valid {
        let json = serde_json::json!({
            "step": run.steps,
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
        crate::fsutil::write_atomic(&run_dir.join(REFERENCES_FILE), lines(|x| &x.2).as_bytes())?;
    }
    Ok(FinetuneOutcome {
        run_dir: run_dir.clone(),
        start_step: run.start_step,
        steps: run.steps,
        interrupted: run.interrupted,
        valid,
        tokens_per_s: run.tokens_per_s,
        seconds: run.seconds,
    })
}
