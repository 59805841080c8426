//! DenseNet-BC as in the official code (weiaicunzai/pytorch-cifar100's version): growth 32, reduction 0.5.
//!
//! Stem conv3×3 (3 → 2·growth, no bias) without pooling; bottleneck = BN-ReLU-1×1(4k)-BN-ReLU-3×3(k);
//! transition = BN-1×1 conv-avgpool2 (no ReLU); final BN + ReLU, global pool, linear.

use tch::{nn, nn::ModuleT, Tensor};

use crate::layers::{bn, cat, conv, global_pool, linear, Conv, ConvSpec, Linear};
use crate::width::scale;
use crate::ModelConfig;

#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // built once per model; boxing would only add an indirection per forward
enum Layer {
    /// BN-ReLU-1×1-BN-ReLU-3×3, output concatenated to the input.
    Bottleneck { bn1: nn::BatchNorm, conv1: Conv, bn2: nn::BatchNorm, conv2: Conv, members: i64 },
    /// BN-1×1 conv-2×2 average pool.
    Transition { bn: nn::BatchNorm, conv: Conv },
}

impl ModuleT for Layer {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        match self {
            Layer::Bottleneck { bn1, conv1, bn2, conv2, members } => {
                let out = xs.apply_t(bn1, train).relu().apply_t(conv1, train);
                let out = out.apply_t(bn2, train).relu().apply_t(conv2, train);
                cat(&[xs.shallow_clone(), out], *members)
            }
            Layer::Transition { bn, conv } => {
                xs.apply_t(bn, train).apply_t(conv, train).avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None)
            }
        }
    }
}

/// DenseNet-121 (blocks 6/12/24/16) for CIFAR.
#[derive(Debug)]
pub struct DenseNet {
    conv1: Conv,
    layers: Vec<Layer>,
    bn: nn::BatchNorm,
    linear: Linear,
}

impl DenseNet {
    /// Builds DenseNet-BC with the given blocks and growth rate 32 (scaled by the width) under `p`.
    pub fn new(p: &nn::Path, cfg: &ModelConfig, blocks: &[i64]) -> Self {
        let growth = scale(32, cfg.width, 1);
        let mut c = 2 * growth;
        let m = cfg.members;
        let conv1 = conv(p / "conv1", m, cfg.in_channels, c, ConvSpec::new(3).no_bias());
        let features = p / "features";
        let mut layers = Vec::new();
        let last = blocks.len() - 1;
        for (index, &n) in blocks.iter().enumerate() {
            let name = if index < last { format!("dense_block_layer_{index}") } else { format!("dense_block{index}") };
            let block = &features / name;
            for j in 0..n {
                let bp = (&block / format!("bottle_neck_layer_{j}")) / "bottle_neck";
                let inner = 4 * growth;
                layers.push(Layer::Bottleneck {
                    bn1: bn(&bp / "0", m, c),
                    conv1: conv(&bp / "2", m, c, inner, ConvSpec::new(1).no_bias()),
                    bn2: bn(&bp / "3", m, inner),
                    conv2: conv(&bp / "5", m, inner, growth, ConvSpec::new(3).no_bias()),
                    members: m,
                });
                c += growth;
            }
            if index < last {
                let out = c / 2; // int(reduction * inner_channels), reduction 0.5
                let tp = (&features / format!("transition_layer_{index}")) / "down_sample";
                layers.push(Layer::Transition {
                    bn: bn(&tp / "0", m, c),
                    conv: conv(&tp / "1", m, c, out, ConvSpec::new(1).no_bias()),
                });
                c = out;
            }
        }
        DenseNet {
            conv1,
            layers,
            bn: bn(&features / "bn", m, c),
            linear: linear(p / "linear", m, c, cfg.classes, false),
        }
    }
}

impl ModuleT for DenseNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut out = xs.apply_t(&self.conv1, train);
        for l in &self.layers {
            out = out.apply_t(l, train);
        }
        global_pool(&out.apply_t(&self.bn, train).relu()).apply_t(&self.linear, train)
    }
}
