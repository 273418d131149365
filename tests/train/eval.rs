//! `cloze eval mlm` and `cloze fill` on a checkpoint pretrained through the binary, and the
//! evaluation's figures against a brute-force count.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};

use burn::prelude::*;
use cloze::checkpoint::trained::TrainedModel;
use cloze::data::corpus::ReadOptions;
use cloze::data::loader::{LoaderConfig, SequenceStream, ShardSet};
use cloze::data::masking::{IGNORE_LABEL, Replacement};
use cloze::data::position::LoaderPosition;
use cloze::data::prepare::{ShardOptions, write_shards};
use cloze::data::tokenizer::{TokenizerConfig, train_tokenizer};
use cloze::eval::mlm::{MlmEvalOptions, MlmTally, evaluate_mlm};
use cloze::eval::script::{Script, vocabulary_scripts};

use crate::common;

/// A run of 60 `tiny` steps on the fixture's shards, pretrained once by `cloze pretrain`.
pub(crate) fn trained_run() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let _guard = crate::exclusive();
        let dir = common::scratch("eval-run");
        let config = dir.join("tiny.toml");
        std::fs::write(
            &config,
            format!(
                "[data]\nshards = \"{}\"\n[model]\nsize = \"tiny\"\n[train]\nsteps = 60\n\
                 batch_size = 16\nseq_len = 32\nlr = 3e-3\nwarmup_steps = 5\nvalid_every = 0\n\
                 seed = 4\n",
                common::fixture().shards.display()
            ),
        )
        .unwrap();
        let run = dir.join("run");
        let output = cloze(&[
            "pretrain",
            "--config",
            config.to_str().unwrap(),
            "--run-dir",
            run.to_str().unwrap(),
        ]);
        assert!(output.status.success(), "{}", common::stderr(&output));
        run
    })
}

