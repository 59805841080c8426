//! torchvision's MobileNetV2 (`torchvision.models.mobilenetv2`): `features.0` = 3×3 stride-2 conv-BN-ReLU6,
//! `features.1..=17` inverted residuals, `features.18` = 1×1 conv-BN-ReLU6 to 1280, adaptive average pool,
//! `classifier` = Dropout(0.2) → Linear.
//!
//! An inverted residual is `conv.0` (1×1 expansion conv-BN-ReLU6, absent when t = 1), the depthwise 3×3
//! conv-BN-ReLU6, then a 1×1 projection conv and BN, numbered as torchvision's `nn.Sequential` numbers them;
//! convs have no bias. Init as torchvision: `kaiming_normal_(mode="fan_out")` convs, BN weight 1 and bias 0
//! ([`Step::bn_ones`]),
//! classifier weight N(0, 0.01²) and bias 0. The dropout is the zoo's keyed [`dropout`].
//!
//! Width: every channel count scales with the zoo's [`scale`] to a multiple of 8 (the 1280 too); at width 1
//! this is torchvision's model. (torchvision's own `width_mult` rounds alike but never shrinks the 1280.)

use tch::{nn, nn::ModuleT, Tensor};

#[cfg(doc)]
use crate::layers::Step;
use crate::layers::{dropout, global_pool, linear_init, step, Act, Chain, ConvSpec, Init, Linear, LinearInit};
use crate::width::scale;
use crate::ModelConfig;

/// The dropout probability before the classifier (torchvision's `dropout=0.2`).
const DROPOUT: f64 = 0.2;

/// One inverted residual: its conv-BN(-ReLU6) chains in order, residual when stride 1 and in == out.
#[derive(Debug)]
struct InvertedResidual {
    chains: Vec<Chain>,
    residual: bool,
}

impl InvertedResidual {
    fn new(p: &nn::Path, m: i64, c_in: i64, c_out: i64, stride: i64, t: i64) -> Self {
        let k = |size| ConvSpec::new(size).no_bias().init(Init::KaimingFanOut);
        let conv = p / "conv";
        let hidden = c_in * t;
        let mut chains = Vec::new();
        if t != 1 {
            chains.push(Chain::new(&(&conv / 0), m, 0, &[step(c_in, hidden, k(1), Act::Relu6).bn_ones()]));
        }
        let dw = chains.len();
        chains.push(Chain::new(
            &(&conv / dw),
            m,
            0,
            &[step(hidden, hidden, k(3).stride(stride).groups(hidden), Act::Relu6).bn_ones()],
        ));
        chains.push(Chain::new(&conv, m, dw + 1, &[step(hidden, c_out, k(1), Act::Identity).bn_ones()]));
        InvertedResidual { chains, residual: stride == 1 && c_in == c_out }
    }
}

impl ModuleT for InvertedResidual {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let out = self.chains.iter().fold(xs.shallow_clone(), |x, c| x.apply_t(c, train));
        if self.residual {
            out + xs
        } else {
            out
        }
    }
}

/// torchvision's `MobileNetV2` (width multiplier 1, `round_nearest` 8).
#[derive(Debug)]
pub(super) struct MobileNetV2 {
    stem: Chain,
    blocks: Vec<InvertedResidual>,
    last: Chain,
    classifier: Linear,
    members: i64,
}

impl MobileNetV2 {
    /// Builds the network under `p`.
    pub(super) fn new(p: &nn::Path, cfg: &ModelConfig) -> Self {
        let m = cfg.members;
        let w = |c| scale(c, cfg.width, 8);
        let k = |size| ConvSpec::new(size).no_bias().init(Init::KaimingFanOut);
        let f = p / "features";
        let mut c_in = w(32);
        let stem = Chain::new(&(&f / 0), m, 0, &[step(cfg.in_channels, c_in, k(3).stride(2), Act::Relu6).bn_ones()]);
        // torchvision's inverted_residual_setting: (t, c, n, s).
        let setting =
            [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)];
        let mut blocks = Vec::new();
        for (t, c, n, s) in setting {
            let c_out = w(c);
            for i in 0..n {
                let stride = if i == 0 { s } else { 1 };
                blocks.push(InvertedResidual::new(&(&f / (blocks.len() + 1)), m, c_in, c_out, stride, t));
                c_in = c_out;
            }
        }
        let c_last = w(1280);
        let last = Chain::new(&(&f / (blocks.len() + 1)), m, 0, &[step(c_in, c_last, k(1), Act::Relu6).bn_ones()]);
        let classifier = linear_init(p / "classifier" / 1, m, c_last, cfg.classes, LinearInit::Normal { std: 0.01 });
        MobileNetV2 { stem, blocks, last, classifier, members: m }
    }
}

impl ModuleT for MobileNetV2 {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut out = xs.apply_t(&self.stem, train);
        for b in &self.blocks {
            out = out.apply_t(b, train);
        }
        let pooled = global_pool(&out.apply_t(&self.last, train));
        dropout(&pooled, DROPOUT, train, self.members).apply_t(&self.classifier, train)
    }
}
