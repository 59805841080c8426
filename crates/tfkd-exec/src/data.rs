//! `tfkd data inspect` and `tfkd data fetch`.

use std::time::Instant;

use serde::Serialize;
use tfkd_datasets::{Dataset, Source, Split};

use tfkd_io::paths;

/// What `inspect` reports for one split.
#[derive(Debug, Serialize)]
pub struct SplitReport {
    /// Number of images.
    pub images: usize,
    /// Images per class.
    pub per_class: Vec<usize>,
    /// Per-channel mean of [0, 1] pixels.
    pub mean: Vec<f64>,
    /// Per-channel standard deviation.
    pub std: Vec<f64>,
}

/// What `inspect` reports.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Source name.
    pub source: String,
    /// Content hash (keys the cache and is recorded with runs).
    pub content_hash: String,
    /// The layout the source was read from.
    pub layout: String,
    /// Class names.
    pub classes: Vec<String>,
    /// C, H, W.
    pub chw: [usize; 3],
    /// Train split.
    pub train: SplitReport,
    /// Test split.
    pub test: SplitReport,
    /// Seconds to load (decode or cache read).
    pub load_seconds: f64,
}

fn split_report(s: &Split, classes: usize) -> SplitReport {
    let stats = s.channel_stats();
    SplitReport {
        images: s.len(),
        per_class: s.histogram(classes),
        mean: stats.iter().map(|x| x.0).collect(),
        std: stats.iter().map(|x| x.1).collect(),
    }
}

/// Loads `name` (through the decode cache) and summarises it.
pub fn inspect(name: tfkd_datasets::SourceName) -> anyhow::Result<Report> {
    let source = Source::named(name, &paths::data_dir());
    let start = Instant::now();
    let ds: Dataset = source.load(&paths::cache_dir())?;
    let load_seconds = start.elapsed().as_secs_f64();
    let k = ds.classes.len();
    Ok(Report {
        source: ds.name.clone(),
        content_hash: ds.content_hash.clone(),
        layout: ds.layout.clone(),
        chw: ds.train.chw,
        train: split_report(&ds.train, k),
        test: split_report(&ds.test, k),
        classes: ds.classes,
        load_seconds,
    })
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} ({} classes, {}×{}×{}), content sha256 {}",
            self.source,
            self.classes.len(),
            self.chw[0],
            self.chw[1],
            self.chw[2],
            self.content_hash
        )?;
        writeln!(f, "read from: {}", self.layout)?;
        writeln!(f, "loaded in {:.2} s", self.load_seconds)?;
        for (name, s) in [("train", &self.train), ("test", &self.test)] {
            let fmt = |v: &[f64]| v.iter().map(|x| format!("{x:.4}")).collect::<Vec<_>>().join(", ");
            writeln!(f, "{name}: {} images; channel mean [{}], std [{}]", s.images, fmt(&s.mean), fmt(&s.std))?;
        }
        writeln!(f, "{:<16} {:>8} {:>8}", "class", "train", "test")?;
        for (i, c) in self.classes.iter().enumerate() {
            writeln!(f, "{:<16} {:>8} {:>8}", c, self.train.per_class[i], self.test.per_class[i])?;
        }
        Ok(())
    }
}

/// Downloads and unpacks `name` into the data folder.
pub fn fetch(name: &str) -> anyhow::Result<std::path::PathBuf> {
    let entry = tfkd_datasets::fetch::catalogue(name)?;
    Ok(tfkd_datasets::fetch::fetch(&entry, &paths::data_dir())?)
}
