//! The paper as printed: its table numbering (aliases → targets) and every number of its eleven tables,
//! transcribed once in `experiments/paper.yaml` and compiled into the binary (docs/paper.md §1).
//!
//! Specs do not carry paper numbers: a spec's `paper:` section names a table (`table: 3`) and its rows by
//! label, and [`crate::resolve`] fills each cell from here, so a spec cannot drift from the paper.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::schema::PaperTable;

/// `experiments/paper.yaml`, as committed.
pub const PAPER_YAML: &str = include_str!("../../../experiments/paper.yaml");

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperFile {
    /// Whether the numbering and numbers were checked against the paper's full text.
    #[serde(default)]
    pub verified: bool,
    /// What they were checked against (or why not).
    #[serde(default)]
    pub reason: String,
    /// `table3` → the target(s) that reproduce it.
    #[serde(default)]
    pub aliases: BTreeMap<String, Targets>,
    /// Every table block as printed.
    #[serde(default)]
    pub tables: Vec<PaperTableData>,
    /// `fig4` → the target whose report draws the figure.
    #[serde(default)]
    pub figure_aliases: BTreeMap<String, String>,
    /// The figures' values as read from the paper's charts.
    #[serde(default)]
    pub figures: Vec<PaperFigure>,
}

/// A figure of the paper, its values read from the chart (approximate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperFigure {
    /// The paper's figure number.
    pub figure: u32,
    /// What it shows, in tfkd's words.
    pub caption: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// A horizontal reference (the baseline), where drawn.
    pub baseline: Option<f64>,
    /// The schedule's length, for a figure over epochs.
    pub epochs: Option<u32>,
    /// Its series as read.
    pub series: Vec<PaperSeries>,
}

/// One series of a paper figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperSeries {
    /// Legend entry.
    pub name: String,
    /// x values.
    pub x: Vec<f64>,
    /// y values, one per x.
    pub y: Vec<f64>,
}

/// One target or several (a table with one block per dataset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Targets {
    /// One target.
    One(String),
    /// Several, reproduced in this order.
    Many(Vec<String>),
}

impl Targets {
    /// The target names, in order.
    #[must_use]
    pub fn names(&self) -> Vec<String> {
        match self {
            Targets::One(t) => vec![t.clone()],
            Targets::Many(v) => v.clone(),
        }
    }
}

/// One block of a paper table (Tab. 4 has a CIFAR-100 and a Tiny-ImageNet block; other tables one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperTableData {
    /// The paper's table number.
    pub table: u32,
    /// The section of docs/paper.md that renders it.
    pub section: String,
    /// The caption, in tfkd's words.
    pub caption: String,
    /// The dataset of the block, as the paper names it ("Tiny-ImageNet").
    pub dataset: String,
    /// Runs behind each cell as the paper states them (3: mean ± sd over 3 runs; 1: a single run); absent
    /// where the paper does not say (no ± printed).
    pub runs: Option<u32>,
    /// Whether the paper states `runs` ("stated") or tfkd infers it, and from what.
    pub runs_basis: Option<String>,
    /// Rows in the paper's order.
    pub rows: Vec<PaperRowData>,
}

/// One printed row: label and cells by column key (as printed, see [`Printed`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperRowData {
    /// Row label, e.g. "ResNet18 ↔ ShuffleNetV2".
    pub label: String,
    /// Cells by column key.
    pub cells: BTreeMap<String, String>,
}

/// A cell as the paper printed it: "71.05±0.16 (+2.67)", "63.44", "(+2.67) [ResNet18]",
/// "70.40 (+0.56) [DenseNet121]".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Printed {
    /// The text as printed, bracketed note included.
    pub text: String,
    /// The value, where printed (gain-only cells have none).
    pub mean: Option<f64>,
    /// The ± part, where printed.
    pub sd: Option<f64>,
    /// The gain printed in parentheses, where printed (it may differ from the paper's own arithmetic).
    pub gain: Option<f64>,
    /// The bracketed note (the normal-KD teacher), where printed.
    pub note: Option<String>,
}

impl Printed {
    /// Parses a printed cell; `None` when it is not of the forms above.
    #[must_use]
    pub fn parse(text: &str) -> Option<Printed> {
        let mut rest = text.trim();
        let mut note = None;
        if let Some(open) = rest.find('[') {
            let close = rest[open..].find(']')? + open;
            note = Some(rest[open + 1..close].trim().to_string()).filter(|n| !n.is_empty());
            if !rest[close + 1..].trim().is_empty() {
                return None;
            }
            rest = rest[..open].trim();
        }
        let mut gain = None;
        if let Some(open) = rest.find('(') {
            let close = rest[open..].find(')')? + open;
            gain = Some(number(&rest[open + 1..close])?);
            if !rest[close + 1..].trim().is_empty() {
                return None;
            }
            rest = rest[..open].trim();
        }
        let (mean, sd) = match rest {
            "" => (None, None),
            r => match r.split_once('±') {
                Some((m, s)) => (Some(number(m)?), Some(number(s)?)),
                None => (Some(number(r)?), None),
            },
        };
        if mean.is_none() && gain.is_none() {
            return None;
        }
        Some(Printed { text: text.trim().to_string(), mean, sd, gain, note })
    }

