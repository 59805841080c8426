//! Parameter counts at K = 100, width 1 must equal the official code's (docs/paper.md §5) exactly.

use tch::{nn, Device};
use tfkd_models::{parameter_count, Arch, ModelConfig, Network};

fn count(arch: Arch, config: ModelConfig) -> i64 {
    let vs = nn::VarStore::new(Device::Cpu);
    Network::build(&vs, arch, config).unwrap();
    parameter_count(&vs)
}

#[test]
fn official_counts_at_k100() {
    let expected = [
        (Arch::ResNet18, 11_220_132),
        (Arch::ResNet34, 21_328_292),
        (Arch::ResNet50, 23_705_252),
        (Arch::ResNet101, 42_697_380),
        (Arch::MobileNetV2, 2_369_380),
        (Arch::ShuffleNetV2, 1_360_896),
        (Arch::GoogLeNet, 6_258_500),
        (Arch::DenseNet121, 7_048_548),
        (Arch::ResNeXt29_8x64d, 34_518_948),
        (Arch::Cnn5, 369_124),
    ];
    let mut wrong = Vec::new();
    for (arch, want) in expected {
        let got = count(arch, ModelConfig::new(100));
        if got != want {
            wrong.push(format!("{arch}: got {got}, want {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Published counts of the other families: CIFAR ResNet-20 has 0.27 M parameters at K = 10 (He et al.
/// 2016, Table 6: 269,722 with option-A shortcuts) and WRN-28-10 has 36.5 M (Zagoruyko & Komodakis).
#[test]
fn published_counts_of_cifar_resnet_and_wrn() {
    assert_eq!(count(Arch::CifarResNet { depth: 20 }, ModelConfig::new(10)), 269_722);
    assert_eq!(count(Arch::Wrn { depth: 28, widen: 10 }, ModelConfig::new(10)), 36_479_194);
}

#[test]
fn width_shrinks_every_family() {
    for &arch in Arch::ALL {
        let full = count(arch, ModelConfig::new(100));
        let quarter = count(arch, ModelConfig { width: 0.25, ..ModelConfig::new(100) });
        assert!(quarter * 4 < full, "{arch}: {quarter} at width 0.25 vs {full}");
    }
}
