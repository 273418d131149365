//! WordPiece training that gives the same vocabulary, ids included, in every process, on any
//! thread count.
//!
//! HF `tokenizers`' `WordPieceTrainer` (its BPE trainer) counts words in a hash map seeded at random
//! per process, and gives each `##c` continuation piece the next free id the first time it meets
//! it while walking that map. Those ids then break ties between merges of equal count, so two runs
//! on the same text give other ids and, where a tie falls at the vocabulary's limit, other pieces.
//! The fix here keeps the crate's trainer and takes the randomness out of what it is given: words
//! are counted here (additively, so the thread count cannot matter), and every `##c` piece is put
//! in the vocabulary up front, in code-point order, through the trainer's list of reserved tokens.
//! The trainer then meets no new piece while walking its map, and its merges are ordered by count,
//! then by the ids of the pair: a function of the text alone.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Result, anyhow};
use compact_str::CompactString;
use rayon::prelude::*;
use tokenizers::models::bpe::{BPE, BpeTrainer};
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::{
    AddedToken, NormalizedString, Normalizer, OffsetReferential, OffsetType, PreTokenizedString,
    PreTokenizer, Tokenizer,
};

/// How often each pre-tokenized word occurs, as the tokenizer's normalizer and pre-tokenizer
/// split the text.
#[derive(Default)]
pub struct WordCounts(HashMap<String, u64>);

impl WordCounts {
    /// Counts the words of `segments` on all cores; the counts are sums, so the result does not
    /// depend on how the work is split.
    pub fn add_segments(&mut self, tokenizer: &Tokenizer, segments: &[String]) -> Result<()> {
        let chunk = segments
            .par_iter()
            .try_fold(HashMap::<String, u64>::new, |mut counts, segment| {
                for word in words(tokenizer, segment)? {
                    *counts.entry(word).or_default() += 1;
                }
                Ok::<_, anyhow::Error>(counts)
            })
            .try_reduce(HashMap::new, |a, b| {
                let (mut big, small) = if a.len() < b.len() { (b, a) } else { (a, b) };
                for (word, n) in small {
                    *big.entry(word).or_default() += n;
                }
                Ok(big)
            })?;
        for (word, n) in chunk {
            *self.0.entry(word).or_default() += n;
        }
        Ok(())
    }
}

/// The words of one segment after normalization and pre-tokenization, as `Tokenizer::train`
/// feeds its trainer.
fn words(tokenizer: &Tokenizer, segment: &str) -> Result<Vec<String>> {
    let mut normalized = NormalizedString::from(segment);
    if let Some(normalizer) = tokenizer.get_normalizer() {
        normalizer
            .normalize(&mut normalized)
            .map_err(|e| anyhow!("normalization failed: {e}"))?;
    }
    let mut pre_tokenized = PreTokenizedString::from(normalized);
    if let Some(pre_tokenizer) = tokenizer.get_pre_tokenizer() {
        pre_tokenizer
            .pre_tokenize(&mut pre_tokenized)
            .map_err(|e| anyhow!("pre-tokenization failed: {e}"))?;
    }
    Ok(pre_tokenized
        .get_splits(OffsetReferential::Original, OffsetType::Byte)
        .into_iter()
        .map(|(word, _, _)| word.to_owned())
        .collect())
}

/// What decides the trained vocabulary, beside the words.
pub struct WordPieceSettings<'a> {
    pub vocab_size: usize,
    pub min_frequency: u64,
    /// Reserved tokens, given the first ids in this order.
    pub special_tokens: &'a [&'a str],
    pub continuation_prefix: &'a str,
}

/// Trains a WordPiece vocabulary on `counts`: the special tokens, then every continuation piece
/// `##c` and every character, each in code-point order, then the merged pieces in merge order.
pub fn train_wordpiece(counts: WordCounts, settings: &WordPieceSettings) -> Result<WordPiece> {
    let mut continued = BTreeSet::new();
    for word in counts.0.keys() {
        continued.extend(word.chars().skip(1));
    }
    let reserved: Vec<AddedToken> = settings
        .special_tokens
        .iter()
        .map(|t| t.to_string())
        .chain(
            continued
                .iter()
                .map(|c| format!("{}{c}", settings.continuation_prefix)),
        )
        .map(|t| AddedToken::from(t, true))
        .collect();
    let trainer = BpeTrainer::builder()
        .vocab_size(settings.vocab_size)
        .min_frequency(settings.min_frequency)
        .special_tokens(reserved)
        .continuing_subword_prefix(settings.continuation_prefix.into())
        .show_progress(false)
        .build();
    let mut sorted: Vec<(String, u64)> = counts.0.into_iter().collect();
    sorted.sort_unstable();
    let word_counts: ahash::AHashMap<CompactString, u64> = sorted
        .into_iter()
        .map(|(word, n)| (CompactString::from(word), n))
        .collect();
    let mut bpe = BPE::default();
    trainer
        .do_train(&word_counts, &mut bpe)
        .map_err(|e| anyhow!("tokenizer training failed: {e}"))?;
    Ok(WordPiece::from_bpe(&bpe))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::Model;

    fn counts(words: &[(&str, u64)]) -> WordCounts {
        WordCounts(words.iter().map(|(w, n)| (w.to_string(), *n)).collect())
    }

    fn settings() -> WordPieceSettings<'static> {
        WordPieceSettings {
            vocab_size: 40,
            min_frequency: 1,
            special_tokens: &["[PAD]", "[UNK]"],
            continuation_prefix: "##",
        }
    }

    #[test]
    fn reserved_then_continuations_then_characters_then_merges() {
        let model =
            train_wordpiece(counts(&[("abab", 5), ("ba", 3), ("c", 1)]), &settings()).unwrap();
        let order: Vec<String> = (0..model.get_vocab_size() as u32)
            .map(|id| model.id_to_token(id).unwrap())
            .collect();
        assert_eq!(
            order[..7],
            ["[PAD]", "[UNK]", "##a", "##b", "a", "b", "c"].map(String::from)
        );
        // Ties between merges of equal count go to the pair of lower ids: (##a, ##b) first.
        assert_eq!(
            order[7..],
            ["##ab", "##bab", "abab", "ba"].map(String::from)
        );
    }

    #[test]
    fn equal_counts_give_the_same_vocabulary_whatever_the_word_order() {
        // Many pairs of equal count and a limit that cuts through them: the case where the
        // crate's own trainer depends on its hash map's order.
        let words: Vec<(String, u64)> = (0..200u32)
            .map(|i| {
                let a = char::from_u32('a' as u32 + i % 26).unwrap();
                let b = char::from_u32('a' as u32 + (i / 26) % 26).unwrap();
                (format!("{a}{b}{a}x{b}"), 2)
            })
            .collect();
        let vocab = |reversed: bool| {
            let mut list = words.clone();
            if reversed {
                list.reverse();
            }
            let counts = WordCounts(list.into_iter().collect());
            let settings = WordPieceSettings {
                vocab_size: 90,
                ..settings()
            };
            let mut v: Vec<_> = train_wordpiece(counts, &settings)
                .unwrap()
                .get_vocab()
                .into_iter()
                .collect();
            v.sort();
            v
        };
        let first = vocab(false);
        for _ in 0..5 {
            assert_eq!(vocab(true), first);
        }
    }
}
