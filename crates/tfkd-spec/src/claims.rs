//! Claims: checkable statements about two cells of a row, declared by a spec or implied by its table's layout —
//! the one declaration path for the paper's tables and users' own specs (docs/paper.md §1.0).

use serde::{Deserialize, Serialize};

use crate::schema::Layout;

/// How a claim compares its two operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClaimOp {
    /// A > B.
    #[serde(rename = ">")]
    Greater,
    /// A < B.
    #[serde(rename = "<")]
    Less,
    /// |A − B| ≤ margin.
    #[serde(rename = "≈", alias = "~")]
    Close,
}

/// A checkable statement about two cells of a row, declared by a spec or implied by its layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimDecl {
    /// The claim in words (default: "A op B").
    #[serde(default)]
    pub text: String,
    /// Operand A: a column key of the row.
    pub a: String,
    /// The comparison.
    pub op: ClaimOp,
    /// Operand B: a column key of the row.
    pub b: String,
    /// For `≈`: the largest |A − B| (accuracy points) that still counts as close.
    pub margin: Option<f64>,
}

impl ClaimDecl {
    fn new(text: &str, a: &str, op: ClaimOp, b: &str, margin: Option<f64>) -> ClaimDecl {
        ClaimDecl { text: text.into(), a: a.into(), op, b: b.into(), margin }
    }
}

impl Layout {
    /// The paper's claims for a layout: what every row of such a table asserts.
    #[must_use]
    pub fn claims(self) -> Vec<ClaimDecl> {
        let gt = |text, a, b| ClaimDecl::new(text, a, ClaimOp::Greater, b, None);
        match self {
            Layout::ReKd => vec![
                gt("Re-KD teacher > its baseline", "re_kd", "teacher_baseline"),
                gt("normal KD student > its baseline", "normal_kd", "student_baseline"),
            ],
            Layout::DeKd => vec![gt("De-KD student > its baseline", "de_kd", "student_baseline")],
            Layout::TfSelf => vec![
                gt("Tf-KD_self > baseline", "tf_kd_self", "baseline"),
                ClaimDecl::new(
                    "Tf-KD_self within 1 point of normal KD",
                    "tf_kd_self",
                    ClaimOp::Close,
                    "normal_kd",
                    Some(1.0),
                ),
            ],
            Layout::TfReg => {
                vec![gt("Tf-KD_reg > baseline", "tf_kd_reg", "baseline"), gt("Tf-KD_reg > LSR", "tf_kd_reg", "lsr")]
            }
            // The abstract's ImageNet sentence: Tf-KD improves on the baselines and beats label smoothing.
            Layout::TfImagenet => vec![
                gt("Tf-KD_self > baseline", "tf_kd_self", "baseline"),
                gt("Tf-KD_reg > baseline", "tf_kd_reg", "baseline"),
                gt("Tf-KD_reg > LSR", "tf_kd_reg", "lsr"),
            ],
        }
    }
}

/// Gives a table its layout's claims where the spec declares none and a text to each unnamed one; returns the
/// problems as (path, message): an operand that is not a column of the layout, a margin without `≈` or `≈`
/// without a margin.
pub(crate) fn settle(table: &mut crate::PaperTable) -> Vec<(String, String)> {
    let Some(layout) = table.layout else { return Vec::new() };
    if table.claims.is_empty() {
        table.claims = layout.claims();
    }
    let mut problems = Vec::new();
    for (i, claim) in table.claims.iter_mut().enumerate() {
        let at = format!("paper.claims[{i}]");
        for side in [&claim.a, &claim.b] {
            if !layout.columns().contains(&side.as_str()) {
                problems.push((at.clone(), format!("'{side}' is not a column; columns are {:?}", layout.columns())));
            }
        }
        if (claim.op == ClaimOp::Close) != claim.margin.is_some() {
            problems.push((at.clone(), "give `margin` with `≈`, and only with it".into()));
        }
        if claim.text.is_empty() {
            let op = match claim.op {
                ClaimOp::Greater => ">",
                ClaimOp::Less => "<",
                ClaimOp::Close => "≈",
            };
            claim.text = format!("{} {op} {}", claim.a, claim.b);
        }
    }
    problems
}
