//! Decode cache: a decoded dataset stored as one raw file keyed by the source's content hash.
//!
//! Format: the line `TFKD-DATASET 3`, one line of JSON metadata, the line `crc32 <8 hex digits>`, then the
//! train pixels, train labels (u16 LE), test pixels, test labels. The metadata holds the content hash of the
//! source the pixels were decoded from and the length of the pixels and labels; the CRC-32 covers the metadata
//! line and everything after the checksum line, so a class name or a size changed on disk is damage as much
//! as a pixel is. Verified on every load: a cache damaged on disk (zeroed, truncated, overwritten) is
//! detected and rebuilt, never trained on.
//! Written with tfkd-io's one atomic write, so a crash never leaves a half-written cache behind.

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

const MAGIC: &str = "TFKD-DATASET 3";

#[derive(Serialize, Deserialize)]
struct Meta {
    name: String,
    classes: Vec<String>,
    content_hash: String,
    chw: [usize; 3],
    train: usize,
    test: usize,
    coarse: bool,
    layout: String,
    /// Bytes after the checksum line.
    payload_bytes: u64,
}

impl Meta {
    /// The payload's size from the image counts and shape; `None` when it overflows. Checked arithmetic: the
    /// metadata is held to the checksum only once the payload is read.
    fn payload_size(&self) -> Option<u64> {
        let pixels = self.chw.iter().try_fold(1usize, |a, &b| a.checked_mul(b))?;
        let per_image = pixels.checked_add(if self.coarse { 4 } else { 2 })?;
        Some(self.train.checked_add(self.test)?.checked_mul(per_image)? as u64)
    }
}

/// The checksum in the line `crc32 <8 hex digits>`.
fn crc_line(line: &[u8]) -> Option<u32> {
    let hex = std::str::from_utf8(line).ok()?.trim_ascii_end().strip_prefix("crc32 ")?;
    u32::from_str_radix(hex, 16).ok()
}

