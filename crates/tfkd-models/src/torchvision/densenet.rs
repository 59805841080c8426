//! torchvision's DenseNet (`torchvision.models.densenet`): 7×7 stride-2 `conv0`, `norm0`, ReLU, 3×3 max-pool;
//! dense blocks of BN-ReLU-1×1(bn_size·k)-BN-ReLU-3×3(k) layers; transitions BN-ReLU-1×1-avgpool2 halving
//! the channels; `norm5`, ReLU, adaptive average pool, `classifier`. `drop_rate = 0` (torchvision's default).
//!
//! Unlike the CIFAR DenseNet (docs/paper.md §5) the transition has a ReLU and the stem pools. Init as
//! torchvision: `kaiming_normal_` (fan-in) convs, BN weight 1 and bias 0, classifier bias 0.

use tch::{nn, nn::ModuleT, Tensor};

use crate::layers::{bn_ones, cat, conv, global_pool, linear_init, Conv, ConvSpec, Init, Linear, LinearInit};
use crate::width::scale;
use crate::ModelConfig;

#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // built once per model; boxing would only add an indirection per forward
enum Layer {
    /// `denselayerJ`: norm1-relu-conv1-norm2-relu-conv2, output concatenated to the input.
    Dense { norm1: nn::BatchNorm, conv1: Conv, norm2: nn::BatchNorm, conv2: Conv, members: i64 },
    /// `transitionI`: norm-relu-conv-avgpool(2, 2).
    Transition { norm: nn::BatchNorm, conv: Conv },
}

impl ModuleT for Layer {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        match self {
            Layer::Dense { norm1, conv1, norm2, conv2, members } => {
                let out = xs.apply_t(norm1, train).relu().apply_t(conv1, train);
                let out = out.apply_t(norm2, train).relu().apply_t(conv2, train);
                cat(&[xs.shallow_clone(), out], *members)
            }
            Layer::Transition { norm, conv } => xs.apply_t(norm, train).relu().apply_t(conv, train).avg_pool2d(
                [2, 2],
                [2, 2],
                [0, 0],
                false,
                true,
                None,
            ),
        }
    }
}

/// torchvision's `DenseNet` with growth rate 32, `bn_size` 4 and 64 initial features (scaled by the width).
#[derive(Debug)]
pub(super) struct DenseNet {
    stem: (Conv, nn::BatchNorm),
    layers: Vec<Layer>,
    norm5: nn::BatchNorm,
    classifier: Linear,
}

impl DenseNet {
    /// Builds DenseNet with the given block sizes (`block_config`) under `p`.
    pub(super) fn new(p: &nn::Path, cfg: &ModelConfig, blocks: &[i64]) -> Self {
        let m = cfg.members;
        let growth = scale(32, cfg.width, 1);
        let k = |size| ConvSpec::new(size).no_bias().init(Init::KaimingFanIn);
        let f = p / "features";
        let mut c = scale(64, cfg.width, 1);
        let stem = (conv(&f / "conv0", m, cfg.in_channels, c, k(7).stride(2).padding(3)), bn_ones(&f / "norm0", m, c));
        let mut layers = Vec::new();
        for (i, &n) in blocks.iter().enumerate() {
            let block = &f / format!("denseblock{}", i + 1);
            for j in 0..n {
                let lp = &block / format!("denselayer{}", j + 1);
                let inner = 4 * growth;
                layers.push(Layer::Dense {
                    norm1: bn_ones(&lp / "norm1", m, c),
                    conv1: conv(&lp / "conv1", m, c, inner, k(1)),
                    norm2: bn_ones(&lp / "norm2", m, inner),
                    conv2: conv(&lp / "conv2", m, inner, growth, k(3)),
                    members: m,
                });
                c += growth;
            }
            if i + 1 < blocks.len() {
                let tp = &f / format!("transition{}", i + 1);
                layers.push(Layer::Transition {
                    norm: bn_ones(&tp / "norm", m, c),
                    conv: conv(&tp / "conv", m, c, c / 2, k(1)),
                });
                c /= 2;
            }
        }
        let norm5 = bn_ones(&f / "norm5", m, c);
        let classifier = linear_init(p / "classifier", m, c, cfg.classes, LinearInit::ZeroBias);
        DenseNet { stem, layers, norm5, classifier }
    }
}

impl ModuleT for DenseNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let out = xs.apply_t(&self.stem.0, train).apply_t(&self.stem.1, train).relu();
        let mut out = out.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        for l in &self.layers {
            out = out.apply_t(l, train);
        }
        global_pool(&out.apply_t(&self.norm5, train).relu()).apply_t(&self.classifier, train)
    }
}
