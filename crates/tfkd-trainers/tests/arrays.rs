//! Fused training arrays against the same runs trained alone, through the real engine and training loop:
//! for ResNet-18/34/50, MobileNetV2, ShuffleNetV2 and the 5-layer CNN and every loss kind (cross-entropy, label smoothing, KD — also
//! from a poorly-trained teacher's snapshot — Tf-KD_self and Tf-KD_reg), an array of three members and the
//! three runs alone agree step by step — every loss of 20 steps and every weight after them, to the bit
//! (well within the 1e-4 relative the design asks for) — and a member whose loss turns NaN fails alone
//! while the others finish exactly as they would have.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

mod common;

use tch::{Kind, Tensor};
use tfkd_spec::Experiment;
use tfkd_trainers::{
    engine::{self, Options, Outcome},
    Event, Observer,
};

/// Every loss kind on one architecture: wave 0 trains the baseline, LSR and Tf-KD_reg (an array of three),
/// wave 1 the students of the baseline — KD, De-KD (epoch-1 snapshot) and Tf-KD_self (another array of three).
/// 200 training images at batch 20 for 2 epochs: 20 optimisation steps per run.
fn spec(model: &str, data: &Path) -> String {
    format!(
        r#"
name: arrays
dataset: {{ source: imagefolder, path: "{data}", image_size: [16, 16], augment: cifar, normalize: half, val_size: 20, train_subset: 200 }}
train: {{ epochs: 2, batch_size: 20, lr: 0.05, lr_batch_scaling: false, momentum: 0.9, weight_decay: 5.0e-4,
         warmup_epochs: 1, milestones: [0.5], gamma: 0.2, threads: 1 }}
model: {{ width: 0.125 }}
seeds: [3]
runs:
  - {{ id: base, model: {model}, method: {{ kind: baseline }} }}
  - {{ id: lsr, model: {model}, method: {{ kind: lsr }} }}
  - {{ id: reg, model: {model}, method: {{ kind: tf-kd-reg, alpha: 0.5, temperature: 20, multiplier: 5 }} }}
  - {{ id: kd, model: {model}, method: {{ kind: kd, alpha: 0.9, temperature: 4 }}, teacher: base }}
  - {{ id: dekd, model: {model}, method: {{ kind: de-kd, alpha: 0.9, temperature: 4 }}, teacher: base, teacher_snapshot: {{ epoch: 1 }} }}
  - {{ id: self, model: {model}, method: {{ kind: tf-kd-self, alpha: 0.95, temperature: 6, multiplier: 2 }}, teacher: base }}
profiles: {{ test: {{}} }}
"#,
        data = data.display()
    )
}

/// Collects each run's per-step losses.
#[derive(Default)]
struct Steps(BTreeMap<String, Vec<f64>>);

impl Observer for Steps {
    fn event(&mut self, e: &Event) {
        if let Event::Batch { label, step_loss, .. } = e {
            self.0.entry(label.clone()).or_default().push(*step_loss);
        }
    }
}

/// Each run's final weights, by label.
type Weights = BTreeMap<String, Vec<(String, Tensor)>>;

/// Trains the experiment with arrays of up to `array` runs in a cache of its own; per-step losses and each
/// run's final weights (by label).
fn train(exp: &Experiment, data_dir: &Path, cache: PathBuf, array: usize) -> (Steps, Weights, Vec<Outcome>) {
    let ctx = common::cpu_context(&cache);
    let plan = engine::plan(exp, data_dir, &cache).unwrap();
    let mut steps = Steps::default();
    let outcomes = engine::execute(&plan, &ctx, &mut steps, Options { jobs: 1, array, launch: None }).unwrap();
    let mut weights = BTreeMap::new();
    for p in &plan.runs {
        let dir = tfkd_trainers::state::RunDir::new(&cache, &p.run_id);
        if let Ok((Some(ck), _)) = dir.resume(&p.run_id) {
            weights.insert(p.config.label(), ck.model);
        }
    }
    (steps, weights, outcomes)
}

fn relative(a: &Tensor, b: &Tensor) -> f64 {
    let (a, b) = (a.to_kind(Kind::Double), b.to_kind(Kind::Double));
    (&a - &b).norm().double_value(&[]) / b.norm().double_value(&[]).max(1e-12)
}

#[test]
fn arrays_equal_single_runs_for_every_loss_and_a_nan_member_fails_alone() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    common::dataset(&data, 24, 4, 32, 7);
    // libtorch's own convolutions run a grouped convolution group by group, as the single model's: the array
    // then computes the same bits as its members alone, so any difference is a mistake of the array. With
    // oneDNN's kernels the summation order differs (~1e-7), and at these tiny batches batch norm's backward
    // amplifies that to ~1e-3 in some gradients, which training compounds within a few steps.
    tfkd_models::kernels::set_onednn(false);
    for model in ["resnet18", "resnet34", "resnet50", "mobilenetv2", "shufflenetv2", "cnn5"] {
        let exp = tfkd_spec::load_str(&spec(model, &data), Path::new("arrays.yaml"), "test", &[]).unwrap();
        let (alone, alone_w, _) = train(&exp, home.path(), home.path().join(format!("{model}-alone")), 1);
        let (fused, fused_w, outcomes) = train(&exp, home.path(), home.path().join(format!("{model}-array")), 3);
        assert!(outcomes.iter().all(|o| matches!(o, Outcome::Trained(_))), "{model}: {outcomes:?}");
        assert_eq!(alone.0.keys().collect::<Vec<_>>(), fused.0.keys().collect::<Vec<_>>());
        for (label, losses) in &alone.0 {
            assert_eq!(losses.len(), 20, "{model} {label}: 20 steps");
            for (step, (x, y)) in losses.iter().zip(&fused.0[label]).enumerate() {
                assert!(
                    (x - y).abs() <= 1e-4 * x.abs(),
                    "{model} {label} step {step}: loss {x} alone, {y} in the array"
                );
            }
        }
        for (label, tensors) in &alone_w {
            for ((name, t), (_, u)) in tensors.iter().zip(&fused_w[label]) {
                assert!(
                    t.equal(u),
                    "{model} {label}: {name} differs by {} (relative 2-norm) after 20 steps",
                    relative(u, t)
                );
            }
        }
    }

    // A member whose loss turns NaN at step 7 fails alone; the others' numbers do not move at all.
    let exp = tfkd_spec::load_str(&spec("resnet18", &data), Path::new("arrays.yaml"), "test", &[]).unwrap();
    let (clean, clean_w, _) = train(&exp, home.path(), home.path().join("nan-reference"), 3);
    std::env::set_var("TFKD_FAULT_NAN", "lsr@3:7");
    let (faulty, faulty_w, outcomes) = train(&exp, home.path(), home.path().join("nan"), 3);
    std::env::remove_var("TFKD_FAULT_NAN");
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Failed { label, error, .. } => Some(format!("{label}: {error}")),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].starts_with("lsr@3: non-finite loss at epoch 1, batch 7 (step 7)"), "{failed:?}");
    for label in ["base@3", "reg@3", "kd@3", "dekd@3", "self@3"] {
        assert_eq!(clean.0[label], faulty.0[label], "{label}: losses moved because another member failed");
        for ((name, t), (_, u)) in clean_w[label].iter().zip(&faulty_w[label]) {
            assert!(t.equal(u), "{label}: {name} moved because another member failed");
        }
    }
}
