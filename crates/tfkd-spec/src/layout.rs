//! Table layouts: the shape of a paper table, its columns and the claims every row of it asserts
//! (docs/paper.md §1.0).

use serde::{Deserialize, Serialize};

use crate::claims::{ClaimDecl, ClaimOp};

/// The shape of a paper table; it fixes the columns and the claims checked on every row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// Re-KD tables: teacher baseline | student baseline | normal KD (T→S) | Re-KD (S→T).
    ReKd,
    /// De-KD table: poorly-trained teacher | student baseline | De-KD.
    DeKd,
    /// Tf-KD_self table: baseline | Tf-KD_self (| normal KD).
    TfSelf,
    /// Tf-KD_reg table: baseline | Tf-KD_reg | normal KD | LSR.
    TfReg,
    /// The ImageNet table: baseline | Tf-KD_self | Tf-KD_reg | normal KD | LSR.
    TfImagenet,
}

impl Layout {
    /// The table's columns, in order, as keys of [`crate::PaperRow::cells`].
    #[must_use]
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Layout::ReKd => &["teacher_baseline", "student_baseline", "normal_kd", "re_kd"],
            Layout::DeKd => &["teacher", "student_baseline", "de_kd"],
            Layout::TfSelf => &["baseline", "tf_kd_self", "normal_kd"],
            Layout::TfReg => &["baseline", "tf_kd_reg", "normal_kd", "lsr"],
            Layout::TfImagenet => &["baseline", "tf_kd_self", "tf_kd_reg", "normal_kd", "lsr"],
        }
    }

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
