//! CIFAR-10 and CIFAR-100 in both official layouts, from a folder or straight from the `.tar.gz`.
//!
//! Binary (`cifar-10-batches-bin/`, `cifar-100-binary/`): CIFAR-10's `data_batch_{1..5}.bin` and
//! `test_batch.bin` hold records of 1 label byte + 3072 pixel bytes (1024 R, 1024 G, 1024 B, row-major
//! 32×32); CIFAR-100's `train.bin` and `test.bin` records of 1 coarse + 1 fine label byte + 3072 pixels.
//!
//! Python (`cifar-10-batches-py/`, `cifar-100-python/`: what torchvision downloads): the same images as
//! pickled dicts (protocol 2, from Python 2, so keys and strings are bytes): `data` a numpy uint8 array
//! N×3072 in the same pixel order, `labels` (CIFAR-10) or `fine_labels` and `coarse_labels` (CIFAR-100)
//! lists; names in `batches.meta` (`label_names`) or `meta` (`fine_label_names`). Read with serde-pickle,
//! which keeps a numpy array as its `__setstate__` tuple `(version, shape, dtype, fortran, raw bytes)`.
//!
//! Both layouts give the same [`Dataset`]: fine labels are the labels, coarse ones are kept.

use std::{
    collections::HashMap,
    io::Read,
    path::{Path, PathBuf},
};

use serde_pickle::{DeOptions, HashableValue, Value};

use crate::{
    error::{io, DataError, Result},
    split::Split,
    Dataset,
};

const PIXELS: usize = 3 * 32 * 32;

/// Which CIFAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// 10 classes.
    Cifar10,
    /// 100 fine classes (20 coarse).
    Cifar100,
}

/// The two official layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The binary version (`*-binary.tar.gz`).
    Binary,
    /// The python version (`*-python.tar.gz`, pickled batches; torchvision's download).
    Python,
}

impl Layout {
    fn describe(self) -> &'static str {
        match self {
            Layout::Binary => "binary version",
            Layout::Python => "python version (pickled batches)",
        }
    }
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Cifar10 => "cifar10",
            Variant::Cifar100 => "cifar100",
        }
    }
    fn title(self) -> &'static str {
        match self {
            Variant::Cifar10 => "CIFAR-10",
            Variant::Cifar100 => "CIFAR-100",
        }
    }
    fn folder(self, layout: Layout) -> &'static str {
        match (self, layout) {
            (Variant::Cifar10, Layout::Binary) => "cifar-10-batches-bin",
            (Variant::Cifar100, Layout::Binary) => "cifar-100-binary",
            (Variant::Cifar10, Layout::Python) => "cifar-10-batches-py",
            (Variant::Cifar100, Layout::Python) => "cifar-100-python",
        }
    }
    fn classes(self) -> usize {
        match self {
            Variant::Cifar10 => 10,
            Variant::Cifar100 => 100,
        }
    }
    fn train_files(self, layout: Layout) -> Vec<&'static str> {
        match (self, layout) {
            (Variant::Cifar10, Layout::Binary) => {
                vec!["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"]
            }
            (Variant::Cifar10, Layout::Python) => {
                vec!["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"]
            }
            (Variant::Cifar100, Layout::Binary) => vec!["train.bin"],
            (Variant::Cifar100, Layout::Python) => vec!["train"],
        }
    }
    fn test_file(self, layout: Layout) -> &'static str {
        match (self, layout) {
            (Variant::Cifar10, Layout::Binary) => "test_batch.bin",
            (Variant::Cifar10, Layout::Python) => "test_batch",
            (Variant::Cifar100, Layout::Binary) => "test.bin",
            (Variant::Cifar100, Layout::Python) => "test",
        }
    }
    fn names_file(self, layout: Layout) -> &'static str {
        match (self, layout) {
            (Variant::Cifar10, Layout::Binary) => "batches.meta.txt",
            (Variant::Cifar100, Layout::Binary) => "fine_label_names.txt",
            (Variant::Cifar10, Layout::Python) => "batches.meta",
            (Variant::Cifar100, Layout::Python) => "meta",
        }
    }
    fn archive(self, layout: Layout) -> &'static str {
        match (self, layout) {
            (Variant::Cifar10, Layout::Binary) => "cifar-10-binary.tar.gz",
            (Variant::Cifar100, Layout::Binary) => "cifar-100-binary.tar.gz",
            (Variant::Cifar10, Layout::Python) => "cifar-10-python.tar.gz",
            (Variant::Cifar100, Layout::Python) => "cifar-100-python.tar.gz",
        }
    }
    fn wanted(self, layout: Layout) -> Vec<&'static str> {
        let mut names = self.train_files(layout);
        names.push(self.test_file(layout));
        names
    }
}

