//! Wide ResNet (Zagoruyko & Komodakis 2016), the standard pre-activation CIFAR version.
//!
//! The official repository ships `wrn.py` but never imports it; tfkd offers it for extensions.
//! conv3×3 → 16, three groups of (depth−4)/6 blocks with 16k/32k/64k channels, BN-ReLU, global
//! pool, linear `fc`. Conv weights are normal(0, √(2/fan_out)) as in the reference WRN code; the
//! linear layer keeps PyTorch's default init.

use tch::{nn, nn::ModuleT, Tensor};

use crate::layers::{bn, conv, global_pool, linear, Conv, ConvSpec, Init, Linear};
use crate::width::scale;
use crate::ModelConfig;

#[derive(Debug)]
struct Block {
    bn1: nn::BatchNorm,
    conv1: Conv,
    bn2: nn::BatchNorm,
    conv2: Conv,
    shortcut: Option<Conv>,
}

impl ModuleT for Block {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let pre = xs.apply_t(&self.bn1, train).relu();
        let out = pre.apply_t(&self.conv1, train).apply_t(&self.bn2, train).relu().apply_t(&self.conv2, train);
        match &self.shortcut {
            Some(c) => out + pre.apply_t(c, train),
            None => out + xs,
        }
    }
}

/// WRN-depth-k.
#[derive(Debug)]
pub struct WideResNet {
    conv1: Conv,
    blocks: Vec<Block>,
    bn: nn::BatchNorm,
    fc: Linear,
}

impl WideResNet {
    /// Builds WRN-`depth`-`widen` under `p`; `depth` must be 6n+4.
    pub fn new(p: &nn::Path, cfg: &ModelConfig, depth: i64, widen: i64) -> Self {
        let w = |c| scale(c, cfg.width, 1);
        let m = cfg.members;
        let n = (depth - 4) / 6;
        let k = |size| ConvSpec::new(size).no_bias().init(Init::KaimingFanOut);
        let channels = [16, 16 * widen, 32 * widen, 64 * widen].map(w);
        let conv1 = conv(p / "conv1", m, cfg.in_channels, channels[0], k(3));
        let mut blocks = Vec::new();
        for g in 0..3 {
            let gp = (p / format!("block{}", g + 1)) / "layer";
            for i in 0..n {
                let bp = &gp / i;
                let (c_in, c_out) = (if i == 0 { channels[g] } else { channels[g + 1] }, channels[g + 1]);
                let stride = if i == 0 && g > 0 { 2 } else { 1 };
                blocks.push(Block {
                    bn1: bn(&bp / "bn1", m, c_in),
                    conv1: conv(&bp / "conv1", m, c_in, c_out, k(3).stride(stride)),
                    bn2: bn(&bp / "bn2", m, c_out),
                    conv2: conv(&bp / "conv2", m, c_out, c_out, k(3)),
                    // As the official code: a projection where the channels change; also where only the stride
                    // does, which happens at widths so small that two groups round to the same channels.
                    shortcut: (c_in != c_out || stride != 1)
                        .then(|| conv(&bp / "convShortcut", m, c_in, c_out, k(1).stride(stride).padding(0))),
                });
            }
        }
        let fc = linear(p / "fc", m, channels[3], cfg.classes, false);
        WideResNet { conv1, blocks, bn: bn(p / "bn1", m, channels[3]), fc }
    }
}

impl ModuleT for WideResNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut out = xs.apply_t(&self.conv1, train);
        for b in &self.blocks {
            out = out.apply_t(b, train);
        }
        global_pool(&out.apply_t(&self.bn, train).relu()).apply_t(&self.fc, train)
    }
}
