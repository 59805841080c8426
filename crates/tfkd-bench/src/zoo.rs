//! `tfkd models`: the zoo with parameter counts and forward FLOPs; `--imagenet` lists torchvision's models.

use serde::Serialize;
use tch::{nn, Device};
use tfkd_models::{parameter_count, Arch, ModelConfig, Network};

/// Which part of the zoo to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zoo {
    /// The paper's CIFAR models ([`Arch::ALL`]), measured on 32×32 images, K = 100 by default.
    Cifar,
    /// torchvision's ImageNet models ([`Arch::IMAGENET`]), measured on 224×224 images, K = 1000 by default.
    Imagenet,
}

impl Zoo {
    /// The architectures listed.
    #[must_use]
    pub fn archs(self) -> &'static [Arch] {
        match self {
            Zoo::Cifar => Arch::ALL,
            Zoo::Imagenet => Arch::IMAGENET,
        }
    }

    /// K when none is given: CIFAR-100's 100 or ImageNet's 1,000.
    #[must_use]
    pub fn default_classes(self) -> i64 {
        match self {
            Zoo::Cifar => 100,
            Zoo::Imagenet => 1000,
        }
    }

    /// The side of the square images FLOPs are measured on: 32 (CIFAR) or 224 (ImageNet's crops).
    #[must_use]
    pub fn image_size(self) -> i64 {
        match self {
            Zoo::Cifar => 32,
            Zoo::Imagenet => 224,
        }
    }
}

/// One row of the listing.
#[derive(Debug, Serialize)]
pub struct Row {
    /// Registry name.
    pub model: String,
    /// Trainable parameters.
    pub params: i64,
    /// Side of the square input the FLOPs are measured on (32 or 224).
    pub image_size: i64,
    /// Forward FLOPs per image of that size (2 × MACs of convs and linears).
    pub flops: u64,
}

/// Builds every model of `zoo` at `classes` and `width` and measures it.
pub fn list(zoo: Zoo, classes: i64, width: f64) -> anyhow::Result<Vec<Row>> {
    let size = zoo.image_size();
    zoo.archs()
        .iter()
        .map(|&arch| {
            let vs = nn::VarStore::new(Device::Cpu);
            let net = Network::build(&vs, arch, ModelConfig { width, ..ModelConfig::new(classes) })?;
            let flops = net.flops(size, size, Device::Cpu);
            Ok(Row { model: arch.to_string(), params: parameter_count(&vs), image_size: size, flops })
        })
        .collect()
}

/// Renders rows as an aligned text table with thousands separators.
#[must_use]
pub fn render(rows: &[Row], classes: i64, width: f64) -> String {
    let size = rows.first().map_or(32, |r| r.image_size);
    let flops = format!("GFLOPs @{size}x{size}");
    let mut out = format!("models at K = {classes}, width {width}\n{:<30} {:>14} {:>16}\n", "model", "params", flops);
    for r in rows {
        out += &format!("{:<30} {:>14} {:>16.3}\n", r.model, thousands(r.params), r.flops as f64 / 1e9);
    }
    out
}

/// 11220132 → "11,220,132".
#[must_use]
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_separators() {
        assert_eq!(super::thousands(11_220_132), "11,220,132");
        assert_eq!(super::thousands(124), "124");
        assert_eq!(super::thousands(-1000), "-1,000");
    }
}
