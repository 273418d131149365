//! HuggingFace interop, end to end: a model pretrained with `arch = "bert"` and exported by
//! `cloze export hf` loads in Python transformers with the same logits, and a model made and
//! saved by transformers, imported by `cloze import hf`, gives the same logits in cloze and
//! pretraining continues from it. The Python side is tests/hf_reference.py.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use burn::prelude::*;
use cloze::checkpoint::trained::TrainedModel;
use cloze::data::tokenizer::{CLS_ID, SEP_ID};

use crate::common;

pub(crate) const REFERENCE: &str = include_str!("../hf_reference.py");
/// The bound on the largest difference of any logit.
pub(crate) const TOLERANCE: f32 = 1e-4;

pub(crate) fn cloze(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cloze"))
        .args(args)
        .output()
        .expect("run cloze")
}

/// `cloze export hf --checkpoint FROM --out TO` or `cloze import hf --from FROM --out TO`.
pub(crate) fn convert(command: &str, from: &Path, to: &Path) -> Output {
    let flag = if command == "export" {
        "--checkpoint"
    } else {
        "--from"
    };
    cloze(&[
        command,
        "hf",
        flag,
        from.to_str().unwrap(),
        "--out",
        to.to_str().unwrap(),
    ])
}

pub(crate) fn succeed(args: &[&str]) -> String {
    ok(cloze(args))
}

/// The standard error of a run that succeeded.
pub(crate) fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", common::stderr(&output));
    common::stderr(&output)
}

