//! What a model believes, beyond top-1: calibration and confidence of predictive distributions.
//!
//! * Expected calibration error (Guo et al., 2017) with [`BINS`] equal-width bins over the top-label
//!   confidence: ECE = Σ_b (n_b / N) · |acc_b − conf_b|, where bin b holds the examples whose top
//!   probability lies in ((b−1)/B, b/B] (the first bin includes 0).
//! * Negative log-likelihood of the true label, mean top-1 confidence, mean entropy of the predictive
//!   distribution (nats), and against a teacher: top-1 agreement and the mean KL(teacher ‖ student).
//!
//! Müller, Kornblith and Hinton (NeurIPS 2019) show label smoothing lowers confidence and improves
//! calibration; Sultan (EMNLP 2023) finds KD students inherit their teacher's confidence instead. These
//! numbers let one target test both sides on the same runs.

use serde::{Deserialize, Serialize};

/// Equal-width confidence bins of the ECE (the common choice, as in Guo et al.).
pub const BINS: usize = 15;

/// One confidence bin: how many examples, their mean confidence and their accuracy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Bin {
    /// Examples whose top-label confidence falls in the bin.
    pub count: u64,
    /// Their mean top-label confidence (0 when empty).
    pub confidence: f64,
    /// Their accuracy (0 when empty).
    pub accuracy: f64,
}

/// Running sums over examples, merged batch by batch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Accumulator {
    n: u64,
    correct: u64,
    nll: f64,
    confidence: f64,
    entropy: f64,
    bins: [(u64, f64, u64); BINS],
    teacher: Option<(u64, f64)>,
}

/// One example's prediction, as the evaluation loop reads it back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Example {
    /// Top-label probability.
    pub confidence: f64,
    /// Whether the top label is the true one.
    pub correct: bool,
    /// −log p(true label).
    pub nll: f64,
    /// Entropy of the predictive distribution (nats).
    pub entropy: f64,
    /// Against the teacher, if any: whether the top labels agree, and KL(teacher ‖ student) in nats.
    pub teacher: Option<(bool, f64)>,
}

/// The index of the bin of a confidence in [0, 1]: ((b−1)/B, b/B] ↦ b − 1, with 0 in the first bin.
#[must_use]
pub fn bin_of(confidence: f64) -> usize {
    let b = (confidence * BINS as f64).ceil() as usize;
    b.clamp(1, BINS) - 1
}

impl Accumulator {
    /// Adds one example.
    pub fn add(&mut self, e: Example) {
        self.n += 1;
        self.correct += u64::from(e.correct);
        self.nll += e.nll;
        self.confidence += e.confidence;
        self.entropy += e.entropy;
        let bin = &mut self.bins[bin_of(e.confidence)];
        bin.0 += 1;
        bin.1 += e.confidence;
        bin.2 += u64::from(e.correct);
        if let Some((agree, kl)) = e.teacher {
            let t = self.teacher.get_or_insert((0, 0.0));
            t.0 += u64::from(agree);
            t.1 += kl;
        }
    }

    /// The summary over everything added; `None` when nothing was.
    #[must_use]
    pub fn finish(&self) -> Option<Calibration> {
        if self.n == 0 {
            return None;
        }
        let n = self.n as f64;
        let bins: Vec<Bin> = self
            .bins
            .iter()
            .map(|&(count, conf, correct)| match count {
                0 => Bin::default(),
                c => Bin { count: c, confidence: conf / c as f64, accuracy: correct as f64 / c as f64 },
            })
            .collect();
        let ece = bins.iter().map(|b| b.count as f64 / n * (b.accuracy - b.confidence).abs()).sum();
        Some(Calibration {
            accuracy: self.correct as f64 / n,
            nll: self.nll / n,
            ece,
            confidence: self.confidence / n,
            entropy: self.entropy / n,
            teacher_agreement: self.teacher.map(|t| t.0 as f64 / n),
            teacher_kl: self.teacher.map(|t| t.1 / n),
            bins,
        })
    }
}

/// Calibration and confidence of a model on a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Top-1 accuracy.
    pub accuracy: f64,
    /// Mean negative log-likelihood of the true label (nats).
    pub nll: f64,
    /// Expected calibration error over [`BINS`] equal-width bins of top-label confidence.
    pub ece: f64,
    /// Mean top-label confidence.
    pub confidence: f64,
    /// Mean entropy of the predictive distribution (nats).
    pub entropy: f64,
    /// Fraction of examples whose top label equals the teacher's (distillation runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_agreement: Option<f64>,
    /// Mean KL(teacher ‖ student) at temperature 1, nats (distillation runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_kl: Option<f64>,
    /// The reliability diagram: the [`BINS`] bins.
    pub bins: Vec<Bin>,
}

