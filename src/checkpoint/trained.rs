//! Trained models loaded for inference (a pretrained encoder with its MLM head, or a translation
//! model): the checkpoint's weights on a plain (non-autodiff)
//! device, its configuration, and the tokenizer it was trained with, checked to belong together.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use burn::module::Module;
use burn::prelude::*;

use crate::batcher::special_token_ids;
use crate::checkpoint::{
    MODEL_FILE, STATE_FILE, TOKENIZER_FILE, TrainingState, describe_load_error, read_state,
    resolve_checkpoint,
};
use crate::config::finetune::TranslationModelConfig;
use crate::config::pretrain::PretrainConfig;
use crate::data::tokenizer::ClozeTokenizer;
use crate::model::beam_search::beam_search;
use crate::model::config::TransformerConfig;
use crate::model::mlm::MlmModel;
use crate::model::search::{SearchConfig, greedy};
use crate::model::seq2seq::Seq2Seq;

/// `model` with the weights of the checkpoint's model.bpk.
pub fn load_weights<M: Module>(model: M, checkpoint: &Path) -> Result<M> {
    let path = checkpoint.join(MODEL_FILE);
    model.try_load_file(&path).map_err(|e| {
        anyhow!(
            "{}: {}",
            path.display(),
            describe_load_error(&format!("{e:?}"))
        )
    })
}

pub struct TrainedModel {
    /// In validation mode: no dropout.
    pub model: MlmModel,
    pub encoder: TransformerConfig,
    pub tokenizer: ClozeTokenizer,
    pub tokenizer_path: PathBuf,
    pub config: PretrainConfig,
    pub state: TrainingState,
    /// The checkpoint directory that was loaded.
    pub checkpoint: PathBuf,
}

impl TrainedModel {
    /// Loads the checkpoint `path` names (see [`resolve_checkpoint`]) onto `device`, with
    /// `tokenizer` or else the tokenizer saved in the checkpoint (older checkpoints: the one of
    /// the shards it was trained on). A tokenizer other than the training one is refused.
    pub fn load(path: &Path, tokenizer: Option<&Path>, device: &Device) -> Result<Self> {
        let checkpoint = resolve_checkpoint(path)?;
        let state_path = checkpoint.join(STATE_FILE);
        let state = read_state(&checkpoint)?;
        let config: PretrainConfig = serde_json::from_value(state.config.clone())
            .with_context(|| format!("{}: the saved config does not read", state_path.display()))?;

        let tokenizer_path = match tokenizer {
            Some(p) => p.to_owned(),
            None if checkpoint.join(TOKENIZER_FILE).is_file() => checkpoint.join(TOKENIZER_FILE),
            None => config.data.shards.join(TOKENIZER_FILE),
        };
        let tokenizer = ClozeTokenizer::load(&tokenizer_path)?;
        if !state.tokenizer_sha256.is_empty() && state.tokenizer_sha256 != tokenizer.sha256() {
            bail!(
                "{} is not the tokenizer {} was trained with (sha256 {}, expected {}); pass the \
                 training tokenizer, or leave out --tokenizer to use the one saved in the checkpoint",
                tokenizer_path.display(),
                checkpoint.display(),
                tokenizer.sha256(),
                state.tokenizer_sha256
            );
        }

        let encoder = config
            .model
            .encoder(tokenizer.vocab_size(), config.train.seq_len)
            .with_context(|| format!("{}: the saved model config", state_path.display()))?;
        let model_path = checkpoint.join(MODEL_FILE);
        let model = load_weights(MlmModel::new(&encoder, device), &checkpoint)?;
        let rows = model.encoder.embedding.tokens.weight.dims()[0];
        if rows != tokenizer.vocab_size() {
            bail!(
                "{} has a vocabulary of {rows} but {} has {}: they do not belong together",
                model_path.display(),
                tokenizer_path.display(),
                tokenizer.vocab_size()
            );
        }
        Ok(Self {
            model,
            encoder,
            tokenizer,
            tokenizer_path,
            config,
            state,
            checkpoint,
        })
    }

