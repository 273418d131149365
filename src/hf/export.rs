//! `cloze export hf`: a checkpoint of an `arch = "bert"` or `arch = "modernbert"` model as a
//! directory that `transformers.BertForMaskedLM.from_pretrained` (or
//! `ModernBertForMaskedLM.from_pretrained`) and `AutoTokenizer.from_pretrained` load.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use serde_json::json;

use crate::checkpoint::trained::TrainedModel;
use crate::config::model_section::Arch;
use crate::hf::config_json::HfConfig;
use crate::hf::safetensors_file::write_safetensors;
use crate::hf::{
    CONFIG_FILE, SPECIAL_TOKENS_MAP_FILE, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, VOCAB_FILE,
    WEIGHTS_FILE,
};
use crate::model::hf_names::hf_tensors;

/// What an export wrote.
pub struct ExportSummary {
    /// The checkpoint directory that was exported.
    pub checkpoint: PathBuf,
    pub step: u64,
    pub tensors: usize,
    pub parameters: usize,
    pub files: Vec<PathBuf>,
}

/// Exports the checkpoint `checkpoint` names (a checkpoint or run directory) into `out`, which
/// must not exist or be empty unless `overwrite`. The files are written into a temporary
/// sibling directory that replaces `out` only when complete.
pub fn export_hf(checkpoint: &Path, out: &Path, overwrite: bool) -> Result<ExportSummary> {
    let trained = TrainedModel::load(checkpoint, None, &Device::flex())?;
    check_exportable(&trained, out, overwrite)?;
    let tensors = hf_tensors(&trained.model)?;
    let config = HfConfig::for_encoder(&trained.encoder, trained.tokenizer.special());
    let mut files = vec![(CONFIG_FILE, config.to_json()?)];
    files.extend(tokenizer_files(&trained)?);

    let tmp = crate::fsutil::temp_dir_beside(out, ".export-")?;
    write_safetensors(&tmp.path().join(WEIGHTS_FILE), &tensors)?;
    for (name, bytes) in &files {
        crate::fsutil::write_atomic(&tmp.path().join(name), bytes)?;
    }
    if out.exists() {
        std::fs::remove_dir_all(out)
            .with_context(|| format!("cannot replace {}", out.display()))?;
    }
    std::fs::rename(tmp.keep(), out)
        .with_context(|| format!("cannot move the export into {}", out.display()))?;
    let written = [
        CONFIG_FILE,
        WEIGHTS_FILE,
        TOKENIZER_FILE,
        VOCAB_FILE,
        TOKENIZER_CONFIG_FILE,
        SPECIAL_TOKENS_MAP_FILE,
    ];
    Ok(ExportSummary {
        checkpoint: trained.checkpoint,
        step: trained.state.step,
        tensors: tensors.len(),
        parameters: tensors.values().map(|t| t.values.len()).sum(),
        files: written.iter().map(|name| out.join(name)).collect(),
    })
}

/// Refuses a model neither BertForMaskedLM nor ModernBertForMaskedLM can hold, and a non-empty `out` without `overwrite`.
fn check_exportable(trained: &TrainedModel, out: &Path, overwrite: bool) -> Result<()> {
    if trained.config.model.arch == Arch::Transformer {
        bail!(
            "{} was trained with arch = \"transformer\"; HuggingFace's BertForMaskedLM needs a \
             model pretrained with arch = \"bert\" (learned positions, token types, embedding \
             LayerNorm, GELU, post-LN), and its ModernBertForMaskedLM one pretrained with \
             arch = \"modernbert\"",
            trained.checkpoint.display()
        );
    }
    if out.exists() && !overwrite && std::fs::read_dir(out)?.next().is_some() {
        bail!(
            "{} exists and is not empty; pass --overwrite to replace it",
            out.display()
        );
    }
    Ok(())
}

/// The tokenizer's files as `AutoTokenizer` reads them: `tokenizer.json` as trained,
/// `vocab.txt`, `tokenizer_config.json` and `special_tokens_map.json`.
fn tokenizer_files(trained: &TrainedModel) -> Result<Vec<(&'static str, Vec<u8>)>> {
    let tokenizer_json = std::fs::read(&trained.tokenizer_path)
        .with_context(|| format!("cannot read {}", trained.tokenizer_path.display()))?;
    let vocab: String = (0..trained.tokenizer.vocab_size() as u32)
        .map(|id| trained.tokenizer.token(id) + "\n")
        .collect();
    let special = trained.tokenizer.special();
    let special_tokens_map = special.to_map(trained.tokenizer.inner());
    let mut tokenizer_config = special_tokens_map.clone();
    tokenizer_config["tokenizer_class"] = json!("PreTrainedTokenizerFast");
    tokenizer_config["model_max_length"] = json!(trained.encoder.max_len);
    Ok(vec![
        (TOKENIZER_FILE, tokenizer_json),
        (VOCAB_FILE, vocab.into_bytes()),
        (
            TOKENIZER_CONFIG_FILE,
            serde_json::to_string_pretty(&tokenizer_config)?.into_bytes(),
        ),
        (
            SPECIAL_TOKENS_MAP_FILE,
            serde_json::to_string_pretty(&special_tokens_map)?.into_bytes(),
        ),
    ])
}
