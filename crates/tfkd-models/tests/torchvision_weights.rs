//! `load_torchvision` / `export_torchvision` on small models: the exported file is a torchvision state dict
//! (every variable plus `num_batches_tracked`), it loads back exactly, and loading is as strict as
//! `load_state_dict(strict=True)` with clear errors. That torchvision itself takes our files, and that
//! torchvision's files give torchvision's logits here, is checked by `tests/torchvision_interop.rs`.

use std::path::Path;

use tch::{nn, Device, Kind, Tensor};
use tfkd_models::torchvision::{export_torchvision, load_torchvision, Mismatch, WeightsError};
use tfkd_models::{Arch, ModelConfig, Network, Teacher, Torchvision};
use tfkd_pth::{DType, RawTensor, StateDict};

fn config() -> ModelConfig {
    ModelConfig { width: 0.125, ..ModelConfig::new(10) }
}

fn model(tv: Torchvision) -> (nn::VarStore, Network) {
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Network::build(&vs, Arch::Torchvision(tv), config()).unwrap();
    (vs, net)
}

/// An exported state dict of a freshly built `tv`, and the VarStore it came from.
fn exported(tv: Torchvision, dir: &Path) -> (nn::VarStore, StateDict) {
    let (vs, _) = model(tv);
    let path = dir.join(format!("{}.pth", tv.name()));
    export_torchvision(&vs, &path).unwrap();
    (vs, tfkd_pth::read(&path).unwrap())
}

fn write(dir: &Path, name: &str, sd: StateDict) -> std::path::PathBuf {
    let path = dir.join(name);
    tfkd_pth::write(&path, &sd).unwrap();
    path
}

fn same_variables(a: &nn::VarStore, b: &nn::VarStore) -> bool {
    let b = b.variables();
    a.variables().iter().all(|(k, v)| v.equal(&b[k]))
}

#[test]
fn exports_are_state_dicts_with_num_batches_tracked_and_load_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    for &tv in Torchvision::ALL {
        let (vs, sd) = exported(tv, dir.path());
        let vars = vs.variables();
        let bns: Vec<&String> = vars.keys().filter(|k| k.ends_with(".running_mean")).collect();
        assert_eq!(sd.len(), vars.len() + bns.len(), "{}", tv.name());
        for bn in bns {
            let counter = sd.get(&bn.replace("running_mean", "num_batches_tracked")).unwrap();
            assert_eq!(
                (counter.dtype, counter.shape.as_slice(), counter.to_i64_vec().unwrap()),
                (DType::I64, &[][..], vec![0])
            );
        }
        assert!(sd.tensors.iter().filter(|(k, _)| vars.contains_key(k)).all(|(_, t)| t.dtype == DType::F32));
        // torchvision's order within a BatchNorm.
        let names: Vec<&str> = sd.names().collect();
        let at = |n: &str| names.iter().position(|&k| k == n).unwrap();
        let bn = if tv == Torchvision::MobileNetV2 {
            "features.0.1"
        } else if tv == Torchvision::DenseNet121 {
            "features.norm0"
        } else {
            "bn1"
        };
        let order: Vec<usize> = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
            .iter()
            .map(|l| at(&format!("{bn}.{l}")))
            .collect();
        assert!(order.windows(2).all(|w| w[1] == w[0] + 1), "{}: {order:?}", tv.name());

        tch::manual_seed(99);
        let (mut fresh, _) = model(tv);
        assert!(!same_variables(&vs, &fresh));
        let report = load_torchvision(&mut fresh, &dir.path().join(format!("{}.pth", tv.name()))).unwrap();
        assert_eq!(
            (report.loaded, report.skipped_num_batches_tracked, report.converted),
            (vars.len(), sd.len() - vars.len(), 0)
        );
        assert!(same_variables(&vs, &fresh), "{}: the round trip changed a variable", tv.name());
    }
}

#[test]
fn a_module_prefix_is_stripped_and_half_precision_is_converted() {
    let dir = tempfile::tempdir().unwrap();
    let (vs, mut sd) = exported(Torchvision::ResNet18, dir.path());
    for (name, _) in &mut sd.tensors {
        *name = format!("module.{name}");
    }
    let (_, fc) = sd.tensors.iter_mut().find(|(k, _)| k == "module.fc.weight").unwrap();
    let halves: Vec<u8> = fc.to_f32_vec().unwrap().iter().flat_map(|&x| half_bits(x).to_le_bytes()).collect();
    *fc = RawTensor::new(DType::F16, fc.shape.clone(), halves).unwrap();
    let n = sd.len();
    let path = write(dir.path(), "parallel.pth", sd);
    let (mut fresh, _) = model(Torchvision::ResNet18);
    let report = load_torchvision(&mut fresh, &path).unwrap();
    assert_eq!((report.stripped_module_prefix, report.converted), (n, 1));
    let (ours, theirs) = (&vs.variables()["fc.weight"], &fresh.variables()["fc.weight"]);
    let want = ours.to_kind(Kind::Half).to_kind(Kind::Float);
    assert!(theirs.equal(&want), "fc.weight is not the float16 rounding of the original");
}

