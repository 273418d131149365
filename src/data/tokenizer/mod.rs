//! One WordPiece vocabulary for Korean and English, trained and applied with HF `tokenizers`.
//!
//! The pipeline keeps whitespace (a `▁` marks a word start, as in SentencePiece) instead of BERT's
//! whitespace split, so that `decode(encode(x))` gives `x` back: after NFC in `nfd` mode, and up to
//! lowercasing and control characters (removed, other whitespace becomes a space) in every mode.
//! Continuation pieces carry the `##` prefix, which also tells whole-word masking where words are.
//!
//! This file is the trained tokenizer and its fixed special ids; `training` builds that pipeline
//! and learns the vocabulary.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;

mod training;

pub use training::{Normalization, TokenizerConfig, TrainingReport, train_tokenizer};

/// The special tokens, in id order: `[PAD]` is 0 and `[EOS]` is 6 in every cloze vocabulary.
pub const SPECIAL_TOKENS: [&str; 7] = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[BOS]", "[EOS]",
];
pub const PAD_ID: u32 = 0;
pub const UNK_ID: u32 = 1;
pub const CLS_ID: u32 = 2;
pub const SEP_ID: u32 = 3;
pub const MASK_ID: u32 = 4;
pub const BOS_ID: u32 = 5;
pub const EOS_ID: u32 = 6;
/// Marks a piece that continues the word of the piece before it.
pub const CONTINUATION_PREFIX: &str = "##";

/// Fails unless every special token sits at its fixed id.
fn check_special_ids(tokenizer: &Tokenizer, path: &Path) -> Result<()> {
    for (id, token) in SPECIAL_TOKENS.iter().enumerate() {
        if tokenizer.token_to_id(token) != Some(id as u32) {
            bail!(
                "{}: special token {token} must have id {id}, has {:?}; this is not a cloze tokenizer",
                path.display(),
                tokenizer.token_to_id(token)
            );
        }
    }
    Ok(())
}

/// A trained tokenizer with what the data pipeline needs to know about its vocabulary.
#[derive(Clone)]
pub struct ClozeTokenizer {
    inner: Tokenizer,
    sha256: String,
    /// `true` for `##` pieces, which continue the previous piece's word.
    continuation: Vec<bool>,
}

impl ClozeTokenizer {
    /// Loads a `tokenizer.json`, checking that the special tokens sit at their fixed ids.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read tokenizer {}", path.display()))?;
        let inner = Tokenizer::from_bytes(&bytes)
            .map_err(|e| anyhow!("{}: not a valid tokenizer.json: {e}", path.display()))?;
        check_special_ids(&inner, path)?;
        let vocab_size = inner.get_vocab_size(true);
        let mut continuation = vec![false; vocab_size];
        for (token, id) in inner.get_vocab(true) {
            if let Some(slot) = continuation.get_mut(id as usize) {
                *slot = token.starts_with(CONTINUATION_PREFIX)
                    && token.len() > CONTINUATION_PREFIX.len();
            }
        }
        Ok(Self {
            inner,
            sha256: sha256_hex(&bytes),
            continuation,
        })
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    pub fn vocab_size(&self) -> usize {
        self.continuation.len()
    }

    pub fn vocab(&self) -> VocabInfo {
        VocabInfo {
            vocab_size: self.vocab_size(),
            continuation: self.continuation.clone(),
        }
    }

    /// Ids of each text, without `[CLS]`/`[SEP]`; parallel over all cores.
    pub fn encode_batch(&self, texts: Vec<String>) -> Result<Vec<Vec<u32>>> {
        let encodings = self
            .inner
            .encode_batch_fast(texts, false)
            .map_err(|e| anyhow!("tokenization failed: {e}"))?;
        Ok(encodings
            .into_iter()
            .map(|e| e.get_ids().to_vec())
            .collect())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, false)
            .map_err(|e| anyhow!("decoding failed: {e}"))
    }

    pub fn token(&self, id: u32) -> String {
        self.inner
            .id_to_token(id)
            .unwrap_or_else(|| format!("<id {id}>"))
    }

    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }
}

/// The facts about a vocabulary that masking needs, without the tokenizer itself.
#[derive(Clone, Debug)]
pub struct VocabInfo {
    pub vocab_size: usize,
    pub continuation: Vec<bool>,
}

impl VocabInfo {
    /// Special tokens are the fixed ids `0..7`; they are never masked nor drawn as random tokens.
    pub fn is_special(&self, id: u32) -> bool {
        (id as usize) < SPECIAL_TOKENS.len()
    }

    pub fn is_continuation(&self, id: u32) -> bool {
        self.continuation.get(id as usize).copied().unwrap_or(false)
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::training::untrained_tokenizer;
    use super::*;
    use tokenizers::AddedToken;

    #[test]
    fn a_foreign_tokenizer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        let mut tok = untrained_tokenizer(&TokenizerConfig::default()).unwrap();
        tok.add_special_tokens(&[AddedToken::from("[MASK]", true)]);
        std::fs::write(&path, tok.to_string(false).unwrap()).unwrap();
        let err = format!("{:#}", ClozeTokenizer::load(&path).err().unwrap());
        assert!(err.contains("t.json") && err.contains("[PAD]"), "{err}");
    }
}
