//! ShuffleNetV2 (ratio 1) as in the official code (weiaicunzai/pytorch-cifar100's version).
//!
//! Faithful quirks: the stem is conv3×3 + BN with **no ReLU and no max-pool**, and every conv has a bias.

use tch::{nn, nn::ModuleT, Tensor};

use crate::layers::{cat_shuffle2, global_pool, linear, split, step, Act, Chain, ConvSpec, Linear};
use crate::width::scale;
use crate::ModelConfig;

/// A ShuffleNetV2 unit: channel split (stride 1) or two strided branches (down-sampling).
#[derive(Debug)]
struct ShuffleUnit {
    residual: Chain,
    shortcut: Option<Chain>,
    split: i64,
    members: i64,
}

impl ShuffleUnit {
    fn new(p: &nn::Path, m: i64, c_in: i64, c_out: i64, stride: i64) -> Self {
        let k1 = ConvSpec::new(1);
        if stride != 1 || c_in != c_out {
            let dw = ConvSpec::new(3).stride(stride).groups(c_in);
            let residual = Chain::new(
                &(p / "residual"),
                m,
                0,
                &[
                    step(c_in, c_in, k1, Act::Relu),
                    step(c_in, c_in, dw, Act::Identity),
                    step(c_in, c_out / 2, k1, Act::Relu),
                ],
            );
            let shortcut = Chain::new(
                &(p / "shortcut"),
                m,
                0,
                &[step(c_in, c_in, dw, Act::Identity), step(c_in, c_out / 2, k1, Act::Relu)],
            );
            ShuffleUnit { residual, shortcut: Some(shortcut), split: 0, members: m }
        } else {
            let half = c_in / 2;
            let dw = ConvSpec::new(3).groups(half);
            let residual = Chain::new(
                &(p / "residual"),
                m,
                0,
                &[
                    step(half, half, k1, Act::Relu),
                    step(half, half, dw, Act::Identity),
                    step(half, half, k1, Act::Relu),
                ],
            );
            ShuffleUnit { residual, shortcut: None, split: half, members: m }
        }
    }
}

impl ModuleT for ShuffleUnit {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let (short, res) = match &self.shortcut {
            None => {
                let parts = split(xs, &[self.split, self.split], self.members);
                (parts[0].shallow_clone(), parts[1].apply_t(&self.residual, train))
            }
            Some(sc) => (xs.apply_t(sc, train), xs.apply_t(&self.residual, train)),
        };
        cat_shuffle2(&short, &res, self.members)
    }
}

/// ShuffleNetV2 for CIFAR: stem 24, stages 116/232/464 of 1 + (3, 7, 3) units, conv5 1024, linear head `fc`.
#[derive(Debug)]
pub struct ShuffleNetV2 {
    pre: Chain,
    units: Vec<ShuffleUnit>,
    conv5: Chain,
    fc: Linear,
}

impl ShuffleNetV2 {
    /// Builds the network under `p`; channel counts stay even so the split is valid at any width.
    pub fn new(p: &nn::Path, cfg: &ModelConfig) -> Self {
        let w = |c| scale(c, cfg.width, 2);
        let m = cfg.members;
        let stem = w(24);
        let pre = Chain::new(&(p / "pre"), m, 0, &[step(cfg.in_channels, stem, ConvSpec::new(3), Act::Identity)]);
        let mut units = Vec::new();
        let mut c_in = stem;
        for (stage, (out, repeat)) in [(116, 3), (232, 7), (464, 3)].into_iter().enumerate() {
            let out = w(out);
            let sp = p / format!("stage{}", stage + 2);
            units.push(ShuffleUnit::new(&(&sp / 0), m, c_in, out, 2));
            for i in 1..=repeat {
                units.push(ShuffleUnit::new(&(&sp / i), m, out, out, 1));
            }
            c_in = out;
        }
        let last = scale(1024, cfg.width, 1);
        let conv5 = Chain::new(&(p / "conv5"), m, 0, &[step(c_in, last, ConvSpec::new(1), Act::Relu)]);
        let fc = linear(p / "fc", m, last, cfg.classes, false);
        ShuffleNetV2 { pre, units, conv5, fc }
    }
}

impl ModuleT for ShuffleNetV2 {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut out = xs.apply_t(&self.pre, train);
        for u in &self.units {
            out = out.apply_t(u, train);
        }
        global_pool(&out.apply_t(&self.conv5, train)).apply_t(&self.fc, train)
    }
}
