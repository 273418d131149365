//! `manifest.json`: what a shard directory holds, and the checks that make a reader trust it.
//!
//! Format version 1, a JSON object:
//! `format_version`, `kind` (`monolingual` or `pairs`), `tokenizer` {`file`, `sha256`, `vocab_size`},
//! `split` {`seed`, `valid_fraction`, `unit`}, `sources` (one report per input file), and
//! `shards` {`train`: [...], `valid`: [...]}, each entry {`file`, `rows`, `documents`, `tokens`,
//! `sha256`, `bytes`} with `file` relative to the directory. Any tool that writes Arrow IPC files with the
//! schema that `src/data/shard/mod.rs` describes and lists them here produces shards cloze can read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::data::corpus::SourceReport;
use crate::data::tokenizer::{ClozeTokenizer, SpecialTokens};

pub const MANIFEST_FILE: &str = "manifest.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const FORMAT_VERSION: u32 = 1;

/// What one row of a shard holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShardKind {
    /// `input_ids` (a sentence or line) and `doc_id`, for pretraining.
    Monolingual,
    /// `src_ids`, `tgt_ids` and `doc_id`, for translation.
    Pairs,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenizerRef {
    pub file: String,
    pub sha256: String,
    pub vocab_size: usize,
    /// The ids of its special roles, as the shards were written with them (absent in manifests
    /// written before vocabularies other than cloze's were read: those have cloze's layout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub special_tokens: Option<SpecialTokens>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SplitRule {
    pub seed: u64,
    pub valid_fraction: f64,
    /// What is assigned whole to one side: always `document`.
    pub unit: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShardEntry {
    pub file: String,
    pub rows: u64,
    pub documents: u64,
    pub tokens: u64,
    pub sha256: String,
    /// The file's size: checked when the shards are opened, so that a truncated shard is found
    /// before training starts rather than when it is first read (0: not recorded).
    #[serde(default)]
    pub bytes: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format_version: u32,
    pub kind: ShardKind,
    pub tokenizer: TokenizerRef,
    pub split: SplitRule,
    pub sources: Vec<SourceReport>,
    pub shards: BTreeMap<String, Vec<ShardEntry>>,
}

impl Manifest {
    /// Reads and checks `DIR/manifest.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the shard manifest {}", path.display()))?;
        let manifest: Manifest = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a valid cloze manifest", path.display()))?;
        if manifest.format_version != FORMAT_VERSION {
            bail!(
                "{}: format version {} is not supported (this cloze reads version {FORMAT_VERSION})",
                path.display(),
                manifest.format_version
            );
        }
        Ok(manifest)
    }

    /// The shards of one split, or an error naming the splits there are.
    pub fn split(&self, dir: &Path, name: &str) -> Result<&[ShardEntry]> {
        match self.shards.get(name) {
            Some(entries) if !entries.is_empty() => Ok(entries),
            _ => bail!(
                "{}: no shards in split '{name}' (splits with shards: {})",
                dir.join(MANIFEST_FILE).display(),
                self.shards
                    .iter()
                    .filter(|(_, e)| !e.is_empty())
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    pub fn tokenizer_path(&self, dir: &Path) -> PathBuf {
        dir.join(&self.tokenizer.file)
    }

    /// Fails unless `tokenizer` (read from `tokenizer_path`) is the one the shards were written
    /// with, its special roles included.
    pub fn check_tokenizer(
        &self,
        dir: &Path,
        tokenizer: &ClozeTokenizer,
        tokenizer_path: &Path,
    ) -> Result<()> {
        let sha256 = tokenizer.sha256();
        if self.tokenizer.sha256 != sha256 {
            bail!(
                "{} was written with another tokenizer: manifest sha256 {}, {} has sha256 {sha256}",
                dir.join(MANIFEST_FILE).display(),
                self.tokenizer.sha256,
                tokenizer_path.display()
            );
        }
        if let Some(special) = &self.tokenizer.special_tokens
            && special != tokenizer.special()
        {
            bail!(
                "{} was written with other special tokens than {} has: {special:?} against {:?}",
                dir.join(MANIFEST_FILE).display(),
                tokenizer_path.display(),
                tokenizer.special()
            );
        }
        Ok(())
    }

    pub fn total_tokens(&self, split: &str) -> u64 {
        self.shards
            .get(split)
            .map_or(0, |s| s.iter().map(|e| e.tokens).sum())
    }
}

/// The sha256 of a shard directory's manifest.json: a run refuses to resume on other data.
pub fn manifest_sha256(shards: &Path) -> Result<String> {
    let path = shards.join(MANIFEST_FILE);
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(crate::data::tokenizer::sha256_hex(&bytes))
}
