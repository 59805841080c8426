//! Statistics over seeds, the verdict rule, and what a design could have seen at all.
//!
//! **Verdict rule.** A claim compares two cells of one row, e.g. "Re-KD teacher > teacher baseline".
//! Runs are paired by seed; d_s = A_s − B_s. With n ≥ 2 pairs, the 95% confidence interval of the mean
//! difference is mean(d) ± t(0.975, n−1)·sd(d)/√n, with Student's t quantile from `statrs`. A claim
//! "A > B" **holds** when the interval lies above 0, is **contradicted** when it lies below 0, and is
//! **not significant** otherwise (and always with fewer than 2 pairs). A claim "|A − B| ≤ m" (e.g.
//! Tf-KD_self is close to normal KD, m = 1 point) holds when the interval lies inside [−m, m], is
//! contradicted when it lies entirely outside, and is not significant otherwise.
//!
//! **Power.** Every paired comparison also reports its minimum detectable effect (MDE): the true mean
//! difference a two-sided paired t-test at α = 0.05 would detect with 80% power, given n pairs and the
//! observed sd of the differences — computed exactly from the noncentral t distribution. A "not
//! significant" comparison whose MDE exceeds the paper's effect is **underpowered**: it could not have seen
//! the paper's effect, so it says nothing about the claim.

use serde::{Deserialize, Serialize};
use statrs::{
    distribution::{ChiSquared, ContinuousCDF, Normal, StudentsT},
    function::gamma::ln_gamma,
};

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
        let half = t_quantile(0.975, (self.n.checked_sub(1)?) as f64)? * self.sd / (self.n as f64).sqrt();
        Some((self.mean - half, self.mean + half))
    }

    /// The minimum detectable effect of a paired comparison with these differences (see [`mde`]).
    #[must_use]
    pub fn mde(&self) -> Option<f64> {
        mde(self.n, self.sd, 0.05, 0.8)
    }
}

/// The `p` quantile of Student's t with `df` degrees of freedom; `None` for `df` ≤ 0.
#[must_use]
pub fn t_quantile(p: f64, df: f64) -> Option<f64> {
    (df > 0.0).then(|| StudentsT::new(0.0, 1.0, df).ok().map(|t| t.inverse_cdf(p))).flatten()
}

/// P(T ≤ t) for T noncentral-t with `df` degrees of freedom and noncentrality `ncp`: with S ~ χ(df), the
/// square root of a χ²(df) variable, P(T ≤ t) = E[Φ(t·S/√df − ncp)] = ∫₀^∞ Φ(t·s/√df − ncp) f_χ(s) ds, where
/// f_χ(s) = s^(df−1)·e^(−s²/2) / (2^(df/2−1)·Γ(df/2)) is finite on [0, ∞) for df ≥ 1. Simpson's rule over
/// [0, the 1 − 10⁻¹² quantile of S]; its error is below 10⁻⁸ for the degrees of freedom verdicts use.
#[must_use]
pub fn noncentral_t_cdf(t: f64, df: f64, ncp: f64) -> f64 {
    let normal = Normal::new(0.0, 1.0).expect("standard normal");
    let top = ChiSquared::new(df).expect("df > 0").inverse_cdf(1.0 - 1e-12).sqrt();
    let log_norm = (df / 2.0 - 1.0) * std::f64::consts::LN_2 + ln_gamma(df / 2.0);
    let density = |s: f64| {
        if s <= 0.0 {
            if df == 1.0 {
                (-log_norm).exp()
            } else {
                0.0
            }
        } else {
            ((df - 1.0) * s.ln() - s * s / 2.0 - log_norm).exp()
        }
    };
    let f = |s: f64| normal.cdf(t * s / df.sqrt() - ncp) * density(s);
    let steps = 4_000;
    let h = top / steps as f64;
    let inner: f64 = (1..steps).map(|i| f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 }).sum();
    (f(0.0) + inner + f(top)) * h / 3.0
}

