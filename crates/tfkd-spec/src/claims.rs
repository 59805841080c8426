//! Claims: checkable statements about two cells of a row, declared by a spec or implied by its table's layout —
//! the one declaration path for the paper's tables and users' own specs (docs/paper.md §1.0).

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
    pub(crate) fn new(text: &str, a: &str, op: ClaimOp, b: &str, margin: Option<f64>) -> ClaimDecl {
        ClaimDecl { text: text.into(), a: a.into(), op, b: b.into(), margin }
    }
}

/// Gives each unnamed claim a text and checks it against the table's columns (`columns`: the layout's,
/// [`crate::layout::Layout::columns`]); returns the problems as (path, message): an operand that is not a
/// column, a margin without `≈` or `≈` without a margin.
pub(crate) fn settle(columns: &[&str], claims: &mut [ClaimDecl]) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (i, claim) in claims.iter_mut().enumerate() {
        let at = format!("paper.claims[{i}]");
        for side in [&claim.a, &claim.b] {
            if !columns.contains(&side.as_str()) {
                problems.push((at.clone(), format!("'{side}' is not a column; columns are {columns:?}")));
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
