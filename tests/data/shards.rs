use std::collections::HashSet;

use cloze::data::manifest::{Manifest, ShardKind};
use cloze::data::shard::read_shard;

use crate::common::{cloze, data, fixture, python, scratch, stderr};

const READ_WITH_PYARROW: &str = r#"
import json, sys
import pyarrow.ipc as ipc
root = sys.argv[1]
manifest = json.load(open(root + "/manifest.json"))
for split, entries in manifest["shards"].items():
    for e in entries:
        table = ipc.open_file(root + "/" + e["file"]).read_all()
        lengths = [len(v) for name in table.column_names if name.endswith("_ids") for v in table[name].to_pylist()]
        print(json.dumps({"file": e["file"], "rows": table.num_rows, "tokens": sum(lengths), "columns": table.column_names}))
"#;

fn check_with_pyarrow(root: &std::path::Path, columns: &[&str]) -> usize {
    let manifest = Manifest::load(root).unwrap();
    let out = python(READ_WITH_PYARROW, &[root.to_str().unwrap()]);
    let entries: Vec<_> = manifest.shards.values().flatten().collect();
    let seen: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(seen.len(), entries.len());
    for (entry, seen) in entries.iter().zip(&seen) {
        assert_eq!(seen["file"], entry.file.as_str());
        assert_eq!(seen["rows"], entry.rows);
        assert_eq!(seen["tokens"], entry.tokens);
        let mut expected: Vec<&str> = columns.to_vec();
        expected.push("doc_id");
        assert_eq!(seen["columns"], serde_json::json!(expected));
    }
    entries.len()
}

#[test]
fn pyarrow_reads_every_shard_and_counts_match_the_manifest() {
    let root = &fixture().shards;
    let shards = check_with_pyarrow(root, &["input_ids"]);
    assert!(shards >= 10, "{shards} shards");
}

#[test]
fn the_valid_split_shares_no_document_with_train() {
    let root = &fixture().shards;
    let manifest = Manifest::load(root).unwrap();
    let docs = |split: &str| -> HashSet<u64> {
        manifest.shards[split]
            .iter()
            .flat_map(|e| {
                read_shard(root, e, ShardKind::Monolingual, &manifest.tokenizer.sha256)
                    .unwrap()
                    .doc_ids
            })
            .collect()
    };
    let (train, valid) = (docs("train"), docs("valid"));
    assert!(train.is_disjoint(&valid));
    let fraction = valid.len() as f64 / (train.len() + valid.len()) as f64;
    assert!(
        (0.045..0.055).contains(&fraction),
        "valid fraction {fraction}"
    );
    let documents: u64 = manifest.sources.iter().map(|s| s.documents).sum();
    assert_eq!(documents as usize, train.len() + valid.len());
}

#[test]
fn pair_shards_hold_source_and_target_ids() {
    let dir = scratch("pairs");
    let out = dir.join("pairs");
    let run = cloze(&[
        "shard",
        "--tokenizer",
        fixture().tokenizer.to_str().unwrap(),
        "--input",
        data("ko-en.dev.tsv.gz").to_str().unwrap(),
        "--src-column",
        "ko",
        "--tgt-column",
        "en",
        "--valid-fraction",
        "0.1",
        "--rows-per-shard",
        "300",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let manifest = Manifest::load(&out).unwrap();
    assert_eq!(manifest.kind, ShardKind::Pairs);
    let rows: u64 = manifest.shards.values().flatten().map(|e| e.rows).sum();
    assert_eq!(rows, 1000);
    check_with_pyarrow(&out, &["src_ids", "tgt_ids"]);
}
