//! How much faster a device's bf16 matrix products are than its f32 ones, measured: what
//! `train.precision = "auto"` decides by on a CPU. The answer depends on the chip in ways its
//! flags do not tell: LibTorch's bf16 products ran 5-6x f32 with AMX tiles, 2.9x on an AMD EPYC
//! with AVX512-BF16 and no AMX, and slower than f32 on a Xeon that also showed AVX512-BF16 and no
//! AMX.

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::FloatDType;

/// The product timed: `small`'s feed-forward input projection (256 to 1,024) over a batch of
/// 32 x 128 tokens, the size of the products that dominate a training step.
const ROWS: usize = 4096;
const INNER: usize = 256;
const COLS: usize = 1024;

/// Products timed in each precision after an untimed one; the fastest counts, so that a busy
/// moment on the machine does not decide.
const REPEATS: usize = 4;

/// The time of an f32 product over that of the same product in bf16 on `device` (above 1: bf16
/// is faster). The operands are constants: the device's random stream is left as it was.
pub fn bf16_matmul_speedup(device: &Device) -> f64 {
    fastest_product_seconds(device, FloatDType::F32)
        / fastest_product_seconds(device, FloatDType::BF16)
}

fn fastest_product_seconds(device: &Device, dtype: FloatDType) -> f64 {
    let lhs = Tensor::<2>::full([ROWS, INNER], 0.5, device).cast(dtype);
    let rhs = Tensor::<2>::full([INNER, COLS], 0.25, device).cast(dtype);
    let _ = device.sync();
    let mut fastest = f64::INFINITY;
    for repeat in 0..=REPEATS {
        let started = Instant::now();
        let product = lhs.clone().matmul(rhs.clone());
        let _ = device.sync();
        let seconds = started.elapsed().as_secs_f64();
        drop(product);
        if repeat > 0 {
            fastest = fastest.min(seconds);
        }
    }
    fastest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::precision::testing::devices;

    #[test]
    fn the_speedup_is_a_positive_finite_ratio_on_every_test_device() {
        for device in devices() {
            let speedup = bf16_matmul_speedup(&device);
            assert!(
                speedup.is_finite() && speedup > 0.0,
                "{device:?}: {speedup}"
            );
        }
    }
}