const LAYOUTS: [Layout; 2] = [Layout::Binary, Layout::Python];

/// Loads CIFAR from `path`: a folder holding the files (or their official sub-folder), or an official
/// `.tar.gz`, in either layout.
pub fn load(variant: Variant, path: &Path, content_hash: String) -> Result<Dataset> {
    let (layout, files) = if path.is_file() { read_archive(variant, path)? } else { read_folder(variant, path)? };
    let mut train = Split::empty([3, 32, 32]);
    let mut train_coarse = Vec::new();
    for name in variant.train_files(layout) {
        let (split, coarse) = parse_batch(variant, layout, &files[name].0, &files[name].1)?;
        train.images.extend(split.images);
        train.labels.extend(split.labels);
        train_coarse.extend(coarse);
    }
    let test_name = variant.test_file(layout);
    let (mut test, test_coarse) = parse_batch(variant, layout, &files[test_name].0, &files[test_name].1)?;
    if variant == Variant::Cifar100 {
        train.coarse_labels = Some(train_coarse);
        test.coarse_labels = Some(test_coarse);
    }
    let classes = files
        .get(variant.names_file(layout))
        .and_then(|(_, bytes)| match layout {
            Layout::Binary => Some(
                String::from_utf8_lossy(bytes)
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect::<Vec<_>>(),
            ),
            Layout::Python => pickled_names(variant, bytes),
        })
        .filter(|names: &Vec<String>| names.len() == variant.classes())
        .unwrap_or_else(|| (0..variant.classes()).map(|i| i.to_string()).collect());
    let layout = format!(
        "{} {} ({} {})",
        variant.title(),
        layout.describe(),
        if path.is_file() { "archive" } else { "folder" },
        path.display()
    );
    Ok(Dataset { name: variant.name().into(), classes, train, test, content_hash, layout })
}

type Files = HashMap<&'static str, (PathBuf, Vec<u8>)>;

fn missing(variant: Variant, path: &Path) -> DataError {
    DataError::Missing {
        source_name: variant.name(),
        looked_for: format!(
            "{} (in {}/), or {} (in {}/), or the folder itself",
            variant.wanted(Layout::Binary).join(", "),
            variant.folder(Layout::Binary),
            variant.wanted(Layout::Python).join(", "),
            variant.folder(Layout::Python)
        ),
        where_: path.to_path_buf(),
        how: format!(
            "`tfkd data fetch {}` downloads and verifies {}; torchvision's {} works too",
            variant.name(),
            variant.archive(Layout::Binary),
            variant.archive(Layout::Python)
        ),
    }
}

fn read_folder(variant: Variant, path: &Path) -> Result<(Layout, Files)> {
    let found = LAYOUTS.iter().find_map(|&layout| {
        let dir = if path.join(variant.folder(layout)).is_dir() {
            path.join(variant.folder(layout))
        } else {
            path.to_path_buf()
        };
        dir.join(variant.test_file(layout)).is_file().then_some((layout, dir))
    });
    let Some((layout, dir)) = found else { return Err(missing(variant, path)) };
    let mut files = Files::new();
    for name in variant.wanted(layout).into_iter().chain([variant.names_file(layout)]) {
        let file = dir.join(name);
        match std::fs::read(&file) {
            Ok(bytes) => {
                files.insert(name, (file, bytes));
            }
            Err(_) if name == variant.names_file(layout) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing(variant, path)),
            Err(e) => return Err(io(file)(e)),
        }
    }
    Ok((layout, files))
}

