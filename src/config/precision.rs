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
    /// bf16 where it is faster: LibTorch on CUDA, or on a CPU with AMX; f32 elsewhere (flex
    /// converts bf16 matrix products to f32, and without AMX LibTorch's bf16 products are slower
    /// than its f32 ones).
    Auto,
}

impl PrecisionChoice {
    /// What a run on `device` computes in; `cpu_amx` says whether this CPU has AMX
    /// ([`cpu_has_amx`]).
    pub fn resolve(self, device: DeviceChoice, cpu_amx: bool) -> Precision {
        match (self, device) {
            (Self::F32, _) => Precision::F32,
            (Self::Bf16, _) => Precision::Bf16,
            (Self::Auto, DeviceChoice::TchCuda(_)) => Precision::Bf16,
            (Self::Auto, DeviceChoice::TchCpu) if cpu_amx => Precision::Bf16,
            (Self::Auto, _) => Precision::F32,
        }
    }
}

/// Whether this CPU has AMX's bf16 tiles, as Linux reports them (`amx_bf16` among the flags of
/// `/proc/cpuinfo`; Rust's feature detection of AMX is not stable). Measured on a machine without
/// AMX (AVX512-BF16 only), LibTorch's bf16 products ran at 0.57x of f32; with AMX the issue that
/// asked for bf16 measured 5-6x.
pub fn cpu_has_amx() -> bool {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|info| has_amx_flag(&info))
        .unwrap_or(false)
}

/// Whether a `/proc/cpuinfo` text lists the `amx_bf16` flag.
fn has_amx_flag(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .filter(|line| line.starts_with("flags"))
        .any(|line| line.split_whitespace().any(|flag| flag == "amx_bf16"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_computes_in_bf16_only_on_cuda_and_on_cpus_with_amx() {
        use DeviceChoice::*;
        let auto = PrecisionChoice::Auto;
        assert_eq!(auto.resolve(TchCuda(1), false), Precision::Bf16);
        assert_eq!(auto.resolve(TchCpu, true), Precision::Bf16);
        assert_eq!(auto.resolve(TchCpu, false), Precision::F32);
        assert_eq!(auto.resolve(Flex, true), Precision::F32);
        for device in [Flex, TchCpu, TchCuda(0)] {
            assert_eq!(PrecisionChoice::F32.resolve(device, true), Precision::F32);
            assert_eq!(
                PrecisionChoice::Bf16.resolve(device, false),
                Precision::Bf16
            );
        }
    }

    #[test]
    fn amx_is_read_off_the_flags_line() {
        assert!(has_amx_flag(
            "processor\t: 0\nflags\t\t: fpu avx512_bf16 amx_bf16 amx_tile\n"
        ));
        assert!(!has_amx_flag("flags\t\t: fpu avx512_bf16 avx512_fp16\n"));
        assert!(!has_amx_flag("bugs\t\t: amx_bf16\n"));
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
