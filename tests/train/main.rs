//! Training on the real shards built from `data/`.

#[path = "../data/common.rs"]
#[allow(dead_code)]
mod common;

use std::sync::{Arc, Mutex};

use burn::optim::AdamWConfig;
use burn::prelude::*;
use cloze::data::loader::{Loader, LoaderConfig, LoaderPosition, ShardSet};
use cloze::model::config::EncoderConfig;
use cloze::model::mlm::MlmModel;
use cloze::train::schedule::{Decay, LrSchedule};
use cloze::train::step::train_step;

/// The device's random state is global: training runs in parallel test threads would share it.
fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static EXCLUSIVE: Mutex<()> = Mutex::new(());
    EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Trains `tiny` (dropout on) for `steps` steps from seed 7 on the fixture's shards; returns
/// the losses.
fn train_tiny(steps: usize) -> Vec<f64> {
    let _guard = exclusive();
    let shards = &common::fixture().shards;
    let config = LoaderConfig {
        seq_len: 64,
        batch_size: 16,
        seed: 1,
        ..LoaderConfig::default()
    };
    let set = Arc::new(ShardSet::open(shards, &config).unwrap());
    let vocab_size = set.manifest().tokenizer.vocab_size;
    let device = Device::flex().autodiff();
    device.seed(7);
    let config_model = EncoderConfig::named("tiny", vocab_size)
        .unwrap()
        .with_max_len(64);
    let mut model = MlmModel::new(&config_model, &device);
    let mut optimizer = AdamWConfig::new().init();
    let schedule = LrSchedule {
        peak: 2e-3,
        warmup_steps: 10,
        total_steps: 100,
        decay: Decay::Linear,
        final_fraction: 0.1,
    };
    let mut losses = Vec::new();
    let loader = Loader::start(set, config, LoaderPosition::default());
    for (step, batch) in loader.take(steps).enumerate() {
        let lr = schedule.lr(step as u64);
        let (next, report) = train_step(model, &mut optimizer, &batch.unwrap(), lr);
        model = next;
        assert!(report.loss.is_finite() && report.predictions > 0);
        losses.push(report.loss);
    }
    losses
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

/// Trains `tiny` until `until` steps, checkpointing every `every` steps into `dir`, from scratch
/// or from the latest checkpoint; returns the losses of the steps it ran.
fn session(dir: &std::path::Path, resume: bool, until: u64, every: u64) -> (u64, Vec<f64>) {
    use cloze::train::checkpoint::{TrainingState, load_latest, save_checkpoint};
    use cloze::train::step::step_seed;

    let _guard = exclusive();
    let config = LoaderConfig {
        seq_len: 32,
        batch_size: 8,
        seed: 1,
        ..LoaderConfig::default()
    };
    let set = Arc::new(ShardSet::open(&common::fixture().shards, &config).unwrap());
    let vocab_size = set.manifest().tokenizer.vocab_size;
    let device = Device::flex().autodiff();
    device.seed(7);
    let fresh = MlmModel::new(
        &EncoderConfig::named("tiny", vocab_size)
            .unwrap()
            .with_max_len(32),
        &device,
    );
    let new_optimizer = || AdamWConfig::new().init();
    let (start, mut model, mut optimizer, position) = if resume {
        let (state, model, optimizer) = load_latest(dir, fresh, new_optimizer)
            .unwrap()
            .expect("a checkpoint");
        (state.step, model, optimizer, state.loader)
    } else {
        (0, fresh, new_optimizer(), LoaderPosition::default())
    };
    let mut loader = Loader::start(set, config, position);
    let mut losses = Vec::new();
    for step in start..until {
        device.seed(step_seed(7, step));
        let batch = loader.next().unwrap().unwrap();
        let (next, report) = train_step(model, &mut optimizer, &batch, 1e-3);
        model = next;
        losses.push(report.loss);
        if (step + 1) % every == 0 {
            let state = TrainingState {
                step: step + 1,
                loader: loader.position(),
                seed: 7,
                config: serde_json::json!({}),
            };
            save_checkpoint(dir, &state, &model, &optimizer, 2).unwrap();
        }
    }
    (start, losses)
}

#[test]
fn a_resumed_run_repeats_the_uninterrupted_one_and_a_corrupt_latest_falls_back() {
    let uninterrupted = common::scratch("uninterrupted");
    let (_, expected) = session(&uninterrupted, false, 12, 4);
    let interrupted = common::scratch("interrupted");
    let (_, first) = session(&interrupted, false, 6, 4);
    assert_eq!(first, expected[..6]);
    let (start, resumed) = session(&interrupted, true, 12, 4);
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
    let (start, _) = session(&interrupted, true, 9, 100);
    assert_eq!(start, 8);
}
