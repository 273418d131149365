//! HuggingFace interop for `arch = "modernbert"`, end to end: a `ModernBertForMaskedLM` made by
//! transformers, imported by `cloze import hf`, gives transformers' logits in cloze and pretraining
//! continues from it; a model pretrained by cloze and exported by `cloze export hf` gives cloze's
//! logits in transformers, and fine-tunes under the decoder. The logits are compared at every
//! non-padding position of one padded batch of sentences longer than the sliding window.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use cloze::checkpoint::metrics::read_losses;
use cloze::checkpoint::trained::{TrainedModel, TrainedTranslator};
use cloze::data::tokenizer::{CLS_ID, PAD_ID, SEP_ID};
use cloze::model::modernbert::names::modernbert_tensors;

use crate::common;
use crate::hf::{
    Reference, TOLERANCE, continue_pipeline, convert, create_and_import, ok, reference_logits,
    succeed,
};

/// The window the models below attend within (`local_attention`): 4 positions either side.
const WINDOW: usize = 8;

/// Four dev sentences of different lengths, each longer than the window, `[CLS]` and `[SEP]`
/// included: one batch needs padding, and the sliding-window layers hide far keys.
pub(crate) fn sentences(dir: &Path, model: &TrainedModel) -> PathBuf {
    let mut lengths = Vec::new();
    let lines: Vec<String> = common::dev_lines()
        .into_iter()
        .filter(|line| {
            let ids = model.tokenizer.encode_batch(vec![line.clone()]).unwrap();
            let len = ids[0].len() + 2;
            let fits = (2 * WINDOW..=36).contains(&len) && !lengths.contains(&len);
            if fits {
                lengths.push(len);
            }
            fits
        })
        .take(4)
        .collect();
    assert_eq!(lines.len(), 4);
    let path = dir.join("sentences.txt");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// transformers' logits for the lines of `sentences` as one padded batch.
fn transformers_logits(model_dir: &Path, sentences: &Path, dir: &Path) -> Reference {
    reference_logits("batch-logits", model_dir, sentences, dir)
}

/// Cloze's logits for the same padded batch (framed and padded with the model's own special
/// tokens), on the test device, at every non-padding position;
/// returns the largest difference from the reference.
pub(crate) fn compare(model: &TrainedModel, sentences: &Path, reference: &Reference) -> f32 {
    let device = crate::burn_device();
    let special = model.tokenizer.special();
    let lines: Vec<String> = std::fs::read_to_string(sentences)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let rows: Vec<Vec<u32>> = model
        .tokenizer
        .encode_batch(lines)
        .unwrap()
        .into_iter()
        .map(|body| [vec![special.cls], body, vec![special.sep]].concat())
        .collect();
    assert_eq!(rows, reference.ids, "the two tokenizers disagree");
    let len = rows.iter().map(Vec::len).max().unwrap();
    let (mut ids, mut padding, mut positions) = (Vec::new(), Vec::new(), Vec::new());
    for (r, row) in rows.iter().enumerate() {
        for c in 0..len {
            ids.push(row.get(c).map_or(special.pad, |&id| id) as i64);
            padding.push(c >= row.len());
            if c < row.len() {
                positions.push((r * len + c) as i64);
            }
        }
    }
    let batch = rows.len();
    let logits = model.model.clone().to_device(&device).logits(
        Tensor::from_data(TensorData::new(ids, [batch, len]), &device),
        Tensor::from_data(TensorData::new(padding, [batch, len]), &device),
        Tensor::from_data(
            TensorData::new(positions.clone(), [positions.len()]),
            &device,
        ),
    );
    let values = logits
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap();
    let expected: Vec<f32> = reference
        .logits
        .iter()
        .flatten()
        .flatten()
        .copied()
        .collect();
    assert_eq!(values.len(), expected.len());
    values
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max)
}

