//! A paper table filled with our runs: cells (ours and the paper's), gains, claims and verdicts.

use serde::Serialize;
use tfkd_analysis::stats::{close, greater, paired, Summary, Verdict};
use tfkd_spec::{ClaimDecl, ClaimOp, Experiment, Layout, PaperTable};

use crate::{
    aggregate::{Aggregate, Measure, MeasureKind},
    RunRecord,
};

/// A number as the paper printed it (see [`tfkd_spec::Printed`]).
pub use tfkd_spec::Printed as PaperNumber;

/// One cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellReport {
    /// Column key.
    pub column: String,
    /// Our values by seed (%).
    pub values: Vec<(u64, f64)>,
    /// Our mean ± sd.
    pub ours: Option<Summary>,
    /// Our gain over the column's reference, paired by seed.
    pub gain: Option<Summary>,
    /// The paper's value.
    pub paper: Option<PaperNumber>,
    /// The paper's gain over the reference column: as printed where it printed one, else computed from its values.
    pub paper_gain: Option<f64>,
    /// The paper's gain from its own arithmetic (value − reference value), where both values are printed.
    pub paper_gain_arithmetic: Option<f64>,
    /// Extra text (the KD teacher's name).
    pub note: Option<String>,
    /// The entry whose runs fill the cell (absent for a teacher's accuracy).
    pub run: Option<String>,
    /// The per-example soft-target weight its loss applies (`tfkd_spec::Method::soft_weight`: α·T²·multiplier/K′
    /// for KD-family losses, α·multiplier/K′ for Tf-KD_reg, ε for LSR); `None` for baselines and teachers.
    pub soft_weight: Option<f64>,
}

/// One claim on one row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimReport {
    /// The claim in words.
    pub claim: String,
    /// Its operand A (a column key).
    pub a: String,
    /// Its operand B (a column key).
    pub b: String,
    /// Paired differences (A − B) summarised.
    pub diff: Option<Summary>,
    /// 95% CI of the mean difference.
    pub ci95: Option<(f64, f64)>,
    /// Minimum detectable effect of the paired comparison at 80% power (α 0.05), from n and the observed sd.
    pub mde: Option<f64>,
    /// The paper's A − B, where its numbers were retrieved.
    pub paper_effect: Option<f64>,
    /// The A − B the spec's claim expects (users' claims; the paper's tables use `paper_effect`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<f64>,
    /// Verdict, or `None` when the cells were not run in this profile.
    pub verdict: Option<Verdict>,
}

/// Calibration and confidence of one entry of the target (mean and sample sd over seeds).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationRow {
    /// Entry id.
    pub id: String,
    /// Model.
    pub model: String,
    /// Method.
    pub method: String,
    /// The per-example soft-target weight of the entry's loss (see [`CellReport::soft_weight`]).
    pub soft_weight: Option<f64>,
    /// The table's accuracy (%), NLL, ECE (%), confidence (%), entropy, teacher agreement (%) and KL to the
    /// teacher, in the order of [`MeasureKind::ALL`]; `None` where not recorded.
    pub measures: Vec<Option<Measure>>,
}

/// One row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowReport {
    /// Label.
    pub label: String,
    /// Cells in column order.
    pub cells: Vec<CellReport>,
    /// Claims.
    pub claims: Vec<ClaimReport>,
}

/// A whole table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableReport {
    /// Target name.
    pub target: String,
    /// Title.
    pub title: String,
    /// Profile.
    pub profile: String,
    /// Profile description.
    pub profile_description: String,
    /// "X → Y" when the profile replaced the paper's dataset.
    pub substitution: Option<String>,
    /// Layout.
    pub layout: Layout,
    /// The paper's dataset.
    pub paper_dataset: String,
    /// Where the paper's numbers come from.
    pub paper_source: String,
    /// Whether the paper's numbers were retrieved.
    pub paper_numbers: bool,
    /// The paper's table number, when the spec mirrors one.
    pub paper_table: Option<u32>,
    /// The paper table's caption.
    pub paper_caption: String,
    /// Runs behind each paper cell (`None`: not stated).
    pub paper_runs: Option<u32>,
    /// Whether the paper states `paper_runs` or tfkd infers it.
    pub paper_runs_basis: Option<String>,
    /// Rows.
    pub rows: Vec<RowReport>,
    /// Notes.
    pub notes: Vec<String>,
    /// Calibration and confidence of every entry with records, in spec order.
    pub calibration: Vec<CalibrationRow>,
}