/// Real Korean and English sentences from the dev pairs, short enough for 40 positions.
fn sentences(dir: &Path, model: &TrainedModel) -> PathBuf {
    let lines: Vec<String> = common::dev_lines()
        .into_iter()
        .filter(|line| {
            let ids = model.tokenizer.encode_batch(vec![line.clone()]).unwrap();
            (8..=30).contains(&ids[0].len())
        })
        .take(4)
        .collect();
    assert_eq!(lines.len(), 4);
    assert!(
        lines
            .iter()
            .any(|l| l.chars().any(|c| ('가'..='힣').contains(&c)))
    );
    let path = dir.join("sentences.txt");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[derive(serde::Deserialize)]
pub(crate) struct Reference {
    pub ids: Vec<Vec<u32>>,
    pub logits: Vec<Vec<Vec<f32>>>,
}

/// Runs transformers on `model_dir` for each line of `sentences`.
fn transformers_logits(model_dir: &Path, sentences: &Path, dir: &Path) -> Reference {
    reference_logits("logits", model_dir, sentences, dir)
}

/// tests/hf_reference.py's `command` (`logits`, one line at a time, or `batch-logits`, the lines
/// as one padded batch) on `model_dir` for the lines of `sentences`.
pub fn reference_logits(
    command: &str,
    model_dir: &Path,
    sentences: &Path,
    dir: &Path,
) -> Reference {
    let out = dir.join("reference.json");
    common::python(
        REFERENCE,
        &[
            command,
            model_dir.to_str().unwrap(),
            sentences.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
    );
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

/// Cloze's logits at every position of each line, on the test device, checked against the
/// reference; returns the largest difference.
fn compare(model: &TrainedModel, sentences: &Path, reference: &Reference) -> f32 {
    let device = crate::burn_device();
    let model_on_device = model.model.clone().to_device(&device);
    let lines: Vec<String> = std::fs::read_to_string(sentences)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(reference.ids.len(), lines.len());
    let mut largest = 0f32;
    for (i, body) in model
        .tokenizer
        .encode_batch(lines)
        .unwrap()
        .into_iter()
        .enumerate()
    {
        let mut ids = vec![CLS_ID];
        ids.extend(body);
        ids.push(SEP_ID);
        assert_eq!(
            ids, reference.ids[i],
            "line {i}: the two tokenizers disagree"
        );
        let len = ids.len();
        let logits = model_on_device.logits(
            Tensor::from_data(
                TensorData::new(ids.iter().map(|&id| id as i64).collect(), [1, len]),
                &device,
            ),
            Tensor::from_data(TensorData::new(vec![false; len], [1, len]), &device),
            Tensor::arange(0..len as i64, &device),
        );
        let values = logits
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap();
        let vocab = values.len() / len;
        assert_eq!(reference.logits[i].len(), len);
        for (p, row) in reference.logits[i].iter().enumerate() {
            assert_eq!(row.len(), vocab);
            for (v, expected) in row.iter().enumerate() {
                largest = largest.max((values[p * vocab + v] - expected).abs());
            }
        }
    }
    largest
}

/// Makes a model with transformers (`create` is tests/hf_reference.py's command for it) in
/// `dir/hf` beside the fixture's tokenizer and imports it into `dir/imported`; returns both
/// directories and the import's log.
pub fn create_and_import(dir: &Path, create: &str) -> (PathBuf, PathBuf, String) {
    let hf = dir.join("hf");
    common::python(
        REFERENCE,
        &[
            create,
            common::fixture().tokenizer.to_str().unwrap(),
            hf.to_str().unwrap(),
        ],
    );
    let imported = dir.join("imported");
    let log = ok(convert("import", &hf, &imported));
    (hf, imported, log)
}

/// A pipeline file in `dir` whose `[pretrain]` stage continues from `init` for 3 steps on the
/// fixture's shards, into `dir/run`; returns the file and the run directory.
pub fn continue_pipeline(dir: &Path, init: &Path) -> (PathBuf, PathBuf) {
    let run = dir.join("run");
    let pipeline = dir.join("continue.toml");
    std::fs::write(
        &pipeline,
        format!(
            "[pretrain]\ninit = \"{}\"\nrun_dir = \"{}\"\n[pretrain.data]\nshards = \"{}\"\n\
             [pretrain.model]\ndropout = 0.0\n[pretrain.train]\nsteps = 3\nbatch_size = 8\n\
             seq_len = 40\nlr = 1e-4\nwarmup_steps = 1\nvalid_every = 0\n",
            init.display(),
            run.display(),
            common::fixture().shards.display()
        ),
    )
    .unwrap();
    (pipeline, run)
}

#[test]
fn an_exported_model_loads_in_transformers_with_the_same_logits() {
    let refused_run = crate::eval::trained_run();
    let _guard = crate::exclusive();
    let dir = common::scratch("hf-export");
    let config = dir.join("bert.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\nshards = \"{}\"\n[model]\narch = \"bert\"\nsize = \"tiny\"\n[train]\n\
             steps = 12\nbatch_size = 8\nseq_len = 40\nlr = 3e-3\nwarmup_steps = 2\n\
             valid_every = 0\nseed = 5\n",
            common::fixture().shards.display()
        ),
    )
    .unwrap();
    let run = dir.join("run");
    let device = crate::test_device();
    succeed(&[
        "pretrain",
        "--config",
        config.to_str().unwrap(),
        "--run-dir",
        run.to_str().unwrap(),
        "--device",
        &device,
    ]);
    let exported = dir.join("hf");
    let log = ok(convert("export", &run, &exported));
    for file in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "vocab.txt",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ] {
        assert!(exported.join(file).is_file(), "{file} missing: {log}");
    }
    let model = TrainedModel::load(&run, None, &Device::flex()).unwrap();
    let vocab = std::fs::read_to_string(exported.join("vocab.txt")).unwrap();
    assert_eq!(vocab.lines().count(), model.tokenizer.vocab_size());
    assert_eq!(vocab.lines().nth(4), Some("[MASK]"));

    let sentences = sentences(&dir, &model);
    let reference = transformers_logits(&exported, &sentences, &dir);
    let largest = compare(&model, &sentences, &reference);
    eprintln!("export: largest logit difference {largest:e}");
    assert!(largest < TOLERANCE, "largest logit difference {largest}");

    // A second export into the same place needs --overwrite; a transformer-arch run is refused.
    let again = convert("export", &run, &exported);
    assert!(common::stderr(&again).contains("--overwrite"));
    let refused = convert("export", refused_run, &dir.join("refused"));
    assert!(!refused.status.success());
    assert!(common::stderr(&refused).contains("arch = \"bert\""));
    assert!(!dir.join("refused").exists());
}

#[test]
fn a_transformers_model_imports_with_the_same_logits_and_pretraining_continues_from_it() {
    let _guard = crate::exclusive();
    let dir = common::scratch("hf-import");
    let (hf, imported, log) = create_and_import(&dir, "create");
    assert!(
        log.contains("d_model 48, 2 layers, 4 heads, d_ff 96, 40 positions"),
        "{log}"
    );
    let model = TrainedModel::load(&imported, None, &Device::flex()).unwrap();
    let sentences = sentences(&dir, &model);
    let reference = transformers_logits(&hf, &sentences, &dir);
    let largest = compare(&model, &sentences, &reference);
    eprintln!("import: largest logit difference {largest:e}");
    assert!(largest < TOLERANCE, "largest logit difference {largest}");

    // Importing over an existing directory is refused.
    let again = convert("import", &hf, &imported);
    assert!(!again.status.success());

    // Pretraining starts from the imported weights, as a pipeline stage: its [model] table is the
    // checkpoint's, and a second run finds it up to date.
    let (pipeline, run) = continue_pipeline(&dir, &imported);
    let device = crate::test_device();
    let pipeline_run = ["run", pipeline.to_str().unwrap(), "--device", &device];
    succeed(&pipeline_run);
    let again = succeed(&pipeline_run);
    assert!(again.contains("is up to date (step 3)"), "{again}");
    let saved = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(
        saved.contains("arch = \"bert\"") && saved.contains("d_model = 48"),
        "{saved}"
    );
    let continued = TrainedModel::load(&run, None, &Device::flex()).unwrap();
    assert_eq!(continued.state.step, 3);
    // Three small steps move the weights a little from the imported ones.
    let before = cloze::model::bert_names::bert_tensors(&model.model).unwrap();
    let after = cloze::model::bert_names::bert_tensors(&continued.model).unwrap();
    let name = "bert.encoder.layer.1.output.dense.weight";
    let moved = before[name]
        .values
        .iter()
        .zip(&after[name].values)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(moved > 0.0 && moved < 0.01, "{name} moved by {moved}");
}
