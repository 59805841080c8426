//! Reports of the study from recorded runs only: polars aggregation into the paper's tables
//! (Markdown, CSV, LaTeX) with the paper's numbers and a verdict per claim, and plotters figures.
//!
//! Reads run records and specs; never trains and never links libtorch.

pub mod aggregate;
pub mod csv;
pub mod entries;
pub mod figure;
pub mod figures;
pub mod folders;
pub mod index;
pub mod ledger;
pub mod record;
pub mod render;
pub mod sweep;
pub mod table;
pub mod timing;

use std::path::PathBuf;

pub use record::{load_dir, Metric, UnknownMetric};
use tfkd_analysis::soft::TeacherCurve;
pub use tfkd_records::RunRecord;
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
    /// A run record whose values no training writes, or a second record of one run.
    #[error("{}: {message}", path.display())]
    BadValue {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
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
    /// A data frame holds a column of a type no report's CSV writes (lists, dates, …).
    #[error("CSV: column {column} holds {dtype} values, which no report's CSV writes")]
    CsvColumn {
        /// The column.
        column: String,
        /// Its values' type.
        dtype: String,
    },
    /// A spec did not resolve.
    #[error("invalid spec: {0}")]
    Spec(String),
}

/// A rendered report.
#[derive(Debug, Clone)]
pub struct Report {
    /// The paper table as data, when the spec mirrors one.
    pub table: Option<table::TableReport>,
    /// Every entry and the spec's own claims: the whole report of a spec without a paper table, and a section
    /// of one with a table whose spec declares claims of its own.
    pub entries: Option<entries::EntriesReport>,
    /// Markdown.
    pub markdown: String,
    /// CSV.
    pub csv: String,
    /// LaTeX.
    pub tex: String,
    /// Figures as data.
    pub figures: Vec<figure::Figure>,
    /// The sweeps of the target, as tables.
    pub sweeps: Vec<sweep::SweepReport>,
    /// The long run table (one row per run) as CSV.
    pub runs_csv: String,
    /// The per-entry summary (mean, sd, n of every measure) as CSV.
    pub entries_csv: String,
    /// Estimated against measured time ([`timing::timing`]); `None` until the caller adds it.
    pub timing: Option<timing::Timing>,
}

/// Builds the report of `exp` from its records: the paper table with verdicts when the spec mirrors one, the
/// entries with the spec's own claims when it has no table (or declares claims), and a table and figure per
/// sweep.
pub fn build(
    exp: &Experiment,
    records: &[RunRecord],
    metric: Metric,
    teacher: Option<&TeacherCurve>,
) -> Result<Report, ReportError> {
    let agg = aggregate::aggregate(records, metric)?;
    let sweeps: Vec<sweep::SweepReport> = exp.sweeps.iter().map(|s| sweep::build(s, exp, &agg)).collect();
    let mut figures = Vec::new();
    let (mut markdown, mut csv, mut tex) = (String::new(), String::new(), String::new());
    let table = match &exp.paper {
        Some(paper) => {
            let table = table::build(exp, paper, &agg, records);
            markdown = render::markdown(&table, metric);
            csv = render::csv(&table, &agg)?;
            tex = render::tex(&table);
            figures = figures::figures(&table, records, paper, metric, teacher);
            Some(table)
        }
        None => {
            markdown += &format!(
                "# {}\n\nTarget `{}`, profile `{}`: {}\n",
                exp.title,
                exp.name,
                exp.profile,
                exp.profile_description.trim()
            );
            if let Some(sub) = exp.substitution() {
                markdown += &format!("\n**Dataset substituted: {sub}; {}.**\n", exp.kl_note());
            }
            None
        }
    };
    // A spec without a table is reported by its entries; one with a table only when it declares claims.
    let entries = (table.is_none() || !exp.claims.is_empty()).then(|| entries::build(exp, &agg, records));
    if let Some(e) = &entries {
        markdown += &entries::markdown(e, metric);
        if table.is_none() {
            csv = entries::csv(e);
            tex = entries::tex(e);
            figures.extend(entries::figures(e, records, metric));
        }
    }
    for s in &sweeps {
        markdown += &sweep::markdown(s);
        figures.push(sweep::figure(s, exp, metric));
    }
    Ok(Report {
        markdown,
        csv,
        tex,
        figures,
        sweeps,
        runs_csv: csv::frame(&agg.runs)?,
        entries_csv: csv::frame(&agg.entries)?,
        table,
        entries,
        timing: None,
    })
}

/// Writes table.{md,csv,tex}, report.json and every figure (SVG and PNG) into the target's folder, each
/// atomically (a full disk leaves the previous file, never a truncated one, and the error names the file);
/// returns the paths.
pub fn write(report: &Report, target: &folders::TargetDir) -> Result<Vec<PathBuf>, ReportError> {
    let dir = target.path();
    std::fs::create_dir_all(dir).map_err(tfkd_io::IoError::new("creating", dir))?;
    let mut written = Vec::new();
    let mut json = serde_json::json!({
        "table": report.table, "sweeps": report.sweeps, "figures": report.figures, "timing": report.timing
    });
    if let Some(entries) = &report.entries {
        json["entries"] = serde_json::to_value(entries).unwrap_or_default();
    }
    let json = serde_json::to_string_pretty(&json).unwrap_or_default();
    let mut files = vec![
        ("table.md", &report.markdown),
        ("runs.csv", &report.runs_csv),
        ("entries.csv", &report.entries_csv),
        ("report.json", &json),
    ];
    if report.table.is_some() || report.entries.is_some() {
        files.extend([("table.csv", &report.csv), ("table.tex", &report.tex)]);
    }
    for (name, text) in files {
        let path = target.file(name);
        tfkd_io::write_atomic(&path, text)?;
        written.push(path);
    }
    for fig in &report.figures {
        figure::render(fig, dir)?;
        written.push(target.file(&format!("{}.svg", fig.stem)));
        written.push(target.file(&format!("{}.png", fig.stem)));
    }
    Ok(written)
}
