//! torchvision's ResNet and ResNeXt (`torchvision.models.resnet`): 7×7 stride-2 stem, 3×3 max-pool, four
//! stages of BasicBlocks or Bottlenecks (stride on the 3×3, "ResNet V1.5"), adaptive average pool, `fc`.
//!
//! Init as torchvision's `ResNet.__init__`: `kaiming_normal_(mode="fan_out", nonlinearity="relu")` for every
//! conv, BN weight 1 and bias 0, PyTorch's default `fc` (`zero_init_residual = False`).

use tch::{nn, nn::ModuleT, Tensor};

use crate::layers::{bn_ones, conv, global_pool, linear, Conv, ConvSpec, Init, Linear};
use crate::width::scale;
use crate::ModelConfig;

/// The block type and per-stage depths of one torchvision ResNet/ResNeXt.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    /// Blocks per stage (`layers` in torchvision).
    pub depths: [usize; 4],
    /// Bottleneck (expansion 4) rather than BasicBlock.
    pub bottleneck: bool,
    /// Groups of the 3×3 conv in a bottleneck (`groups`).
    pub groups: i64,
    /// Channels per group at planes = 64 (`width_per_group`).
    pub width_per_group: i64,
}

/// A BasicBlock or Bottleneck: `conv1/bn1 … convN/bnN`, plus `downsample.0` (1×1 conv) / `downsample.1` (BN).
#[derive(Debug)]
struct Block {
    convs: Vec<(Conv, nn::BatchNorm)>,
    downsample: Option<(Conv, nn::BatchNorm)>,
}

/// What one block maps: input channels, planes (full width and scaled), stride.
#[derive(Debug, Clone, Copy)]
struct BlockShape {
    c_in: i64,
    planes_full: i64,
    planes: i64,
    stride: i64,
}

impl Block {
    fn new(p: &nn::Path, cfg: &ModelConfig, layout: &Layout, s: BlockShape) -> Self {
        let m = cfg.members;
        let k = |size| ConvSpec::new(size).no_bias().init(Init::KaimingFanOut);
        let (shapes, c_out) = if layout.bottleneck {
            // torchvision: width = int(planes * (base_width / 64.)) * groups; the per-group width scales.
            let per_group = scale(s.planes_full * layout.width_per_group / 64, cfg.width, 1);
            let width = per_group * layout.groups;
            let c_out = s.planes * 4;
            let shapes = vec![
                (s.c_in, width, k(1)),
                (width, width, k(3).stride(s.stride).groups(layout.groups)),
                (width, c_out, k(1)),
            ];
            (shapes, c_out)
        } else {
            (vec![(s.c_in, s.planes, k(3).stride(s.stride)), (s.planes, s.planes, k(3))], s.planes)
        };
        let convs = shapes
            .into_iter()
            .enumerate()
            .map(|(i, (a, b, spec))| {
                (conv(p / format!("conv{}", i + 1), m, a, b, spec), bn_ones(p / format!("bn{}", i + 1), m, b))
            })
            .collect();
        let downsample = (s.stride != 1 || s.c_in != c_out).then(|| {
            let d = p / "downsample";
            (conv(&d / "0", m, s.c_in, c_out, k(1).stride(s.stride)), bn_ones(&d / "1", m, c_out))
        });
        Block { convs, downsample }
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
        let identity = match &self.downsample {
            Some((c, b)) => xs.apply_t(c, train).apply_t(b, train),
            None => xs.shallow_clone(),
        };
        (out + identity).relu()
    }
}

/// torchvision's `ResNet` (ResNet-18/34/50/101/152, ResNeXt-50/101).
#[derive(Debug)]
pub(super) struct ResNet {
    stem: (Conv, nn::BatchNorm),
    blocks: Vec<Block>,
    fc: Linear,
}

impl ResNet {
    /// Builds the model under `p`; at width 1 its variables are torchvision's state_dict (less
    /// `num_batches_tracked`).
    pub(super) fn new(p: &nn::Path, cfg: &ModelConfig, layout: &Layout) -> Self {
        let m = cfg.members;
        let w = |c| scale(c, cfg.width, 1);
        let inplanes = w(64);
        let stem_spec = ConvSpec::new(7).stride(2).padding(3).no_bias().init(Init::KaimingFanOut);
        let stem = (conv(p / "conv1", m, cfg.in_channels, inplanes, stem_spec), bn_ones(p / "bn1", m, inplanes));
        let expansion = if layout.bottleneck { 4 } else { 1 };
        let mut c_in = inplanes;
        let mut blocks = Vec::new();
        for (stage, (&planes_full, &depth)) in [64, 128, 256, 512].iter().zip(&layout.depths).enumerate() {
            let sp = p / format!("layer{}", stage + 1);
            let planes = w(planes_full);
            for i in 0..depth {
                let stride = if i == 0 && stage > 0 { 2 } else { 1 };
                blocks.push(Block::new(&(&sp / i), cfg, layout, BlockShape { c_in, planes_full, planes, stride }));
                c_in = planes * expansion;
            }
        }
        let fc = linear(p / "fc", m, c_in, cfg.classes, false);
        ResNet { stem, blocks, fc }
    }
}

impl ModuleT for ResNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let out = xs.apply_t(&self.stem.0, train).apply_t(&self.stem.1, train).relu();
        let mut out = out.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        for b in &self.blocks {
            out = out.apply_t(b, train);
        }
        global_pool(&out).apply_t(&self.fc, train)
    }
}
