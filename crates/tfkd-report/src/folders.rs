//! The results folder's layout, decided here once. `results/` (or `$TFKD_RESULTS_DIR`) holds:
//!
//! ```text
//! README.md                   the index of every target and profile with a report
//! CLAIMS.md                   the claims ledger
//! bench/                      benchmarks (written by tfkd-bench)
//! <name>/<profile>/           one target under one profile (a TargetDir):
//!   runs/<id>@<seed>.json       the run records
//!   estimate.json               the estimate printed before training, with the time then measured
//!   soft_targets.json           a Tf-KD_reg target's soft-target curve
//!   report.json                 the report: table, claims and verdicts, sweeps, figures, timing
//!   table.md .csv .tex          the table; runs.csv and entries.csv beside it
//!   <figure>.svg .png           the figures
//! ```

use std::path::{Path, PathBuf};

/// The results root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Results {
    root: PathBuf,
}

impl Results {
    /// The results root at `root`.
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Results { root: root.into() }
    }

    /// The folder itself.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `README.md`, the index.
    #[must_use]
    pub fn index(&self) -> PathBuf {
        self.root.join("README.md")
    }

    /// `CLAIMS.md`, the claims ledger.
    #[must_use]
    pub fn ledger(&self) -> PathBuf {
        self.root.join("CLAIMS.md")
    }

    /// Whether a folder directly under the root holds targets (not `bench/`).
    #[must_use]
    pub fn holds_target(&self, folder: &Path) -> bool {
        folder.is_dir() && folder.file_name().is_some_and(|n| n != "bench")
    }

    /// Target `name` under `profile`.
    #[must_use]
    pub fn target(&self, name: &str, profile: &str) -> TargetDir {
        TargetDir { root: self.root.join(name).join(profile) }
    }
}

/// One target under one profile, `results/<name>/<profile>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetDir {
    root: PathBuf,
}

impl TargetDir {
    /// The target folder at `path` (one found by listing the results root).
    #[must_use]
    pub fn at(path: impl Into<PathBuf>) -> Self {
        TargetDir { root: path.into() }
    }

    /// The folder itself.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `runs/`, the run records.
    #[must_use]
    pub fn runs(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// Whether it has run records.
    #[must_use]
    pub fn has_runs(&self) -> bool {
        self.runs().is_dir()
    }

    /// `estimate.json`.
    #[must_use]
    pub fn estimate(&self) -> PathBuf {
        self.root.join("estimate.json")
    }

    /// `soft_targets.json`, a Tf-KD_reg target's soft-target curve.
    #[must_use]
    pub fn soft_targets(&self) -> PathBuf {
        self.root.join("soft_targets.json")
    }

    /// `report.json`.
    #[must_use]
    pub fn report(&self) -> PathBuf {
        self.root.join("report.json")
    }

    /// A file of the report by its name (`table.md`, `runs.csv`, a figure's `.svg`, …).
    #[must_use]
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
}