/// The example of a probability vector `p` (summing to 1) with true label `y`, and the teacher's `q` if any.
#[must_use]
pub fn example(p: &[f64], y: usize, q: Option<&[f64]>) -> Example {
    let top = argmax(p);
    let entropy = -p.iter().filter(|&&x| x > 0.0).map(|&x| x * x.ln()).sum::<f64>();
    let teacher = q.map(|q| {
        let kl = q.iter().zip(p).filter(|(&qi, _)| qi > 0.0).map(|(&qi, &pi)| qi * (qi.ln() - pi.ln())).sum::<f64>();
        (argmax(q) == top, kl)
    });
    Example { confidence: p[top], correct: top == y, nll: -p[y].ln(), entropy, teacher }
}

fn argmax(p: &[f64]) -> usize {
    p.iter().enumerate().fold(0, |best, (i, &x)| if x > p[best] { i } else { best })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed: four examples, two bins used.
    ///
    /// | p (3 classes)      | y | conf | bin index (of 15) | correct | nll          | entropy |
    /// |--------------------|---|------|-------------------|---------|--------------|---------|
    /// | 0.9, 0.05, 0.05    | 0 | 0.9  | 13: (0.8667, 0.9333] | yes | −ln 0.9 = 0.105361 | 0.394398 |
    /// | 0.9, 0.05, 0.05    | 1 | 0.9  | 13                | no      | −ln 0.05 = 2.995732 | 0.394398 |
    /// | 0.5, 0.3, 0.2      | 0 | 0.5  | 7: (0.4667, 0.5333] | yes | −ln 0.5 = 0.693147 | 1.029653 |
    /// | 0.5, 0.3, 0.2      | 2 | 0.5  | 7                 | no      | −ln 0.2 = 1.609438 | 1.029653 |
    ///
    /// ECE = 2/4·|0.5 − 0.9| + 2/4·|0.5 − 0.5| = 0.2.
    #[test]
    fn hand_computed_values() {
        let mut acc = Accumulator::default();
        for (p, y) in [([0.9, 0.05, 0.05], 0), ([0.9, 0.05, 0.05], 1), ([0.5, 0.3, 0.2], 0), ([0.5, 0.3, 0.2], 2)] {
            acc.add(example(&p, y, None));
        }
        let c = acc.finish().unwrap();
        assert!((c.ece - 0.2).abs() < 1e-12, "{}", c.ece);
        assert!((c.accuracy - 0.5).abs() < 1e-12);
        let nll =
            (0.105_360_515_657_826_3 + 2.995_732_273_553_991 + std::f64::consts::LN_2 + 1.609_437_912_434_100_3) / 4.0;
        assert!((c.nll - nll).abs() < 1e-12, "{} vs {nll}", c.nll);
        assert!((c.confidence - 0.7).abs() < 1e-12);
        let h1 = -(0.9f64 * 0.9f64.ln() + 2.0 * 0.05 * 0.05f64.ln());
        let h2 = -(0.5f64 * 0.5f64.ln() + 0.3 * 0.3f64.ln() + 0.2 * 0.2f64.ln());
        assert!((h1 - 0.394_398).abs() < 1e-6 && (h2 - 1.029_653).abs() < 1e-6);
        assert!((c.entropy - (h1 + h2) / 2.0).abs() < 1e-12);
        assert_eq!((c.bins[13].count, c.bins[7].count, c.bins.iter().map(|b| b.count).sum::<u64>()), (2, 2, 4));
        assert!((c.bins[13].accuracy - 0.5).abs() < 1e-12 && (c.bins[13].confidence - 0.9).abs() < 1e-12);
        assert_eq!(c.teacher_agreement, None);
    }

    #[test]
    fn bin_edges_are_right_closed() {
        assert_eq!(bin_of(0.0), 0);
        assert_eq!(bin_of(1.0 / 15.0), 0);
        assert_eq!(bin_of(1.0 / 15.0 + 1e-12), 1);
        assert_eq!(bin_of(1.0), BINS - 1);
    }

    #[test]
    fn teacher_agreement_and_kl() {
        let mut acc = Accumulator::default();
        // Student (0.7, 0.2, 0.1) vs teacher (0.6, 0.3, 0.1): same top label;
        // KL = 0.6 ln(0.6/0.7) + 0.3 ln(0.3/0.2) + 0.1 ln(0.1/0.1) = 0.029149.
        acc.add(example(&[0.7, 0.2, 0.1], 0, Some(&[0.6, 0.3, 0.1])));
        // Student (0.2, 0.8) vs teacher (0.5, 0.5): ties go to the first label, so the top labels differ;
        // KL = 0.5 ln(0.5/0.2) + 0.5 ln(0.5/0.8) = 0.223144.
        acc.add(example(&[0.2, 0.8], 1, Some(&[0.5, 0.5])));
        let c = acc.finish().unwrap();
        assert_eq!(c.teacher_agreement, Some(0.5));
        let kl = (0.6f64 * (0.6f64 / 0.7).ln()
            + 0.3 * (0.3f64 / 0.2).ln()
            + 0.5 * (0.5f64 / 0.2).ln()
            + 0.5 * (0.5f64 / 0.8).ln())
            / 2.0;
        assert!((c.teacher_kl.unwrap() - kl).abs() < 1e-12);
        assert!((kl - (0.029_149 + 0.223_144) / 2.0).abs() < 1e-6);
    }
}