    /// The longest sequence the model takes (its position table: `train.seq_len`, or an
    /// imported model's `max_positions`), `[CLS]` and `[SEP]` included.
    pub fn max_positions(&self) -> usize {
        self.encoder.max_len
    }
}

/// A fine-tuned translation model loaded for inference, with its tokenizer.
pub struct TrainedTranslator {
    pub model: Seq2Seq,
    pub config: TranslationModelConfig,
    pub tokenizer: ClozeTokenizer,
    pub state: TrainingState,
    pub checkpoint: PathBuf,
}

impl TrainedTranslator {
    /// Loads the checkpoint `path` names (see [`resolve_checkpoint`]) of a `cloze finetune` run.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let checkpoint = resolve_checkpoint(path)?;
        let state = read_state(&checkpoint)?;
        let config: TranslationModelConfig = serde_json::from_value(state.config.clone())
            .with_context(|| {
                format!(
                    "{}: not a translation checkpoint (one written by cloze finetune)",
                    checkpoint.display()
                )
            })?;
        let tokenizer = ClozeTokenizer::load(&checkpoint.join(TOKENIZER_FILE))?;
        if tokenizer.sha256() != state.tokenizer_sha256 {
            bail!(
                "{}: the tokenizer is not the one the model was trained with",
                checkpoint.display()
            );
        }
        let model = load_weights(
            Seq2Seq::new(&config.encoder, config.decoder_layers, device),
            &checkpoint,
        )?;
        Ok(Self {
            model,
            config,
            tokenizer,
            state,
            checkpoint,
        })
    }

    /// The sequence length it was fine-tuned at: the longest source or output it takes, special
    /// tokens included.
    pub fn seq_len(&self) -> usize {
        self.config.finetune.train.seq_len
    }

    /// The output length a search may use: `requested`, checked against what the model takes
    /// (`train.seq_len - 1`, `[EOS]` included), or that limit; `key` names the setting in errors.
    pub fn output_len(&self, requested: Option<usize>, key: &str) -> Result<usize> {
        let limit = self.seq_len() - 1;
        let max_len = requested.unwrap_or(limit);
        if max_len == 0 || max_len > limit {
            bail!("{key} must be between 1 and {limit} (the model's train.seq_len - 1)");
        }
        Ok(max_len)
    }

    /// Translates `lines`, `batch_size` at a time (longest first, so that batches pad little).
    /// Sources longer than the model takes are cut to fit; their line numbers (from 1) are
    /// returned beside the translations.
    pub fn translate(
        &self,
        lines: &[String],
        search: &SearchConfig,
        batch_size: usize,
    ) -> Result<(Vec<String>, Vec<usize>)> {
        let limit = self.seq_len() - 2;
        let special = special_token_ids(self.tokenizer.special());
        let mut sources = self.tokenizer.encode_batch(lines.to_vec())?;
        let mut truncated = Vec::new();
        for (i, source) in sources.iter_mut().enumerate() {
            if source.len() > limit {
                source.truncate(limit);
                truncated.push(i + 1);
            }
        }
        let mut order: Vec<usize> = (0..sources.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(sources[i].len()));
        let mut outputs = vec![String::new(); sources.len()];
        for chunk in order.chunks(batch_size.max(1)) {
            let batch: Vec<Vec<u32>> = chunk.iter().map(|&i| sources[i].clone()).collect();
            // A beam of one is greedy search (tested), done with less bookkeeping.
            let decoded = if search.beam == 1 {
                greedy(&self.model, &batch, search.max_len, special)
            } else {
                beam_search(&self.model, &batch, search, special)
            };
            for (&i, ids) in chunk.iter().zip(decoded) {
                outputs[i] = self.tokenizer.decode(&ids)?;
            }
        }
        Ok((outputs, truncated))
    }
}
