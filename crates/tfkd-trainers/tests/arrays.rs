//! Fused training arrays against the same runs trained alone, through the real engine and training loop:
//! for ResNet-18/34/50, MobileNetV2, ShuffleNetV2 and the 5-layer CNN and every loss kind (cross-entropy, label smoothing, KD — also
//! from a poorly-trained teacher's snapshot — Tf-KD_self and Tf-KD_reg), an array of three members and the
//! three runs alone agree step by step — every loss of 20 steps and every weight after them, to the bit
//! (well within the 1e-4 relative the design asks for) — and a member whose loss turns NaN fails alone
//! while the others finish exactly as they would have.

use std::path::Path;

mod common;

use common::arrays::{relative, spec, train};
use tfkd_trainers::engine::Outcome;

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
