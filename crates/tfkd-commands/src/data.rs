//! `tfkd data inspect` and `tfkd data fetch`.
//!
//! Sources decoded into memory report per-split counts and channel statistics of every pixel; ImageNet, which
//! stays encoded, reports its layout and counts from its index and decodes only a sample of images spread
//! over the set ([`SAMPLE`]) to show their sizes and colour modes.

use std::{collections::BTreeMap, path::Path, time::Instant};

use rayon::prelude::*;
use serde::Serialize;
use tfkd_datasets::{Dataset, EncodedDataset, EncodedSplit, Source, SourceName, Split};

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

/// What `inspect` reports: a decoded source, or ImageNet's encoded one.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Inspection {
    /// A source decoded into memory.
    Decoded(Report),
    /// ImageNet, indexed and sampled.
    Encoded(EncodedReport),
}

impl std::fmt::Display for Inspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Inspection::Decoded(r) => r.fmt(f),
            Inspection::Encoded(r) => r.fmt(f),
        }
    }
}

impl Inspection {
    /// How many of the sampled images failed to decode (only encoded sources are sampled).
    #[must_use]
    pub fn failures(&self) -> usize {
        match self {
            Inspection::Decoded(_) => 0,
            Inspection::Encoded(r) => r.sample.failures.len(),
        }
    }
}

/// Loads `name` (through the decode cache, or ImageNet's index cache) and summarises it.
pub fn inspect(name: SourceName) -> anyhow::Result<Inspection> {
    let source = Source::named(name, &paths::data_dir());
    if name.descriptor().streamed() {
        return Ok(Inspection::Encoded(inspect_encoded(&source, &paths::cache_dir())?));
    }
    Ok(Inspection::Decoded(inspect_decoded(&source)?))
}

