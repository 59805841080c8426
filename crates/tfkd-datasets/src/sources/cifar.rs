//! CIFAR-10 and CIFAR-100 in the official binary layouts, from a folder or straight from the `.tar.gz`.
//!
//! CIFAR-10 (`cifar-10-batches-bin/`): `data_batch_{1..5}.bin`, `test_batch.bin`, records of
//! 1 label byte + 3072 pixel bytes (1024 R, 1024 G, 1024 B, row-major 32×32).
//! CIFAR-100 (`cifar-100-binary/`): `train.bin`, `test.bin`, records of 1 coarse + 1 fine label byte
//! + 3072 pixel bytes. Fine labels are the labels; coarse ones are kept.

use std::{
    collections::HashMap,
    io::Read,
    path::{Path, PathBuf},
};

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

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Cifar10 => "cifar10",
            Variant::Cifar100 => "cifar100",
        }
    }
    fn folder(self) -> &'static str {
        match self {
            Variant::Cifar10 => "cifar-10-batches-bin",
            Variant::Cifar100 => "cifar-100-binary",
        }
    }
    fn classes(self) -> usize {
        match self {
            Variant::Cifar10 => 10,
            Variant::Cifar100 => 100,
        }
    }
    fn train_files(self) -> Vec<&'static str> {
        match self {
            Variant::Cifar10 => {
                vec!["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"]
            }
            Variant::Cifar100 => vec!["train.bin"],
        }
    }
    fn test_file(self) -> &'static str {
        match self {
            Variant::Cifar10 => "test_batch.bin",
            Variant::Cifar100 => "test.bin",
        }
    }
    fn names_file(self) -> &'static str {
        match self {
            Variant::Cifar10 => "batches.meta.txt",
            Variant::Cifar100 => "fine_label_names.txt",
        }
    }
    fn archive(self) -> &'static str {
        match self {
            Variant::Cifar10 => "cifar-10-binary.tar.gz",
            Variant::Cifar100 => "cifar-100-binary.tar.gz",
        }
    }
}

/// Loads CIFAR from `path`: a folder holding the files (or their official sub-folder), or the official `.tar.gz`.
pub fn load(variant: Variant, path: &Path, content_hash: String) -> Result<Dataset> {
    let files = if path.is_file() { read_archive(variant, path)? } else { read_folder(variant, path)? };
    let mut train = Split::empty([3, 32, 32]);
    let mut train_coarse = Vec::new();
    for name in variant.train_files() {
        let (split, coarse) = parse(variant, &files[name].0, &files[name].1)?;
        train.images.extend(split.images);
        train.labels.extend(split.labels);
        train_coarse.extend(coarse);
    }
    let test_name = variant.test_file();
    let (mut test, test_coarse) = parse(variant, &files[test_name].0, &files[test_name].1)?;
    if variant == Variant::Cifar100 {
        train.coarse_labels = Some(train_coarse);
        test.coarse_labels = Some(test_coarse);
    }
    let classes = files
        .get(variant.names_file())
        .map(|(_, bytes)| {
            String::from_utf8_lossy(bytes).lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
        })
        .filter(|names: &Vec<String>| names.len() == variant.classes())
        .unwrap_or_else(|| (0..variant.classes()).map(|i| i.to_string()).collect());
    Ok(Dataset { name: variant.name().into(), classes, train, test, content_hash })
}

type Files = HashMap<&'static str, (PathBuf, Vec<u8>)>;

fn wanted(variant: Variant) -> Vec<&'static str> {
    let mut names = variant.train_files();
    names.push(variant.test_file());
    names
}

fn missing(variant: Variant, path: &Path) -> DataError {
    DataError::Missing {
        source_name: variant.name(),
        looked_for: format!("{} (in {}/ or the folder itself)", wanted(variant).join(", "), variant.folder()),
        where_: path.to_path_buf(),
        how: format!("`tfkd data fetch {}` downloads and verifies {}", variant.name(), variant.archive()),
    }
}

fn read_folder(variant: Variant, path: &Path) -> Result<Files> {
    let dir = if path.join(variant.folder()).is_dir() { path.join(variant.folder()) } else { path.to_path_buf() };
    if !dir.join(variant.test_file()).is_file() {
        return Err(missing(variant, path));
    }
    let mut files = Files::new();
    for name in wanted(variant).into_iter().chain([variant.names_file()]) {
        let file = dir.join(name);
        match std::fs::read(&file) {
            Ok(bytes) => {
                files.insert(name, (file, bytes));
            }
            Err(_) if name == variant.names_file() => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing(variant, path)),
            Err(e) => return Err(io(file)(e)),
        }
    }
    Ok(files)
}

fn read_archive(variant: Variant, path: &Path) -> Result<Files> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut files = Files::new();
    let names: Vec<&'static str> = wanted(variant).into_iter().chain([variant.names_file()]).collect();
    let corrupt =
        |detail: String| DataError::Corrupt { path: path.to_path_buf(), what: "tar.gz archive", offset: 0, detail };
    for entry in archive.entries().map_err(|e| corrupt(e.to_string()))? {
        let mut entry = entry.map_err(|e| corrupt(e.to_string()))?;
        let entry_path = entry.path().map_err(|e| corrupt(e.to_string()))?.into_owned();
        let Some(base) = entry_path.file_name().and_then(|n| n.to_str()) else { continue };
        if let Some(&name) = names.iter().find(|&&n| n == base) {
            let mut bytes = Vec::new();
            let offset = entry.raw_file_position();
            entry.read_to_end(&mut bytes).map_err(|e| DataError::Corrupt {
                path: path.join(&entry_path),
                what: "archive entry",
                offset,
                detail: e.to_string(),
            })?;
            files.insert(name, (PathBuf::from(format!("{}!{}", path.display(), entry_path.display())), bytes));
        }
    }
    if wanted(variant).iter().any(|n| !files.contains_key(n)) {
        let found: Vec<_> = files.keys().copied().collect();
        return Err(DataError::Layout {
            source_name: variant.name(),
            path: path.to_path_buf(),
            expected: format!("an archive with {}", wanted(variant).join(", ")),
            found: if found.is_empty() { "none of them".into() } else { format!("only {}", found.join(", ")) },
        });
    }
    Ok(files)
}

fn parse(variant: Variant, path: &Path, bytes: &[u8]) -> Result<(Split, Vec<u16>)> {
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
