//! Spec parsing, validation messages and run-graph expansion, guarded by snapshots.

use std::path::Path;

use tfkd_spec::{load_str, plan, Method};

const BASE: &str = r#"
name: demo
title: Demo
dataset: { source: tiny-imagenet, augment: tiny-imagenet, normalize: tiny-imagenet-official }
train: { epochs: 200, batch_size: 128, lr: 0.1, lr_batch_scaling: true, momentum: 0.9, weight_decay: 5.0e-4,
         warmup_epochs: 1, milestones: [0.3, 0.6, 0.8], gamma: 0.2 }
model: { width: 1.0 }
seeds: [230]
runs:
  - { id: base-mobilenetv2, model: mobilenetv2, method: { kind: baseline } }
  - { id: base-resnet18, model: resnet18, method: { kind: baseline } }
  - id: rekd-resnet18
    model: resnet18
    method: { kind: re-kd, alpha: 0.6, temperature: 20 }
    teacher: base-mobilenetv2
  - id: kd-mobilenetv2
    model: mobilenetv2
    method: { kind: kd, alpha: 0.95, temperature: 20 }
    teacher: base-resnet18
  - id: dekd-mobilenetv2
    model: mobilenetv2
    method: { kind: de-kd, alpha: 0.95, temperature: 20 }
    teacher: base-resnet18
    teacher_snapshot: { epoch: 1 }
  - id: self-resnet18
    model: resnet18
    method: { kind: tf-kd-self, alpha: 0.95, temperature: 6, multiplier: 50 }
    teacher: base-resnet18
  - { id: reg-resnet18, model: resnet18, method: { kind: tf-kd-reg, alpha: 0.1, temperature: 20, multiplier: 100 } }
  - { id: lsr-resnet18, model: resnet18, method: { kind: lsr } }
