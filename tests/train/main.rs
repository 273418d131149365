//! Training on the real shards built from `data/`.

#[path = "../data/common.rs"]
#[allow(dead_code)]
mod common;

use std::sync::Arc;

use burn::optim::AdamWConfig;
use burn::prelude::*;
use cloze::data::loader::{Loader, LoaderConfig, LoaderPosition, ShardSet};
use cloze::model::config::EncoderConfig;
use cloze::model::mlm::MlmModel;
use cloze::train::schedule::{Decay, LrSchedule};
use cloze::train::step::train_step;

#[test]
fn loss_falls_over_100_steps_of_tiny_on_real_text() {
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
    let mut model = MlmModel::new(
        &EncoderConfig::named("tiny", vocab_size)
            .unwrap()
            .with_max_len(64),
        &device,
    );
    let mut optimizer = AdamWConfig::new().init();
    let schedule = LrSchedule {
        peak: 2e-3,
        warmup_steps: 10,
        total_steps: 100,
        decay: Decay::Linear,
        final_fraction: 0.1,
    };
    let mut losses = Vec::new();
    for (step, batch) in Loader::start(set, config, LoaderPosition::default())
        .take(100)
        .enumerate()
    {
        let (next, report) = train_step(
            model,
            &mut optimizer,
            &batch.unwrap(),
            schedule.lr(step as u64),
        );
        model = next;
        assert!(report.loss.is_finite() && report.predictions > 0);
        losses.push(report.loss);
    }
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let (first, last) = (mean(&losses[..10]), mean(&losses[90..]));
    eprintln!("mean loss: first 10 steps {first:.3}, last 10 steps {last:.3}");
    assert!(
        last < 0.8 * first,
        "loss did not fall: {first:.3} -> {last:.3}"
    );
}