/// The bytes after the checksum line, in file order.
fn payload(ds: &Dataset) -> impl Iterator<Item = std::borrow::Cow<'_, [u8]>> {
    [&ds.train, &ds.test].into_iter().flat_map(|split| {
        std::iter::once(std::borrow::Cow::Borrowed(split.images.as_slice())).chain(
            std::iter::once(&split.labels)
                .chain(split.coarse_labels.as_ref())
                .map(|labels| std::borrow::Cow::Owned(labels.iter().flat_map(|l| l.to_le_bytes()).collect())),
        )
    })
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
    let payload_bytes = payload(ds).map(|chunk| chunk.len() as u64).sum();
    let meta = Meta {
        name: ds.name.clone(),
        classes: ds.classes.clone(),
        content_hash: ds.content_hash.clone(),
        chw: ds.train.chw,
        train: ds.train.len(),
        test: ds.test.len(),
        coarse: ds.train.coarse_labels.is_some(),
        layout: ds.layout.clone(),
        payload_bytes,
    };
    let meta =
        format!("{}\n", serde_json::to_string(&meta).map_err(|e| DataError::Invalid(format!("cache metadata: {e}")))?);
    let mut crc = crc32fast::Hasher::new();
    crc.update(meta.as_bytes());
    for chunk in payload(ds) {
        crc.update(&chunk);
    }
    let crc = crc.finalize();
    let write = |tmp: &Path| -> Result<()> {
        let file = std::fs::File::create(tmp).map_err(io(path))?;
        let mut f = std::io::BufWriter::new(file);
        let mut body = || -> std::io::Result<()> {
            writeln!(f, "{MAGIC}")?;
            f.write_all(meta.as_bytes())?;
            writeln!(f, "crc32 {crc:08x}")?;
            for chunk in payload(ds) {
                f.write_all(&chunk)?;
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

/// What a cache file holds.
#[derive(Debug)]
pub enum Cached {
    /// No cache file.
    Absent,
    /// A cache whose length and checksum match its metadata.
    Ready(Dataset),
    /// Written by an older tfkd in another format: not damaged, only stale; rebuild it.
    OldFormat,
    /// Damaged on disk; the error names the file, the offset and what was found. Rebuild it.
    Damaged(DataError),
}

/// Reads a cache file and checks it against its recorded length and CRC-32. `Err` only when the file
/// cannot be read at all (permissions, I/O).
pub fn load(path: &Path) -> Result<Cached> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Cached::Absent),
        Err(e) => return Err(io(path)(e)),
    };
    let size = file.metadata().map_err(io(path))?.len();
    let damaged = |offset: u64, detail: String| {
        Ok(Cached::Damaged(DataError::Corrupt {
            path: path.to_path_buf(),
            what: "decode cache",
            offset,
            detail: format!("{detail}; it is rebuilt from the source (`tfkd clean --damaged` removes it)"),
        }))
    };
    let mut r = BufReader::new(file);
    // Lines are read as bytes, at most 1 MiB each: damaged bytes are damage to report, not an I/O error.
    let line = |r: &mut BufReader<std::fs::File>| -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        r.by_ref().take(1 << 20).read_until(b'\n', &mut buf).map_err(io(path))?;
        Ok(buf)
    };
    let first = line(&mut r)?;
    if first.starts_with(b"TFKD-DATASET ") && first.trim_ascii_end() != MAGIC.as_bytes() {
        return Ok(Cached::OldFormat);
    }
    if first.trim_ascii_end() != MAGIC.as_bytes() {
        return damaged(0, format!("the header is not `{MAGIC}`"));
    }
    let header = first.len() as u64;
    let second = line(&mut r)?;
    let meta: Meta = match serde_json::from_slice(&second) {
        Ok(m) => m,
        Err(e) => return damaged(header, format!("unreadable metadata ({e})")),
    };
    let third = line(&mut r)?;
    let Some(recorded) = crc_line(&third) else {
        return damaged(header + second.len() as u64, "the checksum line is not `crc32 <8 hex digits>`".into());
    };
    let start = header + second.len() as u64 + third.len() as u64;
    let end = start.saturating_add(meta.payload_bytes);
    if size != end {
        return damaged(size.min(end), format!("the file has {size} bytes where its metadata says {end}"));
    }
    if meta.payload_size() != Some(meta.payload_bytes) {
        return damaged(header, format!("its metadata does not add up ({} bytes for its images)", meta.payload_bytes));
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&second);
    let mut read = |n: usize| -> Result<Vec<u8>> {
        let mut buf = vec![0u8; n];
        r.read_exact(&mut buf).map_err(io(path))?;
        crc.update(&buf);
        Ok(buf)
    };
    let labels = |bytes: Vec<u8>| bytes.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect();
    let mut splits = Vec::new();
    for n in [meta.train, meta.test] {
        let images = read(n * meta.chw.iter().product::<usize>())?;
        let fine = labels(read(2 * n)?);
        let coarse_labels = if meta.coarse { Some(labels(read(2 * n)?)) } else { None };
        splits.push(Split { images, labels: fine, chw: meta.chw, coarse_labels });
    }
    let got = crc.finalize();
    if got != recorded {
        return damaged(header, crate::digest::checksum_mismatch(header, size, got, recorded));
    }
    let test = splits.pop().expect("two splits");
    let train = splits.pop().expect("two splits");
    Ok(Cached::Ready(Dataset {
        name: meta.name,
        classes: meta.classes,
        train,
        test,
        content_hash: meta.content_hash,
        layout: meta.layout,
    }))
}

/// Checks every decode cache under `cache_dir/decoded`: the files that are damaged or stale, with why.
#[must_use]
pub fn unusable(cache_dir: &Path) -> Vec<(PathBuf, String)> {
    let dir = cache_dir.join("decoded");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        // Another process's cache being written (tfkd-io's temporary files) is not a cache yet.
        .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(".tmp-")))
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| match load(&p) {
            Ok(Cached::Ready(_) | Cached::Absent) => None,
            Ok(Cached::OldFormat) => Some((p, "written by an older tfkd in another format".to_string())),
            Ok(Cached::Damaged(e)) => Some((p, e.to_string())),
            Err(e) => Some((p, e.to_string())),
        })
        .collect()
}
