//! BERT's cloze corruption: select 15% of the candidate positions (at least one), then replace
//! 80% of the selected with `[MASK]`, 10% with a random non-special token, and keep 10% unchanged.
//!
//! Candidates are the positions that hold neither a special token nor padding. Each sequence draws
//! from its own ChaCha8 stream keyed by (seed, epoch, global sequence index), so the masks of a run
//! are reproducible, differ between epochs, and a resumed run sees the masks it would have seen.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::tokenizer::VocabInfo;

/// The label of a position the loss ignores (PyTorch's and HF's convention).
pub const IGNORE_LABEL: i64 = -100;

/// How sequences are corrupted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaskingConfig {
    /// Fraction of candidate positions selected for prediction.
    pub mask_prob: f64,
    /// Of the selected, the fraction replaced by `[MASK]`.
    pub mask_token_prob: f64,
    /// Of the selected, the fraction replaced by a random non-special token.
    pub random_token_prob: f64,
    /// Select whole words: a word's pieces are all selected or none.
    pub whole_word: bool,
}

impl Default for MaskingConfig {
    fn default() -> Self {
        Self {
            mask_prob: 0.15,
            mask_token_prob: 0.8,
            random_token_prob: 0.1,
            whole_word: false,
        }
    }
}

impl MaskingConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(self.mask_prob > 0.0 && self.mask_prob <= 1.0) {
            anyhow::bail!("mask_prob must be in (0, 1], got {}", self.mask_prob);
        }
        let (m, r) = (self.mask_token_prob, self.random_token_prob);
        if !(0.0..=1.0).contains(&m) || !(0.0..=1.0).contains(&r) || m + r > 1.0 {
            anyhow::bail!(
                "mask_token_prob ({m}) and random_token_prob ({r}) must be in [0, 1] and sum to at most 1"
            );
        }
        Ok(())
    }
}

/// What happened to a selected position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Replacement {
    Mask,
    Random,
    Unchanged,
}

/// One corrupted sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaskedSequence {
    pub input_ids: Vec<u32>,
    /// The original id at selected positions, [`IGNORE_LABEL`] elsewhere.
    pub labels: Vec<i64>,
    /// `(position, replacement)` of every selected position, in position order.
    pub selected: Vec<(usize, Replacement)>,
}

/// The RNG of one sequence: the key holds seed, epoch and index verbatim, so no two collide.
pub fn sequence_rng(seed: u64, epoch: u64, sequence: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&epoch.to_le_bytes());
    key[16..24].copy_from_slice(&sequence.to_le_bytes());
    key[24..].copy_from_slice(b"clozemsk");
    ChaCha8Rng::from_seed(key)
}

/// Groups candidate positions into the units that are selected together: single positions, or
/// whole words (a piece and the `##` pieces that follow it) in whole-word mode.
fn selection_units(ids: &[u32], vocab: &VocabInfo, whole_word: bool) -> Vec<Vec<usize>> {
    let mut units: Vec<Vec<usize>> = Vec::new();
    let mut previous_candidate = false;
    for (pos, &id) in ids.iter().enumerate() {
        let candidate = !vocab.is_special(id);
        if candidate {
            let continues = whole_word && previous_candidate && vocab.is_continuation(id);
            match units.last_mut() {
                Some(unit) if continues => unit.push(pos),
                _ => units.push(vec![pos]),
            }
        }
        previous_candidate = candidate;
    }
    units
}

