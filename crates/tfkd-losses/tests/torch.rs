//! Every loss — each kind, reduction and variant — against PyTorch: `fixtures/torch_losses.py` computed the
//! official code's formulas with torch 2.11 in float64 (`F.cross_entropy`, `nn.KLDivLoss(reduction=…)`,
//! softmax / log_softmax at the temperature, the virtual teacher of Tf-KD_reg) and autograd's gradient with
//! respect to the student logits, on seeded inputs for K = 10 and K = 100. tfkd must agree to 1e-12
//! relative (both are float64; only the order of floating-point operations differs).

use std::path::Path;

use tch::{Kind, Tensor};
use tfkd_losses::*;

fn fixture() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch_losses.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn loss(kind: &str, p: &serde_json::Value) -> Loss {
    let f = |k: &str| p[k].as_f64().unwrap_or_else(|| panic!("{kind}: no {k}"));
    let reduction = || match p["reduction"].as_str().unwrap() {
        "ElementwiseMean" => Reduction::ElementwiseMean,
        "BatchMean" => Reduction::BatchMean,
        "ElementwiseMeanOver" => Reduction::ElementwiseMeanOver { classes: p["classes"].as_i64().unwrap() },
        other => panic!("unknown reduction {other}"),
    };
    match kind {
        "CrossEntropy" => Loss::CrossEntropy(CrossEntropy),
        "LabelSmoothing" => Loss::LabelSmoothing(LabelSmoothing {
            epsilon: f("epsilon"),
            spread: match p["spread"].as_str().unwrap() {
                "OverOthers" => Spread::OverOthers,
                "Uniform" => Spread::Uniform,
                other => panic!("unknown spread {other}"),
            },
        }),
        "Kd" => Loss::Kd(Kd { alpha: f("alpha"), temperature: f("temperature"), reduction: reduction() }),
        "TfKdSelf" => Loss::TfKdSelf(TfKdSelf {
            alpha: f("alpha"),
            temperature: f("temperature"),
            multiplier: f("multiplier"),
            reduction: reduction(),
        }),
        "TfKdReg" => Loss::TfKdReg(TfKdReg {
            alpha: f("alpha"),
            temperature: f("temperature"),
            correct_prob: f("correct_prob"),
            multiplier: f("multiplier"),
            variant: match p["variant"].as_str().unwrap() {
                "OfficialCode" => RegVariant::OfficialCode,
                "PaperEq9" => RegVariant::PaperEq9,
                other => panic!("unknown variant {other}"),
            },
            reduction: reduction(),
        }),
        other => panic!("unknown loss {other}"),
    }
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-12 * want.abs().max(1e-3)
}

#[test]
fn every_loss_value_and_gradient_equals_pytorchs() {
    let fx = fixture();
    let mut kinds = std::collections::BTreeSet::new();
    for case in fx["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let input = &fx["inputs"][case["input"].as_str().unwrap()];
        let (n, k) = (input["n"].as_i64().unwrap(), input["k"].as_i64().unwrap());
        let student = Tensor::from_slice(&floats(&input["student"])).view([n, k]).set_requires_grad(true);
        let teacher = Tensor::from_slice(&floats(&input["teacher"])).view([n, k]);
        let labels: Vec<i64> = input["labels"].as_array().unwrap().iter().map(|l| l.as_i64().unwrap()).collect();
        let labels = Tensor::from_slice(&labels);
        let kind = case["loss"].as_str().unwrap();
        kinds.insert(kind.to_string());
        let l = loss(kind, &case["params"]);
        let terms = l.compute(&student, &labels, l.needs_teacher().then_some(&teacher)).unwrap();
        terms.total.backward();
        assert_eq!(terms.total.kind(), Kind::Double);
        let (total, ce) = (terms.total.double_value(&[]), terms.ce.double_value(&[]));
        assert!(close(total, case["total"].as_f64().unwrap()), "{name}: total {total} vs torch {}", case["total"]);
        assert!(close(ce, case["ce"].as_f64().unwrap()), "{name}: ce {ce} vs torch {}", case["ce"]);
        if let Some(want) = case["kl"].as_f64() {
            let kl = terms.kl.as_ref().map(|t| t.double_value(&[])).unwrap_or(f64::NAN);
            assert!(close(kl, want), "{name}: kl {kl} vs torch {want}");
        }
        let grad: Vec<f64> = Vec::try_from(student.grad().flatten(0, -1)).unwrap();
        let want = floats(&case["grad"]);
        let scale = want.iter().fold(0f64, |m, g| m.max(g.abs()));
        for (i, (g, w)) in grad.iter().zip(&want).enumerate() {
            assert!((g - w).abs() <= 1e-12 * scale.max(1e-3), "{name}: grad[{i}] {g} vs torch {w}");
        }
    }
    assert_eq!(kinds.len(), 5, "{kinds:?}");
}