#[test]
fn a_transformers_modernbert_imports_with_the_same_logits_and_pretraining_continues_from_it() {
    let _guard = crate::exclusive();
    let dir = common::scratch("hf-modernbert-import");
    let (hf, imported, log) = create_and_import(&dir, "create-modernbert");
    assert!(
        log.contains("ModernBERT, d_model 48, 3 layers, 4 heads, d_ff 64, 40 positions"),
        "{log}"
    );
    let model = TrainedModel::load(&imported, None, &Device::flex()).unwrap();
    let sentences = sentences(&dir, &model);
    let reference = transformers_logits(&hf, &sentences, &dir);
    let largest = compare(&model, &sentences, &reference);
    eprintln!("modernbert import: largest logit difference {largest:e}");
    assert!(largest < TOLERANCE, "largest logit difference {largest}");

    let (pipeline, run) = continue_pipeline(&dir, &imported);
    let device = crate::test_device();
    succeed(&["run", pipeline.to_str().unwrap(), "--device", &device]);
    let saved = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(
        saved.contains("arch = \"modernbert\"") && saved.contains("local_attention = 8"),
        "{saved}"
    );
    let continued = TrainedModel::load(&run, None, &Device::flex()).unwrap();
    assert_eq!(continued.state.step, 3);
    let before = modernbert_tensors(&model.model).unwrap();
    let after = modernbert_tensors(&continued.model).unwrap();
    let name = "model.layers.1.mlp.Wo.weight";
    let moved = before[name]
        .values
        .iter()
        .zip(&after[name].values)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(moved > 0.0 && moved < 0.01, "{name} moved by {moved}");
}

/// `cloze pretrain` of a tiny three-layer ModernBERT (layers 0 and 2 global, 1 sliding-window).
fn pretrain_modernbert(dir: &Path) -> PathBuf {
    let config = dir.join("modernbert.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\nshards = \"{}\"\n[model]\narch = \"modernbert\"\nsize = \"tiny\"\n\
             n_layers = 3\nlocal_attention = {WINDOW}\nglobal_attn_every_n_layers = 2\n\
             [train]\nsteps = 12\nbatch_size = 8\nseq_len = 40\nlr = 3e-3\nwarmup_steps = 2\n\
             valid_every = 0\nseed = 5\n",
            common::fixture().shards.display()
        ),
    )
    .unwrap();
    let run = dir.join("run");
    succeed(&[
        "pretrain",
        "--config",
        config.to_str().unwrap(),
        "--run-dir",
        run.to_str().unwrap(),
        "--device",
        &crate::test_device(),
    ]);
    run
}

#[test]
fn an_exported_modernbert_loads_in_transformers_with_the_same_logits_and_fine_tunes() {
    crate::translation::pair_shards();
    let _guard = crate::exclusive();
    let dir = common::scratch("hf-modernbert-export");
    let run = pretrain_modernbert(&dir);
    let exported = dir.join("hf");
    ok(convert("export", &run, &exported));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(exported.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["model_type"], "modernbert");
    assert_eq!(config["architectures"][0], "ModernBertForMaskedLM");
    assert_eq!(config["pad_token_id"], PAD_ID);
    assert_eq!(config["cls_token_id"], CLS_ID);
    assert_eq!(config["sep_token_id"], SEP_ID);
    let model = TrainedModel::load(&run, None, &Device::flex()).unwrap();
    let sentences = sentences(&dir, &model);
    let reference = transformers_logits(&exported, &sentences, &dir);
    let largest = compare(&model, &sentences, &reference);
    eprintln!("modernbert export: largest logit difference {largest:e}");
    assert!(largest < TOLERANCE, "largest logit difference {largest}");

    // The pretrained encoder under a fresh pre-LN, rotary decoder.
    let finetune = dir.join("finetune.toml");
    std::fs::write(
        &finetune,
        format!(
            "[data]\nshards = \"{}\"\n\n[model]\npretrained = \"{}\"\ndecoder_layers = 1\n\n\
             [train]\nsteps = 6\nbatch_size = 8\nseq_len = 32\nlr = 2e-3\nwarmup_steps = 2\n\
             valid_every = 6\nvalid_batches = 1\nseed = 5\n",
            crate::translation::pair_shards().display(),
            run.display()
        ),
    )
    .unwrap();
    let translation_run = dir.join("finetune");
    succeed(&[
        "finetune",
        "--config",
        finetune.to_str().unwrap(),
        "--run-dir",
        translation_run.to_str().unwrap(),
        "--device",
        &crate::test_device(),
    ]);
    let losses = read_losses(&translation_run.join("metrics.csv")).unwrap();
    assert_eq!(losses.len(), 6);
    assert!(losses.iter().all(|(_, l)| l.is_finite()), "{losses:?}");
    let translator = TrainedTranslator::load(&translation_run, &Device::flex()).unwrap();
    assert!(translator.model.encoder.modernbert.is_some());
    assert!(translator.config.encoder.pre_ln);
}