fn inspect_decoded(source: &Source) -> anyhow::Result<Report> {
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

/// Images decoded by `inspect` of an encoded source: spread evenly over train and test together.
pub const SAMPLE: usize = 64;

/// What `inspect` reports for one encoded split.
#[derive(Debug, Serialize)]
pub struct EncodedSplitReport {
    /// Number of images.
    pub images: usize,
    /// Images per class.
    pub per_class: Vec<usize>,
    /// Encoded bytes in all.
    pub encoded_bytes: u64,
}

/// What decoding a sample of an encoded source showed.
#[derive(Debug, Serialize)]
pub struct SampleReport {
    /// Images decoded.
    pub decoded: usize,
    /// How many of each format and colour mode (`JPEG RGB`, `JPEG CMYK`, `PNG RGB`, …), from their headers.
    pub kinds: BTreeMap<String, usize>,
    /// How many of each size, `W×H`.
    pub sizes: BTreeMap<String, usize>,
    /// Smallest and largest width and height seen.
    pub width_range: [u32; 2],
    /// Smallest and largest height seen.
    pub height_range: [u32; 2],
    /// The images that could not be read or decoded, with why.
    pub failures: Vec<String>,
    /// Seconds to read and decode the sample.
    pub seconds: f64,
}

/// What `inspect` reports for ImageNet.
#[derive(Debug, Serialize)]
pub struct EncodedReport {
    /// Source name.
    pub source: String,
    /// Content hash (names, sizes and modification times; keys the index cache and is recorded with runs).
    pub content_hash: String,
    /// The layout the source was read from.
    pub layout: String,
    /// Class names (wnids).
    pub classes: Vec<String>,
    /// What each class is, where the source has `LOC_synset_mapping.txt`.
    pub descriptions: Vec<String>,
    /// Train split.
    pub train: EncodedSplitReport,
    /// Test split (ILSVRC-2012 val).
    pub test: EncodedSplitReport,
    /// The decoded sample.
    pub sample: SampleReport,
    /// Seconds to index the source (or read its index cache).
    pub load_seconds: f64,
}

fn encoded_split_report(s: &EncodedSplit, classes: usize) -> EncodedSplitReport {
    EncodedSplitReport {
        images: s.len(),
        per_class: s.histogram(classes),
        encoded_bytes: (0..s.len()).map(|i| s.encoded_len(i)).sum(),
    }
}

/// Indexes an encoded source (through the index cache in `cache_dir`) and decodes [`SAMPLE`] of its images,
/// spread evenly over train then test, to report their sizes and colour modes.
pub fn inspect_encoded(source: &Source, cache_dir: &Path) -> anyhow::Result<EncodedReport> {
    let start = Instant::now();
    let ds: EncodedDataset = source.load_encoded(cache_dir)?;
    let load_seconds = start.elapsed().as_secs_f64();
    let k = ds.classes.len();
    Ok(EncodedReport {
        source: ds.name.clone(),
        content_hash: ds.content_hash.clone(),
        layout: ds.layout.clone(),
        train: encoded_split_report(&ds.train, k),
        test: encoded_split_report(&ds.test, k),
        sample: sample(&ds),
        classes: ds.classes,
        descriptions: ds.descriptions,
        load_seconds,
    })
}

/// One sampled image: its header's kind, and whether it decoded (`Err`: why not).
type Sampled = (Option<tfkd_datasets::ImageKind>, Result<[u32; 2], String>);

fn sample(ds: &EncodedDataset) -> SampleReport {
    let start = Instant::now();
    let total = ds.train.len() + ds.test.len();
    let n = SAMPLE.min(total);
    let picks: Vec<(&EncodedSplit, usize)> = (0..n)
        .map(|k| k * total / n.max(1))
        .map(|i| if i < ds.train.len() { (&ds.train, i) } else { (&ds.test, i - ds.train.len()) })
        .collect();
    let seen: Vec<Sampled> = picks
        .par_iter()
        .map(|&(split, i)| {
            let bytes = match split.bytes(i) {
                Ok(b) => b,
                Err(e) => return (None, Err(e.to_string())),
            };
            let kind = tfkd_datasets::image_kind(&bytes);
            let decoded = tfkd_datasets::decode::decode_rgb(&bytes, &split.name(i));
            (kind, decoded.map(|img| [img.width(), img.height()]).map_err(|e| e.to_string()))
        })
        .collect();
    let mut report = SampleReport {
        decoded: 0,
        kinds: BTreeMap::new(),
        sizes: BTreeMap::new(),
        width_range: [u32::MAX, 0],
        height_range: [u32::MAX, 0],
        failures: Vec::new(),
        seconds: 0.0,
    };
    for (kind, decoded) in seen {
        match decoded {
            Ok([w, h]) => {
                report.decoded += 1;
                let kind = kind.map_or_else(|| "unrecognised header".to_string(), |k| k.to_string());
                *report.kinds.entry(kind).or_default() += 1;
                *report.sizes.entry(format!("{w}×{h}")).or_default() += 1;
                report.width_range = [report.width_range[0].min(w), report.width_range[1].max(w)];
                report.height_range = [report.height_range[0].min(h), report.height_range[1].max(h)];
            }
            Err(e) => report.failures.push(e),
        }
    }
    if report.decoded == 0 {
        (report.width_range, report.height_range) = ([0, 0], [0, 0]);
    }
    report.seconds = start.elapsed().as_secs_f64();
    report
}

impl std::fmt::Display for EncodedReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} ({} classes), content sha256 {}", self.source, self.classes.len(), self.content_hash)?;
        writeln!(f, "read from: {}", self.layout)?;
        writeln!(f, "indexed in {:.2} s (images stay encoded; they are decoded per batch)", self.load_seconds)?;
        for (name, s) in [("train", &self.train), ("test", &self.test)] {
            let min = s.per_class.iter().min().copied().unwrap_or(0);
            let max = s.per_class.iter().max().copied().unwrap_or(0);
            let bytes = s.encoded_bytes as f64;
            let size = if bytes >= 1e9 { format!("{:.2} GB", bytes / 1e9) } else { format!("{:.2} MB", bytes / 1e6) };
            writeln!(f, "{name}: {} images ({size} encoded), {min}–{max} per class", s.images)?;
        }
        let s = &self.sample;
        writeln!(f, "decoded a sample of {} images in {:.2} s:", s.decoded + s.failures.len(), s.seconds)?;
        let list = |m: &BTreeMap<String, usize>, most: usize| {
            let mut v: Vec<(&String, &usize)> = m.iter().collect();
            v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            v.iter().take(most).map(|(k, n)| format!("{k} ×{n}")).collect::<Vec<_>>().join(", ")
        };
        writeln!(f, "  kinds: {}", list(&s.kinds, usize::MAX))?;
        writeln!(
            f,
            "  sizes (w×h): width {}–{}, height {}–{}; most common: {}",
            s.width_range[0],
            s.width_range[1],
            s.height_range[0],
            s.height_range[1],
            list(&s.sizes, 5)
        )?;
        if s.failures.is_empty() {
            writeln!(f, "  every sampled image decoded")?;
        }
        for e in &s.failures {
            writeln!(f, "  FAILED: {e}")?;
        }
        if self.classes.len() <= 50 {
            writeln!(f, "{:<16} {:>8} {:>8}  description", "class", "train", "test")?;
            for (i, c) in self.classes.iter().enumerate() {
                let d = self.descriptions.get(i).map_or("", String::as_str);
                writeln!(f, "{:<16} {:>8} {:>8}  {d}", c, self.train.per_class[i], self.test.per_class[i])?;
            }
        }
        Ok(())
    }
}

/// Downloads and unpacks `name` into the data folder.
pub fn fetch(name: &str) -> anyhow::Result<std::path::PathBuf> {
    let entry = tfkd_datasets::fetch::catalogue(name.parse()?)?;
    Ok(tfkd_datasets::fetch::fetch(&entry, &paths::data_dir())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imagenet_fixture_is_indexed_and_sampled() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tfkd-datasets/tests/fixtures/ilsvrc");
        let cache = tempfile::tempdir().unwrap();
        let r = inspect_encoded(&Source::ImageNet(root), cache.path()).unwrap();
        assert_eq!((r.train.images, r.test.images), (12, 6));
        assert_eq!(r.train.per_class, [4, 4, 4]);
        assert_eq!(r.sample.decoded, 18, "all 18 images sampled: {:?}", r.sample.failures);
        // The fixture's oddities (tests/fixtures/ilsvrc/README.md): one CMYK JPEG, two grey, one PNG.
        let kinds: Vec<(&str, usize)> = r.sample.kinds.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        assert_eq!(kinds, [("JPEG CMYK", 1), ("JPEG RGB", 14), ("JPEG grey", 2), ("PNG RGB", 1)]);
        assert_eq!((r.sample.width_range, r.sample.height_range), ([140, 500], [95, 427]));
        assert_eq!(r.sample.sizes["500×334"], 1);
        let text = r.to_string();
        assert!(text.contains("every sampled image decoded") && text.contains("coffee mug"), "{text}");
    }
}
