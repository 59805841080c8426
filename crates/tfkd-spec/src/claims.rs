//! Claims: checkable statements about two operands, declared by a spec or implied by its table's layout — the
//! one declaration path for the paper's tables (operands: columns of a row) and users' own specs (operands:
//! entry ids, the spec's top-level `claims:`), judged by one function in tfkd-report (docs/paper.md §1.0).

use serde::{Deserialize, Serialize};

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
    /// Operand A: a column key of the row (paper tables) or an entry id (a spec's top-level `claims`).
    pub a: String,
    /// The comparison.
    pub op: ClaimOp,
    /// Operand B: like A.
    pub b: String,
    /// For `≈`: the largest |A − B| (accuracy points) that still counts as close.
    pub margin: Option<f64>,
    /// The A − B (accuracy points) the claim expects, if any: the effect the verdict asks the design to be able
    /// to detect ("underpowered" when it could not). The paper's tables use the paper's printed effect instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<f64>,
}

impl ClaimDecl {
    pub(crate) fn new(text: &str, a: &str, op: ClaimOp, b: &str, margin: Option<f64>) -> ClaimDecl {
        ClaimDecl { text: text.into(), a: a.into(), op, b: b.into(), margin, expected: None }
    }
}

/// Gives each unnamed claim a text and checks it against its operands (`columns`: a layout's columns,
/// [`crate::layout::Layout::columns`], or a spec's entry ids), `at` naming the list in messages; returns the
/// problems as (path, message): an operand that is not one of them, a margin without `≈` or `≈` without a
/// margin, an expected effect that is not finite.
pub(crate) fn settle(at: &str, columns: &[&str], claims: &mut [ClaimDecl]) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (i, claim) in claims.iter_mut().enumerate() {
        let at = format!("{at}[{i}]");
        for side in [&claim.a, &claim.b] {
            if !columns.contains(&side.as_str()) {
                problems.push((
                    at.clone(),
                    format!("'{side}' is not one of the operands a claim here may name: {columns:?}"),
                ));
            }
        }
        if claim.expected.is_some_and(|e| !e.is_finite()) || claim.margin.is_some_and(|m| !(m >= 0.0 && m.is_finite()))
        {
            problems.push((at.clone(), "`expected` must be a finite number and `margin` a finite one ≥ 0".into()));
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
