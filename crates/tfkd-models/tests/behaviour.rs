//! Every model: shapes on several input sizes, a training step, BatchNorm modes, checkpoints, teachers.

use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};
use tfkd_models::{parameter_count, Arch, ModelConfig, Network, Teacher};

/// Small widths keep these tests fast; the structure is the same at every width.
fn small(classes: i64) -> ModelConfig {
    ModelConfig { width: 0.25, ..ModelConfig::new(classes) }
}

fn build(arch: Arch, config: ModelConfig, seed: i64) -> (nn::VarStore, Network) {
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Network::build(&vs, arch, config).unwrap();
    (vs, net)
}

fn images(n: i64, c: i64, hw: i64) -> Tensor {
    tch::manual_seed(7);
    Tensor::randn([n, c, hw, hw], (Kind::Float, Device::Cpu))
}

#[test]
fn logits_shape_on_cifar_tiny_imagenet_and_mnist_inputs() {
    for &arch in Arch::ALL {
        let (_vs, net) = build(arch, small(100), 0);
        for hw in [32, 64] {
            let out = tch::no_grad(|| net.forward(&images(2, 3, hw), false));
            assert_eq!(out.size(), [2, 100], "{arch} at {hw}×{hw}");
        }
        let (_vs, gray) = build(arch, ModelConfig { in_channels: 1, ..small(10) }, 0);
        let out = tch::no_grad(|| gray.forward(&images(2, 1, 28), false));
        assert_eq!(out.size(), [2, 10], "{arch} at 28×28×1");
    }
}

/// At widths so small that channel counts round to their minimum, stages of different widths can end up with
/// the same channels: every model still builds and runs (a stride-2 block then projects its shortcut).
#[test]
fn every_model_runs_at_the_smallest_widths() {
    for width in [0.01, 1e-6] {
        for &arch in Arch::ALL {
            let (_vs, net) = build(arch, ModelConfig { width, ..ModelConfig::new(10) }, 0);
            let out = tch::no_grad(|| net.forward(&images(2, 3, 32), false));
            assert_eq!(out.size(), [2, 10], "{arch} at width {width}");
        }
    }
}

#[test]
fn one_sgd_step_changes_the_loss() {
    let labels = Tensor::from_slice(&[0i64, 1, 2, 3, 4, 5, 6, 7]);
    for &arch in Arch::ALL {
        let (vs, net) = build(arch, small(10), 1);
        let mut opt = nn::Sgd { momentum: 0.9, ..Default::default() }.build(&vs, 0.05).unwrap();
        let x = images(8, 3, 32);
        let loss = |net: &Network| net.forward(&x, true).cross_entropy_for_logits(&labels);
        let before = loss(&net);
        opt.backward_step(&before);
        let after = loss(&net);
        let (b, a) = (before.double_value(&[]), after.double_value(&[]));
        assert!(b.is_finite() && a.is_finite() && a != b, "{arch}: loss {b} -> {a}");
    }
}

#[test]
fn train_and_eval_mode_differ_in_batch_norm() {
    for &arch in Arch::ALL {
        let (vs, net) = build(arch, small(10), 2);
        let x = images(4, 3, 32) * 3.0 + 1.0;
        let running = |vs: &nn::VarStore| {
            vs.variables()
                .iter()
                .filter(|(k, _)| k.ends_with("running_mean"))
                .map(|(_, v)| v.abs().sum(Kind::Double).double_value(&[]))
                .sum::<f64>()
        };
        let stats_before = running(&vs);
        let eval = tch::no_grad(|| net.forward(&x, false));
        assert_eq!(running(&vs), stats_before, "{arch}: eval must not touch running stats");
        let train = tch::no_grad(|| net.forward(&x, true));
        assert_ne!(running(&vs), stats_before, "{arch}: train mode updates running stats");
        assert!(!eval.allclose(&train, 1e-4, 1e-4, false), "{arch}: train and eval outputs coincide");
    }
}

#[test]
fn save_load_round_trips_bit_exactly() {
    let dir = tempfile::tempdir().unwrap();
    for &arch in Arch::ALL {
        let (vs, net) = build(arch, small(10), 3);
        let _ = tch::no_grad(|| net.forward(&images(4, 3, 32), true)); // move BN statistics off their init
        let path = dir.path().join(format!("{arch}.safetensors"));
        tfkd_models::save(&vs, &path).unwrap();
        let (mut other_vs, other) = build(arch, small(10), 99);
        tfkd_models::load(&mut other_vs, &path).unwrap();
        let (a, b) = (vs.variables(), other_vs.variables());
        assert_eq!(a.len(), b.len());
        for (name, t) in &a {
            assert!(t.equal(&b[name]), "{arch}: {name} differs after load");
        }
        let x = images(2, 3, 32);
        assert!(net.forward(&x, false).equal(&other.forward(&x, false)), "{arch}");
    }
}

