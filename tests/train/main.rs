//! Training on the real shards built from `data/`.

mod bad_input;
mod bleu;
#[path = "../data/common.rs"]
#[allow(dead_code)]
mod common;
#[cfg(feature = "mpi")]
mod data_parallel;
mod eval;
mod faults;
mod hf;
mod hf_any;
mod hf_modernbert;
mod pipeline;
mod precision;
mod pretrain_cli;
mod report;
mod reproducible;
mod translation;

use std::path::Path;
use std::sync::{Arc, Mutex};

use burn::optim::AdamWConfig;
use burn::prelude::*;
use cloze::checkpoint::{TrainingState, load_latest, prune_checkpoints, save_checkpoint};
use cloze::config::schedule::{Decay, LrSchedule};
use cloze::data::loader::{Loader, LoaderConfig, ShardSet};
use cloze::data::position::LoaderPosition;
use cloze::data::tokenizer::TokenizerFiles;
use cloze::device::DeviceChoice;
use cloze::model::config::TransformerConfig;
use cloze::model::mlm::MlmModel;
use cloze::model::precision::Precision;
use cloze::train::step::{step_seed, train_step};

/// The device the training tests run on: `CLOZE_TEST_DEVICE` (`flex` by default; `tch-cpu` in the
/// LibTorch pass of the tests).
fn test_device() -> String {
    std::env::var("CLOZE_TEST_DEVICE").unwrap_or_else(|_| "flex".into())
}

/// Stands in for a tokenizer where only the checkpoint's other files are tested.
fn no_tokenizer() -> TokenizerFiles {
    TokenizerFiles {
        json: b"{}".to_vec(),
        special_tokens_map: b"{}".to_vec(),
    }
}

/// The burn device of [`test_device`].
fn burn_device() -> Device {
    test_device()
        .parse::<DeviceChoice>()
        .unwrap()
        .device()
        .unwrap()
}

/// The device's random state is global: training runs in parallel test threads would share it.
fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static EXCLUSIVE: Mutex<()> = Mutex::new(());
    EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// One training run of `tiny` (dropout on, seed 7, the device reseeded from (seed, step) before
/// every step) on the fixture's shards.
struct Session<'a> {
    /// Where checkpoints go, and where a resumed run starts from.
    dir: &'a Path,
    resume: bool,
    /// Train until this many steps are done.
    until: u64,
    checkpoint_every: u64,
    seq_len: usize,
    batch_size: usize,
}

/// Runs a session; returns the step it started at and the losses of the steps it ran.
fn run(session: Session) -> (u64, Vec<f64>) {
    let _guard = exclusive();
    let config = LoaderConfig {
        seq_len: session.seq_len,
        batch_size: session.batch_size,
        seed: 1,
        ..LoaderConfig::default()
    };
    let set = Arc::new(ShardSet::open(&common::fixture().shards, &config).unwrap());
    let vocab_size = set.manifest().tokenizer.vocab_size;
    let device = burn_device().autodiff();
    device.seed(7);
    let model_config = TransformerConfig::named("tiny", vocab_size)
        .unwrap()
        .with_max_len(session.seq_len);
    let fresh = MlmModel::new(&model_config, &device);
    let new_optimizer = || AdamWConfig::new().init();
    let (start, mut model, mut optimizer, position) = if session.resume {
        let (state, model, optimizer) = load_latest(session.dir, fresh, new_optimizer)
            .unwrap()
            .expect("a checkpoint");
        let position: LoaderPosition = serde_json::from_value(state.loader).unwrap();
        (state.step, model, optimizer, position)
    } else {
        (0, fresh, new_optimizer(), LoaderPosition::default())
    };
    let schedule = LrSchedule {
        peak: 2e-3,
        warmup_steps: 10,
        total_steps: 100,
        decay: Decay::Linear,
        final_fraction: 0.1,
    };
    let mut loader = Loader::start(set, config, position);
    let mut losses = Vec::new();
    for step in start..session.until {
        device.seed(step_seed(7, step));
        let batch = loader.next().unwrap().unwrap();
        let (next, report) = train_step(
            model,
            &mut optimizer,
            std::slice::from_ref(&batch),
            schedule.lr(step),
            1.0,
            Precision::F32,
        );
        model = next;
        assert!(report.loss.is_finite() && report.predictions > 0);
        losses.push(report.loss);
        if (step + 1) % session.checkpoint_every == 0 {
            let state = TrainingState {
                step: step + 1,
                tokens: 0,
                loader: serde_json::to_value(loader.position()).unwrap(),
                seed: 7,
                manifest_sha256: String::new(),
                tokenizer_sha256: String::new(),
                config: serde_json::json!({}),
                world: 1,
                precision: None,
            };
            save_checkpoint(session.dir, &state, &model, &optimizer, &no_tokenizer()).unwrap();
            prune_checkpoints(session.dir, 2, step + 1).unwrap();
        }
    }
    (start, losses)
}

/// `steps` steps from scratch at seq 64, batch 16, without checkpoints.
fn train_tiny(steps: u64) -> Vec<f64> {
    let dir = common::scratch(&format!("no-checkpoints-{steps}"));
    run(Session {
        dir: &dir,
        resume: false,
        until: steps,
        checkpoint_every: u64::MAX,
        seq_len: 64,
        batch_size: 16,
    })
    .1
}

