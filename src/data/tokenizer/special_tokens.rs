//! Which ids of a vocabulary play which special role (padding, framing, masking, decoding), read
//! from the tokenizer itself rather than assumed: cloze's own vocabularies put `[PAD]` to `[EOS]`
//! at ids 0 to 6, Google's BERT vocabularies put `[PAD]` at 0 and `[CLS]` at 101, ModernBERT's BPE
//! vocabulary puts its specials above 50,000.
//!
//! How a role's token is found is `role_names`' part.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokenizers::Tokenizer;

use super::role_names::{BOS, CLS, EOS, MASK, PAD, RoleFinder, SEP, UNK};
use super::{BOS_ID, CLS_ID, EOS_ID, MASK_ID, PAD_ID, SEP_ID, SPECIAL_TOKENS, UNK_ID};

/// The special tokens of one vocabulary, by role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialTokens {
    /// Fills batches to one length; its targets are left out of the loss.
    pub pad: u32,
    /// Stands for what the vocabulary cannot spell (byte-level BPE has none).
    pub unk: Option<u32>,
    /// Opens an encoder input.
    pub cls: u32,
    /// Closes an encoder input and separates documents packed into one.
    pub sep: u32,
    /// Hides a token from the encoder.
    pub mask: u32,
    /// Starts a decoded output; without it the decoder starts from `cls`, as BERT2BERT does.
    pub bos: Option<u32>,
    /// Ends a decoded output; without it `sep` does.
    pub eos: Option<u32>,
    /// Every id the tokenizer marks special, the roles' among them, ascending: never selected for
    /// masking, never drawn as a random replacement.
    pub all: Vec<u32>,
}

impl SpecialTokens {
    /// The layout of every vocabulary cloze trains: `[PAD]` to `[EOS]` at ids 0 to 6.
    pub fn cloze() -> Self {
        Self {
            pad: PAD_ID,
            unk: Some(UNK_ID),
            cls: CLS_ID,
            sep: SEP_ID,
            mask: MASK_ID,
            bos: Some(BOS_ID),
            eos: Some(EOS_ID),
            all: (0..SPECIAL_TOKENS.len() as u32).collect(),
        }
    }

