//! The training-step rate that the benchmarks measure and compare with: `small` with AdamW, one
//! batch a step.

use std::time::Instant;

use anyhow::Result;
use cloze::data::batch::MaskedBatch;
use cloze::device::DeviceChoice;
use cloze::model::config::TransformerConfig;
use cloze::model::mlm::MlmModel;
use cloze::train::optimizer::{AdamWSettings, adamw};
use cloze::train::step::train_step;

/// Steps run before the clock starts.
pub const WARMUP: usize = 3;

/// Tokens per second of `small` training steps on `device` over `batches`, after `WARMUP`
/// untimed steps.
pub fn small_step_rate(device: DeviceChoice, vocab: usize, batches: &[MaskedBatch]) -> Result<f64> {
    let device = device.device()?.autodiff();
    device.seed(0);
    let config = TransformerConfig::named("small", vocab)?.with_max_len(batches[0].seq_len);
    let mut model = MlmModel::new(&config, &device);
    let mut optimizer = adamw(AdamWSettings {
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-6,
        weight_decay: 0.01,
    });
    let mut tokens = 0;
    let mut started = Instant::now();
    for (i, batch) in batches.iter().enumerate() {
        if i == WARMUP {
            device.sync().map_err(|e| anyhow::anyhow!("{e:?}"))?;
            started = Instant::now();
            tokens = 0;
        }
        let (next, report) = train_step(
            model,
            &mut optimizer,
            std::slice::from_ref(batch),
            5e-4,
            1.0,
        );
        model = next;
        tokens += report.tokens;
    }
    Ok(tokens as f64 / started.elapsed().as_secs_f64())
}
