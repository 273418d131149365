//! Encoding with a cache of words: the same ids as the tokenizer, several times faster on corpora,
//! where most words repeat.
//!
//! HF `tokenizers` runs its whole pipeline (normalizer, pre-tokenizers, WordPiece) on every
//! occurrence of every word; it has no word cache for WordPiece. In cloze's pipeline a word
//! between single spaces is encoded exactly as it would be alone (`▁` is prepended to every word,
//! and neither normalization nor splitting looks across a space), so a text of such words is the
//! concatenation of its cached words. Texts where that could differ are passed to the tokenizer
//! whole: any whitespace other than single spaces between words, special-token strings, and words
//! that normalize to nothing. The tests compare both paths on every line of the shipped corpora.

use std::collections::{HashMap, HashSet};

use anyhow::{Result, anyhow};
use rayon::prelude::*;

use crate::data::tokenizer::ClozeTokenizer;

/// The cache is emptied when it holds this many words, to bound memory on huge corpora.
const MAX_WORDS: usize = 2_000_000;

/// Encodes batches of texts for one tokenizer, remembering the ids of every word seen.
pub struct CachedEncoder<'a> {
    tokenizer: &'a ClozeTokenizer,
    words: HashMap<String, Vec<u32>>,
    /// The added tokens' texts: a text holding one goes to the tokenizer whole.
    added: Vec<String>,
}

/// The words of a text if it is a plain run of words separated by single spaces.
fn plain_words<'t>(text: &'t str, added: &[String]) -> Option<Vec<&'t str>> {
    if text.is_empty() || text.starts_with(' ') || text.ends_with(' ') || text.contains("  ") {
        return None;
    }
    if text
        .chars()
        .any(|c| c != ' ' && (c.is_whitespace() || c.is_control()))
    {
        return None;
    }
    if added.iter().any(|t| text.contains(t.as_str())) {
        return None;
    }
    Some(text.split(' ').collect())
}

impl<'a> CachedEncoder<'a> {
    pub fn new(tokenizer: &'a ClozeTokenizer) -> Self {
        Self {
            tokenizer,
            words: HashMap::new(),
            added: tokenizer.added_token_texts(),
        }
    }

    /// Ids of each text, without `[CLS]`/`[SEP]`: equal to [`ClozeTokenizer::encode_batch`].
    /// A tokenizer whose words encode otherwise alone (a byte-level BPE) gets every text whole.
    pub fn encode_batch(&mut self, texts: &[String]) -> Result<Vec<Vec<u32>>> {
        if !self.tokenizer.words_encode_alone() {
            return self.tokenizer.encode_batch(texts.to_vec());
        }
        if self.words.len() > MAX_WORDS {
            self.words.clear();
        }
        let added = &self.added;
        let split: Vec<Option<Vec<&str>>> =
            texts.par_iter().map(|t| plain_words(t, added)).collect();
        let new_words: Vec<String> = split
            .iter()
            .flatten()
            .flatten()
            .filter(|w| !self.words.contains_key(**w))
            .copied()
            .collect::<HashSet<&str>>()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let new_ids = self.tokenizer.encode_batch(new_words.clone())?;
        self.words.extend(new_words.into_iter().zip(new_ids));

        let words = &self.words;
        let cached: Vec<Option<Vec<u32>>> = split
            .par_iter()
            .map(|words_of_text| {
                let mut ids = Vec::new();
                for word in words_of_text.as_ref()? {
                    let word_ids = words.get(*word)?;
                    // A word that normalizes to nothing changes its neighbours' spacing.
                    if word_ids.is_empty() {
                        return None;
                    }
                    ids.extend_from_slice(word_ids);
                }
                Some(ids)
            })
            .collect();
        let fallback: Vec<usize> = (0..texts.len()).filter(|&i| cached[i].is_none()).collect();
        let mut fallback_ids = self
            .tokenizer
            .encode_batch(fallback.iter().map(|&i| texts[i].clone()).collect())?
            .into_iter();
        cached
            .into_iter()
            .map(|ids| match ids {
                Some(ids) => Ok(ids),
                None => fallback_ids
                    .next()
                    .ok_or_else(|| anyhow!("fallback encoding lost a text")),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::corpus::ReadOptions;
    use crate::data::tokenizer::{TokenizerConfig, train_tokenizer};

    #[test]
    fn cached_ids_equal_the_tokenizer_on_awkward_text() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.txt");
        std::fs::write(&input, "hello world\n안녕 세상\ncafé (F) now?\n").unwrap();
        let path = dir.path().join("tok.json");
        let config = TokenizerConfig {
            vocab_size: 200,
            min_frequency: 1,
            ..TokenizerConfig::default()
        };
        train_tokenizer(&[input], &ReadOptions::default(), &config, &path).unwrap();
        let tokenizer = ClozeTokenizer::load(&path).unwrap();
        let texts: Vec<String> = [
            "hello world",
            "hello  world",
            " hello world ",
            "hello\tworld",
            "hello\u{a0}world",
            "hello \u{200b} world",
            "hello \u{a0}world",
            "\u{200b}hello world\u{200b}",
            "hello [MASK] world",
            "hello[MASK]world",
            "[UNK]",
            "안녕 세상 cafe\u{301}",
            "e\u{301}\u{323} x",
            "",
            " ",
            "(F) now?hello",
            "x\u{1}y",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut encoder = CachedEncoder::new(&tokenizer);
        let expected = tokenizer.encode_batch(texts.clone()).unwrap();
        assert_eq!(encoder.encode_batch(&texts).unwrap(), expected);
        // A second pass is served from the cache and must agree too.
        assert_eq!(encoder.encode_batch(&texts).unwrap(), expected);
    }
}
