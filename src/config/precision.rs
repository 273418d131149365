//! `train.precision`: the float type a training step computes in, or `auto` to let the device
//! decide. Weights, optimizer moments and checkpoints stay f32 whatever it says.

use serde::{Deserialize, Serialize};

use crate::device::DeviceChoice;
use crate::model::precision::Precision;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrecisionChoice {
    #[default]
    F32,
    /// bf16 compute over f32 master weights.
    Bf16,
    /// bf16 where it is faster: LibTorch on CUDA, or on a CPU whose bf16 matrix products measure
    /// at least [`BF16_MIN_SPEEDUP`] times as fast as its f32 ones; f32 elsewhere (flex converts
    /// bf16 matrix products to f32).
    Auto,
}

/// How much faster than f32 a CPU's bf16 matrix products must be for `auto` to choose bf16: a
/// step is not all matrix products, and bf16 adds casts. Measured with `cargo bench --bench
/// train_step`: on an AMD EPYC (AVX512-BF16, no AMX) products at 2.6-2.9x made whole steps
/// 1.41-1.51x; on a Xeon showing AVX512-BF16 without AMX, products at about 0.5x made steps 0.7x.
pub const BF16_MIN_SPEEDUP: f64 = 1.5;

/// Whether bf16 pays on a CPU whose bf16 matrix products run `speedup` times its f32 ones.
pub fn bf16_pays(speedup: f64) -> bool {
    speedup >= BF16_MIN_SPEEDUP
}

impl PrecisionChoice {
    /// What a run on `device` computes in; `cpu_bf16_pays` says whether bf16 pays on this CPU
    /// (a measurement, asked only for `auto` on tch-cpu).
    pub fn resolve(self, device: DeviceChoice, cpu_bf16_pays: impl FnOnce() -> bool) -> Precision {
        match (self, device) {
            (Self::F32, _) => Precision::F32,
            (Self::Bf16, _) => Precision::Bf16,
            (Self::Auto, DeviceChoice::TchCuda(_)) => Precision::Bf16,
            (Self::Auto, DeviceChoice::TchCpu) if cpu_bf16_pays() => Precision::Bf16,
            (Self::Auto, _) => Precision::F32,
        }
    }

    /// The precision a resumed run computes in when its newest checkpoint `recorded` one:
    /// `auto` keeps the recorded choice, so that a run measured on one machine, or on one busy
    /// moment, resumes as it started; an explicit setting decides for itself.
    pub fn on_resume(self, recorded: Option<Precision>) -> Option<Precision> {
        match self {
            Self::Auto => recorded,
            Self::F32 | Self::Bf16 => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_computes_in_bf16_only_on_cuda_and_where_the_cpu_measures_it_faster() {
        use DeviceChoice::*;
        let auto = PrecisionChoice::Auto;
        let unasked = || panic!("only auto on tch-cpu measures the CPU");
        assert_eq!(auto.resolve(TchCuda(1), unasked), Precision::Bf16);
        assert_eq!(auto.resolve(TchCpu, || true), Precision::Bf16);
        assert_eq!(auto.resolve(TchCpu, || false), Precision::F32);
        assert_eq!(auto.resolve(Flex, unasked), Precision::F32);
        for device in [Flex, TchCpu, TchCuda(0)] {
            assert_eq!(
                PrecisionChoice::F32.resolve(device, unasked),
                Precision::F32
            );
            assert_eq!(
                PrecisionChoice::Bf16.resolve(device, unasked),
                Precision::Bf16
            );
        }
    }

    #[test]
    fn bf16_pays_from_its_threshold_up() {
        assert!(bf16_pays(2.9));
        assert!(bf16_pays(BF16_MIN_SPEEDUP));
        assert!(!bf16_pays(1.2));
        assert!(!bf16_pays(0.57));
        assert!(!bf16_pays(f64::NAN));
    }

    #[test]
    fn a_resumed_auto_run_keeps_the_precision_its_checkpoint_recorded() {
        use PrecisionChoice::*;
        assert_eq!(Auto.on_resume(Some(Precision::Bf16)), Some(Precision::Bf16));
        assert_eq!(Auto.on_resume(Some(Precision::F32)), Some(Precision::F32));
        assert_eq!(Auto.on_resume(None), None);
        assert_eq!(F32.on_resume(Some(Precision::Bf16)), None);
        assert_eq!(Bf16.on_resume(Some(Precision::F32)), None);
    }

    #[test]
    fn reads_its_three_names() {
        #[derive(Deserialize)]
        struct T {
            p: PrecisionChoice,
        }
        for (name, want) in [
            ("f32", PrecisionChoice::F32),
            ("bf16", PrecisionChoice::Bf16),
            ("auto", PrecisionChoice::Auto),
        ] {
            let t: T = toml::from_str(&format!("p = \"{name}\"")).unwrap();
            assert_eq!(t.p, want);
        }
        assert!(toml::from_str::<T>("p = \"fp16\"").is_err());
    }
}
