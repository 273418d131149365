//! The quickstart pipeline, shortened to a few steps, run twice from nothing in two fresh
//! directories: every file it writes is the same bytes (`metrics.csv` but its `tokens_per_s`
//! column, a wall-clock figure) on flex; on LibTorch the data files are, and the metrics agree as
//! the README promises there.

use std::path::Path;
use std::process::Command;

use crate::common;
use crate::faults::{deterministic_columns, same_run};
use crate::pretrain_cli::succeeded;

fn run_quickstart(dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::os::unix::fs::symlink(root.join("data"), dir.join("data")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_cloze"))
        .current_dir(dir)
        .arg("run")
        .arg(root.join("pipelines/quickstart.toml"))
        .args(["--device", &crate::test_device()])
        .args(["--set", "pretrain.train.steps=6"])
        .args(["--set", "pretrain.train.checkpoint_every=3"])
        .args(["--set", "pretrain.train.valid_every=3"])
        .args(["--set", "pretrain.train.valid_batches=2"])
        .args(["--set", "eval.max_batches=2"])
        .output()
        .unwrap();
    succeeded(&output);
}

#[test]
fn the_quickstart_run_twice_from_nothing_writes_the_same_files() {
    let _guard = crate::exclusive();
    let dirs = [
        common::scratch("quickstart-a"),
        common::scratch("quickstart-b"),
    ];
    for dir in &dirs {
        run_quickstart(dir);
    }
    let work = |dir: &Path| dir.join("work/quickstart");
    let mut files = vec![
        "tokenizer.json",
        "shards/manifest.json",
        "shards/train/shard-00000.arrow",
    ];
    if crate::test_device() == "flex" {
        files.extend([
            "run/checkpoints/step-0000003/model.bpk",
            "run/checkpoints/step-0000006/model.bpk",
            "run/checkpoints/step-0000006/optimizer.bpk",
            "run/eval.json",
        ]);
    }
    for file in files {
        let a = std::fs::read(work(&dirs[0]).join(file)).unwrap();
        let b = std::fs::read(work(&dirs[1]).join(file)).unwrap();
        assert!(a == b, "{file} differs between two runs");
    }
    let metrics = deterministic_columns(&work(&dirs[0]).join("run"));
    assert_eq!(metrics.len(), 7);
    assert!(same_run(
        &metrics,
        &deterministic_columns(&work(&dirs[1]).join("run"))
    ));
}
