//! CIFAR ResNeXt-29 (8×64d) as in the official code (prlz77/ResNeXt.pytorch).
//!
//! Stem conv3×3 → 64; three stages of (depth−2)/9 = 3 bottlenecks with widths 256/512/1024
//! (64·widen_factor·2^i) and group width D = cardinality · ⌊base_width · out/(widen·64)⌋; global pool;
//! linear `classifier`. Init as the official code: kaiming_normal (fan_out) for every conv, BN weight
//! 1 and bias 0, kaiming_normal (fan_in) classifier weight with zero bias.

use tch::{nn, nn::ModuleT, Tensor};

use crate::layers::{bn, conv, global_pool, linear, Conv, ConvSpec, Init, Linear};
use crate::width::scale;
use crate::ModelConfig;

#[derive(Debug)]
struct Bottleneck {
    reduce: (Conv, nn::BatchNorm),
    grouped: (Conv, nn::BatchNorm),
    expand: (Conv, nn::BatchNorm),
    shortcut: Option<(Conv, nn::BatchNorm)>,
}

impl ModuleT for Bottleneck {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let out = xs.apply_t(&self.reduce.0, train).apply_t(&self.reduce.1, train).relu();
        let out = out.apply_t(&self.grouped.0, train).apply_t(&self.grouped.1, train).relu();
        let out = out.apply_t(&self.expand.0, train).apply_t(&self.expand.1, train);
        let short = match &self.shortcut {
            Some((c, b)) => xs.apply_t(c, train).apply_t(b, train),
            None => xs.shallow_clone(),
        };
        (out + short).relu()
    }
}

/// ResNeXt for CIFAR with the given cardinality, depth, base width and widen factor.
#[derive(Debug)]
pub struct ResNeXt {
    stem: (Conv, nn::BatchNorm),
    blocks: Vec<Bottleneck>,
    classifier: Linear,
}

impl ResNeXt {
    /// Builds ResNeXt-`depth` (`cardinality`×`base_width`d, widen 4) under `p`.
    pub fn new(p: &nn::Path, cfg: &ModelConfig, cardinality: i64, depth: i64, base_width: i64) -> Self {
        let widen = 4;
        let w = |c| scale(c, cfg.width, cardinality);
        let m = cfg.members;
        let base_width = scale(base_width, cfg.width, 1);
        let k = |size| ConvSpec::new(size).no_bias().init(Init::KaimingFanOut);
        let stages = [64, 64 * widen, 128 * widen, 256 * widen].map(w);
        let stem = (conv(p / "conv_1_3x3", m, cfg.in_channels, stages[0], k(3)), bn(p / "bn_1", m, stages[0]));
        let mut blocks = Vec::new();
        for i in 0..3 {
            let name = format!("stage_{}", i + 1);
            let (c_in_stage, c_out) = (stages[i], stages[i + 1]);
            for j in 0..(depth - 2) / 9 {
                let bp = (p / name.as_str()) / format!("{name}_bottleneck_{j}");
                let (c_in, stride) = if j == 0 { (c_in_stage, if i == 0 { 1 } else { 2 }) } else { (c_out, 1) };
                // width_ratio = out / (widen · 64) uses the paper's (unscaled) stage widths.
                let d = cardinality * (base_width * ((64 * widen) << i) / (widen * 64));
                blocks.push(Bottleneck {
                    reduce: (conv(&bp / "conv_reduce", m, c_in, d, k(1)), bn(&bp / "bn_reduce", m, d)),
                    grouped: (
                        conv(&bp / "conv_conv", m, d, d, k(3).stride(stride).groups(cardinality)),
                        bn(&bp / "bn", m, d),
                    ),
                    expand: (conv(&bp / "conv_expand", m, d, c_out, k(1)), bn(&bp / "bn_expand", m, c_out)),
                    // The official code projects only when the channels change, which they always do where the
                    // stride is 2 except at widths so small that two stages round to the same channels; there the
                    // identity would not match the strided output, so it is projected too.
                    shortcut: (c_in != c_out || stride != 1).then(|| {
                        let sp = &bp / "shortcut";
                        (
                            conv(&sp / "shortcut_conv", m, c_in, c_out, k(1).stride(stride)),
                            bn(&sp / "shortcut_bn", m, c_out),
                        )
                    }),
                });
            }
        }
        let classifier = linear(p / "classifier", m, stages[3], cfg.classes, true);
        ResNeXt { stem, blocks, classifier }
    }
}

impl ModuleT for ResNeXt {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut out = xs.apply_t(&self.stem.0, train).apply_t(&self.stem.1, train).relu();
        for b in &self.blocks {
            out = out.apply_t(b, train);
        }
        global_pool(&out).apply_t(&self.classifier, train)
    }
}
