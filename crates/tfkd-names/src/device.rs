//! The device a user asks for (`--device`): typed once, written back the same way for worker processes and
//! cluster jobs, and resolved to a libtorch device only where libtorch is (tfkd-commands' context).

use std::{fmt, str::FromStr};

/// `auto` (CUDA when libtorch sees a GPU), `cpu`, or `cuda:N` (`cuda` is `cuda:0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeviceChoice {
    /// CUDA when available, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA device N.
    Cuda(usize),
}

impl DeviceChoice {
    /// Whether this asks for a GPU for sure (`auto` depends on the machine that runs it).
    #[must_use]
    pub fn is_cuda(self) -> bool {
        matches!(self, DeviceChoice::Cuda(_))
    }
}

/// A `--device` that is none of `auto`, `cpu`, `cuda`, `cuda:N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown device '{0}': expected auto, cpu, cuda or cuda:N")]
pub struct UnknownDevice(pub String);

impl FromStr for DeviceChoice {
    type Err = UnknownDevice;

    fn from_str(s: &str) -> Result<Self, UnknownDevice> {
        match s {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| UnknownDevice(other.to_string())),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Auto => f.write_str("auto"),
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_read_and_write_back() {
        for (text, device) in [
            ("auto", DeviceChoice::Auto),
            ("cpu", DeviceChoice::Cpu),
            ("cuda", DeviceChoice::Cuda(0)),
            ("cuda:3", DeviceChoice::Cuda(3)),
        ] {
            assert_eq!(text.parse::<DeviceChoice>(), Ok(device));
            assert_eq!(device.to_string().parse::<DeviceChoice>(), Ok(device), "{device}");
        }
        for bad in ["gpu", "cuda:", "cuda:x", "cuda:-1", "CPU", ""] {
            let err = bad.parse::<DeviceChoice>().unwrap_err();
            assert!(err.to_string().contains("expected auto, cpu, cuda or cuda:N"), "{bad}: {err}");
        }
    }
}
