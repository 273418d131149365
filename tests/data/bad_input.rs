//! Bad input through the CLI: each case fails with a message naming the culprit and leaves no
//! partial shard behind, or, where a line can be dropped, skips it and says so.

use std::path::Path;

use cloze::data::manifest::Manifest;

use crate::common::{cloze, fixture, scratch, stderr};

fn shard(input: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "shard",
        "--tokenizer",
        fixture().tokenizer.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--valid-fraction",
        "0",
    ];
    args.extend_from_slice(extra);
    cloze(&args)
}

/// Runs `cloze shard` on a file expected to be refused; checks the message and that no output
/// (nor a staging directory) was left.
fn refused(name: &str, contents: &[u8], extra: &[&str], expected: &[&str]) {
    let dir = scratch(&format!("refused-{name}"));
    let input = dir.join(name);
    std::fs::write(&input, contents).unwrap();
    let out = dir.join("out");
    let run = shard(&input, &out, extra);
    let message = stderr(&run);
    assert_eq!(run.status.code(), Some(1), "{message}");
    assert!(message.contains(name), "{message}");
    for e in expected {
        assert!(message.contains(e), "expected '{e}' in: {message}");
    }
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        [std::ffi::OsString::from(name)],
        "left behind: {left:?}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let dir = scratch("missing");
    let run = shard(&dir.join("nope.txt"), &dir.join("out"), &[]);
    assert_eq!(run.status.code(), Some(1));
    assert!(stderr(&run).contains("nope.txt"), "{}", stderr(&run));
    assert!(!dir.join("out").exists());
}

#[test]
fn empty_binary_and_unknown_column_inputs_are_refused() {
    refused("empty.txt", b"\n \n", &[], &["no text"]);
    refused(
        "blob.txt",
        b"\x7fELF\x02\x01\x01\0\0\0\0binary",
        &[],
        &["binary", "NUL"],
    );
    refused(
        "table.tsv",
        "ko\ten\n안녕\thello\n".as_bytes(),
        &["--column", "fr"],
        &["no column 'fr'", "ko, en"],
    );
    refused(
        "pairs.tsv",
        "ko\ten\n안녕\thello\n".as_bytes(),
        &["--src-column", "ko", "--tgt-column", "de"],
        &["no column 'de'"],
    );
}

#[test]
fn invalid_utf8_and_a_10_mb_line_are_skipped_and_reported() {
    let dir = scratch("skipped-lines");
    let input = dir.join("mixed.txt");
    let mut bytes = "첫 번째 문장입니다.\n".as_bytes().to_vec();
    bytes.extend_from_slice(b"caf\xe9 latin-1 line\n");
    bytes.extend(std::iter::repeat_n(b'a', 10 << 20));
    bytes.extend_from_slice("\nThe last line.\n".as_bytes());
    std::fs::write(&input, &bytes).unwrap();
    let out = dir.join("out");
    let run = shard(&input, &out, &[]);
    let message = stderr(&run);
    assert!(run.status.success(), "{message}");
    assert!(
        message.contains("mixed.txt:2") && message.contains("invalid UTF-8"),
        "{message}"
    );
    assert!(
        message.contains("mixed.txt:3") && message.contains("bytes skipped"),
        "{message}"
    );
    assert!(
        message.contains("skipped 1 lines of invalid UTF-8, 1 lines over the line-length limit"),
        "{message}"
    );
    let manifest = Manifest::load(&out).unwrap();
    assert_eq!(manifest.sources[0].invalid_utf8_lines, 1);
    assert_eq!(manifest.sources[0].long_lines, 1);
    assert_eq!(manifest.shards["train"][0].rows, 2);
}

#[test]
fn a_truncated_shard_and_a_foreign_shard_are_named_on_read() {
    let dir = scratch("damaged");
    let copy = dir.join("shards");
    copy_dir(&fixture().shards, &copy);
    let manifest = Manifest::load(&copy).unwrap();
    let first = copy.join(&manifest.shards["train"][0].file);

    let bytes = std::fs::read(&first).unwrap();
    std::fs::write(&first, &bytes[..bytes.len() - 100]).unwrap();
    inspect_fails(&copy, &["shard-00000.arrow", "truncated"]);

    // A shard written with another tokenizer, dropped in place of this one.
    let other = dir.join("other");
    let tok = dir.join("other-tokenizer.json");
    let corpus = dir.join("other.txt");
    std::fs::write(
        &corpus,
        "a small and different corpus\nwith other words in it\n",
    )
    .unwrap();
    let run = cloze(&[
        "tokenizer",
        "train",
        "--input",
        corpus.to_str().unwrap(),
        "--vocab-size",
        "60",
        "--min-frequency",
        "1",
        "--out",
        tok.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let run = cloze(&[
        "shard",
        "--tokenizer",
        tok.to_str().unwrap(),
        "--input",
        corpus.to_str().unwrap(),
        "--valid-fraction",
        "0",
        "--out",
        other.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    std::fs::copy(other.join("train/shard-00000.arrow"), &first).unwrap();
    inspect_fails(&copy, &["shard-00000.arrow", "modified", "bytes on disk"]);
    // Listed by a tool that records no sizes: the shard's own metadata gives it away on read.
    let mut unsized_manifest = manifest.clone();
    for entry in unsized_manifest.shards.values_mut().flatten() {
        entry.bytes = 0;
    }
    std::fs::write(
        copy.join("manifest.json"),
        serde_json::to_string(&unsized_manifest).unwrap(),
    )
    .unwrap();
    inspect_fails(&copy, &["shard-00000.arrow", "another tokenizer"]);

    // The whole directory paired with the wrong tokenizer file.
    std::fs::copy(&tok, copy.join("tokenizer.json")).unwrap();
    inspect_fails(&copy, &["another tokenizer", "tokenizer.json"]);
}

#[test]
fn inspect_prints_one_json_object_per_sequence() {
    let run = cloze(&[
        "inspect",
        "--shards",
        fixture().shards.to_str().unwrap(),
        "--batch-size",
        "4",
        "--batches",
        "2",
        "--seq-len",
        "32",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let lines: Vec<serde_json::Value> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 8);
    for line in &lines {
        for key in [
            "input_ids",
            "labels",
            "original_ids",
            "special_mask",
            "tokens",
        ] {
            assert_eq!(line[key].as_array().unwrap().len(), 32, "{key}");
        }
        assert!(line["labels"].as_array().unwrap().iter().any(|l| l != -100));
    }
}

/// Runs `cloze inspect` on a damaged shard directory, expecting exit 1 and these words.
fn inspect_fails(shards: &Path, expected: &[&str]) {
    let run = cloze(&[
        "inspect",
        "--shards",
        shards.to_str().unwrap(),
        "--no-shuffle",
    ]);
    let message = stderr(&run);
    assert_eq!(run.status.code(), Some(1), "{message}");
    for e in expected {
        assert!(message.contains(e), "expected '{e}' in: {message}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_killed_run_leaves_no_litter_after_the_next_run() {
    let dir = scratch("stale-staging");
    let input = dir.join("text.txt");
    std::fs::write(&input, "one line of text\n").unwrap();
    // What a `kill -9` during sharding leaves: a staging directory of a process that is gone.
    let stale = dir.join(".out.partial-4294967295");
    std::fs::create_dir_all(stale.join("train")).unwrap();
    std::fs::write(
        stale.join("train/.shard-00000.arrow.tmp-1"),
        b"half a shard",
    )
    .unwrap();
    let run = shard(&input, &dir.join("out"), &[]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(!stale.exists());
    let mut left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(left, ["out", "text.txt"]);
}