profiles:
  paper: { description: the paper's settings }
  smoke:
    description: seconds
    dataset: { source: cifar10-jpeg, augment: cifar, normalize: cifar-official, train_subset: 256, test_subset: 128 }
    train: { epochs: 2, batch_size: 64 }
    model: { width: 0.125 }
    seeds: [1, 2]
    runs:
      base-resnet18: { train: { batch_size: 32 } }
"#;

fn check(yaml: &str, profile: &str, sets: &[&str]) -> Result<tfkd_spec::Experiment, String> {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    load_str(yaml, Path::new("experiments/demo.yaml"), profile, &sets).map_err(|e| e.to_string())
}

#[test]
fn run_graph_expansion_per_method() {
    let exp = check(BASE, "paper", &[]).unwrap();
    let planned = plan(&exp, "datahash");
    let lines: Vec<String> = planned
        .iter()
        .map(|p| {
            format!(
                "{:<22} {:<12} {:<11} teacher={:<18} keep={:?} id={}",
                p.config.label(),
                p.config.model,
                p.config.method.name(),
                p.config.teacher.clone().unwrap_or_else(|| "-".into()),
                p.keep_epochs,
                p.run_id
            )
        })
        .collect();
    insta::assert_snapshot!(lines.join("\n"));
    // Teachers come first and students point at their ids.
    let pos = |id: &str| planned.iter().position(|p| p.config.id == id).unwrap();
    assert!(pos("base-mobilenetv2") < pos("rekd-resnet18") && pos("base-resnet18") < pos("dekd-mobilenetv2"));
    let base = &planned[pos("base-resnet18")];
    assert_eq!(planned[pos("self-resnet18")].teacher_id.as_ref(), Some(&base.run_id));
    assert_eq!(base.keep_epochs, vec![1], "De-KD asks for the epoch-1 snapshot");
    assert_eq!(exp.substitution(), None);
}

#[test]
fn profile_layers_and_seeds() {
    let exp = check(BASE, "smoke", &["train.epochs=3"]).unwrap();
    assert_eq!(exp.runs.len(), 16, "8 entries × 2 seeds");
    assert_eq!(exp.substitution().as_deref(), Some("tiny-imagenet → cifar10-jpeg"));
    assert_eq!(exp.kl_classes(), Some(200));
    // The KD weight is kept for every method with the official reduction, and only under substitution.
    let kl = |id: &str, exp: &tfkd_spec::Experiment| exp.runs.iter().find(|r| r.id == id).unwrap().kl_classes;
    assert_eq!(
        (kl("kd-mobilenetv2", &exp), kl("reg-resnet18", &exp), kl("lsr-resnet18", &exp)),
        (Some(200), Some(200), None)
    );
    let off = check(BASE, "smoke", &["dataset.keep_paper_kl_weight=false"]).unwrap();
    assert_eq!(kl("kd-mobilenetv2", &off), None);
    assert_eq!(off.kl_classes(), None);
    assert_eq!(kl("kd-mobilenetv2", &check(BASE, "paper", &[]).unwrap()), None);
    let base = exp.runs.iter().find(|r| r.id == "base-resnet18").unwrap();
    assert_eq!(
        (base.train.epochs, base.train.batch_size),
        (3, 32),
        "--set beats the profile; profile's run patch beats its global"
    );
    let other = exp.runs.iter().find(|r| r.id == "lsr-resnet18").unwrap();
    assert_eq!(other.train.batch_size, 64);
    assert_eq!(other.model_options.width, 0.125);
    assert_eq!(other.data.train_subset, Some(256));
    assert!(matches!(other.method, Method::Lsr { epsilon, .. } if epsilon == 0.1), "official default ε");
    // Same settings, same id, whatever the entry is called; any setting change moves the id.
    let a = plan(&exp, "h");
    let b = plan(&check(&BASE.replace("lsr-resnet18", "renamed"), "smoke", &["train.epochs=3"]).unwrap(), "h");
    let id = |p: &[tfkd_spec::PlannedRun], name: &str| {
        p.iter().find(|r| r.config.id == name && r.config.seed == 1).unwrap().run_id.clone()
    };
    assert_eq!(id(&a, "lsr-resnet18"), id(&b, "renamed"));
    assert_ne!(id(&a, "lsr-resnet18"), id(&plan(&exp, "other-data"), "lsr-resnet18"));
    let c = plan(&check(BASE, "smoke", &["train.epochs=4"]).unwrap(), "h");
    assert_ne!(id(&a, "lsr-resnet18"), id(&c, "lsr-resnet18"));
    // A student's id follows its teacher's.
    assert_ne!(id(&a, "kd-mobilenetv2"), id(&c, "kd-mobilenetv2"));
    // Arrays policy: `auto` and `off` group without changing what a run is; an explicit array size gives the
    // run an id of its own (a fused array's CPU bits differ from a single run's under oneDNN).
    let with = |array: &str| {
        plan(&check(BASE, "smoke", &["train.epochs=3", format!("train.array={array}").as_str()]).unwrap(), "h")
    };
    assert_eq!(id(&with("auto"), "lsr-resnet18"), id(&a, "lsr-resnet18"));
    assert_eq!(id(&with("off"), "lsr-resnet18"), id(&a, "lsr-resnet18"));
    assert_ne!(id(&with("4"), "lsr-resnet18"), id(&a, "lsr-resnet18"));
    assert_ne!(id(&with("4"), "lsr-resnet18"), id(&with("2"), "lsr-resnet18"));
}

#[test]
fn error_messages() {
    let cases: Vec<(&str, String, &str, Vec<&str>)> = vec![
        ("unknown top-level key", BASE.replace("title: Demo", "titel: Demo"), "paper", vec![]),
        ("unknown key in a method", BASE.replace("alpha: 0.6, temperature: 20", "alpha: 0.6, temprature: 20"), "paper", vec![]),
        ("unknown method", BASE.replace("kind: lsr", "kind: lsmooth"), "paper", vec![]),
        ("wrong type", BASE.replace("epochs: 200", "epochs: many"), "paper", vec![]),
        ("unknown key in a profile", BASE.replace("description: seconds", "descripton: seconds"), "smoke", vec![]),
        ("missing alpha", BASE.replace("alpha: 0.95, temperature: 20 }\n    teacher: base-resnet18\n  - id: dekd", "temperature: 20 }\n    teacher: base-resnet18\n  - id: dekd"), "paper", vec![]),
        ("impossible values", BASE.replace("alpha: 0.6", "alpha: 1.6").replace("temperature: 6", "temperature: 0").replace("lr: 0.1", "lr: -1"), "paper", vec![]),
        ("teacher problems", BASE.replace("teacher: base-mobilenetv2", "teacher: nobody").replace("method: { kind: lsr } }", "method: { kind: lsr }, teacher: base-resnet18 }"), "paper", vec![]),
        ("self teacher of another model", BASE.replace("multiplier: 50 }\n    teacher: base-resnet18", "multiplier: 50 }\n    teacher: base-mobilenetv2"), "paper", vec![]),
        ("unknown profile", BASE.to_string(), "quick", vec![]),
        ("bad override", BASE.to_string(), "paper", vec!["train.epoch=3"]),
        ("bad source", BASE.replace("source: tiny-imagenet", "source: imagenet21k"), "paper", vec![]),
        ("imagenet's transforms on other data", BASE.replace("augment: tiny-imagenet", "augment: imagenet"), "paper", vec![]),
        ("teacher weights without a model", BASE.replace("multiplier: 50 }\n    teacher: base-resnet18", "multiplier: 50 }\n    teacher: { weights: resnet18-f37072fd.pth }"), "paper", vec![]),
        ("teacher weights problems", BASE.replace("multiplier: 50 }\n    teacher: base-resnet18", "multiplier: 50 }\n    teacher: { model: resnet18, weights: plain.pth }").replace("teacher: base-mobilenetv2", "teacher: { model: torchvision.resnet18, weights: r-f37072fd.pth, sha256: ABC }"), "paper", vec![]),
        ("bad source in the spec, replaced by the profile", BASE.replace("source: tiny-imagenet", "source: imagenet22k"), "smoke", vec![]),
        ("unknown model", BASE.replace("model: mobilenetv2, method: { kind: baseline }", "model: mobilenet_v3, method: { kind: baseline }"), "paper", vec![]),
        ("learning rate far too large", BASE.replace("lr: 0.1", "lr: 1.0e30"), "paper", vec![]),
        ("values out of range after derivation", BASE.to_string(), "paper", vec!["train.lr=5", "train.batch_size=100000000", "train.epochs=3"]),
        ("temperature far too large", BASE.replace("temperature: 6", "temperature: 1.0e308"), "paper", vec![]),
        ("snapshot beyond the teacher's epochs", BASE.replace("teacher_snapshot: { epoch: 1 }", "teacher_snapshot: { epoch: 3 }"), "smoke", vec![]),
        ("empty spec", String::new(), "quick", vec![]),
        ("no profiles", BASE[..BASE.find("profiles:").unwrap()].to_string(), "quick", vec![]),
        ("sweep of an unknown key", BASE.replace("method: { kind: lsr } }", "method: { kind: lsr }, sweep: { method.temperature: [1, 2] } }"), "paper", vec![]),
        ("run ids that cannot name a file", BASE.replace("id: reg-resnet18,", "id: ../../evil,").replace("id: lsr-resnet18,", "id: \"\","), "paper", vec![]),
        ("no images, absurd threads, a seed twice", BASE.to_string(), "paper", vec!["dataset.train_subset=0", "train.threads=100000", "seeds=[1,1]"]),
        ("cycle", BASE.replace("- { id: base-resnet18, model: resnet18, method: { kind: baseline } }", "- { id: base-resnet18, model: resnet18, method: { kind: kd, alpha: 0.5, temperature: 2 }, teacher: kd-mobilenetv2 }"), "paper", vec![]),
    ];
    let mut out = String::new();
    for (what, yaml, profile, sets) in cases {
        let err = check(&yaml, profile, &sets).expect_err(what);
        out += &format!("## {what}\n{err}\n\n");
    }
    insta::assert_snapshot!(out);
}

/// A path set for the spec's dataset belongs to that source: a profile or `--set` naming another source without a
/// path of its own drops it (else the substitute would be looked for there); one naming the same source keeps it.
#[test]
fn a_substituted_source_does_not_inherit_the_path() {
    let yaml = BASE.replace("source: tiny-imagenet,", "source: tiny-imagenet, path: /data/tin,");
    let path = |profile: &str, sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| (*s).to_string()).collect();
        let exp = load_str(&yaml, Path::new("experiments/demo.yaml"), profile, &sets).unwrap();
        exp.runs[0].data.path.clone()
    };
    assert_eq!(path("paper", &[]), Some("/data/tin".into()));
    assert_eq!(path("smoke", &[]), None, "the smoke profile substitutes cifar10-jpeg");
    assert_eq!(path("paper", &["dataset.source=tiny-imagenet"]), Some("/data/tin".into()));
    assert_eq!(
        path("paper", &["dataset.source=cifar10-jpeg", "dataset.augment=cifar", "dataset.normalize=cifar-official"]),
        None
    );
    assert_eq!(path("smoke", &["dataset.path=/data/c10.tar.gz"]), Some("/data/c10.tar.gz".into()));
}

