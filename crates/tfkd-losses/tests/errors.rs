//! Bad input gives a `LossError`, never a panic.

use tch::{Kind, Tensor};
use tfkd_losses::*;

fn student(n: i64, k: i64) -> Tensor {
    Tensor::arange(n * k, (Kind::Float, tch::Device::Cpu)).reshape([n, k]) / 10.0
}

fn labels(v: &[i64]) -> Tensor {
    Tensor::from_slice(v)
}

const KD: Kd = Kd { alpha: 0.5, temperature: 4.0, reduction: Reduction::ElementwiseMean };

fn reg(alpha: f64, temperature: f64, correct_prob: f64) -> TfKdReg {
    TfKdReg {
        alpha,
        temperature,
        correct_prob,
        multiplier: 1.0,
        variant: RegVariant::OfficialCode,
        reduction: Reduction::ElementwiseMean,
    }
}

#[test]
fn teacher_shape_mismatch() {
    let err = KD.compute(&student(2, 5), &labels(&[0, 1]), &student(2, 6)).unwrap_err();
    assert!(matches!(err, LossError::ShapeMismatch { what: "teacher logits", .. }), "{err}");
    assert_eq!(err.to_string(), "shape mismatch: teacher logits has shape [2, 6], expected [2, 5]");
}

#[test]
fn labels_length_mismatch() {
    let err = CrossEntropy.compute(&student(3, 5), &labels(&[0, 1])).unwrap_err();
    assert!(matches!(err, LossError::ShapeMismatch { what: "labels", .. }), "{err}");
}

#[test]
fn logits_not_a_matrix() {
    let err = CrossEntropy.compute(&student(2, 5).reshape([10]), &labels(&[0, 1])).unwrap_err();
    assert!(matches!(err, LossError::NotMatrix { .. }), "{err}");
}

#[test]
fn labels_out_of_range() {
    for bad in [5, -1] {
        let err = CrossEntropy.compute(&student(2, 5), &labels(&[0, bad])).unwrap_err();
        assert!(matches!(err, LossError::LabelOutOfRange { label, classes: 5 } if label == bad), "{err}");
    }
    let err = reg(0.5, 20.0, 0.99).compute(&student(2, 5), &labels(&[7, 0])).unwrap_err();
    assert_eq!(err.to_string(), "label 7 out of range for 5 classes (labels must lie in 0..5)");
}

#[test]
fn float_labels() {
    let err = CrossEntropy.compute(&student(2, 5), &Tensor::from_slice(&[0.0f32, 1.0])).unwrap_err();
    assert!(matches!(err, LossError::LabelKind { .. }), "{err}");
}

#[test]
fn non_finite_logits() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let s = student(2, 5);
        let _ = s.get(1).get(3).fill_(bad as f64);
        let err = CrossEntropy.compute(&s, &labels(&[0, 1])).unwrap_err();
        assert!(matches!(err, LossError::NonFinite { what: "student logits" }), "{err}");
        let err = KD.compute(&student(2, 5), &labels(&[0, 1]), &s).unwrap_err();
        assert!(matches!(err, LossError::NonFinite { what: "teacher logits" }), "{err}");
    }
}

#[test]
fn value_checks_can_be_turned_off_but_shape_checks_cannot() {
    let s = student(2, 5);
    let _ = s.get(1).get(3).fill_(f64::NAN);
    let terms = with_value_checks(false, || CrossEntropy.compute(&s, &labels(&[0, 1]))).unwrap();
    assert!(terms.total.double_value(&[]).is_nan(), "NaN flows into the loss, where the caller looks for it");
    let err = with_value_checks(false, || CrossEntropy.compute(&student(2, 5), &labels(&[0]))).unwrap_err();
    assert!(matches!(err, LossError::ShapeMismatch { .. }), "{err}");
    // Back on afterwards.
    assert!(matches!(CrossEntropy.compute(&s, &labels(&[0, 1])).unwrap_err(), LossError::NonFinite { .. }));
}

#[test]
fn alpha_outside_unit_interval() {
    for alpha in [-0.1, 1.5, f64::NAN] {
        let kd = Kd { alpha, ..KD };
        let err = kd.compute(&student(2, 5), &labels(&[0, 1]), &student(2, 5)).unwrap_err();
        assert!(matches!(err, LossError::InvalidParameter { name: "alpha", .. }), "{err}");
        let err = reg(alpha, 20.0, 0.99).compute(&student(2, 5), &labels(&[0, 1])).unwrap_err();
        assert!(matches!(err, LossError::InvalidParameter { name: "alpha", .. }), "{err}");
    }
    let err =
        LabelSmoothing { epsilon: 1.1, spread: Spread::Uniform }.compute(&student(2, 5), &labels(&[0, 1])).unwrap_err();
    assert!(matches!(err, LossError::InvalidParameter { name: "epsilon", .. }), "{err}");
}

#[test]
fn non_positive_temperature() {
    for temperature in [0.0, -1.0, f64::INFINITY, f64::NAN] {
        let kd = Kd { temperature, ..KD };
        let err = kd.compute(&student(2, 5), &labels(&[0, 1]), &student(2, 5)).unwrap_err();
        assert!(matches!(err, LossError::InvalidParameter { name: "temperature", .. }), "{err}");
        let err = reg(0.5, temperature, 0.99).compute(&student(2, 5), &labels(&[0, 1])).unwrap_err();
        assert!(matches!(err, LossError::InvalidParameter { name: "temperature", .. }), "{err}");
    }
    let err = Kd { temperature: 0.0, ..KD }.compute(&student(1, 3), &labels(&[0]), &student(1, 3)).unwrap_err();
    assert_eq!(err.to_string(), "temperature = 0 is invalid: must be finite and > 0");
}

#[test]
fn bad_multiplier_and_correct_prob() {
    let err = TfKdSelf { alpha: 0.5, temperature: 2.0, multiplier: -1.0, reduction: Reduction::BatchMean }
        .compute(&student(2, 5), &labels(&[0, 1]), &student(2, 5))
        .unwrap_err();
    assert!(matches!(err, LossError::InvalidParameter { name: "multiplier", .. }), "{err}");
    let err = reg(0.5, 20.0, 1.2).compute(&student(2, 5), &labels(&[0, 1])).unwrap_err();
    assert!(matches!(err, LossError::InvalidParameter { name: "correct_prob", .. }), "{err}");
}

#[test]
fn single_class_cannot_spread_over_others() {
    let err = LabelSmoothing { epsilon: 0.1, spread: Spread::OverOthers }
        .compute(&student(2, 1), &labels(&[0, 0]))
        .unwrap_err();
    assert!(matches!(err, LossError::InvalidParameter { name: "classes", .. }), "{err}");
}

#[test]
fn missing_teacher() {
    let err = Loss::Kd(KD).compute(&student(2, 5), &labels(&[0, 1]), None).unwrap_err();
    assert_eq!(err.to_string(), "kd needs teacher logits, none were given");
    assert!(Loss::Kd(KD).needs_teacher());
    assert!(!Loss::TfKdReg(reg(0.5, 20.0, 0.99)).needs_teacher());
}

#[test]
fn gradient_reaches_student_and_not_teacher() {
    let s = student(2, 5).set_requires_grad(true);
    let t = student(2, 5).flip([1]).set_requires_grad(true);
    let terms = KD.compute(&s, &labels(&[0, 1]), &t).unwrap();
    terms.total.backward();
    assert!(s.grad().abs().sum(None).double_value(&[]) > 0.0);
    assert!(!t.grad().defined(), "teacher logits are constants");
}