fn read_archive(variant: Variant, path: &Path) -> Result<(Layout, Files)> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut files = Files::new();
    let names: Vec<&'static str> =
        LAYOUTS.iter().flat_map(|&l| variant.wanted(l).into_iter().chain([variant.names_file(l)])).collect();
    let broken = super::archive_broken(path, format!("download it again (`tfkd data fetch {}`)", variant.name()))?;
    let listing = || super::LISTING.to_string();
    // Where the last entry listed ends in the unpacked stream: the place a failure to read the next header
    // (after skipping through that entry's data) is reported at.
    let mut reached = 0;
    for entry in archive.entries().map_err(|e| broken(listing(), 0, e))? {
        let mut entry = entry.map_err(|e| broken(listing(), reached, e))?;
        reached = entry.raw_file_position() + entry.size();
        let entry_path = entry.path().map_err(|e| broken(listing(), entry.raw_file_position(), e))?.into_owned();
        let Some(base) = entry_path.file_name().and_then(|n| n.to_str()) else { continue };
        if let Some(&name) = names.iter().find(|&&n| n == base) {
            let mut bytes = Vec::new();
            let offset = entry.raw_file_position();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| broken(format!("in entry {}", entry_path.display()), offset + bytes.len() as u64, e))?;
            files.insert(name, (PathBuf::from(format!("{}!{}", path.display(), entry_path.display())), bytes));
        }
    }
    let complete = |l: Layout| variant.wanted(l).iter().all(|n| files.contains_key(n));
    match LAYOUTS.into_iter().find(|&l| complete(l)) {
        Some(layout) => Ok((layout, files)),
        None => {
            let mut found: Vec<_> = files.keys().copied().collect();
            found.sort_unstable();
            Err(DataError::Layout {
                source_name: variant.name(),
                path: path.to_path_buf(),
                expected: format!(
                    "an archive with {} ({}) or {} ({})",
                    variant.wanted(Layout::Binary).join(", "),
                    variant.archive(Layout::Binary),
                    variant.wanted(Layout::Python).join(", "),
                    variant.archive(Layout::Python)
                ),
                found: if found.is_empty() { "none of them".into() } else { format!("only {}", found.join(", ")) },
            })
        }
    }
}

/// Parses one CIFAR batch file's bytes (`path` names it in errors): its images and labels, and CIFAR-100's
/// coarse labels. Any bytes give a batch or an error naming the file and what is wrong (the fuzz target
/// `cifar` holds it to that).
pub fn parse_batch(variant: Variant, layout: Layout, path: &Path, bytes: &[u8]) -> Result<(Split, Vec<u16>)> {
    match layout {
        Layout::Binary => parse_binary(variant, path, bytes),
        Layout::Python => parse_pickle(variant, path, bytes),
    }
}

/// A pickled batch as a dict with bytes keys (Python 2 `str`) or str keys (a Python 3 re-pickle).
fn pickled_dict(path: &Path, bytes: &[u8]) -> Result<std::collections::BTreeMap<HashableValue, Value>> {
    let corrupt =
        |detail: String| DataError::Corrupt { path: path.to_path_buf(), what: "CIFAR python batch", offset: 0, detail };
    match serde_pickle::value_from_slice(bytes, DeOptions::new().keep_restore_state()) {
        Ok(Value::Dict(d)) => Ok(d),
        Ok(other) => Err(corrupt(format!("is a pickled {}, not a dict", kind(&other)))),
        Err(e) => Err(corrupt(format!("does not unpickle: {e}"))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::None => "None",
        Value::Bool(_) => "bool",
        Value::I64(_) | Value::Int(_) => "int",
        Value::F64(_) => "float",
        Value::Bytes(_) => "bytes",
        Value::String(_) => "str",
        Value::List(_) => "list",
        Value::Tuple(_) => "tuple",
        Value::Set(_) | Value::FrozenSet(_) => "set",
        Value::Dict(_) => "dict",
    }
}

fn get<'a>(d: &'a std::collections::BTreeMap<HashableValue, Value>, key: &str) -> Option<&'a Value> {
    d.get(&HashableValue::Bytes(key.as_bytes().to_vec())).or_else(|| d.get(&HashableValue::String(key.into())))
}

