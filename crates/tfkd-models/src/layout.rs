//! The memory layout a run's model trains in: libtorch's default contiguous N×C×H×W, or channels-last
//! (N×C×H×W tensors stored as N×H×W×C), where oneDNN's CPU convolutions have faster kernels for some layers.
//!
//! Measured on a 2-core AMD EPYC (docs/benchmarks.md): MobileNetV2 at width 1 trains 1.5–1.6× faster in
//! channels-last (its depthwise convolutions; PyTorch's own step gains as much), but 0.5–0.7× at width 1/8;
//! ShuffleNetV2 is slower in it (0.87× in PyTorch) and its channel shuffle is a view that channels-last
//! tensors refuse. So one rule, [`MemoryFormat::for_run`]: channels-last for MobileNetV2 at width ≥ 1 trained
//! alone on the CPU, contiguous everywhere else. The layout changes which convolution kernels run, so a run's
//! bits (not its mathematics): runs record it in their provenance. Checkpoints hold the same logical tensors
//! either way, so a run resumes bit for bit in the layout its rule gives again.

use tch::{nn::VarStore, Device, Tensor};
use tfkd_names::Arch;

/// How a model's 4-D tensors are laid out in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryFormat {
    /// libtorch's default: N×C×H×W, row-major.
    Contiguous,
    /// N×C×H×W tensors whose memory is N×H×W×C.
    ChannelsLast,
}

impl MemoryFormat {
    /// The layout a run of `arch` at width `width` trains in on `device` among `members` fused runs (see the
    /// module's documentation): channels-last only for MobileNetV2 at width ≥ 1, alone, on the CPU.
    #[must_use]
    pub fn for_run(arch: Arch, width: f64, device: Device, members: i64) -> Self {
        if arch == Arch::MobileNetV2 && width >= 1.0 && device == Device::Cpu && members == 1 {
            MemoryFormat::ChannelsLast
        } else {
            MemoryFormat::Contiguous
        }
    }

    /// Its name in provenance.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            MemoryFormat::Contiguous => "contiguous",
            MemoryFormat::ChannelsLast => "channels-last",
        }
    }

    /// Lays out every 4-D variable of `vs` in this format, in place (values unchanged).
    pub fn apply(self, vs: &VarStore) {
        if self == MemoryFormat::Contiguous {
            return;
        }
        tch::no_grad(|| {
            for (_, mut v) in vs.variables() {
                if v.dim() == 4 {
                    let laid_out = self.input(&v);
                    v.set_data(&laid_out);
                }
            }
        });
    }

    /// `x` (4-D) laid out in this format: a copy where it is not already.
    pub fn input(self, x: &Tensor) -> Tensor {
        match self {
            MemoryFormat::ChannelsLast if x.dim() == 4 && !is_channels_last(x) => {
                x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
            }
            _ => x.shallow_clone(),
        }
    }
}

/// Whether `t` is a 4-D tensor whose memory is its N×H×W×C permutation, dense.
#[must_use]
pub fn is_channels_last(t: &Tensor) -> bool {
    t.dim() == 4 && !t.is_contiguous() && t.permute([0, 2, 3, 1]).is_contiguous()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mobilenetv2_at_full_width_alone_on_the_cpu() {
        let cl = MemoryFormat::ChannelsLast;
        assert_eq!(MemoryFormat::for_run(Arch::MobileNetV2, 1.0, Device::Cpu, 1), cl);
        assert_eq!(MemoryFormat::for_run(Arch::MobileNetV2, 2.0, Device::Cpu, 1), cl);
        for (arch, width, device, members) in [
            (Arch::MobileNetV2, 0.125, Device::Cpu, 1),
            (Arch::MobileNetV2, 1.0, Device::Cpu, 2),
            (Arch::MobileNetV2, 1.0, Device::Cuda(0), 1),
            (Arch::ShuffleNetV2, 1.0, Device::Cpu, 1),
            (Arch::ResNet18, 1.0, Device::Cpu, 1),
        ] {
            assert_eq!(MemoryFormat::for_run(arch, width, device, members), MemoryFormat::Contiguous);
        }
    }

    #[test]
    fn laying_out_keeps_the_values() {
        let x = Tensor::arange(2 * 3 * 4 * 5, (tch::Kind::Float, Device::Cpu)).view([2, 3, 4, 5]);
        let y = MemoryFormat::ChannelsLast.input(&x);
        assert!(is_channels_last(&y) && !is_channels_last(&x));
        assert!(y.equal(&x));
        assert_eq!(y.stride(), vec![60, 1, 15, 3]);
        // Already laid out: no copy.
        assert_eq!(MemoryFormat::ChannelsLast.input(&y).data_ptr(), y.data_ptr());
        assert_eq!(MemoryFormat::Contiguous.input(&x).data_ptr(), x.data_ptr());
    }
}
