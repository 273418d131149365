//! Statistical properties of the 80/10/10 masking on real text.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use cloze::data::batch::MaskedBatch;
use cloze::data::loader::{LoaderConfig, SequenceStream, ShardSet};
use cloze::data::masking::{IGNORE_LABEL, MaskingConfig, Replacement};
use cloze::data::position::LoaderPosition;
use cloze::data::tokenizer::VocabInfo;

use crate::common::fixture;

fn batches(
    shards: &Path,
    config: &LoaderConfig,
    min_candidates: usize,
) -> (Vec<MaskedBatch>, VocabInfo) {
    let set = Arc::new(ShardSet::open(shards, config).unwrap());
    let vocab = set.vocab().clone();
    let mut stream = SequenceStream::new(set, config.clone(), LoaderPosition::default());
    let mut out = Vec::new();
    let mut candidates = 0;
    while candidates < min_candidates {
        let batch = stream
            .next_batch()
            .unwrap()
            .expect("enough text for the sample");
        candidates += batch.special_mask.iter().filter(|&&s| !s).count();
        out.push(batch);
    }
    (out, vocab)
}

fn config(whole_word: bool) -> LoaderConfig {
    LoaderConfig {
        seq_len: 128,
        batch_size: 32,
        seed: 11,
        masking: MaskingConfig {
            whole_word,
            ..MaskingConfig::default()
        },
        ..LoaderConfig::default()
    }
}

#[test]
fn rates_match_15_percent_and_80_10_10_over_200k_candidates() {
    let drawn = check_masking_rates(&fixture().shards, 200_000);
    assert!(drawn.iter().all(|&id| id >= 7));
}

/// Checks the masking of the shards in `shards` over at least `min_candidates` candidates: a
/// selection rate of 0.15 and 80/10/10 among the selected, no special token or padding ever
/// selected, no special token drawn as a random replacement, nothing outside the selection
/// touched. Returns the ids drawn as random replacements.
pub(crate) fn check_masking_rates(shards: &Path, min_candidates: usize) -> BTreeSet<u32> {
    let (batches, vocab) = batches(shards, &config(false), min_candidates);
    let (mut candidates, mut selected, mut masked, mut random, mut unchanged) =
        (0usize, 0usize, 0, 0, 0);
    let mut drawn = BTreeSet::new();
    for b in &batches {
        candidates += b.special_mask.iter().filter(|&&s| !s).count();
        // Every sequence is framed by the vocabulary's own [CLS] and [SEP].
        for row in b.original_ids.chunks(b.seq_len) {
            let len = row
                .iter()
                .position(|&id| id == vocab.special.pad)
                .unwrap_or(b.seq_len);
            assert_eq!(
                (row[0], row[len - 1]),
                (vocab.special.cls, vocab.special.sep)
            );
        }
        for (row, picks) in b.selected.iter().enumerate() {
            for &(pos, kind) in picks {
                let i = row * b.seq_len + pos;
                assert!(
                    !b.special_mask[i] && !vocab.is_special(b.original_ids[i]),
                    "a special or padding position was selected"
                );
                assert_eq!(b.labels[i], b.original_ids[i] as i64);
                selected += 1;
                match kind {
                    Replacement::Mask => {
                        assert_eq!(b.input_ids[i], vocab.special.mask);
                        masked += 1;
                    }
                    Replacement::Random => {
                        assert!(
                            !vocab.is_special(b.input_ids[i]),
                            "a random replacement was special"
                        );
                        drawn.insert(b.input_ids[i]);
                        random += 1;
                    }
                    Replacement::Unchanged => {
                        assert_eq!(b.input_ids[i], b.original_ids[i]);
                        unchanged += 1;
                    }
                }
            }
        }
        // Nothing outside the selection is touched or labelled.
        for i in 0..b.labels.len() {
            if b.labels[i] == IGNORE_LABEL {
                assert_eq!(b.input_ids[i], b.original_ids[i]);
            }
        }
    }
    assert!(candidates >= min_candidates);
    let rate = selected as f64 / candidates as f64;
    let share = |n: usize| n as f64 / selected as f64;
    eprintln!(
        "{}: {candidates} candidates, selected {rate:.4}, [MASK] {:.4}, random {:.4}, unchanged {:.4}",
        shards.display(),
        share(masked),
        share(random),
        share(unchanged)
    );
    assert!((rate - 0.15).abs() <= 0.005, "selection rate {rate}");
    assert!(
        (share(masked) - 0.8).abs() <= 0.01,
        "[MASK] share {}",
        share(masked)
    );
    assert!(
        (share(random) - 0.1).abs() <= 0.01,
        "random share {}",
        share(random)
    );
    assert!(
        (share(unchanged) - 0.1).abs() <= 0.01,
        "unchanged share {}",
        share(unchanged)
    );
    drawn
}

#[test]
fn the_same_seed_repeats_the_masks_and_another_epoch_changes_them() {
    let (first, _) = batches(&fixture().shards, &config(false), 20_000);
    let (again, _) = batches(&fixture().shards, &config(false), 20_000);
    assert_eq!(first, again);

    // Without shuffling, epochs 0 and 1 hold the same sequences: only the masks may differ.
    let unshuffled = LoaderConfig {
        shuffle: false,
        batch_size: 64,
        ..config(false)
    };
    let set = Arc::new(ShardSet::open(&fixture().shards, &unshuffled).unwrap());
    let epoch = |e: u64| {
        let position = LoaderPosition {
            epoch: e,
            ..LoaderPosition::default()
        };
        SequenceStream::new(set.clone(), unshuffled.clone(), position)
            .next_batch()
            .unwrap()
            .unwrap()
    };
    let (zero, one) = (epoch(0), epoch(1));
    assert_eq!(zero.original_ids, one.original_ids);
    let differing = zero
        .selected
        .iter()
        .zip(&one.selected)
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        differing > 60,
        "only {differing} of 64 sequences got new masks"
    );
}

#[test]
fn whole_word_mode_never_splits_a_word() {
    let (batches, vocab) = batches(&fixture().shards, &config(true), 100_000);
    let mut words_with_pieces = 0;
    let (mut candidates, mut selected) = (0, 0);
    for b in &batches {
        candidates += b.special_mask.iter().filter(|&&s| !s).count();
        for row in 0..b.batch_size {
            let ids = &b.original_ids[row * b.seq_len..(row + 1) * b.seq_len];
            let special = &b.special_mask[row * b.seq_len..(row + 1) * b.seq_len];
            let labelled = |p: usize| b.labels[row * b.seq_len + p] != IGNORE_LABEL;
            for p in 1..b.seq_len {
                // A piece continuing a word must share its selection with the piece before it.
                if !special[p] && !special[p - 1] && vocab.is_continuation(ids[p]) {
                    words_with_pieces += 1;
                    assert_eq!(
                        labelled(p),
                        labelled(p - 1),
                        "word split at row {row} position {p}"
                    );
                }
                selected += usize::from(labelled(p));
            }
        }
    }
    assert!(words_with_pieces > 10_000);
    let rate = selected as f64 / candidates as f64;
    assert!(
        (rate - 0.15).abs() < 0.01,
        "whole-word selection rate {rate}"
    );
}
