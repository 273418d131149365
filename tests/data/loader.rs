use std::collections::HashMap;
use std::sync::Arc;

use cloze::data::loader::{Loader, LoaderConfig, ShardSet};
use cloze::data::manifest::{Manifest, ShardKind};
use cloze::data::position::LoaderPosition;
use cloze::data::shard::read_shard;
use cloze::data::tokenizer::{CLS_ID, ClozeTokenizer, PAD_ID, SEP_ID};

use crate::common::{fixture, quickstart_fixture};

fn sequences(loader: &mut Loader, n: usize) -> Vec<(Vec<u32>, Vec<i64>)> {
    let mut out = Vec::new();
    while out.len() < n {
        let b = loader.next().expect("stream ended").unwrap();
        for row in 0..b.batch_size {
            let r = row * b.seq_len..(row + 1) * b.seq_len;
            out.push((b.input_ids[r.clone()].to_vec(), b.labels[r].to_vec()));
        }
    }
    out.truncate(n);
    out
}

#[test]
fn a_restored_position_continues_the_stream_exactly() {
    let config = LoaderConfig {
        seq_len: 64,
        batch_size: 8,
        seed: 5,
        ..LoaderConfig::default()
    };
    let set = Arc::new(ShardSet::open(&fixture().shards, &config).unwrap());
    let mut original = Loader::start(set.clone(), config.clone(), LoaderPosition::default());
    sequences(&mut original, 8 * 777);
    let saved = original.position();
    assert_eq!((saved.epoch, saved.sequence), (0, 8 * 777));
    let expected = sequences(&mut original, 1000);

    let json = serde_json::to_string(&saved).unwrap();
    let restored_position: LoaderPosition = serde_json::from_str(&json).unwrap();
    let mut resumed = Loader::start(set, config, restored_position);
    assert_eq!(sequences(&mut resumed, 1000), expected);

    // A position of the loader before mixing does not pass for one of this loader.
    let old = r#"{"epoch":0,"shard":1,"document":5,"row":0,"offset":3,"sequence":99}"#;
    assert!(serde_json::from_str::<LoaderPosition>(old).is_err());
}

/// The share of sequences holding Hangul among the first `batches` batches that pretraining
/// would read, against its share in the whole train split: every source is in the stream, in
/// proportion, from the first step (the quickstart's shards hold the Korean in one shard of two).
#[test]
fn the_first_batches_mix_the_sources_in_their_proportions() {
    let fixture = quickstart_fixture();
    let share = |config: &LoaderConfig, batches: usize| {
        hangul_share(&fixture.shards, &fixture.tokenizer, config, batches)
    };
    let pretraining = |seed| LoaderConfig {
        seq_len: 64,
        batch_size: 16,
        seed,
        ..LoaderConfig::default()
    };
    for seed in 0..4 {
        // A packed sequence holds several short lines, so the share is taken over sequences
        // packed the same way: the whole epoch of the same stream.
        let whole = share(
            &LoaderConfig {
                epochs: Some(1),
                ..pretraining(seed)
            },
            usize::MAX,
        );
        assert!(whole > 0.1 && whole < 0.9, "{whole}");
        let first = share(&pretraining(seed), 50);
        assert!(
            (first / whole - 1.0).abs() <= 0.25,
            "seed {seed}: {first:.3} of the first 50 batches' sequences hold Hangul, {whole:.3} of \
             the split's"
        );
    }
}

/// The share of sequences holding Hangul in the first `batches` batches of a loader.
fn hangul_share(
    shards: &std::path::Path,
    tokenizer: &std::path::Path,
    config: &LoaderConfig,
    batches: usize,
) -> f64 {
    let tokenizer = ClozeTokenizer::load(tokenizer).unwrap();
    let hangul: Vec<bool> = (0..tokenizer.vocab_size() as u32)
        .map(|id| tokenizer.token(id).chars().any(is_hangul))
        .collect();
    let set = Arc::new(ShardSet::open(shards, config).unwrap());
    let (mut with, mut all) = (0usize, 0usize);
    for batch in Loader::start(set, config.clone(), LoaderPosition::default()).take(batches) {
        let b = batch.unwrap();
        for row in b.original_ids.chunks(b.seq_len) {
            all += 1;
            with += usize::from(row.iter().any(|&id| hangul[id as usize]));
        }
    }
    with as f64 / all as f64
}

