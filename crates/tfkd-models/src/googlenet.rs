//! GoogLeNet as in the official code (weiaicunzai/pytorch-cifar100's version).
//!
//! The 5×5 branch is two stacked 3×3 convs. The official code writes `nn.BatchNorm2d(n5x5, n5x5)`
//! for the first BN of that branch, whose second positional argument is `eps`: that BN runs with
//! **eps = n5x5** (32 … 128). [`crate::ModelConfig::googlenet_bn_eps_quirk`] reproduces this
//! accident (the paper profile sets it); off, the BN has the usual eps = 1e-5.

use tch::{nn, nn::ModuleT, Tensor};

use crate::layers::{cat, dropout, global_pool, linear, step, Act, Chain, ConvSpec, Linear, Step};
use crate::width::scale;
use crate::ModelConfig;

/// One Inception module: 1×1 | 1×1→3×3 | 1×1→3×3→3×3 | maxpool→1×1, concatenated.
#[derive(Debug)]
struct Inception {
    b1: Chain,
    b2: Chain,
    b3: Chain,
    b4: Chain,
    members: i64,
}

impl Inception {
    /// Channel counts as in the official constructor: (n1x1, n3x3_reduce, n3x3, n5x5_reduce, n5x5, pool_proj).
    fn new(p: &nn::Path, m: i64, c_in: i64, n: [i64; 6], quirk: bool) -> Self {
        let [n1, n3r, n3, n5r, n5, pp] = n;
        let (k1, k3) = (ConvSpec::new(1), ConvSpec::new(3));
        let quirky = Step { bn_eps: if quirk { n5 as f64 } else { 1e-5 }, ..step(n5r, n5, k3, Act::Relu) };
        Inception {
            b1: Chain::new(&(p / "b1"), m, 0, &[step(c_in, n1, k1, Act::Relu)]),
            b2: Chain::new(&(p / "b2"), m, 0, &[step(c_in, n3r, k1, Act::Relu), step(n3r, n3, k3, Act::Relu)]),
            b3: Chain::new(&(p / "b3"), m, 0, &[step(c_in, n5r, k1, Act::Relu), quirky, step(n5, n5, k3, Act::Relu)]),
            // Index 0 of the official b4 Sequential is the 3×3/1 max-pool.
            b4: Chain::new(&(p / "b4"), m, 1, &[step(c_in, pp, k1, Act::Relu)]),
            members: m,
        }
    }

    fn out_channels(n: [i64; 6]) -> i64 {
        n[0] + n[2] + n[4] + n[5]
    }
}

impl ModuleT for Inception {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let pooled = xs.max_pool2d([3, 3], [1, 1], [1, 1], [1, 1], false);
        cat(
            &[
                xs.apply_t(&self.b1, train),
                xs.apply_t(&self.b2, train),
                xs.apply_t(&self.b3, train),
                pooled.apply_t(&self.b4, train),
            ],
            self.members,
        )
    }
}

/// GoogLeNet for CIFAR: prelayer 3×3 → 192, Inception 3a–3b, max-pool, 4a–4e, max-pool, 5a–5b, dropout 0.4, linear.
#[derive(Debug)]
pub struct GoogLeNet {
    prelayer: Chain,
    stages: Vec<Vec<Inception>>,
    linear: Linear,
    members: i64,
}

/// (name, n1x1, n3x3_reduce, n3x3, n5x5_reduce, n5x5, pool_proj) per stage, as in the official code.
type Modules = &'static [(&'static str, [i64; 6])];
const STAGES: [Modules; 3] = [
    &[("a3", [64, 96, 128, 16, 32, 32]), ("b3", [128, 128, 192, 32, 96, 64])],
    &[
        ("a4", [192, 96, 208, 16, 48, 64]),
        ("b4", [160, 112, 224, 24, 64, 64]),
        ("c4", [128, 128, 256, 24, 64, 64]),
        ("d4", [112, 144, 288, 32, 64, 64]),
        ("e4", [256, 160, 320, 32, 128, 128]),
    ],
    &[("a5", [256, 160, 320, 32, 128, 128]), ("b5", [384, 192, 384, 48, 128, 128])],
];

impl GoogLeNet {
    /// Builds the network under `p`.
    pub fn new(p: &nn::Path, cfg: &ModelConfig) -> Self {
        let w = |c| scale(c, cfg.width, 1);
        let members = cfg.members;
        let stem = w(192);
        let prelayer =
            Chain::new(&(p / "prelayer"), members, 0, &[step(cfg.in_channels, stem, ConvSpec::new(3), Act::Relu)]);
        let mut c_in = stem;
        let stages = STAGES
            .iter()
            .map(|modules| {
                modules
                    .iter()
                    .map(|(name, n)| {
                        let n = n.map(w);
                        let module = Inception::new(&(p / *name), members, c_in, n, cfg.googlenet_bn_eps_quirk);
                        c_in = Inception::out_channels(n);
                        module
                    })
                    .collect()
            })
            .collect();
        GoogLeNet { prelayer, stages, linear: linear(p / "linear", members, c_in, cfg.classes, false), members }
    }
}

impl ModuleT for GoogLeNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut out = xs.apply_t(&self.prelayer, train);
        for (i, stage) in self.stages.iter().enumerate() {
            if i > 0 {
                out = out.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
            }
            for m in stage {
                out = out.apply_t(m, train);
            }
        }
        // Dropout2d on the pooled N×C×1×1 map drops whole channels, as in the official code.
        let pooled = dropout(&out.adaptive_avg_pool2d([1, 1]), 0.4, train, self.members);
        global_pool(&pooled).apply_t(&self.linear, train)
    }
}
