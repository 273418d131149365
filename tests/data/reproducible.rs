//! What the README promises is reproducible before training: a trained `tokenizer.json` and the
//! shards written with it are the same bytes in any process and with any number of threads, on
//! the shipped corpora with the quickstart's settings.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{quickstart_fixture, scratch};

/// Runs cloze with rayon limited to `threads` and checks it succeeded.
fn cloze_with_threads(threads: &str, args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_cloze"))
        .args(args)
        .env("RAYON_NUM_THREADS", threads)
        .output()
        .expect("run cloze");
    assert!(
        output.status.success(),
        "cloze {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every file below `dir`, relative to it, with its bytes, in a stable order.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path.strip_prefix(dir).unwrap().to_path_buf(), bytes));
            }
        }
    }
    out.sort();
    out
}

/// Against the fixture, built in this process with every core: another process, with one thread
/// and with three (more threads than this machine's two cores, so other splits of the work).
#[test]
fn tokenizer_and_shards_are_the_same_bytes_in_another_process_and_thread_count() {
    let fixture = quickstart_fixture();
    let dir = scratch("reproducible");
    let inputs: Vec<String> = fixture
        .inputs
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let expected = std::fs::read(&fixture.tokenizer).unwrap();
    for threads in ["1", "3"] {
        let out = dir.join(format!("tokenizer-{threads}.json"));
        let mut args = vec!["tokenizer", "train", "--vocab-size", "2048", "--lowercase"];
        for input in &inputs {
            args.extend(["--input", input]);
        }
        args.extend(["--out", out.to_str().unwrap()]);
        cloze_with_threads(threads, &args);
        assert!(
            std::fs::read(&out).unwrap() == expected,
            "the tokenizer trained with {threads} thread(s) differs from the fixture's"
        );
    }

    let out = dir.join("shards");
    let tokenizer = fixture.tokenizer.display().to_string();
    let mut args = vec![
        "shard",
        "--tokenizer",
        &tokenizer,
        "--valid-fraction",
        "0.01",
    ];
    for input in &inputs {
        args.extend(["--input", input]);
    }
    args.extend(["--out", out.to_str().unwrap()]);
    cloze_with_threads("1", &args);
    let (ours, theirs) = (files(&out), files(&fixture.shards));
    let names = |set: &[(PathBuf, Vec<u8>)]| set.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    assert_eq!(names(&ours), names(&theirs));
    assert!(ours.len() >= 5, "{:?}", names(&ours));
    for ((name, a), (_, b)) in ours.iter().zip(&theirs) {
        assert!(
            a == b,
            "{} differs between one thread and all cores",
            name.display()
        );
    }
}