    /// Reads the roles of `tokenizer`, loaded from `path`; refused, naming the file and the role,
    /// when `[PAD]`, `[CLS]`, `[SEP]` or `[MASK]` cannot be found or a named token is not in the
    /// vocabulary.
    pub fn resolve(tokenizer: &Tokenizer, json: &Value, path: &Path) -> Result<Self> {
        let roles = RoleFinder::new(tokenizer, json, path)?;
        let (framed_cls, framed_sep) = roles.framing();
        let pad = roles.required(&PAD, None)?;
        let cls = roles.required(&CLS, framed_cls)?;
        let sep = roles.required(&SEP, framed_sep)?;
        let mask = roles.required(&MASK, None)?;
        let unk = roles.find(&UNK, None)?;
        let bos = roles.find(&BOS, None)?;
        let eos = roles.find(&EOS, None)?;
        let mut all: BTreeSet<u32> = tokenizer
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, token)| token.special)
            .map(|(id, _)| id)
            .collect();
        all.extend(
            [Some(pad), unk, Some(cls), Some(sep), Some(mask), bos, eos]
                .into_iter()
                .flatten(),
        );
        Ok(Self {
            pad,
            unk,
            cls,
            sep,
            mask,
            bos,
            eos,
            all: all.into_iter().collect(),
        })
    }

    pub fn is_special(&self, id: u32) -> bool {
        self.all.binary_search(&id).is_ok()
    }

    /// The first token a decoder reads.
    pub fn decoder_start(&self) -> u32 {
        self.bos.unwrap_or(self.cls)
    }

    /// The token that ends a decoder's output.
    pub fn decoder_end(&self) -> u32 {
        self.eos.unwrap_or(self.sep)
    }

    /// How many ids of a vocabulary of `vocab_size` are not special.
    pub fn regular_count(&self, vocab_size: usize) -> u32 {
        let inside = self
            .all
            .iter()
            .filter(|&&id| (id as usize) < vocab_size)
            .count();
        (vocab_size - inside) as u32
    }

    /// The `k`-th id that is not special, counting from 0: a uniform draw of `k` below
    /// [`Self::regular_count`] is a uniform draw of a regular token.
    pub fn nth_regular(&self, k: u32) -> u32 {
        let mut id = k;
        for &special in &self.all {
            if special > id {
                break;
            }
            id += 1;
        }
        id
    }

    /// The roles as HF's `special_tokens_map.json` writes them.
    pub fn to_map(&self, tokenizer: &Tokenizer) -> Value {
        let mut map = serde_json::Map::new();
        let roles = [
            (PAD.key, Some(self.pad)),
            (UNK.key, self.unk),
            (CLS.key, Some(self.cls)),
            (SEP.key, Some(self.sep)),
            (MASK.key, Some(self.mask)),
            (BOS.key, self.bos),
            (EOS.key, self.eos),
        ];
        for (key, id) in roles {
            if let Some(token) = id.and_then(|id| tokenizer.id_to_token(id)) {
                map.insert(key.to_owned(), Value::String(token));
            }
        }
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::super::training::untrained_tokenizer;
    use super::super::{ClozeTokenizer, SPECIAL_TOKENS_MAP_FILE, TokenizerConfig};
    use super::*;
    use tokenizers::AddedToken;

    /// Writes cloze's untrained pipeline with `specials` added, in order from id 0.
    fn write_tokenizer(dir: &Path, specials: &[&str]) -> std::path::PathBuf {
        let mut tokenizer = untrained_tokenizer(&TokenizerConfig::default()).unwrap();
        let added: Vec<AddedToken> = specials
            .iter()
            .map(|t| AddedToken::from(*t, true))
            .collect();
        tokenizer.add_special_tokens(&added);
        let path = dir.join("tokenizer.json");
        std::fs::write(&path, tokenizer.to_string(false).unwrap()).unwrap();
        path
    }

    #[test]
    fn cloze_s_own_layout_is_found_by_its_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_tokenizer(dir.path(), &SPECIAL_TOKENS);
        let tokenizer = ClozeTokenizer::load(&path).unwrap();
        assert_eq!(tokenizer.special(), &SpecialTokens::cloze());
        // Written out and read back beside a copy, the roles stay.
        let copy = tempfile::tempdir().unwrap();
        tokenizer.files().write_into(copy.path()).unwrap();
        let again = ClozeTokenizer::load(&copy.path().join("tokenizer.json")).unwrap();
        assert_eq!(again.special(), tokenizer.special());
    }

    #[test]
    fn a_tokenizer_without_a_mask_token_is_refused_naming_the_file_and_the_role() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_tokenizer(dir.path(), &["[PAD]", "[UNK]", "[CLS]", "[SEP]"]);
        let err = format!("{:#}", ClozeTokenizer::load(&path).err().unwrap());
        assert!(
            err.contains("tokenizer.json") && err.contains("mask_token"),
            "{err}"
        );
    }

    #[test]
    fn the_hf_files_beside_name_the_roles_and_a_name_outside_the_vocabulary_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_tokenizer(dir.path(), &["<pad>", "[CLS]", "[SEP]", "[MASK]", "<mask>"]);
        let map = dir.path().join(SPECIAL_TOKENS_MAP_FILE);
        std::fs::write(
            &map,
            r#"{"mask_token": {"content": "<mask>", "lstrip": true}}"#,
        )
        .unwrap();
        let special = ClozeTokenizer::load(&path).unwrap().special().clone();
        assert_eq!((special.pad, special.mask), (0, 4));
        assert_eq!(special.all, [0, 1, 2, 3, 4]);

        std::fs::write(
            dir.path().join("tokenizer_config.json"),
            r#"{"pad_token": "[PAD]"}"#,
        )
        .unwrap();
        let err = format!("{:#}", ClozeTokenizer::load(&path).err().unwrap());
        assert!(
            err.contains("tokenizer_config.json")
                && err.contains("pad_token")
                && err.contains("[PAD]"),
            "{err}"
        );
    }

    #[test]
    fn regular_ids_skip_every_special_one() {
        let special = SpecialTokens {
            all: vec![0, 3, 4, 9],
            ..SpecialTokens::cloze()
        };
        assert_eq!(special.regular_count(10), 6);
        let regular: Vec<u32> = (0..6).map(|k| special.nth_regular(k)).collect();
        assert_eq!(regular, [1, 2, 5, 6, 7, 8]);
    }
}
