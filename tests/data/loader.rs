use std::collections::HashMap;
use std::sync::Arc;

use cloze::data::loader::{Loader, LoaderConfig, LoaderPosition, ShardSet};
use cloze::data::manifest::{Manifest, ShardKind};
use cloze::data::shard::read_shard;
use cloze::data::tokenizer::{CLS_ID, PAD_ID, SEP_ID};

use crate::common::fixture;

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
    assert_eq!(saved.epoch, 0);
    assert!(
        saved.shard > 0 && saved.offset + saved.row + saved.document > 0,
        "{saved:?}"
    );
    let expected = sequences(&mut original, 1000);

    let json = serde_json::to_string(&saved).unwrap();
    let restored_position: LoaderPosition = serde_json::from_str(&json).unwrap();
    let mut resumed = Loader::start(set, config, restored_position);
    assert_eq!(sequences(&mut resumed, 1000), expected);
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
