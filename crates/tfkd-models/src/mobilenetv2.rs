//! MobileNetV2 as in the official code (weiaicunzai/pytorch-cifar100's version).
//!
//! Faithful quirks: the stem is a **1×1 conv with padding 1** (32×32 in, 34×34 out), every conv has a
//! bias, activations are ReLU6, and the classifier is a 1×1 conv after global pooling.

use tch::{nn, nn::ModuleT, Tensor};

use crate::layers::{conv, global_pool, step, Act, Chain, Conv, ConvSpec};
use crate::width::scale;
use crate::ModelConfig;

/// Expand (1×1) → depthwise 3×3 → project (1×1), residual when stride 1 and shapes agree.
#[derive(Debug)]
struct LinearBottleneck {
    residual: Chain,
    add_input: bool,
}

impl LinearBottleneck {
    fn new(p: &nn::Path, m: i64, c_in: i64, c_out: i64, stride: i64, t: i64) -> Self {
        let mid = c_in * t;
        let residual = Chain::new(
            &(p / "residual"),
            m,
            0,
            &[
                step(c_in, mid, ConvSpec::new(1), Act::Relu6),
                step(mid, mid, ConvSpec::new(3).stride(stride).groups(mid), Act::Relu6),
                step(mid, c_out, ConvSpec::new(1), Act::Identity),
            ],
        );
        LinearBottleneck { residual, add_input: stride == 1 && c_in == c_out }
    }
}

impl ModuleT for LinearBottleneck {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let out = xs.apply_t(&self.residual, train);
        if self.add_input {
            out + xs
        } else {
            out
        }
    }
}

/// MobileNetV2 for CIFAR: stages (repeat, out, stride, t) as in the official code.
#[derive(Debug)]
pub struct MobileNetV2 {
    pre: Chain,
    blocks: Vec<LinearBottleneck>,
    conv1: Chain,
    conv2: Conv,
}

impl MobileNetV2 {
    /// Builds the network under `p`.
    pub fn new(p: &nn::Path, cfg: &ModelConfig) -> Self {
        let w = |c| scale(c, cfg.width, 1);
        let m = cfg.members;
        let stem = w(32);
        let pre =
            Chain::new(&(p / "pre"), m, 0, &[step(cfg.in_channels, stem, ConvSpec::new(1).padding(1), Act::Relu6)]);
        // (name, repeat, out, stride, t); stage1 and stage7 are single blocks, not Sequentials.
        let stages = [
            ("stage1", 1, 16, 1, 1),
            ("stage2", 2, 24, 2, 6),
            ("stage3", 3, 32, 2, 6),
            ("stage4", 4, 64, 2, 6),
            ("stage5", 3, 96, 1, 6),
            ("stage6", 3, 160, 1, 6),
            ("stage7", 1, 320, 1, 6),
        ];
        let mut blocks = Vec::new();
        let mut c_in = stem;
        for (name, repeat, out, stride, t) in stages {
            let out = w(out);
            for i in 0..repeat {
                let path = if repeat == 1 { p / name } else { p / name / i };
                blocks.push(LinearBottleneck::new(&path, m, c_in, out, if i == 0 { stride } else { 1 }, t));
                c_in = out;
            }
        }
        let last = w(1280);
        let conv1 = Chain::new(&(p / "conv1"), m, 0, &[step(c_in, last, ConvSpec::new(1), Act::Relu6)]);
        let conv2 = conv(p / "conv2", m, last, cfg.classes, ConvSpec::new(1));
        MobileNetV2 { pre, blocks, conv1, conv2 }
    }
}

impl ModuleT for MobileNetV2 {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut out = xs.apply_t(&self.pre, train);
        for b in &self.blocks {
            out = out.apply_t(b, train);
        }
        let pooled = out.apply_t(&self.conv1, train).adaptive_avg_pool2d([1, 1]);
        global_pool(&pooled.apply_t(&self.conv2, train))
    }
}