/// Steps at seq 32, batch 8, checkpointing every 4 into `dir`.
fn small_session(dir: &Path, resume: bool, until: u64) -> (u64, Vec<f64>) {
    run(Session {
        dir,
        resume,
        until,
        checkpoint_every: 4,
        seq_len: 32,
        batch_size: 8,
    })
}

#[test]
fn loss_falls_over_100_steps_of_tiny_on_real_text() {
    let losses = train_tiny(100);
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let (first, last) = (mean(&losses[..10]), mean(&losses[90..]));
    eprintln!("mean loss: first 10 steps {first:.3}, last 10 steps {last:.3}");
    assert!(
        last < 0.8 * first,
        "loss did not fall: {first:.3} -> {last:.3}"
    );
}

#[test]
fn the_same_seed_repeats_a_training_run_bit_for_bit() {
    let (a, b) = (train_tiny(15), train_tiny(15));
    assert_eq!(a, b);
}

#[test]
fn a_resumed_run_repeats_the_uninterrupted_one_and_a_corrupt_latest_falls_back() {
    let uninterrupted = common::scratch("uninterrupted");
    let (_, expected) = small_session(&uninterrupted, false, 12);
    let interrupted = common::scratch("interrupted");
    let (_, first) = small_session(&interrupted, false, 6);
    assert_eq!(first, expected[..6]);
    let (start, resumed) = small_session(&interrupted, true, 12);
    assert_eq!(start, 4);
    assert_eq!(resumed, expected[4..]);

    // Two checkpoints are kept; damage the newest and the previous one is used.
    let mut names: Vec<String> = std::fs::read_dir(&interrupted)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["latest", "step-0000008", "step-0000012"]);
    let model = interrupted.join("step-0000012/model.bpk");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();
    let (start, _) = small_session(&interrupted, true, 9);
    assert_eq!(start, 8);
}

/// A batch of the fixture's shards at seq 32, batch 4.
fn fixture_batch() -> (usize, cloze::data::batch::MaskedBatch) {
    let config = LoaderConfig {
        seq_len: 32,
        batch_size: 4,
        ..LoaderConfig::default()
    };
    let set = Arc::new(ShardSet::open(&common::fixture().shards, &config).unwrap());
    let vocab_size = set.manifest().tokenizer.vocab_size;
    let mut loader = Loader::start(set, config, LoaderPosition::default());
    (vocab_size, loader.next().unwrap().unwrap())
}

fn tiny_model(vocab_size: usize, device: &Device) -> MlmModel {
    device.seed(11);
    let config = TransformerConfig::named("tiny", vocab_size)
        .unwrap()
        .with_max_len(32);
    MlmModel::new(&config, device)
}

fn loss_and_logits(model: &MlmModel, batch: &cloze::data::batch::MaskedBatch) -> (f32, Vec<f32>) {
    let device = model.encoder.embedding.tokens.weight.device();
    let output = model.forward(cloze::batcher::mlm_input(batch, &device));
    let logits = output.logits.into_data().try_to_vec::<f32>().unwrap();
    (output.loss.into_scalar(), logits)
}

#[test]
fn only_the_selected_positions_contribute_to_the_loss() {
    let _guard = exclusive();
    let device = burn_device();
    let (vocab_size, batch) = fixture_batch();
    let model = tiny_model(vocab_size, &device);
    let (loss, _) = loss_and_logits(&model, &batch);
    let selected = batch.masked_positions();

    // Another original token (the label a full head would score) at every unselected position:
    // nothing changes.
    let mut other = batch.clone();
    for i in 0..other.original_ids.len() {
        if !selected.contains(&i) {
            other.original_ids[i] = (other.original_ids[i] + 1) % vocab_size as u32;
        }
    }
    assert_eq!(loss_and_logits(&model, &other).0, loss);

    // Another label at one selected position changes the loss.
    let mut other = batch.clone();
    let p = selected[0];
    other.labels[p] = (other.labels[p] + 1) % vocab_size as i64;
    assert_ne!(loss_and_logits(&model, &other).0, loss);
}

#[test]
fn a_checkpoint_round_trip_gives_identical_predictions() {
    let _guard = exclusive();
    let device = burn_device().autodiff();
    let (vocab_size, batch) = fixture_batch();
    let model = tiny_model(vocab_size, &device);
    // A few steps, so that the optimizer has state worth saving.
    let mut optimizer = AdamWConfig::new().init();
    let mut model = model;
    for _ in 0..3 {
        model = train_step(
            model,
            &mut optimizer,
            std::slice::from_ref(&batch),
            1e-3,
            1.0,
            Precision::F32,
        )
        .0;
    }
    let dir = common::scratch("round-trip");
    let state = TrainingState {
        step: 3,
        tokens: 0,
        loader: serde_json::to_value(LoaderPosition::default()).unwrap(),
        seed: 11,
        manifest_sha256: String::new(),
        tokenizer_sha256: String::new(),
        config: serde_json::json!({}),
        world: 1,
        precision: None,
    };
    save_checkpoint(&dir, &state, &model, &optimizer, &no_tokenizer()).unwrap();
    let fresh = tiny_model(vocab_size, &device);
    let (loaded_state, loaded, _) = load_latest(&dir, fresh.clone(), || AdamWConfig::new().init())
        .unwrap()
        .unwrap();
    assert_eq!(loaded_state, state);
    let valid = |m: &MlmModel| loss_and_logits(&m.valid(), &batch);
    assert_eq!(valid(&loaded), valid(&model));
    assert_ne!(valid(&fresh).1, valid(&model).1);
}
