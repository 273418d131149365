//! One WordPiece vocabulary for Korean and English, trained and applied with HF `tokenizers`.
//!
//! The pipeline keeps whitespace (a `▁` marks a word start, as in SentencePiece) instead of BERT's
//! whitespace split, so that `decode(encode(x))` gives `x` back: after NFC in `nfd` mode, and up to
//! lowercasing and control characters (removed, other whitespace becomes a space) in every mode.
//! Continuation pieces carry the `##` prefix, which also tells whole-word masking where words are.
//!
//! This file is a loaded tokenizer and the fixed special ids of cloze's own vocabularies;
//! `training` builds that pipeline and learns the vocabulary; `special_tokens` finds the special
//! roles of any vocabulary, cloze's or HuggingFace's.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;

mod files;
mod role_names;
mod special_tokens;
mod training;

pub use files::TokenizerFiles;
pub use role_names::{SPECIAL_TOKENS_MAP_FILE, TOKENIZER_CONFIG_FILE};
pub use special_tokens::SpecialTokens;
pub use training::{Normalization, TokenizerConfig, TrainingReport, train_tokenizer};

/// The special tokens, in id order: `[PAD]` is 0 and `[EOS]` is 6 in every vocabulary cloze
/// trains (imported ones may differ: [`SpecialTokens`]).
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

/// A trained tokenizer with what the data pipeline needs to know about its vocabulary.
#[derive(Clone)]
pub struct ClozeTokenizer {
    inner: Tokenizer,
    /// `tokenizer.json` as read.
    json: Vec<u8>,
    sha256: String,
    /// `true` for `##` pieces, which continue the previous piece's word.
    continuation: Vec<bool>,
    special: SpecialTokens,
    words_encode_alone: bool,
}

impl ClozeTokenizer {
    /// Loads a `tokenizer.json` and finds its special tokens (with the HF files beside it, if
    /// any: [`SpecialTokens::resolve`]).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read tokenizer {}", path.display()))?;
        let inner = Tokenizer::from_bytes(&bytes)
            .map_err(|e| anyhow!("{}: not a valid tokenizer.json: {e}", path.display()))?;
        let json: serde_json::Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not valid JSON", path.display()))?;
        let special = SpecialTokens::resolve(&inner, &json, path)?;
        let words_encode_alone = json.get("pre_tokenizer").is_some_and(spaces_start_words);
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
            json: bytes,
            continuation,
            special,
            words_encode_alone,
        })
    }

    /// Whether a word between single spaces gets the same pieces alone as inside a text (cloze's
    /// own pipeline, where `▁` starts every word), which lets the word cache encode a text as the
    /// concatenation of its words.
    pub fn words_encode_alone(&self) -> bool {
        self.words_encode_alone
    }

    pub fn special(&self) -> &SpecialTokens {
        &self.special
    }

    /// The files to keep this tokenizer as, its special roles written out beside it.
    pub fn files(&self) -> TokenizerFiles {
        let map = self.special.to_map(&self.inner);
        TokenizerFiles {
            json: self.json.clone(),
            special_tokens_map: serde_json::to_vec_pretty(&map)
                .expect("a map of strings serialises"),
        }
    }

    /// The text of every added token (the specials among them), which the tokenizer splits out
    /// of a text before anything else.
    pub fn added_token_texts(&self) -> Vec<String> {
        self.inner
            .get_added_tokens_decoder()
            .into_values()
            .map(|t| t.content)
            .collect()
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
            special: self.special.clone(),
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
    pub special: SpecialTokens,
}

impl VocabInfo {
    /// Special tokens are never masked nor drawn as random tokens.
    pub fn is_special(&self, id: u32) -> bool {
        self.special.is_special(id)
    }

    pub fn is_continuation(&self, id: u32) -> bool {
        self.continuation.get(id as usize).copied().unwrap_or(false)
    }
}

/// A pre-tokenizer that starts with a `Metaspace` which marks and splits every word alike, as
/// cloze's does; a byte-level BPE's `Ġ` (only after a space) or a `first` scheme marks the first
/// word otherwise.
fn spaces_start_words(pre_tokenizer: &serde_json::Value) -> bool {
    let first = match pre_tokenizer.get("type").and_then(|t| t.as_str()) {
        Some("Sequence") => pre_tokenizer
            .get("pretokenizers")
            .and_then(|p| p.get(0))
            .unwrap_or(&serde_json::Value::Null),
        _ => pre_tokenizer,
    };
    first.get("type").and_then(|t| t.as_str()) == Some("Metaspace")
        && first.get("prepend_scheme").and_then(|t| t.as_str()) == Some("always")
        && first.get("split").and_then(|t| t.as_bool()) == Some(true)
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
