//! A pretrained model loaded for inference: the checkpoint's weights on a plain (non-autodiff)
//! device, its configuration, and the tokenizer it was trained with, checked to belong together.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use burn::module::Module;
use burn::prelude::*;

use crate::data::tokenizer::ClozeTokenizer;
use crate::model::config::EncoderConfig;
use crate::model::mlm::MlmModel;
use crate::train::checkpoint::{
    MODEL_FILE, STATE_FILE, TOKENIZER_FILE, TrainingState, describe_load_error, resolve_checkpoint,
};
use crate::train::config::PretrainConfig;

pub struct TrainedModel {
    /// In validation mode: no dropout.
    pub model: MlmModel,
    pub encoder: EncoderConfig,
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
        let text = std::fs::read_to_string(&state_path)
            .with_context(|| format!("cannot read {}", state_path.display()))?;
        let state: TrainingState = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a valid training state", state_path.display()))?;
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
        let model = MlmModel::new(&encoder, device)
            .try_load_file(&model_path)
            .map_err(|e| {
                anyhow!(
                    "{}: {}",
                    model_path.display(),
                    describe_load_error(&format!("{e:?}"))
                )
            })?;
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

    /// The longest sequence the model was trained on, `[CLS]` and `[SEP]` included.
    pub fn max_len(&self) -> usize {
        self.encoder.max_len
    }
}