/// Column headers of a layout.
#[must_use]
pub fn header(column: &str) -> &'static str {
    match column {
        "teacher_baseline" => "Teacher: baseline",
        "student_baseline" => "Student: baseline",
        "normal_kd" => "Normal KD",
        "re_kd" => "Re-KD (S→T)",
        "teacher" => "Pt-teacher",
        "de_kd" => "De-KD",
        "baseline" => "Baseline",
        "tf_kd_self" => "Tf-KD_self",
        "tf_kd_reg" => "Tf-KD_reg",
        "lsr" => "+ LSR",
        _ => "?",
    }
}

/// The column a column's gain is measured against.
#[must_use]
pub fn reference(layout: Layout, column: &str) -> Option<&'static str> {
    match (layout, column) {
        (Layout::ReKd, "normal_kd") | (Layout::DeKd, "de_kd") => Some("student_baseline"),
        (Layout::ReKd, "re_kd") => Some("teacher_baseline"),
        (Layout::TfSelf | Layout::TfReg | Layout::TfImagenet, "tf_kd_self" | "tf_kd_reg" | "normal_kd" | "lsr") => {
            Some("baseline")
        }
        _ => None,
    }
}

/// Fills the paper table of `exp` from the aggregate (and, for teacher cells, from the records).
#[must_use]
pub fn build(exp: &Experiment, paper: &PaperTable, agg: &Aggregate, records: &[RunRecord]) -> TableReport {
    let layout = paper.layout.expect("resolved specs have a layout");
    let rows = paper.rows.iter().map(|row| RowSource { exp, paper, row, agg, records }.report(layout)).collect();
    TableReport {
        target: exp.name.clone(),
        title: exp.title.clone(),
        profile: exp.profile.clone(),
        profile_description: exp.profile_description.trim().to_string(),
        substitution: exp.substitution().map(|sub| {
            // What the runs did, from their records: they may predate a change of the spec.
            let used = exp.runs.first().and_then(|r| r.data.source.classes());
            let kl = records.iter().find_map(|r| r.config.kl_classes);
            format!("{sub}; {}", tfkd_spec::kl_weight_note(kl, used, exp.paper_dataset.and_then(|d| d.classes())))
        }),
        layout,
        paper_dataset: paper.dataset.clone(),
        paper_source: paper.source.clone(),
        paper_numbers: paper.numbers_retrieved,
        paper_table: paper.table,
        paper_caption: paper.caption.clone(),
        paper_runs: paper.runs,
        paper_runs_basis: paper.runs_basis.clone(),
        rows,
        notes: paper.notes.clone(),
        calibration: calibration_rows(exp, agg, records),
    }
}

/// One row of the paper table with what fills it: our values per seed and the paper's numbers.
struct RowSource<'a> {
    exp: &'a Experiment,
    paper: &'a PaperTable,
    row: &'a tfkd_spec::PaperRow,
    agg: &'a Aggregate,
    records: &'a [RunRecord],
}