/// A spec saved with a UTF-8 byte-order mark (as some editors write) reads as the same spec.
#[test]
fn a_byte_order_mark_is_not_part_of_the_spec() {
    let plain = load_str(BASE, Path::new("experiments/demo.yaml"), "paper", &[]).unwrap();
    let marked = format!("\u{feff}{BASE}");
    let read = load_str(&marked, Path::new("experiments/demo.yaml"), "paper", &[]).unwrap();
    assert_eq!(format!("{:?}", read.runs), format!("{:?}", plain.runs));
}

/// A misspelt or foreign key is rejected in every method variant, naming the key and the allowed ones.
#[test]
fn unknown_method_keys_are_rejected_in_every_variant() {
    let cases = [
        ("baseline", "alpha", "{ kind: baseline, alpha: 0.5 }"),
        ("kd", "temprature", "{ kind: kd, alpha: 0.9, temperature: 4, temprature: 4 }"),
        ("re-kd", "multiplier", "{ kind: re-kd, alpha: 0.6, temperature: 20, multiplier: 2 }"),
        ("de-kd", "snapshot", "{ kind: de-kd, alpha: 0.9, temperature: 4, snapshot: 1 }"),
        ("lsr", "eps", "{ kind: lsr, eps: 0.1 }"),
        ("tf-kd-self", "multipler", "{ kind: tf-kd-self, alpha: 0.95, temperature: 6, multipler: 50 }"),
        (
            "tf-kd-reg",
            "correct_probability",
            "{ kind: tf-kd-reg, alpha: 0.1, temperature: 20, correct_probability: 0.9 }",
        ),
    ];
    for (kind, key, method) in cases {
        let teacher = if matches!(kind, "kd" | "re-kd" | "de-kd" | "tf-kd-self") { ", teacher: base" } else { "" };
        let yaml = format!(
            "name: t\ntitle: t\ndataset: {{ source: cifar10-jpeg }}\ntrain: {{ epochs: 2, batch_size: 8, lr: 0.1 }}\n\
             runs:\n  - {{ id: base, model: resnet8, method: {{ kind: baseline }} }}\n  - {{ id: x, model: resnet8, method: {method}{teacher} }}\n\
             profiles: {{ p: {{}} }}\n"
        );
        let err = load_str(&yaml, Path::new("experiments/t.yaml"), "p", &[]).unwrap_err().to_string();
        assert!(err.contains(&format!("unknown field `{key}`")), "{kind}: {err}");
        assert!(
            err.contains("expected") || err.contains("there are no fields"),
            "{kind}: the allowed keys are named: {err}"
        );
        assert!(err.contains("experiments/t.yaml:"), "{kind}: the location is named: {err}");
    }
}