    /// The printed text without its bracketed note (the note is shown beside it).
    #[must_use]
    pub fn value_text(&self) -> &str {
        self.text.split('[').next().unwrap_or(&self.text).trim()
    }
}

/// A finite decimal number with an optional sign (`+1.64`, `-0.04`, `−0.04`).
fn number(s: &str) -> Option<f64> {
    let s = s.trim().replace('−', "-");
    let s = s.strip_prefix('+').unwrap_or(&s);
    s.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// Why the paper data is unusable (a test keeps the committed file valid).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("experiments/paper.yaml: {0}")]
pub struct PaperDataError(pub String);

/// The committed paper data, parsed once and checked: every cell parses, table numbers are 1–11.
///
/// # Errors
/// When the compiled-in file does not parse or a cell is not a printed number.
pub fn data() -> Result<&'static PaperFile, PaperDataError> {
    static DATA: OnceLock<Result<PaperFile, PaperDataError>> = OnceLock::new();
    DATA.get_or_init(|| parse(PAPER_YAML)).as_ref().map_err(Clone::clone)
}

/// Parses and checks a paper file's text.
///
/// # Errors
/// When it does not parse or a cell is not a printed number.
pub fn parse(text: &str) -> Result<PaperFile, PaperDataError> {
    let file: PaperFile = serde_yaml::from_str(text).map_err(|e| PaperDataError(e.to_string()))?;
    for f in &file.figures {
        if let Some(s) = f.series.iter().find(|s| s.x.len() != s.y.len() || s.x.is_empty()) {
            return Err(PaperDataError(format!("Fig. {}, series '{}': x and y differ in length", f.figure, s.name)));
        }
    }
    for t in &file.tables {
        for row in &t.rows {
            for (col, cell) in &row.cells {
                if Printed::parse(cell).is_none() {
                    return Err(PaperDataError(format!(
                        "Tab. {} ({}), row '{}', column {col}: '{cell}' is not a printed number",
                        t.table, t.dataset, row.label
                    )));
                }
            }
        }
    }
    Ok(file)
}

/// A table or a table's block that the paper does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoBlock {
    /// No table of that number.
    #[error("the paper has no Tab. {n} (tables: {})", join(tables))]
    Table {
        /// The table asked for.
        n: u32,
        /// The paper's tables (a number per block).
        tables: Vec<u32>,
    },
    /// The table has no block on that dataset.
    #[error("Tab. {n} has no block on '{dataset}' (its blocks: {}); set paper.dataset to one", blocks.join(", "))]
    Dataset {
        /// The table.
        n: u32,
        /// The dataset asked for.
        dataset: String,
        /// The datasets of its blocks.
        blocks: Vec<String>,
    },
}

fn join(numbers: &[u32]) -> String {
    numbers.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}

impl PaperFile {
    /// The blocks of table `n`.
    #[must_use]
    pub fn blocks(&self, n: u32) -> Vec<&PaperTableData> {
        self.tables.iter().filter(|t| t.table == n).collect()
    }

    /// The block of table `n` on `dataset` (the only block when the table has one and `dataset` is empty).
    ///
    /// # Errors
    /// [`NoBlock`], naming the paper's tables or the table's blocks, when none matches.
    pub fn block(&self, n: u32, dataset: &str) -> Result<&PaperTableData, NoBlock> {
        let blocks = self.blocks(n);
        if blocks.is_empty() {
            return Err(NoBlock::Table { n, tables: self.tables.iter().map(|t| t.table).collect() });
        }
        if let [only] = blocks[..] {
            if dataset.is_empty() || only.dataset == dataset {
                return Ok(only);
            }
        }
        blocks.iter().copied().find(|b| b.dataset == dataset).ok_or_else(|| NoBlock::Dataset {
            n,
            dataset: dataset.to_string(),
            blocks: blocks.iter().map(|b| b.dataset.clone()).collect(),
        })
    }

    /// The targets an alias stands for (`table4` → two, `fig4` → one); `None` for a name that is no alias.
    #[must_use]
    pub fn targets_of(&self, alias: &str) -> Option<Vec<String>> {
        self.aliases.get(alias).map(Targets::names).or_else(|| self.figure_aliases.get(alias).map(|t| vec![t.clone()]))
    }

    /// The paper's figure `n`, if transcribed.
    #[must_use]
    pub fn figure(&self, n: u32) -> Option<&PaperFigure> {
        self.figures.iter().find(|f| f.figure == n)
    }

