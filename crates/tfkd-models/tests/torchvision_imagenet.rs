//! tfkd's `torchvision.<name>` models against torchvision itself: the VarStore holds exactly torchvision's
//! state_dict keys and shapes (less `num_batches_tracked`, which tch's BatchNorm lacks), and the parameter
//! counts are torchvision's. The fixture `fixtures/torchvision_imagenet.json` is written by
//! `fixtures/torchvision_imagenet.py` from torchvision 0.26 (see that script for how it is run).

use std::collections::BTreeMap;

use serde_json::Value;
use tch::{nn, Device, Kind, Tensor};
use tfkd_models::{
    member, parameter_count, torchvision::NUM_BATCHES_TRACKED, with_dropout_keys, Arch, ModelConfig, Network,
    Torchvision,
};

/// torchvision's documented parameter counts (the `num_params` of each model's weights enum).
const DOCUMENTED: [(Torchvision, i64); 9] = [
    (Torchvision::ResNet18, 11_689_512),
    (Torchvision::ResNet34, 21_797_672),
    (Torchvision::ResNet50, 25_557_032),
    (Torchvision::ResNet101, 44_549_160),
    (Torchvision::ResNet152, 60_192_808),
    (Torchvision::ResNeXt50_32x4d, 25_028_904),
    (Torchvision::ResNeXt101_32x8d, 88_791_336),
    (Torchvision::DenseNet121, 7_978_856),
    (Torchvision::MobileNetV2, 3_504_872),
];

fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/torchvision_imagenet.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The fixture's record of one model at `classes` (the main entry or its `small` one).
fn record(fixture: &Value, name: &str, classes: i64) -> Value {
    let entry = fixture["models"].as_array().unwrap().iter().find(|m| m["name"] == name).unwrap();
    if entry["classes"] == classes {
        entry.clone()
    } else {
        entry["small"].clone()
    }
}

/// (key, shape) pairs of torchvision's state_dict without `num_batches_tracked`, in torchvision's order.
fn torchvision_keys(record: &Value) -> Vec<(String, Vec<i64>)> {
    record["state_dict"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| {
            let shape = kv[1].as_array().unwrap().iter().map(|d| d.as_i64().unwrap()).collect();
            (kv[0].as_str().unwrap().to_string(), shape)
        })
        .filter(|(k, _)| !k.ends_with(NUM_BATCHES_TRACKED))
        .collect()
}

fn build(tv: Torchvision, classes: i64) -> (nn::VarStore, Network) {
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Network::build(&vs, Arch::Torchvision(tv), ModelConfig::new(classes)).unwrap();
    (vs, net)
}

/// Every difference between our variables and torchvision's keys/shapes, as readable lines.
fn differences(vs: &nn::VarStore, want: &[(String, Vec<i64>)]) -> Vec<String> {
    let ours: BTreeMap<String, Vec<i64>> = vs.variables().into_iter().map(|(k, v)| (k, v.size())).collect();
    let theirs: BTreeMap<String, Vec<i64>> = want.iter().cloned().collect();
    let mut out = Vec::new();
    for (k, s) in &theirs {
        match ours.get(k) {
            None => out.push(format!("missing {k} {s:?}")),
            Some(o) if o != s => out.push(format!("{k}: ours {o:?}, torchvision {s:?}")),
            Some(_) => {}
        }
    }
    out.extend(ours.keys().filter(|k| !theirs.contains_key(*k)).map(|k| format!("extra {k}")));
    out
}

