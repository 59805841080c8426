//! The per-example soft-target weight tables print for a method ([`Method::soft_weight`], defined beside the
//! method in tfkd-names) is the weight the loss built from it ([`Loss::of`]) really applies: loss − (label
//! weight)·CE = weight · mean over examples of KL(soft target ‖ student) (for LSR: of the cross-entropy with the
//! smoothing distribution), computed here from the definitions, for every method, both reductions and a
//! substitution's `kl_classes`.

use tch::{Kind, Tensor};
use tfkd_losses::{virtual_teacher, KlReduction, Loss, Method, RegVariant};

/// Every method, both reductions and a substitution's class count: (id, method, kl_classes).
fn methods() -> [(&'static str, Method, Option<usize>); 9] {
    let elementwise = KlReduction::ElementwiseMean;
    [
        ("base", Method::Baseline {}, None),
        ("kd", Method::Kd { alpha: 0.95, temperature: 20.0, reduction: elementwise }, None),
        ("kdb", Method::ReKd { alpha: 0.6, temperature: 4.0, reduction: KlReduction::BatchMean }, None),
        ("dekd", Method::DeKd { alpha: 0.9, temperature: 4.0, reduction: elementwise }, None),
        ("self", Method::TfKdSelf { alpha: 0.95, temperature: 6.0, multiplier: 50.0, reduction: elementwise }, None),
        (
            "reg",
            Method::TfKdReg {
                alpha: 0.1,
                temperature: 20.0,
                correct_prob: 0.99,
                multiplier: 100.0,
                variant: RegVariant::OfficialCode,
                reduction: elementwise,
            },
            None,
        ),
        (
            "eq9",
            Method::TfKdReg {
                alpha: 0.5,
                temperature: 4.0,
                correct_prob: 0.99,
                multiplier: 1.0,
                variant: RegVariant::PaperEq9,
                reduction: elementwise,
            },
            None,
        ),
        ("lsr", Method::Lsr { epsilon: 0.1, spread: tfkd_losses::Spread::OverOthers }, None),
        // A substitution that keeps the paper's 200 classes in the KL's mean.
        ("kd200", Method::Kd { alpha: 0.95, temperature: 20.0, reduction: elementwise }, Some(200)),
    ]
}

#[test]
fn soft_weight_is_what_the_loss_applies() {
    let (n, k) = (16_i64, 10_i64);
    tch::manual_seed(7);
    let student = Tensor::randn([n, k], (Kind::Double, tch::Device::Cpu)) * 3.0;
    let teacher = Tensor::randn([n, k], (Kind::Double, tch::Device::Cpu)) * 3.0;
    let labels = Tensor::randint(k, [n], (Kind::Int64, tch::Device::Cpu));
    let mean_kl = |target: &Tensor, student_t: f64| -> f64 {
        let q = (&student / student_t).log_softmax(1, Kind::Double);
        (target * (target.log() - q)).sum_dim_intlist(1, false, Kind::Double).mean(Kind::Double).double_value(&[])
    };
    let mut weights = Vec::new();
    for (id, method, kl_classes) in methods() {
        let terms = Loss::of(&method, kl_classes).compute(&student, &labels, Some(&teacher)).unwrap();
        let (total, ce) = (terms.total.double_value(&[]), terms.ce.double_value(&[]));
        let Some(w) = method.soft_weight(kl_classes.or(Some(k as usize))) else {
            assert_eq!(method.name(), "baseline", "{id}: only the baseline has no soft target");
            continue;
        };
        weights.push((id, w));
        let (label_weight, soft_term) = match method {
            Method::Kd { alpha, temperature: t, .. }
            | Method::ReKd { alpha, temperature: t, .. }
            | Method::DeKd { alpha, temperature: t, .. }
            | Method::TfKdSelf { alpha, temperature: t, .. } => {
                (1.0 - alpha, mean_kl(&(&teacher / t).softmax(1, Kind::Double), t))
            }
            Method::TfKdReg { alpha, temperature: t, correct_prob, variant, .. } => {
                let p = virtual_teacher(&labels, k, correct_prob, t).unwrap().to_kind(Kind::Double);
                let student_t = if variant == RegVariant::PaperEq9 { t } else { 1.0 };
                (1.0 - alpha, mean_kl(&p, student_t))
            }
            Method::Lsr { epsilon, .. } => {
                let others = labels.one_hot(k).to_kind(Kind::Double).neg() + 1.0;
                let ce_others = -(others / (k - 1) as f64 * student.log_softmax(1, Kind::Double))
                    .sum_dim_intlist(1, false, Kind::Double)
                    .mean(Kind::Double)
                    .double_value(&[]);
                (1.0 - epsilon, ce_others)
            }
            Method::Baseline {} => unreachable!("{id}"),
        };
        let (got, want) = (total - label_weight * ce, w * soft_term);
        // Double precision throughout, but the virtual teacher is built in single precision.
        assert!((got - want).abs() <= 1e-6 * want.abs().max(1.0), "{id}: loss applies {got}, weight says {want}");
    }
    // α·T²/K: 0.95·400/10; α·T² for batch-mean; 0.9·16/10; α·T²·multiplier/K; α·multiplier/K; α/K; ε; ÷200.
    let expect =
        [("kd", 38.0), ("kdb", 9.6), ("dekd", 1.44), ("self", 171.0), ("reg", 1.0), ("eq9", 0.05), ("lsr", 0.1)];
    for ((id, got), (want_id, want)) in weights.iter().zip(expect.iter().chain(&[("kd200", 1.9)])) {
        assert_eq!(id, want_id);
        assert!((got - want).abs() < 1e-12, "{id}: {got} vs {want}");
    }
}