fn pickled_names(variant: Variant, bytes: &[u8]) -> Option<Vec<String>> {
    let d = pickled_dict(Path::new("meta"), bytes).ok()?;
    let key = if variant == Variant::Cifar10 { "label_names" } else { "fine_label_names" };
    match get(&d, key)? {
        Value::List(items) => items
            .iter()
            .map(|v| match v {
                Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
                Value::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// One pickled batch: `data` (numpy uint8, N×3072) and the labels.
fn parse_pickle(variant: Variant, path: &Path, bytes: &[u8]) -> Result<(Split, Vec<u16>)> {
    let corrupt =
        |detail: String| DataError::Corrupt { path: path.to_path_buf(), what: "CIFAR python batch", offset: 0, detail };
    let d = pickled_dict(path, bytes)?;
    let labels = |key: &str| -> Result<Vec<u16>> {
        let Some(Value::List(items)) = get(&d, key) else {
            return Err(corrupt(format!("has no list '{key}'")));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::I64(l) if (0..i64::from(u16::MAX)).contains(l) => Ok(*l as u16),
                other => Err(corrupt(format!("'{key}'[{i}] is {other:?}, not a label"))),
            })
            .collect()
    };
    let (fine, coarse) = match variant {
        Variant::Cifar10 => (labels("labels")?, Vec::new()),
        Variant::Cifar100 => (labels("fine_labels")?, labels("coarse_labels")?),
    };
    if let Some((i, l)) = fine.iter().enumerate().find(|(_, &l)| usize::from(l) >= variant.classes()) {
        return Err(corrupt(format!("label {l} of image {i} out of range for {} classes", variant.classes())));
    }
    // numpy's __reduce__: _reconstruct(ndarray, (0,), b'b') then BUILD with (version, shape, dtype, is_fortran, raw).
    let pixels: &[u8] = match get(&d, "data") {
        Some(Value::Tuple(state)) if state.len() == 5 => {
            let shape: Vec<i64> = match &state[1] {
                Value::Tuple(dims) => {
                    dims.iter().filter_map(|v| if let Value::I64(n) = v { Some(*n) } else { None }).collect()
                }
                _ => Vec::new(),
            };
            if shape != [fine.len() as i64, PIXELS as i64] {
                return Err(corrupt(format!("'data' has shape {shape:?}, expected [{}, {PIXELS}]", fine.len())));
            }
            if matches!(state[3], Value::Bool(true)) {
                return Err(corrupt("'data' is in Fortran order; the official batches are row-major".into()));
            }
            match &state[4] {
                Value::Bytes(raw) if raw.len() == fine.len() * PIXELS => raw,
                Value::Bytes(raw) => {
                    return Err(corrupt(format!(
                        "'data' holds {} bytes for {} images of {PIXELS} uint8 pixels (not uint8, or truncated)",
                        raw.len(),
                        fine.len()
                    )))
                }
                other => return Err(corrupt(format!("'data' payload is a {}, not bytes", kind(other)))),
            }
        }
        Some(other) => return Err(corrupt(format!("'data' is a {}, not a numpy array", kind(other)))),
        None => return Err(corrupt("has no 'data'".into())),
    };
    let mut split = Split::empty([3, 32, 32]);
    split.images = pixels.to_vec();
    split.labels = fine;
    Ok((split, coarse))
}

fn parse_binary(variant: Variant, path: &Path, bytes: &[u8]) -> Result<(Split, Vec<u16>)> {
    let label_bytes = if variant == Variant::Cifar100 { 2 } else { 1 };
    let record = label_bytes + PIXELS;
    if bytes.is_empty() || bytes.len() % record != 0 {
        return Err(DataError::Corrupt {
            path: path.to_path_buf(),
            what: "CIFAR binary batch",
            offset: (bytes.len() - bytes.len() % record) as u64,
            detail: format!("{} bytes is not a whole number of {record}-byte records (truncated?)", bytes.len()),
        });
    }
    let n = bytes.len() / record;
    let mut split = Split::empty([3, 32, 32]);
    split.images.reserve(n * PIXELS);
    let mut coarse = Vec::with_capacity(n);
    for (i, rec) in bytes.chunks_exact(record).enumerate() {
        let label = rec[label_bytes - 1];
        if usize::from(label) >= variant.classes() {
            return Err(DataError::Corrupt {
                path: path.to_path_buf(),
                what: "CIFAR label",
                offset: (i * record + label_bytes - 1) as u64,
                detail: format!("label {label} out of range for {} classes", variant.classes()),
            });
        }
        split.labels.push(u16::from(label));
        coarse.push(u16::from(rec[0]));
        split.images.extend_from_slice(&rec[label_bytes..]);
    }
    Ok((split, coarse))
}
