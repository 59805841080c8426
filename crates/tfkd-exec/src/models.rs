//! `tfkd models`: the zoo with parameter counts and forward FLOPs.

use serde::Serialize;
use tch::{nn, Device};
use tfkd_models::{parameter_count, Arch, ModelConfig, Network};

/// One row of the listing.
#[derive(Debug, Serialize)]
pub struct Row {
    /// Registry name.
    pub model: String,
    /// Trainable parameters.
    pub params: i64,
    /// Forward FLOPs per 32×32 image (2 × MACs of convs and linears).
    pub flops_32: u64,
}

/// Builds every model of the registry at `classes` and `width` and measures it.
pub fn list(classes: i64, width: f64) -> anyhow::Result<Vec<Row>> {
    Arch::ALL
        .iter()
        .map(|&arch| {
            let vs = nn::VarStore::new(Device::Cpu);
            let net = Network::build(&vs, arch, ModelConfig { width, ..ModelConfig::new(classes) })?;
            Ok(Row { model: arch.to_string(), params: parameter_count(&vs), flops_32: net.flops(32, 32, Device::Cpu) })
        })
        .collect()
}

/// Renders rows as an aligned text table with thousands separators.
#[must_use]
pub fn render(rows: &[Row], classes: i64, width: f64) -> String {
    let mut out =
        format!("models at K = {classes}, width {width}\n{:<18} {:>14} {:>16}\n", "model", "params", "GFLOPs @32x32");
    for r in rows {
        out += &format!("{:<18} {:>14} {:>16.3}\n", r.model, thousands(r.params), r.flops_32 as f64 / 1e9);
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