/// The same through `cloze inspect`: what a user sees of the stream's first 50 batches (8 x 128).
#[test]
fn cloze_inspect_shows_the_sources_mixed_from_the_first_batch() {
    let fixture = quickstart_fixture();
    for seed in 0..4u64 {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_cloze"))
            .args([
                "inspect",
                "--batches",
                "50",
                "--seed",
                &seed.to_string(),
                "--shards",
            ])
            .arg(&fixture.shards)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 400);
        // The original ids: `tokens` shows the masked input, whose random replacements may be
        // Hangul pieces in any sequence.
        let tokenizer = ClozeTokenizer::load(&fixture.tokenizer).unwrap();
        let with = lines
            .iter()
            .filter(|l| {
                l["original_ids"].as_array().unwrap().iter().any(|id| {
                    let token = tokenizer.token(id.as_u64().unwrap() as u32);
                    token.chars().any(is_hangul)
                })
            })
            .count();
        let first = with as f64 / lines.len() as f64;
        let config = LoaderConfig {
            seed,
            epochs: Some(1),
            ..LoaderConfig::default()
        };
        let whole = hangul_share(&fixture.shards, &fixture.tokenizer, &config, usize::MAX);
        assert!(
            (first / whole - 1.0).abs() <= 0.25,
            "seed {seed}: cloze inspect shows {first:.3} of sequences with Hangul, the epoch {whole:.3}"
        );
    }
}

fn is_hangul(c: char) -> bool {
    matches!(c, '\u{1100}'..='\u{11FF}' | '\u{3130}'..='\u{318F}' | '\u{AC00}'..='\u{D7A3}')
}

#[test]
fn every_token_appears_exactly_once_per_epoch() {
    let root = &fixture().shards;
    let config = LoaderConfig {
        seq_len: 100,
        batch_size: 16,
        seed: 3,
        epochs: Some(2),
        ..LoaderConfig::default()
    };
    let set = Arc::new(ShardSet::open(root, &config).unwrap());
    let manifest = Manifest::load(root).unwrap();
    let mut expected: HashMap<u32, i64> = HashMap::new();
    for entry in &manifest.shards["train"] {
        let rows = read_shard(
            root,
            entry,
            ShardKind::Monolingual,
            &manifest.tokenizer.sha256,
        )
        .unwrap();
        for i in 0..rows.len() {
            for &id in rows.columns[0].row(i) {
                *expected.entry(id).or_default() += 1;
            }
        }
    }
    let mut seen: [HashMap<u32, i64>; 2] = Default::default();
    let mut short = [0usize; 2];
    let mut last_epoch_batch = [0usize; 2];
    for batch in Loader::start(set, config, LoaderPosition::default()) {
        let b = batch.unwrap();
        let e = b.epoch as usize;
        for row in 0..b.batch_size {
            let ids = &b.original_ids[row * b.seq_len..(row + 1) * b.seq_len];
            assert_eq!(ids[0], CLS_ID);
            let len = ids.iter().position(|&i| i == PAD_ID).unwrap_or(b.seq_len);
            assert_eq!(ids[len - 1], SEP_ID);
            short[e] += usize::from(len < b.seq_len - 1);
            for &id in &ids[1..len - 1] {
                if id != SEP_ID {
                    *seen[e].entry(id).or_default() += 1;
                }
            }
        }
        last_epoch_batch[e] = b.batch_size;
    }
    for e in 0..2 {
        assert_eq!(seen[e], expected, "epoch {e}");
        // Packing wastes no more than the final sequence of the epoch.
        assert!(short[e] <= 1, "epoch {e}: {} short sequences", short[e]);
        assert!(last_epoch_batch[e] >= 1);
    }
}

#[test]
fn workers_read_disjoint_shards_that_cover_the_split() {
    let root = &fixture().shards;
    let base = LoaderConfig {
        world: 2,
        ..LoaderConfig::default()
    };
    let total: u64 = (0..2)
        .map(|rank| {
            ShardSet::open(
                root,
                &LoaderConfig {
                    rank,
                    ..base.clone()
                },
            )
            .unwrap()
            .tokens()
        })
        .sum();
    assert_eq!(total, Manifest::load(root).unwrap().total_tokens("train"));
}