#[test]
fn teacher_is_frozen_and_in_eval_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.safetensors");
    let (vs, net) = build(Arch::CifarResNet { depth: 8 }, small(10), 4);
    tfkd_models::save(&vs, &path).unwrap();
    let teacher = Teacher::load(&path, Arch::CifarResNet { depth: 8 }, small(10), Device::Cpu).unwrap();
    let x = images(3, 3, 32).set_requires_grad(true);
    let logits = teacher.logits(&x);
    assert!(!logits.requires_grad(), "teacher logits carry no graph");
    assert!(logits.equal(&net.forward(&x, false)), "teacher runs in eval mode");
    assert!(teacher.var_store().variables().values().all(|v| !v.requires_grad()), "teacher weights are frozen");
}

#[test]
fn loading_a_mismatched_checkpoint_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r8.safetensors");
    let (vs, _) = build(Arch::CifarResNet { depth: 8 }, small(10), 5);
    tfkd_models::save(&vs, &path).unwrap();
    let err = Teacher::load(&path, Arch::CifarResNet { depth: 8 }, small(100), Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("r8.safetensors"), "{err}");
    let missing = Teacher::load(&dir.path().join("nope.safetensors"), Arch::Cnn5, small(10), Device::Cpu).unwrap_err();
    assert!(missing.to_string().contains("nope.safetensors"), "{missing}");
}

#[test]
fn variable_names_are_unique_pytorch_style() {
    for &arch in Arch::ALL {
        let (vs, _) = build(arch, small(10), 6);
        for name in vs.variables().keys() {
            assert!(!name.contains("__"), "{arch}: tch de-duplicated a name: {name}");
        }
    }
    let (vs, _) = build(Arch::ResNet18, ModelConfig::new(100), 6);
    let mut names: Vec<String> = vs.variables().into_keys().collect();
    names.sort();
    assert!(names.contains(&"layer2.0.shortcut.0.weight".to_string()) && names.contains(&"linear.bias".to_string()));
    assert_eq!(parameter_count(&vs), 11_220_132);
}

#[test]
fn flops_match_known_values() {
    // kuangliu ResNet-18 on 32×32, K = 10, convs and linear only (the usual "0.56 GMACs"):
    // stem 3·64·9·32² + layer1 4·64·64·9·32² + layers 2–4 each (C/2·C·9 + 3·C·C·9 + C/2·C)·(32/2^i)²
    // = 1,769,472 + 150,994,944 + 3 · 134,217,728 + linear 5,120 = 555,422,720.
    let (_vs, net) = build(Arch::ResNet18, ModelConfig::new(10), 0);
    assert_eq!(net.flops(32, 32, Device::Cpu), 2 * 555_422_720);
    // FLOPs grow with the input area.
    assert!(net.flops(64, 64, Device::Cpu) > 3 * net.flops(32, 32, Device::Cpu));
}

#[test]
fn bad_configs_are_errors() {
    let vs = nn::VarStore::new(Device::Cpu);
    for cfg in [
        ModelConfig { classes: 0, ..ModelConfig::new(10) },
        ModelConfig { width: 0.0, ..ModelConfig::new(10) },
        ModelConfig { in_channels: 0, ..ModelConfig::new(10) },
    ] {
        assert!(Network::build(&vs, Arch::Cnn5, cfg).is_err(), "{cfg:?}");
    }
    assert!(Network::build(&vs, Arch::CifarResNet { depth: 9 }, ModelConfig::new(10)).is_err());
}

#[test]
fn googlenet_eps_quirk_is_a_switch() {
    let x = images(2, 3, 32);
    let out = |quirk| {
        let (_vs, net) = build(Arch::GoogLeNet, ModelConfig { googlenet_bn_eps_quirk: quirk, ..small(10) }, 8);
        tch::no_grad(|| net.forward(&x, true))
    };
    assert!(!out(true).allclose(&out(false), 1e-5, 1e-5, false), "eps = n5x5 must change the BN output");
}
