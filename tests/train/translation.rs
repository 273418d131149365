//! `cloze finetune` and `cloze translate` end to end on `tiny`: the pretrained encoder under a
//! decoder, trained on the shipped ko-en pairs, resumed after a crash, and translating.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use burn::prelude::*;
use cloze::checkpoint::metrics::read_losses;
use cloze::checkpoint::trained::{TrainedModel, TrainedTranslator};
use cloze::data::prepare::{ShardOptions, write_shards};

use crate::common;
use crate::eval::trained_run;

/// Pair shards of the shipped ko-en pairs with the fixture's tokenizer; the dev pairs are the
/// valid split.
pub(crate) fn pair_shards() -> &'static Path {
    static SHARDS: OnceLock<PathBuf> = OnceLock::new();
    SHARDS.get_or_init(|| {
        let dir = common::scratch("translation-pairs");
        let out = dir.join("pairs");
        write_shards(&ShardOptions {
            valid_inputs: vec![common::data("ko-en.dev.tsv.gz")],
            pair_columns: Some(("ko".into(), "en".into())),
            valid_fraction: 0.0,
            ..ShardOptions::new(
                common::fixture().tokenizer.clone(),
                vec![common::data("ko-en.train.tsv.gz")],
                out.clone(),
            )
        })
        .unwrap();
        out
    })
}

pub(crate) fn write_config(dir: &Path) -> PathBuf {
    let path = dir.join("finetune.toml");
    std::fs::write(
        &path,
        format!(
            "[data]\nshards = \"{}\"\n\n[model]\npretrained = \"{}\"\ndecoder_layers = 1\n\n\
             [train]\nsteps = 8\nbatch_size = 8\nseq_len = 32\nlr = 2e-3\nwarmup_steps = 2\n\
             checkpoint_every = 4\nvalid_every = 4\nvalid_batches = 1\nseed = 5\n",
            pair_shards().display(),
            trained_run().display()
        ),
    )
    .unwrap();
    path
}

/// A fine-tuning run of 8 steps (validating at 4 and 8) from [`trained_run`], made once.
pub(crate) fn finetuned_run() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        // The shared run and shards first: building them takes the lock held below.
        trained_run();
        pair_shards();
        let _guard = crate::exclusive();
        let dir = common::scratch("translation-finetuned");
        let run = dir.join("run");
        crate::pretrain_cli::succeeded(&finetune(&write_config(&dir), &run, &[], None));
        run
    })
}

fn cloze(args: &[&str], fault: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cloze"));
    command.args(args).arg("--device").arg(crate::test_device());
    if let Some(fault) = fault {
        command.env(cloze::fault::VARIABLE, fault);
    }
    command.output().unwrap()
}

pub(crate) fn finetune(config: &Path, run: &Path, extra: &[&str], fault: Option<&str>) -> Output {
    let mut args = vec![
        "finetune",
        "--config",
        config.to_str().unwrap(),
        "--run-dir",
        run.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    cloze(&args, fault)
}

fn weights(tensor: Tensor<2>) -> Vec<f32> {
    tensor.into_data().try_to_vec::<f32>().unwrap()
}

/// The shared embedding table of a fine-tuning run's latest checkpoint.
fn embedding_table(run: &Path) -> Vec<f32> {
    let translator = TrainedTranslator::load(run, &crate::burn_device()).unwrap();
    weights(translator.model.encoder.embedding.tokens.weight.val())
}

/// How many entries of `a` are within 0.05 of `b`'s.
fn near(a: &[f32], b: &[f32]) -> usize {
    a.iter()
        .zip(b)
        .filter(|(x, y)| (*x - *y).abs() < 0.05)
        .count()
}

#[test]
fn finetuning_resumes_after_a_crash_and_its_checkpoint_translates() {
    // The shared run and shards first: building them takes the lock this test then holds.
    trained_run();
    pair_shards();
    let _guard = crate::exclusive();
    let dir = common::scratch("translation-resume");
    let config = write_config(&dir);
    let whole = dir.join("whole");
    let stderr = crate::pretrain_cli::succeeded(&finetune(&config, &whole, &[], None));
    assert!(stderr.contains("BLEU"), "{stderr}");
    let expected = read_losses(&whole.join("metrics.csv")).unwrap();
    assert_eq!(expected.len(), 8);
    let metrics = std::fs::read_to_string(whole.join("metrics.csv")).unwrap();
    assert!(
        metrics.starts_with("step,") && metrics.lines().next().unwrap().ends_with(",valid_bleu")
    );
    let row4: Vec<&str> = metrics.lines().nth(4).unwrap().split(',').collect();
    assert!(row4[9].parse::<f64>().is_ok(), "BLEU at step 4: {row4:?}");
    let valid: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(whole.join("valid.json")).unwrap()).unwrap();
    assert_eq!(valid["sentences"], 1000);
    assert!(valid["bleu"].as_f64().unwrap() >= 0.0 && valid["chrf"].as_f64().is_some());
    let hypotheses = std::fs::read_to_string(whole.join("valid.hyp")).unwrap();
    assert_eq!(hypotheses.lines().count(), 1000);

    // Killed while writing the step-4 checkpoint, then resumed: the same losses (bit for bit on flex).
    let killed = dir.join("killed");
    assert!(
        !finetune(&config, &killed, &[], Some("checkpoint-write@4"))
            .status
            .success()
    );
    crate::pretrain_cli::succeeded(&finetune(&config, &killed, &["--resume"], None));
    let resumed = read_losses(&killed.join("metrics.csv")).unwrap();
    assert!(
        crate::faults::same_losses(&resumed, &expected),
        "{resumed:?}\n{expected:?}"
    );

    // Translating: one line out per line in, from arguments or a file; a source longer than
    // the model takes is cut, with a warning naming its line.
    let run = whole.to_str().unwrap();
    let long = "문장 ".repeat(200);
    let output = cloze(
        &[
            "translate",
            "--checkpoint",
            run,
            "--beam",
            "2",
            "파일을 열 수 없습니다",
            &long,
        ],
        None,
    );
    assert!(output.status.success(), "{}", common::stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 2);
    assert!(common::stderr(&output).contains("line 2: longer than the model's 32 tokens"));
    let input = dir.join("input.txt");
    std::fs::write(&input, "하나\n둘\n셋\n").unwrap();
    let output = cloze(
        &[
            "translate",
            "--checkpoint",
            run,
            "--beam",
            "1",
            "--input",
            input.to_str().unwrap(),
        ],
        None,
    );
    assert!(output.status.success(), "{}", common::stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 3);

    // A pretraining checkpoint is not a translation model.
    let output = cloze(
        &[
            "translate",
            "--checkpoint",
            trained_run().to_str().unwrap(),
            "x",
        ],
        None,
    );
    assert!(common::stderr(&output).contains("not a translation checkpoint"));
}