#[test]
fn varstores_are_torchvision_state_dicts_and_counts_are_torchvision_s() {
    let fixture = fixture();
    assert_eq!(fixture["torchvision"].as_str().unwrap().split('+').next(), Some("0.26.0"));
    let mut wrong = Vec::new();
    for (tv, documented) in DOCUMENTED {
        let rec = record(&fixture, tv.name(), 1000);
        assert_eq!(rec["params"].as_i64(), Some(documented), "{}: the fixture disagrees with the docs", tv.name());
        let (vs, _net) = build(tv, 1000);
        let want = torchvision_keys(&rec);
        assert!(want.len() > 50 && rec["state_dict"].as_array().unwrap().len() > want.len(), "{}", tv.name());
        wrong.extend(differences(&vs, &want).into_iter().map(|d| format!("{}: {d}", tv.name())));
        let count = parameter_count(&vs);
        if count != documented {
            wrong.push(format!("{}: {count} parameters, torchvision has {documented}", tv.name()));
        }
        let trainable: usize = vs.trainable_variables().len();
        let buffers = want.iter().filter(|(k, _)| k.ends_with("running_mean") || k.ends_with("running_var")).count();
        if trainable + buffers != want.len() {
            wrong.push(format!("{}: {trainable} trainable + {buffers} buffers != {}", tv.name(), want.len()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn ten_classes_change_only_the_classifier() {
    let fixture = fixture();
    for tv in [Torchvision::ResNet18, Torchvision::MobileNetV2] {
        let rec = record(&fixture, tv.name(), 10);
        assert_eq!(rec["classes"].as_i64(), Some(10));
        let (vs, _net) = build(tv, 10);
        let diffs = differences(&vs, &torchvision_keys(&rec));
        assert!(diffs.is_empty(), "{}: {}", tv.name(), diffs.join("\n"));
        assert_eq!(Some(parameter_count(&vs)), rec["params"].as_i64(), "{}", tv.name());
    }
}

#[test]
fn every_model_maps_a_small_image_to_k_logits() {
    for &arch in Arch::IMAGENET {
        for (config, channels) in
            [(ModelConfig::new(1000), 3), (ModelConfig { width: 0.25, in_channels: 1, ..ModelConfig::new(7) }, 1)]
        {
            let vs = nn::VarStore::new(Device::Cpu);
            let net = Network::build(&vs, arch, config).unwrap();
            let x = Tensor::randn([1, channels, 64, 64], (Kind::Float, Device::Cpu));
            let out = tch::no_grad(|| net.forward(&x, false));
            assert_eq!(out.size(), [1, config.classes], "{arch} at {config:?}");
            assert!(out.isfinite().all().int64_value(&[]) == 1, "{arch}: non-finite logits");
        }
    }
}

/// mean, std (unbiased, as torch's) and max |x| of a tensor.
fn stats(t: &Tensor) -> (f64, f64, f64) {
    let t = t.to_kind(Kind::Double);
    let std = if t.numel() > 1 { t.std(true).double_value(&[]) } else { 0.0 };
    (t.mean(Kind::Double).double_value(&[]), std, t.abs().max().double_value(&[]))
}

/// One parameter's statistics against torchvision's: constants exactly, random draws by distribution
/// (std within sampling error, and the family from max |x| / std: U(−b, b) sits at √3 ≈ 1.73, a normal
/// sample of 1,000 or more values above 3; the sample maximum of a normal is too noisy to compare closer).
fn init_mismatch(key: &str, ours: &Tensor, theirs: &[Value]) -> Option<String> {
    let [mean, std, max] = [&theirs[1], &theirs[2], &theirs[3]].map(|v| v.as_f64().unwrap());
    let (m, s, x) = stats(ours);
    let n = ours.numel() as f64;
    let bad = if std == 0.0 {
        s != 0.0 || m != mean
    } else {
        (s / std - 1.0).abs() > 0.05 + 5.0 / n.sqrt()
            || (m - mean).abs() > 6.0 * std / n.sqrt()
            || (n >= 1000.0 && (x / s > 2.4) != (max / std > 2.4))
    };
    bad.then(|| format!("{key}: ours mean {m:.3e} std {s:.3e} max {x:.3e}, torchvision {mean:.3e} {std:.3e} {max:.3e}"))
}

#[test]
fn initialisation_draws_from_torchvision_s_distributions() {
    let fixture = fixture();
    tch::manual_seed(0);
    let mut wrong = Vec::new();
    let mut checked = 0;
    for tv in [Torchvision::ResNet18, Torchvision::ResNeXt50_32x4d, Torchvision::DenseNet121, Torchvision::MobileNetV2]
    {
        let rec = record(&fixture, tv.name(), 1000);
        let (vs, _net) = build(tv, 1000);
        let vars = vs.variables();
        for row in rec["init"].as_array().unwrap() {
            let row = row.as_array().unwrap();
            let key = row[0].as_str().unwrap();
            checked += 1;
            wrong.extend(init_mismatch(key, &vars[key], row).map(|d| format!("{}: {d}", tv.name())));
        }
    }
    assert!(checked > 500, "{checked} parameters checked");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Fused arrays work for torchvision's models as for the CIFAR zoo (tests/members.rs): with oneDNN off, an
/// array of two members computes each member's logits bit for bit, in train mode (dropout) and eval mode.
/// 64×64 images: at 32×32 DenseNet's last block is 1×1, where libtorch's CPU batch norm takes a
/// channel-count-dependent path and fused and alone differ by ~1 ulp (2e-7), though not in structure.
#[test]
fn fused_arrays_compute_their_members_logits() {
    tfkd_models::kernels::set_onednn(false);
    let config = ModelConfig { width: 0.125, ..ModelConfig::new(10) };
    let keys = [5u64, 6];
    let xs: Vec<Tensor> = (0..2).map(|_| Tensor::randn([2, 3, 64, 64], (Kind::Float, Device::Cpu))).collect();
    let x = member::stack_inputs(&xs);
    for &arch in Arch::IMAGENET {
        // Each member's weights are drawn once and copied, so no other test's use of the RNG can interfere.
        let weights = [member::init(arch, config, 21).unwrap(), member::init(arch, config, 22).unwrap()];
        let fvs = nn::VarStore::new(Device::Cpu);
        let fused = Network::build(&fvs, arch, config.with_members(2)).unwrap();
        for (a, w) in weights.iter().enumerate() {
            member::set_weights(&fvs, a as i64, 2, w).unwrap();
        }
        let train = tch::no_grad(|| with_dropout_keys(&keys, || fused.forward(&x, true)));
        let eval = tch::no_grad(|| fused.forward(&x, false));
        for (a, w) in weights.iter().enumerate() {
            let vs = nn::VarStore::new(Device::Cpu);
            let net = Network::build(&vs, arch, config).unwrap();
            member::set_weights(&vs, 0, 1, w).unwrap();
            let alone = tch::no_grad(|| with_dropout_keys(&[keys[a]], || net.forward(&xs[a], true)));
            assert!(member::logits(&train, a as i64, 2).equal(&alone), "{arch} member {a}: train-mode logits differ");
            let alone = tch::no_grad(|| net.forward(&xs[a], false));
            assert!(member::logits(&eval, a as i64, 2).equal(&alone), "{arch} member {a}: eval logits differ");
        }
    }
}
