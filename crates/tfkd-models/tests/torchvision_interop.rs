//! Against real torchvision (ignored: needs the files `fixtures/torchvision_interop.py make DIR` writes,
//! ~120 MB, never committed; `fixtures/torchvision_interop.sh` runs the whole check):
//! with `TFKD_TORCHVISION_INTEROP=DIR`, torchvision's state dicts load into tfkd's models and give
//! torchvision's logits (eval mode, and train mode with batch statistics) to 1e-4; then tfkd exports each
//! model to `DIR/<name>-tfkd.pth`, which `torchvision_interop.py check DIR` loads into torchvision strictly.

use std::path::{Path, PathBuf};

use tch::{nn, Device, Tensor};
use tfkd_models::torchvision::{export_torchvision, load_torchvision};
use tfkd_models::{Arch, ModelConfig, Network, Torchvision};

const TOLERANCE: f64 = 1e-4;

fn raw(dir: &Path, file: &str, key: &str) -> Option<Tensor> {
    let sd = tfkd_pth::read(&dir.join(file)).unwrap();
    let t = sd.get(key)?;
    let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
    Some(Tensor::from_slice(&t.to_f32_vec().unwrap()).reshape(shape.as_slice()))
}

/// max |a − b|, or infinity if either holds a NaN or an infinity (which `f64::max` would hide).
fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    let d = (a - b).abs().max().double_value(&[]);
    if d.is_finite() {
        d
    } else {
        f64::INFINITY
    }
}

#[test]
#[ignore = "needs TFKD_TORCHVISION_INTEROP=DIR from fixtures/torchvision_interop.py make DIR"]
fn torchvision_weights_give_torchvision_logits_and_exports_are_written() {
    let dir = PathBuf::from(std::env::var("TFKD_TORCHVISION_INTEROP").expect("TFKD_TORCHVISION_INTEROP=DIR"));
    let mut worst: f64 = 0.0;
    for tv in [Torchvision::ResNet18, Torchvision::MobileNetV2, Torchvision::DenseNet121] {
        let name = tv.name();
        let mut vs = nn::VarStore::new(Device::Cpu);
        let net = Network::build(&vs, Arch::Torchvision(tv), ModelConfig::new(1000)).unwrap();
        let report = load_torchvision(&mut vs, &dir.join(format!("{name}.pth"))).unwrap();
        let io = format!("{name}-io.pth");
        let x = raw(&dir, &io, "input").unwrap();
        let want = raw(&dir, &io, "eval").unwrap();
        let eval = max_diff(&tch::no_grad(|| net.forward(&x, false)), &want);
        let train = raw(&dir, &io, "train").map(|want| max_diff(&tch::no_grad(|| net.forward(&x, true)), &want));
        println!(
            "{name}: loaded {} variables (skipped {} num_batches_tracked); torchvision's logits have std {:.3}; \
             max |logit diff| eval {eval:.3e}, train {}",
            report.loaded,
            report.skipped_num_batches_tracked,
            want.std(true).double_value(&[]),
            train.map_or("-".to_string(), |d| format!("{d:.3e}"))
        );
        worst = worst.max(eval).max(train.unwrap_or(0.0));
        // Export the loaded weights (the train-mode pass above moved the running statistics: reload first).
        load_torchvision(&mut vs, &dir.join(format!("{name}.pth"))).unwrap();
        export_torchvision(&vs, &dir.join(format!("{name}-tfkd.pth"))).unwrap();
    }
    // torchvision's pretrained DenseNet121 file still has the pre-0.4 key names (`norm.1.weight`).
    let mut vs = nn::VarStore::new(Device::Cpu);
    let net = Network::build(&vs, Arch::Torchvision(Torchvision::DenseNet121), ModelConfig::new(1000)).unwrap();
    load_torchvision(&mut vs, &dir.join("densenet121-legacy.pth")).unwrap();
    let x = raw(&dir, "densenet121-io.pth", "input").unwrap();
    let legacy = max_diff(&tch::no_grad(|| net.forward(&x, false)), &raw(&dir, "densenet121-io.pth", "eval").unwrap());
    println!("densenet121 with pre-0.4 key names: max |logit diff| eval {legacy:.3e}");
    worst = worst.max(legacy);
    assert!(worst <= TOLERANCE, "max |logit diff| {worst:.3e} > {TOLERANCE}");
}