/// The power of a two-sided t-test at level `alpha` with `df` degrees of freedom when the statistic's
/// noncentrality is `ncp` (for n paired differences of true mean δ and sd σ: df = n − 1, ncp = δ√n/σ).
#[must_use]
pub fn power(df: f64, ncp: f64, alpha: f64) -> f64 {
    let Some(c) = t_quantile(1.0 - alpha / 2.0, df) else { return f64::NAN };
    1.0 - noncentral_t_cdf(c, df, ncp) + noncentral_t_cdf(-c, df, ncp)
}

/// The minimum detectable effect of a two-sided paired t-test: the true mean difference detected with
/// probability `power_wanted` at level `alpha`, with `n` pairs whose differences have sd `sd`. `None` for
/// fewer than 2 pairs; 0 when the differences do not vary.
#[must_use]
pub fn mde(n: usize, sd: f64, alpha: f64, power_wanted: f64) -> Option<f64> {
    if n < 2 {
        return None;
    }
    if sd == 0.0 {
        return Some(0.0);
    }
    let (df, root) = ((n - 1) as f64, (n as f64).sqrt());
    // Power grows with the effect: bisect the effect in units of sd, from 0 to far beyond any need.
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while power(df, hi * root, alpha) < power_wanted {
        hi *= 2.0;
        if hi > 1e6 {
            return None;
        }
    }
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if power(df, mid * root, alpha) < power_wanted {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(0.5 * (lo + hi) * sd)
}

/// The outcome of checking a claim.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The data support the claim at 95%.
    Holds,
    /// The data neither support nor contradict it.
    NotSignificant,
    /// Not significant, and the design could not have detected the paper's effect: its minimum detectable
    /// effect (80% power) is larger.
    Underpowered {
        /// The minimum detectable effect.
        mde: f64,
        /// The paper's effect it is compared with.
        paper: f64,
    },
    /// The data contradict it at 95%.
    Contradicted,
}

impl Verdict {
    /// `holds`, `not significant`, `underpowered`, `contradicted`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::NotSignificant => "not significant",
            Verdict::Underpowered { .. } => "underpowered",
            Verdict::Contradicted => "contradicted",
        }
    }

    /// The verdict in words with its numbers: `underpowered (MDE 3.2 > paper's +1.4)`.
    #[must_use]
    pub fn describe(self) -> String {
        match self {
            Verdict::Underpowered { mde, paper } => format!("underpowered (MDE {mde:.1} > paper's {paper:+.1})"),
            other => other.as_str().to_string(),
        }
    }
}

/// Paired differences `a_s − b_s` over the seeds both have, in seed order.
#[must_use]
pub fn paired(a: &[(u64, f64)], b: &[(u64, f64)]) -> Vec<f64> {
    a.iter().filter_map(|(s, x)| b.iter().find(|(t, _)| t == s).map(|(_, y)| x - y)).collect()
}

fn underpowered(diffs: &[f64], paper: Option<f64>) -> Verdict {
    match (Summary::of(diffs).and_then(|s| s.mde()), paper) {
        (Some(mde), Some(p)) if mde > p.abs() => Verdict::Underpowered { mde, paper: p },
        _ => Verdict::NotSignificant,
    }
}

