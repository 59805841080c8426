//! Reports of the study from recorded runs only: polars aggregation into the paper's tables
//! (Markdown, CSV, LaTeX) with the paper's numbers and a verdict per claim, and plotters figures.
//!
//! Reads run records and specs; never trains and never links libtorch.

pub mod aggregate;
pub mod figure;
pub mod figures;
pub mod record;
pub mod render;
pub mod table;

use std::path::{Path, PathBuf};

pub use record::{load_dir, Metric, Record};
use tfkd_analysis::soft::TeacherCurve;
use tfkd_spec::Experiment;

/// Why a report could not be produced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] tfkd_io::IoError),
    /// A file in a records folder is not a run record.
    #[error("{}: not a run record", path.display())]
    BadRecord {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        source: serde_json::Error,
    },
    /// polars failed.
    #[error("polars: {0}")]
    Polars(#[from] polars::error::PolarsError),
    /// A figure could not be drawn.
    #[error("figure {stem}: {message}")]
    Figure {
        /// Its file stem.
        stem: String,
        /// What went wrong.
        message: String,
    },
    /// The spec has no paper table.
    #[error("target {0} has no `paper` section to report")]
    NoTable(String),
}

/// A rendered report.
#[derive(Debug, Clone)]
pub struct Report {
    /// The table as data.
    pub table: table::TableReport,
    /// Markdown.
    pub markdown: String,
    /// CSV.
    pub csv: String,
    /// LaTeX.
    pub tex: String,
    /// Figures as data.
    pub figures: Vec<figure::Figure>,
}

/// Builds the report of `exp` from its records.
pub fn build(
    exp: &Experiment,
    records: &[Record],
    metric: Metric,
    teacher: Option<&TeacherCurve>,
) -> Result<Report, ReportError> {
    let paper = exp.paper.as_ref().ok_or_else(|| ReportError::NoTable(exp.name.clone()))?;
    let agg = aggregate::aggregate(records, metric)?;
    let table = table::build(exp, paper, &agg, records);
    Ok(Report {
        markdown: render::markdown(&table, metric),
        csv: render::csv(&table)?,
        tex: render::tex(&table),
        figures: figures::figures(&table, records, paper, metric, teacher),
        table,
    })
}

/// Writes table.{md,csv,tex}, report.json and every figure (SVG and PNG) into `dir`, each atomically (a
/// full disk leaves the previous file, never a truncated one, and the error names the file); returns the paths.
pub fn write(report: &Report, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(tfkd_io::IoError::new("creating", dir))?;
    let mut written = Vec::new();
    let json = serde_json::to_string_pretty(&serde_json::json!({ "table": report.table, "figures": report.figures }))
        .unwrap_or_default();
    for (name, text) in
        [("table.md", &report.markdown), ("table.csv", &report.csv), ("table.tex", &report.tex), ("report.json", &json)]
    {
        let path = dir.join(name);
        tfkd_io::write_atomic(&path, text)?;
        written.push(path);
    }
    for fig in &report.figures {
        figure::render(fig, dir)?;
        written.push(dir.join(format!("{}.svg", fig.stem)));
        written.push(dir.join(format!("{}.png", fig.stem)));
    }
    Ok(written)
}
