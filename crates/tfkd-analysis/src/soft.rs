//! Soft targets as the paper's Section 3 discusses them: KD's softened teacher tends to LSR's uniform
//! distribution as the temperature grows, and Tf-KD_reg's virtual teacher is a near-uniform target.

use serde::{Deserialize, Serialize};

/// softmax(z / t).
#[must_use]
pub fn softmax(z: &[f64], t: f64) -> Vec<f64> {
    let m = z.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let e: Vec<f64> = z.iter().map(|&v| ((v - m) / t).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// Entropy in nats.
#[must_use]
pub fn entropy(p: &[f64]) -> f64 {
    -p.iter().filter(|&&x| x > 0.0).map(|&x| x * x.ln()).sum::<f64>()
}

/// KL(p ‖ uniform) = log K − H(p).
#[must_use]
pub fn kl_to_uniform(p: &[f64]) -> f64 {
    (p.len() as f64).ln() - entropy(p)
}

/// How a set of teacher logits looks when softened at one temperature (averaged over examples).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Softened {
    /// Temperature.
    pub temperature: f64,
    /// Mean entropy (nats).
    pub entropy: f64,
    /// Mean KL(p_T ‖ uniform) (nats).
    pub kl_to_uniform: f64,
    /// Mean probability of the true class.
    pub true_class_prob: f64,
    /// Mean probability of the most likely class.
    pub max_prob: f64,
}

/// Softens each row of `logits` (with its label) at every temperature and averages the statistics.
#[must_use]
pub fn soften(logits: &[Vec<f64>], labels: &[usize], temperatures: &[f64]) -> Vec<Softened> {
    temperatures
        .iter()
        .map(|&t| {
            let n = logits.len().max(1) as f64;
            let (mut h, mut kl, mut tp, mut mp) = (0.0, 0.0, 0.0, 0.0);
            for (z, &y) in logits.iter().zip(labels) {
                let p = softmax(z, t);
                h += entropy(&p);
                kl += kl_to_uniform(&p);
                tp += p[y];
                mp += p.iter().fold(0.0f64, |a, &b| a.max(b));
            }
            Softened {
                temperature: t,
                entropy: h / n,
                kl_to_uniform: kl / n,
                true_class_prob: tp / n,
                max_prob: mp / n,
            }
        })
        .collect()
}

/// A target distribution for one example of class 0: (probability of the true class, of each other class).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// Probability of the true class.
    pub true_class: f64,
    /// Probability of each other class.
    pub other: f64,
}

impl Target {
    /// KL(target ‖ uniform) over `k` classes.
    #[must_use]
    pub fn kl_to_uniform(&self, k: usize) -> f64 {
        let mut p = vec![self.other; k];
        p[0] = self.true_class;
        kl_to_uniform(&p)
    }
}

/// LSR's target: official spread (ε/(K−1) on others) or the paper's Eq. 1 (ε/K on all).
#[must_use]
pub fn lsr_target(epsilon: f64, k: usize, over_others: bool) -> Target {
    if over_others {
        Target { true_class: 1.0 - epsilon, other: epsilon / (k - 1) as f64 }
    } else {
        Target { true_class: 1.0 - epsilon + epsilon / k as f64, other: epsilon / k as f64 }
    }
}

/// The virtual teacher p^d_τ = softmax(p^d / τ) (the official construction; same for both variants).
#[must_use]
pub fn virtual_teacher(a: f64, tau: f64, k: usize) -> Target {
    let mut pd = vec![(1.0 - a) / (k - 1) as f64; k];
    pd[0] = a;
    let p = softmax(&pd, tau);
    Target { true_class: p[0], other: p[1] }
}

/// What the student's own (τ = 1) distribution is pulled towards by the KL term of Tf-KD_reg.
///
/// Official code: the student at τ = 1 matches p^d_τ directly. Paper Eq. 9: the student at τ matches
/// p^d_τ, i.e. its logits match p^d up to a constant, so at τ = 1 it is pulled towards softmax(p^d),
/// independent of τ.
#[must_use]
pub fn reg_effective_target(a: f64, tau: f64, k: usize, paper_eq9: bool) -> Target {
    if paper_eq9 {
        virtual_teacher(a, 1.0, k)
    } else {
        virtual_teacher(a, tau, k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_temperature_tends_to_uniform() {
        let logits = vec![vec![5.0, 1.0, -2.0, 0.5], vec![0.0, 3.0, 1.0, 1.0]];
        let s = soften(&logits, &[0, 1], &[1.0, 10.0, 100.0, 10_000.0]);
        assert!(s.windows(2).all(|w| w[1].kl_to_uniform < w[0].kl_to_uniform), "{s:?}");
        assert!(s[3].kl_to_uniform < 1e-6 && (s[3].entropy - 4f64.ln()).abs() < 1e-6);
        assert!((s[3].true_class_prob - 0.25).abs() < 1e-3);
    }

    #[test]
    fn virtual_teacher_matches_the_reference_table() {
        let t = virtual_teacher(0.99, 20.0, 100);
        assert!((t.true_class - 0.01050).abs() < 5e-6 && (t.other - 0.009995).abs() < 5e-7, "{t:?}");
        let lsr = lsr_target(0.1, 100, true);
        assert!((lsr.true_class - 0.9).abs() < 1e-12 && (lsr.other - 0.1 / 99.0).abs() < 1e-12);
        // The official virtual teacher at τ = 20 is far closer to uniform than LSR's target.
        assert!(t.kl_to_uniform(100) < lsr.kl_to_uniform(100) / 100.0);
        let eq9 = reg_effective_target(0.99, 20.0, 100, true);
        assert!(eq9.true_class > t.true_class);
    }
}

/// A trained teacher's softened outputs over a temperature grid, as stored in `soft_targets.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeacherCurve {
    /// The teacher run's label.
    pub teacher: String,
    /// Number of classes.
    pub classes: usize,
    /// Test images the statistics average over.
    pub images: usize,
    /// Statistics per temperature.
    pub curve: Vec<Softened>,
}

/// The temperatures the analysis uses (1…100).
pub const TEMPERATURES: [f64; 9] = [1.0, 2.0, 4.0, 6.0, 10.0, 20.0, 40.0, 70.0, 100.0];
