//! Golden values: every loss's value and gradient norm on fixed logits, for K = 10 and K = 100.
//!
//! The logits come from closed formulas (no RNG), in f64, so these numbers move only when a loss's
//! semantics move. `fixtures/golden_numpy.py` recomputes them independently with numpy.

use tch::{Kind, Tensor};
use tfkd_losses::*;

const N: i64 = 8;

/// Smooth, deterministic, varied logits: `scale · sin(a·i + b·k + c·i·k)`.
fn logits(k: i64, scale: f64, a: f64, b: f64, c: f64) -> Tensor {
    let values: Vec<f64> = (0..N * k)
        .map(|idx| {
            let (i, j) = ((idx / k) as f64, (idx % k) as f64);
            scale * (a * i + b * j + c * i * j).sin()
        })
        .collect();
    Tensor::from_slice(&values).reshape([N, k])
}

fn labels(k: i64) -> Tensor {
    Tensor::from_slice(&(0..N).map(|i| (7 * i + 3) % k).collect::<Vec<i64>>())
}

fn all_losses() -> Vec<(&'static str, Loss)> {
    use Reduction::*;
    vec![
        ("cross-entropy", Loss::CrossEntropy(CrossEntropy)),
        ("lsr eps=0.1 over-others", Loss::LabelSmoothing(LabelSmoothing { epsilon: 0.1, spread: Spread::OverOthers })),
        ("lsr eps=0.1 uniform", Loss::LabelSmoothing(LabelSmoothing { epsilon: 0.1, spread: Spread::Uniform })),
        ("kd a=0.95 T=20 elementwise", Loss::Kd(Kd { alpha: 0.95, temperature: 20.0, reduction: ElementwiseMean })),
        ("kd a=0.6 T=20 batchmean", Loss::Kd(Kd { alpha: 0.6, temperature: 20.0, reduction: BatchMean })),
        (
            "tf-kd-self a=0.95 T=6 m=50 elementwise",
            Loss::TfKdSelf(TfKdSelf { alpha: 0.95, temperature: 6.0, multiplier: 50.0, reduction: ElementwiseMean }),
        ),
        (
            "tf-kd-reg official a=0.95 T=40 p=0.99 m=1",
            Loss::TfKdReg(TfKdReg {
                alpha: 0.95,
                temperature: 40.0,
                correct_prob: 0.99,
                multiplier: 1.0,
                variant: RegVariant::OfficialCode,
                reduction: ElementwiseMean,
            }),
        ),
        (
            "tf-kd-reg paper-eq9 a=0.1 T=20 p=0.99 m=100",
            Loss::TfKdReg(TfKdReg {
                alpha: 0.1,
                temperature: 20.0,
                correct_prob: 0.99,
                multiplier: 100.0,
                variant: RegVariant::PaperEq9,
                reduction: ElementwiseMean,
            }),
        ),
    ]
}

fn golden_table(k: i64) -> String {
    let teacher = logits(k, 4.0, 0.9, 0.4, 0.05);
    let labels = labels(k);
    let mut out = format!("K = {k}, N = {N}\nloss | value | grad norm wrt student logits\n");
    for (name, loss) in all_losses() {
        let student = logits(k, 3.0, 0.7, 1.3, 0.1).set_requires_grad(true);
        let terms = loss.compute(&student, &labels, Some(&teacher)).unwrap();
        terms.total.backward();
        let value = terms.total.double_value(&[]);
        let grad_norm = student.grad().norm().double_value(&[]);
        out += &format!("{name} | {value:.9e} | {grad_norm:.9e}\n");
    }
    out
}

#[test]
fn golden_k10() {
    insta::assert_snapshot!(golden_table(10));
}

#[test]
fn golden_k100() {
    insta::assert_snapshot!(golden_table(100));
}

#[test]
fn golden_inputs_are_double() {
    assert_eq!(logits(10, 1.0, 1.0, 1.0, 1.0).kind(), Kind::Double);
}
