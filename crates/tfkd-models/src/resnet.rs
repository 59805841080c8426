//! ResNet-18/34/50/101 as in the official code (kuangliu's CIFAR variant) and the small CIFAR
//! ResNet-8/14/20/32 of He et al. (2016).

use tch::{nn, nn::ModuleT, Tensor};

use crate::layers::{bn, conv, global_pool, linear, pad_channels, Conv, ConvSpec, Linear};
use crate::width::scale;
use crate::ModelConfig;

/// Residual block of a [`ResNet`]: basic (two 3×3) or bottleneck (1×1, 3×3, 1×1, expansion 4).
#[derive(Debug)]
struct Block {
    convs: Vec<(Conv, nn::BatchNorm)>,
    shortcut: Shortcut,
}

#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // built once per model; boxing would only add an indirection per forward
enum Shortcut {
    Identity,
    /// 1×1 strided conv + BN (kuangliu; He et al.'s option B).
    Projection(Conv, nn::BatchNorm),
    /// Parameter-free: subsample by 2 and zero-pad the new channels (He et al.'s option A for CIFAR).
    ZeroPad {
        stride: i64,
        extra: i64,
        members: i64,
    },
}

impl Block {
    fn new(p: &nn::Path, m: i64, c_in: i64, planes: i64, stride: i64, bottleneck: bool, zero_pad: bool) -> Self {
        let expansion = if bottleneck { 4 } else { 1 };
        let c_out = planes * expansion;
        let k3 = ConvSpec::new(3).no_bias();
        let k1 = ConvSpec::new(1).no_bias();
        let shapes: Vec<(i64, i64, ConvSpec)> = if bottleneck {
            vec![(c_in, planes, k1), (planes, planes, k3.stride(stride)), (planes, c_out, k1)]
        } else {
            vec![(c_in, planes, k3.stride(stride)), (planes, planes, k3)]
        };
        let convs = shapes
            .into_iter()
            .enumerate()
            .map(|(i, (a, b, s))| {
                (conv(p / format!("conv{}", i + 1), m, a, b, s), bn(p / format!("bn{}", i + 1), m, b))
            })
            .collect();
        let shortcut = if stride == 1 && c_in == c_out {
            Shortcut::Identity
        } else if zero_pad {
            Shortcut::ZeroPad { stride, extra: c_out - c_in, members: m }
        } else {
            let sc = p / "shortcut";
            Shortcut::Projection(conv(&sc / "0", m, c_in, c_out, k1.stride(stride)), bn(&sc / "1", m, c_out))
        };
        Block { convs, shortcut }
    }
}

impl ModuleT for Block {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let last = self.convs.len() - 1;
        let mut out = xs.shallow_clone();
        for (i, (c, b)) in self.convs.iter().enumerate() {
            out = out.apply_t(c, train).apply_t(b, train);
            if i < last {
                out = out.relu();
            }
        }
        let short = match &self.shortcut {
            Shortcut::Identity => xs.shallow_clone(),
            Shortcut::Projection(c, b) => xs.apply_t(c, train).apply_t(b, train),
            Shortcut::ZeroPad { stride, extra, members } => {
                let sub = xs.slice(2, 0, None, *stride).slice(3, 0, None, *stride);
                pad_channels(&sub, extra / 2, extra - extra / 2, *members)
            }
        };
        (out + short).relu()
    }
}

/// A CIFAR ResNet: 3×3 stem without max-pool, residual stages, global average pool, linear head.
#[derive(Debug)]
pub struct ResNet {
    stem: (Conv, nn::BatchNorm),
    blocks: Vec<Block>,
    head: Linear,
}

impl ResNet {
    /// kuangliu's ResNet: stem 64, stages 64/128/256/512 with strides 1/2/2/2; head named `linear`.
    pub fn imagenet_style(p: &nn::Path, cfg: &ModelConfig, depths: [usize; 4], bottleneck: bool) -> Self {
        let w = |c| scale(c, cfg.width, 1);
        let planes = [64, 128, 256, 512].map(w);
        Self::build(p, cfg, w(64), &planes, &[1, 2, 2, 2], &depths, bottleneck, false)
    }

    /// He et al.'s CIFAR ResNet of depth 6n+2: stem 16, stages 16/32/64, zero-padding shortcuts.
    pub fn cifar(p: &nn::Path, cfg: &ModelConfig, depth: usize) -> Self {
        let n = (depth - 2) / 6;
        let w = |c| scale(c, cfg.width, 1);
        let planes = [16, 32, 64].map(w);
        Self::build(p, cfg, w(16), &planes, &[1, 2, 2], &[n; 3], false, true)
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        p: &nn::Path,
        cfg: &ModelConfig,
        stem: i64,
        planes: &[i64],
        strides: &[i64],
        depths: &[usize],
        bottleneck: bool,
        zero_pad: bool,
    ) -> Self {
        let m = cfg.members;
        let stem_layers =
            (conv(p / "conv1", m, cfg.in_channels, stem, ConvSpec::new(3).no_bias()), bn(p / "bn1", m, stem));
        let expansion = if bottleneck { 4 } else { 1 };
        let mut c_in = stem;
        let mut blocks = Vec::new();
        for (stage, ((&pl, &stride), &depth)) in planes.iter().zip(strides).zip(depths).enumerate() {
            let sp = p / format!("layer{}", stage + 1);
            for i in 0..depth {
                let s = if i == 0 { stride } else { 1 };
                blocks.push(Block::new(&(&sp / i), m, c_in, pl, s, bottleneck, zero_pad));
                c_in = pl * expansion;
            }
        }
        let head = linear(p / "linear", m, c_in, cfg.classes, false);
        ResNet { stem: stem_layers, blocks, head }
    }
}

impl ModuleT for ResNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut out = xs.apply_t(&self.stem.0, train).apply_t(&self.stem.1, train).relu();
        for b in &self.blocks {
            out = out.apply_t(b, train);
        }
        global_pool(&out).apply_t(&self.head, train)
    }
}
