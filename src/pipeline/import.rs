//! The `[import]` stage: `cloze import hf` of a HuggingFace model directory into a cloze
//! checkpoint that the later stages read (its tokenizer for `[shard]` and `[pairs]`, its weights
//! for `[pretrain]`'s `init`). Skipped when its output exists and its stamp (the stage's settings
//! and the bytes of the model directory's files) matches.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::hf::import::{ImportSummary, import_hf};
use crate::hf::{
    CONFIG_FILE, SPECIAL_TOKENS_MAP_FILE, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE,
};
use crate::pipeline::stamp::{record, stamp, up_to_date};

/// `cloze import hf` as a stage.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImportStage {
    /// A directory saved by transformers' `save_pretrained`: `config.json`, `model.safetensors`
    /// and the fast tokenizer's `tokenizer.json`.
    pub from: PathBuf,
    /// The cloze checkpoint directory written.
    pub out: PathBuf,
}

/// Runs the import unless it is up to date (and not forced); `None` when skipped. A stale import
/// is replaced only once the new one is complete.
pub fn run_import(stage: &ImportStage, force: bool) -> Result<Option<ImportSummary>> {
    let files: Vec<PathBuf> = [
        CONFIG_FILE,
        WEIGHTS_FILE,
        TOKENIZER_FILE,
        SPECIAL_TOKENS_MAP_FILE,
        TOKENIZER_CONFIG_FILE,
    ]
    .iter()
    .map(|name| stage.from.join(name))
    .filter(|path| path.is_file())
    .collect();
    let stamp = stamp(stage, &files)?;
    if !force && up_to_date(&stage.out, &stamp) {
        return Ok(None);
    }
    let staging = crate::fsutil::temp_dir_beside(&stage.out, ".import-")?;
    let imported = staging.path().join("checkpoint");
    let summary = import_hf(&stage.from, &imported)?;
    if stage.out.exists() {
        std::fs::remove_dir_all(&stage.out)
            .with_context(|| format!("cannot replace {}", stage.out.display()))?;
    }
    std::fs::rename(&imported, &stage.out)
        .with_context(|| format!("cannot move the import into {}", stage.out.display()))?;
    record(&stage.out, &stamp)?;
    Ok(Some(summary))
}