impl RowSource<'_> {
    /// Our (seed, accuracy %) values of column `col`: its run's, or its teacher's from the records.
    fn values_of(&self, col: &str) -> Vec<(u64, f64)> {
        let Some(cell) = self.row.cells.get(col) else { return Vec::new() };
        if let Some(id) = &cell.run {
            return self.agg.values.get(id).cloned().unwrap_or_default();
        }
        if let Some(id) = &cell.teacher_of {
            let mut v: Vec<(u64, f64)> = self
                .records
                .iter()
                .filter(|r| &r.config.id == id)
                .filter_map(|r| Some((r.config.seed, 100.0 * r.teacher_test_acc?)))
                .collect();
            v.sort_by_key(|x| x.0);
            return v;
        }
        Vec::new()
    }

    /// The paper's number for column `col`, when the paper's numbers were retrieved.
    fn paper_of(&self, col: &str) -> Option<PaperNumber> {
        if !self.paper.numbers_retrieved {
            return None;
        }
        self.row.cells.get(col).and_then(|c| c.paper.as_deref()).and_then(PaperNumber::parse)
    }

    fn report(&self, layout: Layout) -> RowReport {
        let cells = layout
            .columns()
            .iter()
            .filter(|c| self.row.cells.contains_key(**c))
            .map(|&col| self.cell(layout, col))
            .collect();
        let claims = self
            .paper
            .claims
            .iter()
            .filter(|c| self.row.cells.contains_key(&c.a) && self.row.cells.contains_key(&c.b))
            .map(|c| self.claim(layout, c))
            .collect();
        RowReport { label: self.row.label.clone(), cells, claims }
    }

    fn cell(&self, layout: Layout, col: &str) -> CellReport {
        let values = self.values_of(col);
        let ours = Summary::of(&values.iter().map(|v| v.1).collect::<Vec<_>>());
        let reference = reference(layout, col);
        let gain = reference.and_then(|r| Summary::of(&paired(&values, &self.values_of(r))));
        let paper_value = self.paper_of(col);
        let arithmetic = reference.and_then(|r| Some(paper_value.as_ref()?.mean? - self.paper_of(r)?.mean?));
        let spec_cell = self.row.cells.get(col);
        CellReport {
            column: col.to_string(),
            values,
            ours,
            gain,
            paper_gain: paper_value.as_ref().and_then(|p| p.gain).or(arithmetic),
            paper_gain_arithmetic: arithmetic,
            paper: paper_value,
            note: spec_cell.and_then(|c| c.paper_note.clone()),
            run: spec_cell.and_then(|c| c.run.clone()),
            soft_weight: spec_cell.and_then(|c| c.run.as_deref()).and_then(|id| soft_weight(self.exp, id)),
        }
    }

    /// The paper's value of column `col` on a common scale: as printed, or (for a gain-only cell) its
    /// reference column's value plus the printed gain.
    fn paper_level(&self, layout: Layout, col: &str) -> Option<f64> {
        let p = self.paper_of(col)?;
        p.mean.or_else(|| Some(self.paper_of(reference(layout, col)?)?.mean? + p.gain?))
    }

    /// The paper's A − B for a claim: the printed gain when B is A's reference column, else the difference
    /// of the two values.
    fn paper_effect(&self, layout: Layout, c: &ClaimDecl) -> Option<f64> {
        if reference(layout, &c.a) == Some(c.b.as_str()) {
            if let Some(g) = self.paper_of(&c.a).and_then(|p| p.gain) {
                return Some(g);
            }
        }
        Some(self.paper_level(layout, &c.a)? - self.paper_level(layout, &c.b)?)
    }

    fn claim(&self, layout: Layout, c: &ClaimDecl) -> ClaimReport {
        judge(c, &self.values_of(&c.a), &self.values_of(&c.b), self.paper_effect(layout, c))
    }
}

/// Judges one claim from its operands' (seed, value) lists, paired by seed: the difference A − B with its 95%
/// interval and minimum detectable effect, and a verdict against the effect to detect — the paper's
/// (`paper_effect`, for the paper's tables) or else the claim's own `expected`. The one judge of every claim,
/// the paper's tables' and users' specs' alike.
#[must_use]
pub fn judge(c: &ClaimDecl, a: &[(u64, f64)], b: &[(u64, f64)], paper_effect: Option<f64>) -> ClaimReport {
    let diffs = paired(a, b);
    let diff = Summary::of(&diffs);
    let effect = paper_effect.or(c.expected);
    let verdict = (!a.is_empty() && !b.is_empty()).then(|| match (c.op, c.margin) {
        (ClaimOp::Close, Some(m)) => close(&diffs, m),
        (ClaimOp::Less, _) => {
            let flipped: Vec<f64> = diffs.iter().map(|d| -d).collect();
            greater(&flipped, effect.map(|e| -e))
        }
        _ => greater(&diffs, effect),
    });
    ClaimReport {
        claim: c.text.clone(),
        a: c.a.clone(),
        b: c.b.clone(),
        ci95: diff.and_then(|d| d.ci95()),
        mde: diff.and_then(|d| d.mde()),
        paper_effect,
        expected: c.expected,
        diff,
        verdict,
    }
}

/// The per-example soft-target weight of entry `id`'s loss, from the spec the run ids were computed from.
#[must_use]
pub fn soft_weight(exp: &Experiment, id: &str) -> Option<f64> {
    exp.runs.iter().find(|r| r.id == id).and_then(tfkd_spec::RunConfig::soft_weight)
}

/// The calibration table: every entry with records, in spec order.
pub(crate) fn calibration_rows(exp: &Experiment, agg: &Aggregate, records: &[RunRecord]) -> Vec<CalibrationRow> {
    let mut seen = Vec::new();
    exp.runs
        .iter()
        .filter(|r| {
            let new = !seen.contains(&r.id);
            seen.push(r.id.clone());
            new && records.iter().any(|x| x.config.id == r.id)
        })
        .map(|r| CalibrationRow {
            id: r.id.clone(),
            model: r.model.to_string(),
            method: r.method.name().to_string(),
            soft_weight: r.soft_weight(),
            measures: MeasureKind::ALL.iter().map(|&m| agg.measure(&r.id, m)).collect(),
        })
        .collect()
}
