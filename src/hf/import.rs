//! `cloze import hf`: a HuggingFace BERT or ModernBERT directory (`config.json`,
//! `model.safetensors`, `tokenizer.json`) as a cloze checkpoint, which `cloze fill`, `cloze eval mlm` and
//! `cloze export hf` read and which pretraining starts from with `init`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::prelude::*;

use crate::checkpoint::{TrainingState, save_weights};
use crate::config::pretrain::PretrainConfig;
use crate::config::train_section::TrainSection;
use crate::data::tokenizer::ClozeTokenizer;
use crate::hf::config_json::HfConfig;
use crate::hf::safetensors_file::read_safetensors;
use crate::hf::{CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE};
use crate::model::hf_names::load_hf_tensors;
use crate::model::mlm::MlmModel;
use crate::model::named_tensors::NamedTensor;

/// What an import wrote.
pub struct ImportSummary {
    pub config: PretrainConfig,
    pub parameters: usize,
    /// Tensors of the HuggingFace checkpoint with no place in a masked-LM model (a pooler, a
    /// next-sentence head).
    pub ignored: Vec<String>,
}

/// The tied output projection may be saved beside the token embedding; it must equal it.
fn check_tied(
    tensors: &mut BTreeMap<String, NamedTensor>,
    hf: &HfConfig,
    path: &Path,
) -> Result<()> {
    for (copy, original) in hf.tied_copies() {
        if let Some(tensor) = tensors.remove(*copy)
            && tensors.get(*original) != Some(&tensor)
        {
            bail!(
                "{}: '{copy}' differs from '{original}'; cloze's output projection is tied to \
                 them",
                path.display()
            );
        }
    }
    Ok(())
}

/// The model's tokenizer, refused when its special tokens cannot be found or when its size is not
/// the model's vocabulary size.
fn read_tokenizer(path: &Path, hf: &HfConfig, config_path: &Path) -> Result<ClozeTokenizer> {
    if !path.is_file() {
        bail!(
            "{}: no such file; cloze needs the fast tokenizer (save it with \
             AutoTokenizer.from_pretrained(...).save_pretrained(dir))",
            path.display()
        );
    }
    let tokenizer = ClozeTokenizer::load(path)?;
    if hf.vocab_size() != tokenizer.vocab_size() {
        bail!(
            "{}: vocab_size is {} but {} has {} tokens; cloze needs them equal",
            config_path.display(),
            hf.vocab_size(),
            path.display(),
            tokenizer.vocab_size()
        );
    }
    Ok(tokenizer)
}

/// Reads the HuggingFace model in `from` and writes it as a cloze checkpoint directory `out`
/// (which must not exist).
pub fn import_hf(from: &Path, out: &Path) -> Result<ImportSummary> {
    if out.exists() {
        bail!("{} exists; name a new directory", out.display());
    }
    let config_path = from.join(CONFIG_FILE);
    let hf = HfConfig::read(&config_path)?;
    let model = hf
        .model_section()
        .with_context(|| format!("{}", config_path.display()))?;
    let tokenizer_path = from.join(TOKENIZER_FILE);
    let tokenizer = read_tokenizer(&tokenizer_path, &hf, &config_path)?;
    let weights_path = from.join(WEIGHTS_FILE);
    if !weights_path.is_file() {
        bail!(
            "{}: no such file; cloze reads safetensors weights (save the model with \
             save_pretrained(dir, safe_serialization=True))",
            weights_path.display()
        );
    }
    let mut tensors = read_safetensors(&weights_path)?;
    check_tied(&mut tensors, &hf, &weights_path)?;

    let mut config = PretrainConfig {
        model,
        ..PretrainConfig::default()
    };
    config.train.seq_len = hf
        .max_position_embeddings()
        .min(TrainSection::default().seq_len);
    let encoder = config
        .model
        .encoder(tokenizer.vocab_size(), config.train.seq_len)
        .with_context(|| format!("{}", config_path.display()))?;
    let device = Device::flex();
    let (model, ignored) = load_hf_tensors(MlmModel::new(&encoder, &device), &tensors)
        .with_context(|| format!("{}", weights_path.display()))?;
    let state = TrainingState {
        step: 0,
        tokens: 0,
        loader: serde_json::Value::Null,
        seed: 0,
        manifest_sha256: String::new(),
        tokenizer_sha256: tokenizer.sha256().to_owned(),
        config: serde_json::to_value(&config)?,
        world: 1,
        precision: None,
    };
    save_weights(out, &state, &model, &tokenizer.files())?;
    Ok(ImportSummary {
        config,
        parameters: model.num_params(),
        ignored,
    })
}