/// Verdict of "A > B" from paired differences; `paper` is the paper's effect A − B, if known.
#[must_use]
pub fn greater(diffs: &[f64], paper: Option<f64>) -> Verdict {
    match Summary::of(diffs).and_then(|s| s.ci95()) {
        Some((lo, _)) if lo > 0.0 => Verdict::Holds,
        Some((_, hi)) if hi < 0.0 => Verdict::Contradicted,
        _ => underpowered(diffs, paper),
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
        // t(0.975, 2) = 4.302652729749462 (SciPy 1.17 stats.t.ppf).
        let half = 4.302_652_729_749_462 / 3f64.sqrt();
        assert!((hi - 2.0 - half).abs() < 1e-9 && (2.0 - lo - half).abs() < 1e-9, "{lo} {hi}");
        assert_eq!(Summary::of(&[5.0]).unwrap().ci95(), None);
        assert_eq!(Summary::of(&[]), None);
    }

    /// Quantiles beyond 30 degrees of freedom are Student's, not the normal 1.96 of a hand-typed table.
    #[test]
    fn t_quantiles_past_thirty_degrees_of_freedom() {
        // SciPy 1.17: stats.t.ppf(0.975, 40) = 2.021075390306273, (0.975, 120) = 1.9799304050824402.
        assert!((t_quantile(0.975, 40.0).unwrap() - 2.021_075_390_306_273).abs() < 1e-9);
        assert!((t_quantile(0.975, 120.0).unwrap() - 1.979_930_405_082_440_2).abs() < 1e-9);
    }

    /// R's documentation of `power.t.test` (stats package): `power.t.test(n = 20, delta = 1)` has power
    /// 0.8689528 — a two-sample test, df = 38 and noncentrality √(20/2) — and `power.t.test(power = .90,
    /// delta = 1)` needs n = 22.02110 per group.
    #[test]
    fn power_against_r_documentation() {
        assert!((power(38.0, 10f64.sqrt(), 0.05) - 0.868_952_8).abs() < 1e-6, "{}", power(38.0, 10f64.sqrt(), 0.05));
        let n = 22.021_10;
        assert!((power(2.0 * n - 2.0, (n / 2.0).sqrt(), 0.05) - 0.90).abs() < 1e-5);
    }

    /// Minimum detectable effects of paired tests (sd 1, α 0.05, power 0.8) against SciPy 1.17
    /// (`optimize.brentq` on `stats.nct`): n = 3 → 3.264043549699324, 4 → 2.1279493432578005,
    /// 5 → 1.6819969659555551; scaling with the sd.
    #[test]
    fn minimum_detectable_effects() {
        for (n, want) in [(3, 3.264_043_549_699_324), (4, 2.127_949_343_257_800_5), (5, 1.681_996_965_955_555_1)] {
            let got = mde(n, 1.0, 0.05, 0.8).unwrap();
            assert!((got - want).abs() < 1e-6, "n = {n}: {got} vs {want}");
        }
        assert!((mde(3, 2.5, 0.05, 0.8).unwrap() - 2.5 * 3.264_043_549_699_324).abs() < 1e-5);
        assert_eq!(mde(1, 1.0, 0.05, 0.8), None);
        assert_eq!(mde(3, 0.0, 0.05, 0.8), Some(0.0));
    }

    #[test]
    fn verdicts() {
        assert_eq!(greater(&[1.0, 1.2, 0.9], None), Verdict::Holds);
        assert_eq!(greater(&[-1.0, -1.2, -0.9], None), Verdict::Contradicted);
        assert_eq!(greater(&[1.0, -1.0, 0.5], None), Verdict::NotSignificant);
        assert_eq!(greater(&[3.0], Some(1.0)), Verdict::NotSignificant, "one seed proves nothing, and has no MDE");
        assert_eq!(close(&[0.1, -0.2, 0.05], 1.0), Verdict::Holds);
        assert_eq!(close(&[3.0, 3.2, 2.9], 1.0), Verdict::Contradicted);
        assert_eq!(close(&[0.5, 2.0, -1.0], 1.0), Verdict::NotSignificant);
        // sd 1.040833 over 3 pairs: MDE 3.397 > the paper's +1.41, so the comparison could not have seen it.
        let v = greater(&[1.0, -1.0, 0.5], Some(1.41));
        let Verdict::Underpowered { mde, paper } = v else { panic!("{v:?}") };
        assert!((mde - 3.264_043_549_699_324 * 1.040_833_0).abs() < 1e-4 && paper == 1.41);
        assert_eq!(v.describe(), "underpowered (MDE 3.4 > paper's +1.4)");
        // A small MDE keeps "not significant": the design could have seen the paper's effect.
        assert_eq!(greater(&[0.1, -0.1, 0.05], Some(2.67)), Verdict::NotSignificant);
    }

    #[test]
    fn pairs_by_seed() {
        assert_eq!(paired(&[(1, 5.0), (2, 6.0), (3, 7.0)], &[(2, 1.0), (1, 2.0)]), vec![3.0, 5.0]);
    }
}