#[test]
fn the_pretrained_encoder_is_loaded_a_frozen_one_stays_and_a_slowed_one_moves_less() {
    trained_run();
    pair_shards();
    let _guard = crate::exclusive();
    let dir = common::scratch("translation-frozen");
    let config = write_config(&dir);
    let device = crate::burn_device();
    let pretrained = TrainedModel::load(trained_run(), None, &device).unwrap();
    let pretrained_table = weights(pretrained.model.encoder.embedding.tokens.weight.val());

    // Frozen for all 8 steps: the encoder (and the shared embedding table) is the pretrained one.
    let frozen = dir.join("frozen");
    crate::pretrain_cli::succeeded(&finetune(
        &config,
        &frozen,
        &["--set", "translation.freeze_encoder_steps=8"],
        None,
    ));
    assert_eq!(embedding_table(&frozen), pretrained_table);

    // Not frozen: it moves from the pretrained weights; random init starts elsewhere.
    let moving = dir.join("moving");
    crate::pretrain_cli::succeeded(&finetune(&config, &moving, &[], None));
    let moved = embedding_table(&moving);
    assert_ne!(moved, pretrained_table);
    assert!(
        near(&moved, &pretrained_table) * 10 > moved.len() * 9,
        "8 steps move the table a little"
    );

    // At a tenth of the rate, the encoder moves about a tenth as far (Adam's steps scale with
    // the rate; the decoder's, and so the gradients, differ a little).
    let slow = dir.join("slow");
    crate::pretrain_cli::succeeded(&finetune(
        &config,
        &slow,
        &["--set", "translation.encoder_lr_scale=0.1"],
        None,
    ));
    let distance = |table: &[f32]| -> f32 {
        table
            .iter()
            .zip(&pretrained_table)
            .map(|(a, b)| (a - b).abs())
            .sum()
    };
    let ratio = distance(&embedding_table(&slow)) / distance(&moved);
    assert!((0.05..0.2).contains(&ratio), "moved {ratio} as far");

    let random = dir.join("random");
    crate::pretrain_cli::succeeded(&finetune(&config, &random, &["--init", "random"], None));
    let random_table = embedding_table(&random);
    assert!(
        near(&random_table, &pretrained_table) * 2 < random_table.len(),
        "random init is not the pretrained table"
    );
}

#[test]
fn a_decoder_started_from_the_encoders_layers_trains_apart_and_resumes_exactly() {
    let default_losses = read_losses(&finetuned_run().join("metrics.csv")).unwrap();
    let _guard = crate::exclusive();
    let dir = common::scratch("translation-decoder-init");
    let config = write_config(&dir);
    let from_encoder = ["--set", "model.decoder_init=\"encoder\""];
    let whole = dir.join("whole");
    crate::pretrain_cli::succeeded(&finetune(&config, &whole, &from_encoder, None));
    let expected = read_losses(&whole.join("metrics.csv")).unwrap();
    assert_eq!(expected.len(), 8);
    assert_ne!(expected, default_losses, "the decoder started elsewhere");

    // Its parameters are its own (new ids), saved and restored as any other's.
    let killed = dir.join("killed");
    assert!(
        !finetune(&config, &killed, &from_encoder, Some("checkpoint-write@4"))
            .status
            .success()
    );
    let mut resume = from_encoder.to_vec();
    resume.push("--resume");
    crate::pretrain_cli::succeeded(&finetune(&config, &killed, &resume, None));
    let resumed = read_losses(&killed.join("metrics.csv")).unwrap();
    assert!(
        crate::faults::same_losses(&resumed, &expected),
        "{resumed:?}\n{expected:?}"
    );

    // More decoder layers than the encoder has: refused before training, naming the key.
    let deep = dir.join("deep");
    let output = finetune(
        &config,
        &deep,
        &[&from_encoder[..], &["--set", "model.decoder_layers=9"]].concat(),
        None,
    );
    assert!(!output.status.success());
    assert!(common::stderr(&output).contains("model.decoder_layers to at most"));
}