/// f32 → IEEE half bits, rounding to nearest even (values of these weights are normal halves).
fn half_bits(x: f32) -> u16 {
    let t = Tensor::from_slice(&[x]).to_kind(Kind::Half).view_dtype(Kind::Int16);
    t.int64_value(&[0]) as u16
}

/// A state dict's named tensors, as a test edits them.
type Tensors = Vec<(String, RawTensor)>;

#[test]
fn loading_is_strict_and_a_refused_file_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, sd) = exported(Torchvision::MobileNetV2, dir.path());
    let edit = |f: &dyn Fn(&mut Tensors)| {
        let mut t = sd.tensors.clone();
        f(&mut t);
        StateDict::new(t)
    };
    let float = RawTensor::from_f32(vec![2], &[1.0, 2.0]).unwrap();
    let cases: Vec<(&str, StateDict)> = vec![
        ("missing.pth", edit(&|t| t.retain(|(k, _)| k != "classifier.1.bias"))),
        ("extra.pth", edit(&|t| t.push(("classifier.2.weight".into(), float.clone())))),
        (
            "stray-counter.pth",
            edit(&|t| t.push(("features.99.num_batches_tracked".into(), RawTensor::from_i64(vec![], &[3]).unwrap()))),
        ),
        (
            "shape.pth",
            edit(&|t| t.iter_mut().filter(|(k, _)| k == "classifier.1.bias").for_each(|(_, v)| *v = float.clone())),
        ),
        (
            "integer.pth",
            edit(&|t| {
                t.iter_mut()
                    .filter(|(k, _)| k == "features.0.1.running_mean")
                    .for_each(|(_, v)| *v = RawTensor::from_i64(v.shape.clone(), &vec![1; v.shape[0]]).unwrap())
            }),
        ),
    ];
    tch::manual_seed(5);
    let (mut target, _) = model(Torchvision::MobileNetV2);
    let before: Vec<(String, Tensor)> = target.variables().into_iter().map(|(k, v)| (k, v.copy())).collect();
    for (name, sd) in cases {
        let path = write(dir.path(), name, sd);
        let err = load_torchvision(&mut target, &path).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(name), "{name}: the error does not name the file: {text}");
        let WeightsError::Mismatch { problem, .. } = err else { panic!("{name}: {text}") };
        let ok = match name {
            "missing.pth" => {
                problem == Mismatch::Keys { missing: vec!["classifier.1.bias".into()], unexpected: vec![] }
            }
            "extra.pth" => {
                problem == Mismatch::Keys { missing: vec![], unexpected: vec!["classifier.2.weight".into()] }
            }
            "stray-counter.pth" => {
                problem
                    == Mismatch::Keys { missing: vec![], unexpected: vec!["features.99.num_batches_tracked".into()] }
            }
            "shape.pth" => {
                matches!(&problem, Mismatch::Shapes(s) if s.len() == 1 && s[0].name == "classifier.1.bias" && s[0].file == [2] && s[0].model == [10])
            }
            _ => matches!(&problem, Mismatch::Data { name, .. } if name == "features.0.1.running_mean"),
        };
        assert!(ok, "{name}: {problem:?} ({text})");
        let now = target.variables();
        assert!(before.iter().all(|(k, v)| now[k].equal(v)), "{name}: a refused file changed the model");
    }
}

#[test]
fn a_torchvision_teacher_loads_frozen() {
    let dir = tempfile::tempdir().unwrap();
    let (vs, _) = exported(Torchvision::DenseNet121, dir.path());
    let path = dir.path().join("densenet121.pth");
    let teacher =
        Teacher::load_torchvision(&path, Arch::Torchvision(Torchvision::DenseNet121), config(), Device::Cpu).unwrap();
    assert!(same_variables(&vs, teacher.var_store()));
    assert!(teacher.var_store().trainable_variables().iter().all(|v| !v.requires_grad()));
    let wrong = Teacher::load_torchvision(&path, Arch::Torchvision(Torchvision::ResNet18), config(), Device::Cpu);
    assert!(wrong.is_err());
}
