//! The precision a training run computes in: `train.precision` resolved on this machine, or on
//! resuming, what the checkpoint recorded.

use anyhow::Result;

use crate::checkpoint::{CHECKPOINTS_DIR, latest_state};
use crate::config::precision::bf16_pays;
use crate::config::train_section::TrainSection;
use crate::device::DeviceChoice;
use crate::model::precision::Precision;
use crate::train::bf16_speedup::bf16_matmul_speedup;
use crate::train::run::TrainOptions;

/// What `train.precision` means for this run, said in the log: on resuming an `auto` run, what
/// its newest checkpoint computed in; on tch-cpu, bf16 if this CPU's bf16 matrix products measure
/// fast enough on every rank. bf16 on flex is allowed but warned about (it converts bf16 matrix
/// products to f32, so it is slower there, not faster).
pub fn precision(train: &TrainSection, options: &TrainOptions) -> Result<Precision> {
    let asked = format!("{:?}", train.precision).to_lowercase();
    let recorded = options
        .resume
        .then(|| latest_state(&options.run_dir.join(CHECKPOINTS_DIR)))
        .flatten()
        .and_then(|state| state.precision);
    if let Some(precision) = train.precision.on_resume(recorded) {
        tracing::info!(
            "computing in {precision}, as the checkpoint resumed did (train.precision = {asked})"
        );
        return Ok(precision);
    }
    let device = options.device;
    let compute_device = device.device()?;
    let precision = train.precision.resolve(device, || {
        let speedup = bf16_matmul_speedup(&compute_device);
        tracing::info!("this CPU's bf16 matrix products run at {speedup:.2}x its f32 ones");
        // Every rank computes alike: bf16 only if it pays on each.
        !options.group.any(!bf16_pays(speedup))
    });
    if precision == Precision::Bf16 && device == DeviceChoice::Flex {
        tracing::warn!(
            "train.precision = bf16 on flex: flex converts bf16 matrix products to f32, so this \
             is slower than f32; bf16 pays on tch-cpu where its products are faster and on tch-cuda"
        );
    }
    tracing::info!("computing in {precision} (train.precision = {asked})");
    Ok(precision)
}
