//! The files a tokenizer is kept as wherever cloze copies it (shard directories, checkpoints):
//! `tokenizer.json` byte for byte, and HF's `special_tokens_map.json` naming the token of each
//! special role, so that the roles found once (perhaps with HF files that were beside the
//! original) are found again from the copy.

use std::path::Path;

use anyhow::Result;

use super::SPECIAL_TOKENS_MAP_FILE;
use crate::data::manifest::TOKENIZER_FILE;
use crate::fsutil;

/// The bytes of a tokenizer's files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenizerFiles {
    /// `tokenizer.json` as loaded: its sha256 identifies the vocabulary.
    pub json: Vec<u8>,
    pub special_tokens_map: Vec<u8>,
}

impl TokenizerFiles {
    /// Writes both files into `dir`.
    pub fn write_into(&self, dir: &Path) -> Result<()> {
        fsutil::write_atomic(&dir.join(TOKENIZER_FILE), &self.json)?;
        fsutil::write_atomic(&dir.join(SPECIAL_TOKENS_MAP_FILE), &self.special_tokens_map)
    }
}