/// Corrupts one sequence (`ids` without padding is fine; padding and specials are never selected).
pub fn mask_sequence(
    ids: &[u32],
    vocab: &VocabInfo,
    config: &MaskingConfig,
    rng: &mut ChaCha8Rng,
) -> MaskedSequence {
    let mut units = selection_units(ids, vocab, config.whole_word);
    let candidates: usize = units.iter().map(Vec::len).sum();
    let mut input_ids = ids.to_vec();
    let mut labels = vec![IGNORE_LABEL; ids.len()];
    let mut selected = Vec::new();
    if candidates == 0 {
        return MaskedSequence {
            input_ids,
            labels,
            selected,
        };
    }
    let target = ((config.mask_prob * candidates as f64).round() as usize).max(1);
    units.shuffle(rng);
    let mut chosen: Vec<usize> = Vec::with_capacity(target);
    for unit in &units {
        if chosen.len() >= target {
            break;
        }
        // A word that would overshoot the target is passed over (as in Google's BERT), unless
        // nothing has been chosen yet: every sequence gets at least one prediction.
        if chosen.len() + unit.len() > target && !chosen.is_empty() {
            continue;
        }
        chosen.extend_from_slice(unit);
    }
    chosen.sort_unstable();
    let regular = vocab.special.regular_count(vocab.vocab_size);
    for pos in chosen {
        labels[pos] = ids[pos] as i64;
        let draw: f64 = rng.random();
        let replacement = if draw < config.mask_token_prob {
            input_ids[pos] = vocab.special.mask;
            Replacement::Mask
        } else if draw < config.mask_token_prob + config.random_token_prob {
            input_ids[pos] = vocab.special.nth_regular(rng.random_range(0..regular));
            Replacement::Random
        } else {
            Replacement::Unchanged
        };
        selected.push((pos, replacement));
    }
    MaskedSequence {
        input_ids,
        labels,
        selected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tokenizer::{CLS_ID, PAD_ID, SEP_ID, SpecialTokens};

    fn vocab(size: usize) -> VocabInfo {
        let mut continuation = vec![false; size];
        for (i, c) in continuation.iter_mut().enumerate() {
            *c = i % 3 == 0 && i >= 7;
        }
        VocabInfo {
            vocab_size: size,
            continuation,
            special: SpecialTokens::cloze(),
        }
    }

    /// Google's BERT layout: `[PAD]` 0, `[unused]` rows, `[UNK]` 100 to `[MASK]` 103.
    #[test]
    fn a_random_replacement_is_any_regular_token_and_never_a_special_one() {
        let special = SpecialTokens {
            pad: 0,
            unk: Some(100),
            cls: 101,
            sep: 102,
            mask: 103,
            bos: None,
            eos: None,
            all: vec![0, 100, 101, 102, 103],
        };
        let v = VocabInfo {
            vocab_size: 120,
            continuation: vec![false; 120],
            special,
        };
        let ids: Vec<u32> = [101].into_iter().chain(104..120).chain([102]).collect();
        let config = MaskingConfig {
            mask_token_prob: 0.0,
            random_token_prob: 1.0,
            mask_prob: 1.0,
            ..MaskingConfig::default()
        };
        let mut drawn = std::collections::BTreeSet::new();
        for s in 0..200 {
            let m = mask_sequence(&ids, &v, &config, &mut sequence_rng(s, 0, 0));
            assert_eq!(m.selected.len(), ids.len() - 2);
            for &(pos, _) in &m.selected {
                assert!(!v.is_special(ids[pos]));
                drawn.insert(m.input_ids[pos]);
            }
        }
        let regular: std::collections::BTreeSet<u32> = (1..100).chain(104..120).collect();
        assert_eq!(drawn, regular);
    }

    #[test]
    fn specials_and_padding_are_never_selected_and_one_is_always_chosen() {
        let v = vocab(100);
        let ids = [CLS_ID, 50, SEP_ID, PAD_ID, PAD_ID];
        for s in 0..50 {
            let m = mask_sequence(
                &ids,
                &v,
                &MaskingConfig::default(),
                &mut sequence_rng(s, 0, 0),
            );
            assert_eq!(m.selected.len(), 1);
            assert_eq!(m.selected[0].0, 1);
            assert_eq!(
                m.labels,
                [IGNORE_LABEL, 50, IGNORE_LABEL, IGNORE_LABEL, IGNORE_LABEL]
            );
        }
        let only_specials = mask_sequence(
            &[CLS_ID, SEP_ID],
            &v,
            &MaskingConfig::default(),
            &mut sequence_rng(0, 0, 0),
        );
        assert!(only_specials.selected.is_empty());
    }

    #[test]
    fn whole_words_are_selected_together() {
        let v = vocab(100);
        // 10 is a word start, 12 and 15 continue it (multiples of 3).
        let ids: Vec<u32> = [CLS_ID]
            .into_iter()
            .chain((0..40).flat_map(|_| [10, 12, 15, 20]))
            .chain([SEP_ID])
            .collect();
        let config = MaskingConfig {
            whole_word: true,
            ..MaskingConfig::default()
        };
        for s in 0..20 {
            let m = mask_sequence(&ids, &v, &config, &mut sequence_rng(s, 1, 2));
            let picked: Vec<usize> = m.selected.iter().map(|p| p.0).collect();
            for &p in &picked {
                match ids[p] {
                    10 => assert!(picked.contains(&(p + 1)) && picked.contains(&(p + 2))),
                    12 => assert!(picked.contains(&(p - 1))),
                    _ => {}
                }
            }
        }
    }
}
