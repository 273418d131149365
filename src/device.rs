//! Choosing the backend and device: `flex` (pure Rust, always built), `tch-cpu` and `tch-cuda:N`
//! (LibTorch, with the `tch` feature).

use std::fmt;
use std::str::FromStr;

use anyhow::{Result, bail};
use burn::prelude::Device;

/// A device named on the command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    #[default]
    Flex,
    TchCpu,
    TchCuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "flex" => Self::Flex,
            "tch-cpu" => Self::TchCpu,
            "tch-cuda" => Self::TchCuda(0),
            other => match other.strip_prefix("tch-cuda:") {
                Some(index) => match index.parse() {
                    Ok(i) => Self::TchCuda(i),
                    Err(_) => bail!("'{other}': the CUDA device index must be a number"),
                },
                None => bail!("unknown device '{other}'; choose flex, tch-cpu or tch-cuda:N"),
            },
        })
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flex => write!(f, "flex"),
            Self::TchCpu => write!(f, "tch-cpu"),
            Self::TchCuda(i) => write!(f, "tch-cuda:{i}"),
        }
    }
}

impl DeviceChoice {
    /// The burn device, or an error saying which cargo feature the binary lacks.
    pub fn device(self) -> Result<Device> {
        match self {
            #[cfg(feature = "flex")]
            Self::Flex => Ok(Device::flex()),
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            Self::TchCpu => Ok(Device::libtorch()),
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            Self::TchCuda(i) => Ok(Device::libtorch_cuda(i)),
            #[allow(unreachable_patterns)]
            other => bail!(
                "this binary was built without the backend of device '{other}'; rebuild with \
                 `--features {}`",
                if other == Self::Flex { "flex" } else { "tch" }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_device_name_and_rejects_others() {
        for (name, choice) in [
            ("flex", DeviceChoice::Flex),
            ("tch-cpu", DeviceChoice::TchCpu),
            ("tch-cuda", DeviceChoice::TchCuda(0)),
            ("tch-cuda:2", DeviceChoice::TchCuda(2)),
        ] {
            assert_eq!(name.parse::<DeviceChoice>().unwrap(), choice);
        }
        assert_eq!(DeviceChoice::TchCuda(1).to_string(), "tch-cuda:1");
        assert!("gpu".parse::<DeviceChoice>().is_err());
        assert!("tch-cuda:x".parse::<DeviceChoice>().is_err());
    }
}
