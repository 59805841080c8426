//! polars aggregation of run records: one value per (run entry, seed), summarised per entry.

use std::collections::BTreeMap;

use polars::prelude::*;
use tfkd_analysis::stats::Summary;

use crate::{
    record::{Metric, Record},
    ReportError,
};

/// The values of every run entry, by seed, and their polars summary.
#[derive(Debug, Clone)]
pub struct Aggregate {
    /// (entry id) → [(seed, value %)], seeds ascending.
    pub values: BTreeMap<String, Vec<(u64, f64)>>,
    /// One row per entry: id, n, mean, sd (sample).
    pub summary: DataFrame,
}

/// Builds the long table (id, seed, value) sorted with polars, and summarises the chosen metric per id.
pub fn aggregate(records: &[Record], metric: Metric) -> Result<Aggregate, ReportError> {
    let ids: Vec<&str> = records.iter().map(|r| r.config.id.as_str()).collect();
    let seeds: Vec<u64> = records.iter().map(|r| r.config.seed).collect();
    let value: Vec<Option<f64>> = records.iter().map(|r| metric.of(r)).collect();
    let long = df!("id" => ids, "seed" => seeds, "value" => value)?;
    let long = long.sort(["id", "seed"], SortMultipleOptions::default())?;
    let mut values: BTreeMap<String, Vec<(u64, f64)>> = BTreeMap::new();
    let (id_col, seed_col, val_col) =
        (long.column("id")?.str()?.clone(), long.column("seed")?.u64()?.clone(), long.column("value")?.f64()?.clone());
    for i in 0..long.height() {
        if let (Some(id), Some(seed), Some(v)) = (id_col.get(i), seed_col.get(i), val_col.get(i)) {
            values.entry(id.to_string()).or_default().push((seed, v));
        }
    }
    let stats: Vec<(String, Summary)> = values
        .iter()
        .filter_map(|(id, v)| Some((id.clone(), Summary::of(&v.iter().map(|x| x.1).collect::<Vec<_>>())?)))
        .collect();
    let summary = df!(
        "id" => stats.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        "n" => stats.iter().map(|s| s.1.n as u32).collect::<Vec<_>>(),
        "mean" => stats.iter().map(|s| s.1.mean).collect::<Vec<_>>(),
        "sd" => stats.iter().map(|s| s.1.sd).collect::<Vec<_>>(),
    )?;
    Ok(Aggregate { values, summary })
}
