//! The 5-layer "plain CNN" of the official code (`net.py`, from haitongli/knowledge-distillation-pytorch).
//!
//! 3 × [conv3×3 → BN → max-pool 2 → ReLU] with 32/64/128 channels → FC(2048 → 128) → BN1d → ReLU →
//! dropout 0.5 → FC(128 → K). The official FC expects exactly 4×4×128 features (32×32 input); tfkd
//! adaptively average-pools to 4×4 first, an identity at 32×32, so 28×28 and 64×64 inputs work too.

use tch::{nn, nn::ModuleT, Tensor};

use crate::layers::{bn, bn1d, conv, dropout, linear, Conv, ConvSpec, Linear};
use crate::width::scale;
use crate::ModelConfig;

/// The plain CNN.
#[derive(Debug)]
pub struct Cnn5 {
    convs: Vec<(Conv, nn::BatchNorm)>,
    fc1: Linear,
    fcbn1: nn::BatchNorm,
    fc2: Linear,
    members: i64,
}

impl Cnn5 {
    /// Builds the network under `p` (32 base channels, scaled by the width).
    pub fn new(p: &nn::Path, cfg: &ModelConfig) -> Self {
        let c = scale(32, cfg.width, 1);
        let m = cfg.members;
        let chans = [cfg.in_channels, c, 2 * c, 4 * c];
        let convs = (0..3)
            .map(|i| {
                (
                    conv(p / format!("conv{}", i + 1), m, chans[i], chans[i + 1], ConvSpec::new(3)),
                    bn(p / format!("bn{}", i + 1), m, chans[i + 1]),
                )
            })
            .collect();
        let fc1 = linear(p / "fc1", m, 16 * 4 * c, 4 * c, false);
        let fcbn1 = bn1d(p / "fcbn1", m, 4 * c);
        Cnn5 { convs, fc1, fcbn1, fc2: linear(p / "fc2", m, 4 * c, cfg.classes, false), members: m }
    }
}

impl ModuleT for Cnn5 {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut out = xs.shallow_clone();
        for (c, b) in &self.convs {
            out = out.apply_t(c, train).apply_t(b, train).max_pool2d_default(2).relu();
        }
        let flat = out.adaptive_avg_pool2d([4, 4]).flatten(1, -1);
        let hidden = flat.apply_t(&self.fc1, train).apply_t(&self.fcbn1, train).relu();
        dropout(&hidden, 0.5, train, self.members).apply_t(&self.fc2, train)
    }
}