/// `extends:` is looked for beside the spec, then in the project's experiments folder, then among the defaults
/// built into tfkd; when none has it, the message names every place looked.
#[test]
fn extends_is_found_beside_in_the_project_or_built_in() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("mine.yaml");
    let body = "name: mine\ntitle: t\ndataset: { source: cifar10-jpeg }\nruns:\n  - { id: a, model: resnet8, method: { kind: baseline } }\n";
    // Built in: no defaults.yaml beside it, no experiments folder under the working folder of the tests.
    std::fs::write(&spec, format!("extends: defaults.yaml\n{body}")).unwrap();
    let exp = tfkd_spec::load(&spec, "smoke", &[]).unwrap();
    assert_eq!(exp.runs[0].train.epochs, 1, "the smoke profile of the built-in defaults");
    // Beside it: a local defaults.yaml wins.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let local =
        std::fs::read_to_string(repo.join("experiments/defaults.yaml")).unwrap().replace("epochs: 1,", "epochs: 3,");
    std::fs::write(dir.path().join("defaults.yaml"), local).unwrap();
    assert_eq!(tfkd_spec::load(&spec, "smoke", &[]).unwrap().runs[0].train.epochs, 3);
    // Nowhere: every place is named.
    std::fs::write(&spec, format!("extends: nowhere.yaml\n{body}")).unwrap();
    let e = tfkd_spec::load(&spec, "smoke", &[]).unwrap_err().to_string();
    assert!(
        e.contains("nowhere.yaml (beside this file)")
            && e.contains("the project's experiments")
            && e.contains("built into tfkd"),
        "{e}"
    );
}

/// A spec's own claims name its entries, `≈` comes with a margin, and each gets a text.
#[test]
fn a_specs_own_claims_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("claims-demo.yaml");
    let load = |claims: &str| {
        let text = format!(
            "extends: defaults.yaml\nname: claims-demo\ntitle: t\ndataset: {{ source: cifar10-jpeg }}\nruns:\n  - {{ id: a, model: resnet8, method: {{ kind: baseline }} }}\n  - {{ id: b, model: resnet8, method: {{ kind: lsr }} }}\nclaims:\n{claims}"
        );
        std::fs::write(&path, text).unwrap();
        tfkd_spec::load(&path, "smoke", &[]).map_err(|e| e.to_string())
    };
    let exp = load("  - { a: b, op: \">\", b: a, expected: 0.5 }\n").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(exp.claims.len(), 1);
    assert_eq!((exp.claims[0].text.as_str(), exp.claims[0].expected), ("b > a", Some(0.5)));
    let e = load("  - { a: c, op: \">\", b: a }\n").unwrap_err();
    assert!(e.contains("claims[0]") && e.contains("'c' is not one of"), "{e}");
    let e = load("  - { a: b, op: \"≈\", b: a }\n").unwrap_err();
    assert!(e.contains("give `margin` with `≈`"), "{e}");
}
