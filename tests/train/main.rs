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

/// Trains `tiny` (dropout on) for `steps` steps from seed 7 on the fixture's shards; returns
/// the losses.
fn train_tiny(steps: usize) -> Vec<f64> {
    // The device's random state is global: runs in parallel test threads would share it.
    static EXCLUSIVE: Mutex<()> = Mutex::new(());
    let _guard = EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner());
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