/// Runs the binary on the test device.
fn cloze(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cloze"))
        .args(args)
        .arg("--device")
        .arg(crate::test_device())
        .output()
        .expect("run cloze")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "cloze failed:\n{}",
        common::stderr(output)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn failure(output: &Output) -> String {
    assert!(!output.status.success(), "cloze should have failed");
    common::stderr(output)
}

/// A tokenizer of 300 pieces trained on a few lines: not the one the run was trained with.
pub(crate) fn other_tokenizer(dir: &Path) -> PathBuf {
    let text = dir.join("other.txt");
    std::fs::write(
        &text,
        "another corpus entirely\nwith other words in it\n다른 말뭉치입니다\n".repeat(20),
    )
    .unwrap();
    let path = dir.join("other-tokenizer.json");
    let config = TokenizerConfig {
        vocab_size: 300,
        ..TokenizerConfig::default()
    };
    train_tokenizer(&[text], &ReadOptions::default(), &config, &path).unwrap();
    path
}

#[test]
fn the_figures_equal_a_brute_force_count() {
    let run = trained_run();
    let _guard = crate::exclusive();
    let device = crate::burn_device();
    let trained = TrainedModel::load(run, None, &device).unwrap();
    let config = LoaderConfig {
        split: "valid".into(),
        seq_len: 32,
        batch_size: 8,
        seed: 5,
        shuffle: false,
        epochs: Some(1),
        ..LoaderConfig::default()
    };
    let batches = 10;
    let set = Arc::new(ShardSet::open(&common::fixture().shards, &config).unwrap());
    let scripts = vocabulary_scripts(&trained.tokenizer);
    let options = MlmEvalOptions {
        max_batches: batches,
        scripts: Some(scripts.clone()),
        ..MlmEvalOptions::default()
    };
    let evaluation = evaluate_mlm(&trained.model, set.clone(), &config, &options).unwrap();
    assert_eq!(evaluation.batches, batches);

    // By hand: logits at every position of every sequence, ranked and scored on the CPU.
    let mut all = MlmTally::default();
    let mut by_kind = [MlmTally::default(); 3];
    let mut by_script = [MlmTally::default(); 3];
    let mut stream = SequenceStream::new(set, config, LoaderPosition::default());
    for _ in 0..batches {
        let batch = stream.next_batch().unwrap().unwrap();
        let (b, len) = (batch.batch_size, batch.seq_len);
        let ids: Vec<i64> = batch.input_ids.iter().map(|&i| i64::from(i)).collect();
        let every: Vec<i64> = (0..(b * len) as i64).collect();
        let logits = trained
            .model
            .logits(
                Tensor::from_data(TensorData::new(ids, [b, len]), &device),
                Tensor::from_data(
                    TensorData::new(batch.padding_mask.clone(), [b, len]),
                    &device,
                ),
                Tensor::from_data(TensorData::new(every, [b * len]), &device),
            )
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap();
        let vocab = logits.len() / (b * len);
        for (row, selected) in batch.selected.iter().enumerate() {
            for &(column, kind) in selected {
                let flat = row * len + column;
                let target = batch.labels[flat];
                assert_ne!(target, IGNORE_LABEL);
                let scores = &logits[flat * vocab..(flat + 1) * vocab];
                let target_score = scores[target as usize];
                let above = scores.iter().filter(|&&s| s > target_score).count();
                let max = scores.iter().fold(f64::MIN, |m, &s| m.max(f64::from(s)));
                let sum: f64 = scores.iter().map(|&s| (f64::from(s) - max).exp()).sum();
                let loss = max + sum.ln() - f64::from(target_score);
                let kind = match kind {
                    Replacement::Mask => 0,
                    Replacement::Random => 1,
                    Replacement::Unchanged => 2,
                };
                let script = scripts[target as usize].index();
                for tally in [&mut all, &mut by_kind[kind], &mut by_script[script]] {
                    tally.predictions += 1;
                    tally.correct += u64::from(above == 0);
                    tally.top5 += u64::from(above < 5);
                    tally.loss_sum += loss;
                }
            }
        }
    }
    let counts = |t: &MlmTally| (t.predictions, t.correct, t.top5);
    assert_eq!(counts(&evaluation.all), counts(&all));
    for i in 0..3 {
        assert_eq!(
            counts(&evaluation.by_kind[i]),
            counts(&by_kind[i]),
            "kind {i}"
        );
        assert_eq!(
            counts(&evaluation.by_script[i]),
            counts(&by_script[i]),
            "script {i}"
        );
        assert!((evaluation.by_kind[i].loss_sum - by_kind[i].loss_sum).abs() < 1e-3 * all.loss_sum);
    }
    assert!((evaluation.all.loss_sum - all.loss_sum).abs() < 1e-4 * all.loss_sum);
    // Not a vacuous comparison: the model gets some right, top-5 more, in both scripts.
    assert!(all.predictions > 200, "{all:?}");
    assert!(all.correct > 0 && all.top5 > all.correct, "{all:?}");
    assert!(by_script[Script::Hangul.index()].predictions > 0);
    assert!(by_script[Script::Latin.index()].predictions > 0);
}

#[test]
fn eval_mlm_reports_the_same_figures_twice_from_a_run_or_its_checkpoint() {
    let run = trained_run().to_str().unwrap();
    let shards = common::fixture().shards.to_str().unwrap().to_owned();
    let eval = |checkpoint: &str, json: bool| {
        let mut args = vec![
            "eval",
            "mlm",
            "--checkpoint",
            checkpoint,
            "--shards",
            &shards,
            "--max-batches",
            "4",
        ];
        if json {
            args.push("--json");
        }
        stdout(&cloze(&args))
    };
    let table = eval(run, false);
    let step_dir = Path::new(run).join("checkpoints/step-0000060");
    assert_eq!(eval(step_dir.to_str().unwrap(), false), table);
    for row in [
        "all",
        "[MASK]",
        "random",
        "unchanged",
        "hangul",
        "latin",
        "other",
    ] {
        assert!(
            table.lines().any(|l| l.starts_with(row)),
            "no row {row}:\n{table}"
        );
    }

    let json = eval(run, true);
    assert_eq!(eval(run, true), json);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let predictions = report["predictions"].as_u64().unwrap();
    assert!(predictions > 100);
    let sum = |group: &str| -> u64 {
        report[group]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v["predictions"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(sum("by_kind"), predictions);
    assert_eq!(sum("by_script"), predictions);
    let value = |key: &str| report[key].as_f64().unwrap();
    assert!((value("perplexity") - value("loss").exp()).abs() < 1e-6 * value("perplexity"));
    assert!(value("accuracy") <= value("top5") && value("top5") <= 1.0);
    let mask = report["by_kind"]["mask"]["predictions"].as_u64().unwrap() as f64;
    assert!(
        (mask / predictions as f64 - 0.8).abs() < 0.1,
        "{mask} of {predictions} fed [MASK]"
    );

    // Another seed draws other masks.
    let other = stdout(&cloze(&[
        "eval",
        "mlm",
        "--checkpoint",
        run,
        "--shards",
        &shards,
        "--max-batches",
        "4",
        "--seed",
        "9",
        "--json",
    ]));
    assert_ne!(other, json);
}

#[test]
fn raw_text_is_evaluated_and_its_invalid_lines_are_skipped_and_reported() {
    let run = trained_run().to_str().unwrap();
    let dir = common::scratch("eval-text");
    let input = dir.join("mixed.txt");
    let mut bytes = Vec::new();
    for line in common::dev_lines().iter().take(60) {
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(b"broken \xff\xfe line\n\xc3\x28 another\n");
    std::fs::write(&input, bytes).unwrap();
    let output = cloze(&[
        "eval",
        "mlm",
        "--checkpoint",
        run,
        "--input",
        input.to_str().unwrap(),
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(report["predictions"].as_u64().unwrap() > 50, "{report}");
    assert!(
        report["by_script"]["hangul"]["predictions"]
            .as_u64()
            .unwrap()
            > 0
    );
    let stderr = common::stderr(&output);
    assert!(
        stderr.contains("mixed.txt: skipped 2 lines of invalid UTF-8"),
        "{stderr}"
    );
}

#[test]
fn a_tokenizer_or_shards_from_another_vocabulary_are_refused() {
    let run = trained_run().to_str().unwrap();
    let dir = common::scratch("eval-mismatch");
    let other = other_tokenizer(&dir);
    let other_str = other.to_str().unwrap();
    let shards = common::fixture().shards.to_str().unwrap().to_owned();

    let err = failure(&cloze(&[
        "eval",
        "mlm",
        "--checkpoint",
        run,
        "--shards",
        &shards,
        "--tokenizer",
        other_str,
    ]));
    assert!(
        err.contains("other-tokenizer.json is not the tokenizer") && err.contains("step-0000060"),
        "{err}"
    );
    let err = failure(&cloze(&[
        "fill",
        "--checkpoint",
        run,
        "--tokenizer",
        other_str,
        "the [MASK] of it",
    ]));
    assert!(err.contains("is not the tokenizer"), "{err}");

    let other_shards = dir.join("other-shards");
    write_shards(&ShardOptions {
        valid_fraction: 0.0,
        rows_per_shard: 1000,
        ..ShardOptions::new(
            other.clone(),
            vec![dir.join("other.txt")],
            other_shards.clone(),
        )
    })
    .unwrap();
    let err = failure(&cloze(&[
        "eval",
        "mlm",
        "--checkpoint",
        run,
        "--shards",
        other_shards.to_str().unwrap(),
        "--split",
        "train",
    ]));
    assert!(
        err.contains("the shards do not fit checkpoint") && err.contains("another tokenizer"),
        "{err}"
    );

    let err = failure(&cloze(&[
        "eval",
        "mlm",
        "--checkpoint",
        dir.to_str().unwrap(),
        "--shards",
        &shards,
    ]));
    assert!(err.contains("not a checkpoint"), "{err}");
}

#[test]
fn fill_prints_the_most_likely_tokens_at_each_mask() {
    let run = trained_run().to_str().unwrap();
    let text = "and the [MASK] said to moses , [MASK]";
    let output = stdout(&cloze(&[
        "fill",
        "--checkpoint",
        run,
        "--top-k",
        "3",
        "--json",
        text,
    ]));
    let result: serde_json::Value = serde_json::from_str(&output).unwrap();
    assert_eq!(result["text"], text);
    let masks = result["masks"].as_array().unwrap();
    // The space before a [MASK] goes with it, as in pretraining: no lone word-start piece.
    for mask in masks {
        let position = mask["position"].as_u64().unwrap() as usize;
        assert_ne!(result["tokens"][position - 1], "▁", "{output}");
    }
    assert_eq!(masks.len(), 2);
    for mask in masks {
        let position = mask["position"].as_u64().unwrap() as usize;
        assert_eq!(result["tokens"][position], "[MASK]");
        let probabilities: Vec<f64> = mask["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["probability"].as_f64().unwrap())
            .collect();
        assert_eq!(probabilities.len(), 3);
        assert!(probabilities.windows(2).all(|w| w[0] >= w[1]));
        assert!(probabilities[0] > 0.0 && probabilities.iter().sum::<f64>() <= 1.0 + 1e-5);
    }
    let top = masks[0]["candidates"][0]["token"].as_str().unwrap();
    let filled = result["filled"].as_str().unwrap();
    assert!(
        !filled.contains("[MASK]") && filled.contains(top.trim_start_matches('▁')),
        "{filled}"
    );

    let table = stdout(&cloze(&["fill", "--checkpoint", run, text]));
    assert_eq!(
        table.lines().filter(|l| l.starts_with("  [MASK] ")).count(),
        2,
        "{table}"
    );

    let err = failure(&cloze(&["fill", "--checkpoint", run, "no mask here"]));
    assert!(err.contains("has no [MASK]"), "{err}");
}