    /// The aliases whose targets include `target` (`table7`, `table8` for one that serves both).
    #[must_use]
    pub fn aliases_of(&self, target: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .aliases
            .iter()
            .filter(|(_, t)| t.names().iter().any(|n| n == target))
            .map(|(a, _)| a.clone())
            .collect();
        v.sort_by_key(|a| (a.starts_with("fig"), a.len(), a.clone()));
        v
    }
}

/// Fills a spec's paper table from the paper data when it names a table: source, caption, runs, every
/// cell's printed number; checks that its rows are the table's rows in the paper's order and that every
/// printed column has a cell. Returns the problems as (path, message).
pub(crate) fn fill(table: &mut PaperTable, data: &PaperFile) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let Some(n) = table.table else {
        return errors;
    };
    let block = match data.block(n, &table.dataset) {
        Ok(b) => b,
        Err(e) => return vec![("paper.table".into(), e.to_string())],
    };
    let labels: Vec<&str> = block.rows.iter().map(|r| r.label.as_str()).collect();
    let ours: Vec<&str> = table.rows.iter().map(|r| r.label.as_str()).collect();
    if labels != ours {
        errors.push((
            "paper.rows".into(),
            format!("must be Tab. {n}'s rows in the paper's order: {labels:?} (the spec has {ours:?})"),
        ));
        return errors;
    }
    table.dataset.clone_from(&block.dataset);
    table.caption.clone_from(&block.caption);
    table.runs = block.runs;
    table.runs_basis.clone_from(&block.runs_basis);
    let mut others: Vec<u32> = table.rows.iter().flat_map(|r| r.cells.values().filter_map(|c| c.from)).collect();
    others.sort_unstable();
    others.dedup();
    let tabs = match others.as_slice() {
        [] => format!("Tab. {n}"),
        more => format!("Tabs. {n} and {}", more.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
    };
    table.source = format!("{tabs} of the CVPR 2020 paper (docs/paper.md §{})", block.section);
    table.numbers_retrieved = true;
    for (i, (row, printed)) in table.rows.iter_mut().zip(&block.rows).enumerate() {
        for col in printed.cells.keys() {
            if !row.cells.contains_key(col) {
                errors.push((
                    format!("paper.rows[{i}].cells"),
                    format!(
                        "Tab. {n} prints column {col} for '{}': give it a cell (a run, or {{}} if tfkd has none)",
                        row.label
                    ),
                ));
            }
        }
        for (col, cell) in &mut row.cells {
            let at = format!("paper.rows[{i}].cells.{col}");
            if cell.paper.is_some() {
                errors.push((at, "the paper's numbers come from experiments/paper.yaml; remove `paper`".into()));
                continue;
            }
            let source = match cell.from {
                None => Some(printed),
                Some(other) => match data.block(other, &block.dataset) {
                    Ok(b) => b.rows.iter().find(|r| r.label == row.label),
                    Err(e) => {
                        errors.push((at, e.to_string()));
                        continue;
                    }
                },
            };
            match source.and_then(|r| r.cells.get(col)) {
                Some(text) => cell.paper = Some(text.clone()),
                None => errors
                    .push((at, format!("Tab. {} prints no column {col} for '{}'", cell.from.unwrap_or(n), row.label))),
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_forms() {
        let p = Printed::parse("71.05±0.16 (+2.67)").unwrap();
        assert_eq!((p.mean, p.sd, p.gain, p.note), (Some(71.05), Some(0.16), Some(2.67), None));
        let p = Printed::parse("(+2.67) [ResNet18]").unwrap();
        assert_eq!((p.mean, p.gain, p.note.as_deref()), (None, Some(2.67), Some("ResNet18")));
        assert_eq!(p.value_text(), "(+2.67)");
        assert_eq!(Printed::parse("75.24 (-0.04)").unwrap().gain, Some(-0.04));
        assert_eq!(Printed::parse("75.24 (−0.04)").unwrap().gain, Some(-0.04));
        assert_eq!(Printed::parse("63.44").unwrap().mean, Some(63.44));
        for bad in ["", "abc", "1.0 (x)", "(+1", "[R18]", "1.0 [R18] tail", "inf", "1.0±", "NaN (+1)"] {
            assert_eq!(Printed::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_committed_file_is_valid_and_complete() {
        let d = data().unwrap();
        assert!(d.verified);
        let mut numbers: Vec<u32> = d.tables.iter().map(|t| t.table).collect();
        numbers.dedup();
        assert_eq!(numbers, (1..=11).collect::<Vec<_>>(), "every table, in the paper's order");
        for n in 1..=11 {
            assert!(d.aliases.contains_key(&format!("table{n}")), "table{n} has an alias");
        }
        assert_eq!(d.blocks(4).len(), 2, "Tab. 4 has a CIFAR-100 and a Tiny-ImageNet block");
        assert!(d.block(4, "").is_err(), "Tab. 4's block must be chosen by dataset");
        assert_eq!(d.block(3, "").unwrap().rows.len(), 5);
    }
}
