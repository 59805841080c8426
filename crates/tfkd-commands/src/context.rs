//! What runs and benchmarks record about where they ran: the device, libtorch's version, the numerics mode
//! and the cache folder.

use std::sync::{atomic::AtomicBool, Arc};

use anyhow::bail;
use tch::Device;
use tfkd_io::paths;
use tfkd_spec::names::DeviceChoice;
use tfkd_trainers::Context;

use crate::{libtorch, numerics};

/// Parses a device name (auto, cpu, cuda, cuda:N) and checks that libtorch can use it; returns it and its label.
fn device(choice: DeviceChoice) -> anyhow::Result<(Device, String)> {
    let device = match choice {
        DeviceChoice::Auto => Device::cuda_if_available(),
        DeviceChoice::Cpu => Device::Cpu,
        DeviceChoice::Cuda(n) => Device::Cuda(n),
    };
    if device.is_cuda() && !tch::Cuda::is_available() {
        bail!("CUDA was requested but libtorch sees no GPU (see `tfkd doctor`)");
    }
    let label = match device {
        Device::Cuda(n) => format!("cuda:{n}"),
        _ => "cpu".to_string(),
    };
    Ok((device, label))
}

/// The device, libtorch version, numerics mode and cache folder runs and benchmarks record; `interrupt` is the
/// flag the signal handlers set.
pub fn context(device_arg: DeviceChoice, interrupt: Arc<AtomicBool>) -> anyhow::Result<Context> {
    let (device, device_name) = device(device_arg)?;
    if device.is_cuda() {
        tch::Cuda::cudnn_set_benchmark(false);
    }
    Ok(Context {
        device,
        device_name,
        libtorch: libtorch::loaded_lib_dir().as_deref().and_then(libtorch::version).unwrap_or_else(|| "unknown".into()),
        numerics: numerics::describe(),
        cache_dir: paths::cache_dir(),
        interrupt,
    })
}
