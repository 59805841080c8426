//! Decode cache: a decoded dataset stored as one raw file keyed by the source's content hash.
//!
//! Format: the line `TFKD-DATASET 1`, one line of JSON metadata, then the train pixels, train
//! labels (u16 LE), test pixels, test labels. Written with tfkd-io's one atomic write, so a crash never
//! leaves a half-written cache behind.

use std::{
    io::{BufRead, BufReader, Read, Write},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{
    error::{io, DataError, Result},
    split::Split,
    Dataset,
};

const MAGIC: &str = "TFKD-DATASET 1";

#[derive(Serialize, Deserialize)]
struct Meta {
    name: String,
    classes: Vec<String>,
    content_hash: String,
    chw: [usize; 3],
    train: usize,
    test: usize,
    coarse: bool,
    /// Absent in caches written before it was recorded.
    #[serde(default)]
    layout: String,
}

/// The cache file for a source with this content hash.
#[must_use]
pub fn path_for(cache_dir: &Path, name: &str, content_hash: &str) -> PathBuf {
    cache_dir.join("decoded").join(format!("{name}-{}.bin", &content_hash[..content_hash.len().min(16)]))
}

/// Writes `ds` atomically to `path`.
pub fn store(ds: &Dataset, path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let meta = Meta {
        name: ds.name.clone(),
        classes: ds.classes.clone(),
        content_hash: ds.content_hash.clone(),
        chw: ds.train.chw,
        train: ds.train.len(),
        test: ds.test.len(),
        coarse: ds.train.coarse_labels.is_some(),
        layout: ds.layout.clone(),
    };
    let write = |tmp: &Path| -> Result<()> {
        let file = std::fs::File::create(tmp).map_err(io(path))?;
        let mut f = std::io::BufWriter::new(file);
        let mut body = || -> std::io::Result<()> {
            writeln!(f, "{MAGIC}")?;
            writeln!(f, "{}", serde_json::to_string(&meta).map_err(std::io::Error::other)?)?;
            for split in [&ds.train, &ds.test] {
                f.write_all(&split.images)?;
                for labels in std::iter::once(&split.labels).chain(split.coarse_labels.as_ref()) {
                    let bytes: Vec<u8> = labels.iter().flat_map(|l| l.to_le_bytes()).collect();
                    f.write_all(&bytes)?;
                }
            }
            f.flush()
        };
        body().map_err(io(path))
    };
    tfkd_io::write_atomic_with(path, write).map_err(|e| match e {
        tfkd_io::atomic::AtomicError::Write(e) => e,
        tfkd_io::atomic::AtomicError::Io(e) => io(e.path.clone())(e.source),
    })
}

/// Reads a cache file; `None` when absent. A damaged cache is an error naming the file.
pub fn load(path: &Path) -> Result<Option<Dataset>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    let corrupt = |detail: String| DataError::Corrupt {
        path: path.to_path_buf(),
        what: "decode cache",
        offset: 0,
        detail: format!("{detail}; delete the file to rebuild it"),
    };
    let mut r = BufReader::new(file);
    let mut line = String::new();
    r.read_line(&mut line).map_err(io(path))?;
    if line.trim_end() != MAGIC {
        return Err(corrupt("bad header".into()));
    }
    line.clear();
    r.read_line(&mut line).map_err(io(path))?;
    let meta: Meta = serde_json::from_str(&line).map_err(|e| corrupt(e.to_string()))?;
    let mut read_split = |n: usize| -> Result<Split> {
        let mut images = vec![0u8; n * meta.chw.iter().product::<usize>()];
        r.read_exact(&mut images).map_err(|e| corrupt(e.to_string()))?;
        let mut read_labels = || -> Result<Vec<u16>> {
            let mut bytes = vec![0u8; 2 * n];
            r.read_exact(&mut bytes).map_err(|e| corrupt(e.to_string()))?;
            Ok(bytes.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect())
        };
        let labels = read_labels()?;
        let coarse_labels = if meta.coarse { Some(read_labels()?) } else { None };
        Ok(Split { images, labels, chw: meta.chw, coarse_labels })
    };
    let train = read_split(meta.train)?;
    let test = read_split(meta.test)?;
    Ok(Some(Dataset {
        name: meta.name,
        classes: meta.classes,
        train,
        test,
        content_hash: meta.content_hash,
        layout: meta.layout,
    }))
}
