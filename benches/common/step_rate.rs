//! The training-step rate that the benchmarks measure and compare with: `small` with AdamW, one
//! batch a step, in the architecture the shipped pipelines train (rotary positions, pre-LN, ReLU,
//! no dropout).

use std::time::Instant;

use anyhow::Result;
use cloze::data::batch::MaskedBatch;
use cloze::device::DeviceChoice;
use cloze::model::config::{Positions, TransformerConfig};
use cloze::model::mlm::MlmModel;
pub use cloze::model::precision::Precision;
use cloze::train::optimizer::{AdamWSettings, adamw};
use cloze::train::step::train_step;

/// Steps run before the clock starts.
pub const WARMUP: usize = 3;

/// `small` as the shipped pipelines shape it, for `vocab` tokens and sequences of `seq_len`.
pub fn pipeline_small(vocab: usize, seq_len: usize) -> Result<TransformerConfig> {
    Ok(TransformerConfig::named("small", vocab)?
        .with_max_len(seq_len)
        .with_position_scheme(Positions::Rope)
        .with_pre_ln(true)
        .with_gelu(false)
        .with_dropout(0.0))
}

/// Tokens per second of `small` training steps on `device` in `precision` over `batches`, after
/// `WARMUP` untimed steps.
pub fn small_step_rate(
    device: DeviceChoice,
    precision: Precision,
    vocab: usize,
    batches: &[MaskedBatch],
) -> Result<f64> {
    let device = device.device()?.autodiff();
    device.seed(0);
    let config = pipeline_small(vocab, batches[0].seq_len)?;
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
            precision,
        );
        model = next;
        tokens += report.tokens;
    }
    device.sync().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(tokens as f64 / started.elapsed().as_secs_f64())
}
