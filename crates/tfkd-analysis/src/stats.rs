//! Statistics over seeds and the verdict rule.
//!
//! **Verdict rule.** A claim compares two cells of one row, e.g. "Re-KD teacher > teacher baseline".
//! Runs are paired by seed; d_s = A_s − B_s. With n ≥ 2 pairs, the 95% confidence interval of the mean
//! difference is mean(d) ± t(0.975, n−1)·sd(d)/√n. A claim "A > B" **holds** when the interval lies
//! above 0, is **contradicted** when it lies below 0, and is **not significant** otherwise (and always
//! with fewer than 2 pairs). A claim "|A − B| ≤ m" (e.g. Tf-KD_self is close to normal KD, m = 1 point)
//! holds when the interval lies inside [−m, m], is contradicted when it lies entirely outside, and is
//! not significant otherwise.

use serde::{Deserialize, Serialize};

/// Mean, sample standard deviation and count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1); 0 for one value.
    pub sd: f64,
    /// Number of values.
    pub n: usize,
}

impl Summary {
    /// Summarises `values`; `None` when empty.
    #[must_use]
    pub fn of(values: &[f64]) -> Option<Summary> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd =
            if n > 1 { (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt() } else { 0.0 };
        Some(Summary { mean, sd, n })
    }

    /// The 95% confidence interval of the mean (Student's t); `None` for fewer than 2 values.
    #[must_use]
    pub fn ci95(&self) -> Option<(f64, f64)> {
        let half = t975(self.n.checked_sub(1)?)? * self.sd / (self.n as f64).sqrt();
        Some((self.mean - half, self.mean + half))
    }
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom (exact table to 30, normal beyond).
#[must_use]
pub fn t975(df: usize) -> Option<f64> {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => None,
        1..=30 => Some(T[df - 1]),
        _ => Some(1.960),
    }
}

/// The outcome of checking a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The data support the claim at 95%.
    Holds,
    /// The data neither support nor contradict it.
    NotSignificant,
    /// The data contradict it at 95%.
    Contradicted,
}

impl Verdict {
    /// `holds`, `not significant`, `contradicted`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::NotSignificant => "not significant",
            Verdict::Contradicted => "contradicted",
        }
    }
}

/// Paired differences `a_s − b_s` over the seeds both have, in seed order.
#[must_use]
pub fn paired(a: &[(u64, f64)], b: &[(u64, f64)]) -> Vec<f64> {
    a.iter().filter_map(|(s, x)| b.iter().find(|(t, _)| t == s).map(|(_, y)| x - y)).collect()
}

/// Verdict of "A > B" from paired differences.
#[must_use]
pub fn greater(diffs: &[f64]) -> Verdict {
    match Summary::of(diffs).and_then(|s| s.ci95()) {
        Some((lo, _)) if lo > 0.0 => Verdict::Holds,
        Some((_, hi)) if hi < 0.0 => Verdict::Contradicted,
        _ => Verdict::NotSignificant,
    }
}

/// Verdict of "|A − B| ≤ margin" from paired differences.
#[must_use]
pub fn close(diffs: &[f64], margin: f64) -> Verdict {
    match Summary::of(diffs).and_then(|s| s.ci95()) {
        Some((lo, hi)) if lo >= -margin && hi <= margin => Verdict::Holds,
        Some((lo, hi)) if lo > margin || hi < -margin => Verdict::Contradicted,
        _ => Verdict::NotSignificant,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_and_ci() {
        let s = Summary::of(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((s.mean, s.sd, s.n), (2.0, 1.0, 3));
        let (lo, hi) = s.ci95().unwrap();
        assert!((hi - 2.0 - 4.303 / 3f64.sqrt()).abs() < 1e-12 && (2.0 - lo - 4.303 / 3f64.sqrt()).abs() < 1e-12);
        assert_eq!(Summary::of(&[5.0]).unwrap().ci95(), None);
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn verdicts() {
        assert_eq!(greater(&[1.0, 1.2, 0.9]), Verdict::Holds);
        assert_eq!(greater(&[-1.0, -1.2, -0.9]), Verdict::Contradicted);
        assert_eq!(greater(&[1.0, -1.0, 0.5]), Verdict::NotSignificant);
        assert_eq!(greater(&[3.0]), Verdict::NotSignificant, "one seed proves nothing");
        assert_eq!(close(&[0.1, -0.2, 0.05], 1.0), Verdict::Holds);
        assert_eq!(close(&[3.0, 3.2, 2.9], 1.0), Verdict::Contradicted);
        assert_eq!(close(&[0.5, 2.0, -1.0], 1.0), Verdict::NotSignificant);
    }

    #[test]
    fn pairs_by_seed() {
        assert_eq!(paired(&[(1, 5.0), (2, 6.0), (3, 7.0)], &[(2, 1.0), (1, 2.0)]), vec![3.0, 5.0]);
    }
}
