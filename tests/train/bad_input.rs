//! The bad-input table of the training and evaluation commands (`cloze shard`'s is in
//! tests/data/bad_input.rs): each case exits with status 1 (2 for a usage error) and a message
//! naming the culprit: the file, the line, the key or the flag.

use std::path::Path;
use std::process::Command;

use crate::common;
use crate::eval::{other_tokenizer, trained_run};
use crate::pretrain_cli::{pretrain, succeeded, write_config};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Runs the binary with `args` on the test device and checks the exit status and the message.
fn refused(args: &[&str], code: i32, expected: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_cloze"))
        .args(args)
        .output()
        .unwrap();
    let stderr = common::stderr(&output);
    assert_eq!(output.status.code(), Some(code), "{args:?}:\n{stderr}");
    for e in expected {
        assert!(stderr.contains(e), "{args:?}: expected '{e}' in:\n{stderr}");
    }
}

#[test]
fn every_command_names_the_culprit_of_bad_input() {
    let run = trained_run();
    let dir = common::scratch("bad-input-table");
    let config = write_config(&dir);
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let shards = common::fixture().shards.clone();

    // Damaged data: a truncated shard, and shards whose tokenizer was swapped.
    let truncated = dir.join("truncated-shards");
    copy_dir(&shards, &truncated);
    let shard = truncated.join("train/shard-00000.arrow");
    let len = std::fs::metadata(&shard).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&shard)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let foreign = dir.join("foreign-shards");
    copy_dir(&shards, &foreign);
    std::fs::copy(other_tokenizer(&dir), foreign.join("tokenizer.json")).unwrap();

    // A checkpoint of the run's with the weights of another model size.
    let small_run = dir.join("d32");
    succeeded(&pretrain(
        &config,
        &small_run,
        &["--set", "train.steps=1", "--set", "model.d_model=32"],
        None,
    ));
    let mismatched = dir.join("mismatched-checkpoint");
    copy_dir(&run.join("checkpoints/step-0000060"), &mismatched);
    std::fs::copy(
        small_run.join("checkpoints/step-0000001/model.bpk"),
        mismatched.join("model.bpk"),
    )
    .unwrap();

    let broken = write("broken.toml", b"[train]\nsteps = = 3\n");
    let unknown = write(
        "unknown.toml",
        format!(
            "[data]\nshards = \"{}\"\n\n[train]\nstepz = 5\n",
            shards.display()
        )
        .as_bytes(),
    );
    let pipeline = write("typo-pipeline.toml", b"[pretrian]\n");
    let empty = write("empty.txt", b"");
    let binary = write("blob.txt", b"\x7fELF\x02\x01\x01\0\0\0\0binary");
    let invalid = write("invalid.txt", b"\xff\xfe\xfd\n\xc3\x28\n");
    let config = config.to_str().unwrap();
    let run = run.to_str().unwrap();
    let set = |kv: &'static str| ["pretrain", "--config", config, "--set", kv];
    let truncated_set = format!("data.shards={}", truncated.display());
    let foreign_set = format!("data.shards={}", foreign.display());
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    let long_text = format!("{} [MASK]", "word ".repeat(100));

    let cases: Vec<(Vec<&str>, i32, Vec<&str>)> = vec![
        // pretrain: the config file, its keys and values.
        (
            vec!["pretrain", "--config", "no-such.toml"],
            1,
            vec!["no-such.toml"],
        ),
        (
            vec!["pretrain", "--config", &broken],
            1,
            vec!["broken.toml", "line 2"],
        ),
        (
            vec!["pretrain", "--config", &unknown],
            1,
            vec!["unknown.toml", "stepz", "line 5"],
        ),
        (
            set("train.batch_size=0").to_vec(),
            1,
            vec!["train.batch_size must be at least 1"],
        ),
        (set("train.steps=-5").to_vec(), 1, vec!["train.steps", "-5"]),
        (
            set("model.d_model=0").to_vec(),
            1,
            vec!["model.d_model must be at least 1"],
        ),
        (
            set("model.n_heads=3").to_vec(),
            1,
            vec!["model.d_model (64) must be divisible by model.n_heads (3)"],
        ),
        (set("train.lr=-1").to_vec(), 1, vec!["train.lr"]),
        (
            vec![
                "pretrain",
                "--config",
                config,
                "--set",
                &truncated_set,
                "--run-dir",
                out,
            ],
            1,
            vec!["shard-00000.arrow"],
        ),
        (
            vec![
                "pretrain",
                "--config",
                config,
                "--set",
                &foreign_set,
                "--run-dir",
                out,
            ],
            1,
            vec!["another tokenizer"],
        ),
        (
            vec![
                "pretrain",
                "--config",
                config,
                "--run-dir",
                run,
                "--resume",
                "--set",
                "model.size=small",
            ],
            1,
            vec!["cannot resume", "model"],
        ),
        // run: pipeline files.
        (
            vec!["run", &pipeline],
            1,
            vec!["typo-pipeline.toml", "pretrian"],
        ),
        // eval mlm: checkpoints, shards, text and flags.
        (
            vec![
                "eval",
                "mlm",
                "--checkpoint",
                "no-such-run",
                "--shards",
                run,
            ],
            1,
            vec!["no-such-run"],
        ),
        (
            vec![
                "eval",
                "mlm",
                "--checkpoint",
                mismatched.to_str().unwrap(),
                "--input",
                &invalid,
            ],
            1,
            vec!["mismatched-checkpoint", "model.bpk"],
        ),
        (
            vec![
                "eval",
                "mlm",
                "--checkpoint",
                run,
                "--shards",
                truncated.to_str().unwrap(),
                "--split",
                "train",
            ],
            1,
            vec!["shard-00000.arrow"],
        ),
        (
            vec!["eval", "mlm", "--checkpoint", run, "--input", &empty],
            1,
            vec!["empty.txt"],
        ),
        (
            vec!["eval", "mlm", "--checkpoint", run, "--input", &binary],
            1,
            vec!["blob.txt", "binary"],
        ),
        (
            vec!["eval", "mlm", "--checkpoint", run, "--input", &invalid],
            1,
            vec!["invalid.txt", "invalid UTF-8"],
        ),
        (
            vec![
                "eval",
                "mlm",
                "--checkpoint",
                run,
                "--input",
                &empty,
                "--seq-len",
                "999",
            ],
            1,
            vec!["--seq-len must be between 3 and 32"],
        ),
        (
            vec![
                "eval",
                "mlm",
                "--checkpoint",
                run,
                "--input",
                &empty,
                "--mask-prob",
                "0",
            ],
            1,
            vec!["mask_prob"],
        ),
        (
            vec![
                "eval",
                "mlm",
                "--checkpoint",
                run,
                "--input",
                &empty,
                "--batch-size",
                "0",
            ],
            1,
            vec!["--batch-size"],
        ),
        (
            vec!["eval", "mlm", "--checkpoint", run],
            2,
            vec!["--shards", "--input"],
        ),
        // fill.
        (
            vec!["fill", "--checkpoint", run, "--top-k", "0", "a [MASK]"],
            1,
            vec!["--top-k"],
        ),
        (
            vec!["fill", "--checkpoint", run, &long_text],
            1,
            vec!["the model reads at most 32"],
        ),
        (
            vec![
                "fill",
                "--checkpoint",
                mismatched.to_str().unwrap(),
                "a [MASK]",
            ],
            1,
            vec!["model.bpk"],
        ),
        (vec!["fill", "--checkpoint", run], 2, vec!["TEXT"]),
    ];
    for (args, code, expected) in &cases {
        refused(args, *code, expected);
    }
    assert!(!Path::new(out).exists(), "a refused run left {out}");
}

#[test]
fn a_10_mb_line_in_evaluated_text_is_skipped_and_reported() {
    let run = trained_run();
    let dir = common::scratch("bad-input-long-line");
    let input = dir.join("long.txt");
    let mut text = common::dev_lines()[..40].join("\n").into_bytes();
    text.extend_from_slice(b"\n");
    text.extend(std::iter::repeat_n(b'a', 10 << 20));
    text.extend_from_slice(b"\nand one more line after it\n");
    std::fs::write(&input, text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_cloze"))
        .args(["eval", "mlm", "--json", "--checkpoint"])
        .arg(run)
        .arg("--input")
        .arg(&input)
        .output()
        .unwrap();
    let stderr = succeeded(&output);
    assert!(
        stderr.contains("long.txt: skipped 1 lines over the line-length limit"),
        "{stderr}"
    );
}
