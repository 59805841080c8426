//! The paper's identities as property tests over random logits (seeded, f64).

use tch::{Kind, Tensor};
use tfkd_losses::*;

const CASES: i64 = 60;

/// One random case: student and teacher logits (N×K) with varied scale, and labels.
struct Case {
    student: Tensor,
    teacher: Tensor,
    labels: Tensor,
    alpha: f64,
    k: i64,
}

fn case(seed: i64) -> Case {
    tch::manual_seed(seed);
    let n = 1 + Tensor::randint(16, [1], (Kind::Int64, tch::Device::Cpu)).int64_value(&[0]);
    let k = 2 + Tensor::randint(119, [1], (Kind::Int64, tch::Device::Cpu)).int64_value(&[0]);
    let opts = (Kind::Double, tch::Device::Cpu);
    let scale = 0.1 + 10.0 * Tensor::rand([1], opts).double_value(&[0]);
    Case {
        student: Tensor::randn([n, k], opts) * scale,
        teacher: Tensor::randn([n, k], opts) * scale,
        labels: Tensor::randint(k, [n], (Kind::Int64, tch::Device::Cpu)),
        alpha: Tensor::rand([1], opts).double_value(&[0]),
        k,
    }
}

/// Value and gradient wrt the student logits of `f(student)`.
fn value_and_grad(student: &Tensor, f: impl FnOnce(&Tensor) -> Tensor) -> (f64, Tensor) {
    let s = student.detach().set_requires_grad(true);
    let loss = f(&s);
    loss.backward();
    (loss.double_value(&[]), s.grad())
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn kd_with_alpha_zero_is_cross_entropy() {
    for seed in 0..CASES {
        let c = case(seed);
        for reduction in [Reduction::BatchMean, Reduction::ElementwiseMean] {
            let kd = Kd { alpha: 0.0, temperature: 1.0 + seed as f64, reduction };
            let (v_kd, g_kd) = value_and_grad(&c.student, |s| kd.compute(s, &c.labels, &c.teacher).unwrap().total);
            let (v_ce, g_ce) = value_and_grad(&c.student, |s| CrossEntropy.compute(s, &c.labels).unwrap().total);
            assert!((v_kd - v_ce).abs() < 1e-12, "seed {seed}: {v_kd} vs {v_ce}");
            assert!(max_abs_diff(&g_kd, &g_ce) < 1e-12, "seed {seed}");
        }
    }
}

/// Paper Eq. 2–3: LSR with the uniform spread has the gradient of KD with a uniform teacher at T = 1.
#[test]
fn lsr_gradient_equals_kd_with_uniform_teacher() {
    for seed in 0..CASES {
        let c = case(seed);
        let lsr = LabelSmoothing { epsilon: c.alpha, spread: Spread::Uniform };
        let kd = Kd { alpha: c.alpha, temperature: 1.0, reduction: Reduction::BatchMean };
        let uniform_teacher = c.teacher.zeros_like();
        let (_, g_lsr) = value_and_grad(&c.student, |s| lsr.compute(s, &c.labels).unwrap().total);
        let (_, g_kd) = value_and_grad(&c.student, |s| kd.compute(s, &c.labels, &uniform_teacher).unwrap().total);
        assert!(max_abs_diff(&g_lsr, &g_kd) < 1e-12, "seed {seed}: K = {}", c.k);
    }
}

/// Paper Eq. 6: KD at T = 1 is cross-entropy against the mixed target (1−α)q + α·p_t.
#[test]
fn kd_at_unit_temperature_is_ce_to_mixed_target() {
    for seed in 0..CASES {
        let c = case(seed);
        let kd = Kd { alpha: c.alpha, temperature: 1.0, reduction: Reduction::BatchMean };
        let one_hot = c.labels.one_hot(c.k).to_kind(Kind::Double);
        let mixed = one_hot * (1.0 - c.alpha) + c.teacher.softmax(1, None) * c.alpha;
        let (_, g_kd) = value_and_grad(&c.student, |s| kd.compute(s, &c.labels, &c.teacher).unwrap().total);
        let (_, g_mix) = value_and_grad(&c.student, |s| {
            -(s.log_softmax(1, None) * &mixed).sum_dim_intlist(1, false, None).mean(None)
        });
        assert!(max_abs_diff(&g_kd, &g_mix) < 1e-12, "seed {seed}");
    }
}

/// docs/paper.md §3.4: what the official code's virtual teacher looks like.
#[test]
fn virtual_teacher_matches_reference_table() {
    // (a, T, K, p(true), p(other)) as printed; each must match to half a unit of its last printed digit.
    let rows = [
        (0.99, 20.0, 100, "0.01050", "0.009995"),
        (0.99, 40.0, 100, "0.01025", "0.009997"),
        (0.99, 10.0, 100, "0.01103", "0.009990"),
        (0.99, 20.0, 10, "0.10454", "0.099496"),
        (0.99, 10.0, 10, "0.10926", "0.098971"),
        (0.99, 20.0, 200, "0.00525", "0.004999"),
    ];
    let close = |got: f64, printed: &str| {
        let decimals = printed.split('.').nth(1).map_or(0, str::len) as i32;
        (got - printed.parse::<f64>().unwrap()).abs() <= 0.5 * 10f64.powi(-decimals)
    };
    for (a, t, k, on, off) in rows {
        let labels = Tensor::from_slice(&[0i64, k - 1]);
        let p = virtual_teacher(&labels, k, a, t).unwrap();
        let got_on = p.double_value(&[0, 0]);
        let got_off = p.double_value(&[0, 1]);
        assert!(close(got_on, on), "a={a} T={t} K={k}: true class {got_on} vs {on}");
        assert!(close(got_off, off), "a={a} T={t} K={k}: other class {got_off} vs {off}");
        assert!((p.double_value(&[1, k - 1]) - got_on).abs() < 1e-7, "the bump follows the label");
        assert!((p.sum(None).double_value(&[]) - 2.0).abs() < 1e-5, "rows sum to 1");
    }
}
