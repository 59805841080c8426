//! What every benchmark report ends with and how it is written: the provenance sentence under its table, and
//! the table plus its rows and provenance as `stem.md` and `stem.json`.

use serde::Serialize;
use tfkd_trainers::provenance::Provenance;

/// The commit a report was measured at: 12 hex digits, "(dirty)" when the tree had changes, "unknown" outside git.
#[must_use]
pub fn commit(p: &Provenance) -> String {
    p.git_commit.as_deref().map_or("unknown".to_string(), |c| {
        format!("{}{}", &c[..c.len().min(12)], if p.git_dirty == Some(true) { " (dirty)" } else { "" })
    })
}

/// The provenance sentence under a benchmark's table: tfkd's version and commit, libtorch, numerics (where
/// recorded), host, CPU, start and wall time.
#[must_use]
pub fn provenance_line(p: &Provenance) -> String {
    let numerics = p.numerics.as_deref().map_or(String::new(), |n| format!(", numerics {n}"));
    format!(
        "tfkd {}, commit {}, libtorch {}{numerics}, host {}, CPU {}, {}, {:.0} s.",
        p.tfkd_version,
        commit(p),
        p.libtorch,
        p.host,
        p.cpu.as_deref().unwrap_or("unknown"),
        p.started,
        p.wall_seconds.unwrap_or(0.0)
    )
}

/// Where a benchmark ran, in words: "GPU cuda:0" or "the CPU, 2 threads".
#[must_use]
pub fn where_measured(p: &Provenance) -> String {
    if p.device.starts_with("cuda") {
        format!("GPU {}", p.device)
    } else {
        format!("the CPU, {} threads", p.threads)
    }
}

/// A benchmark's table, also written with its rows and provenance to `stem.md` and `stem.json` when a stem is
/// given (each atomically); returns the table to print.
pub fn publish(report: &impl Serialize, table: String, stem: Option<&std::path::Path>) -> anyhow::Result<String> {
    if let Some(stem) = stem {
        if let Some(dir) = stem.parent() {
            std::fs::create_dir_all(dir)?;
        }
        tfkd_io::write_atomic(&stem.with_extension("md"), &table)?;
        tfkd_io::write_atomic(&stem.with_extension("json"), serde_json::to_string_pretty(report)?)?;
    }
    Ok(table)
}
