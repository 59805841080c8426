//! The index cache: an ImageNet source's image references and labels, stored once so a later start reads
//! one file instead of listing (and checking) 1.33 M files or tar members again.
//!
//! Format: the line `TFKD-INDEX 2`, one line of JSON metadata (content hash, classes, descriptions, layout,
//! image counts, the length of the image lines), the line `crc32 <8 hex digits>` (of the metadata line and the
//! image lines: a class name changed on disk is damage as much as an image line is), then one line per image,
//! train first: `label<TAB>offset<TAB>length<TAB>name`. Keyed by the source's content hash (names, sizes and modification
//! times), verified on every load (a damaged file is rebuilt, never used) and written with tfkd-io's one
//! atomic write. The folders and archives the names are relative to are not stored: they are located afresh on
//! each start, so a moved copy of the data still finds its index.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{
    encoded::{EncodedDataset, EncodedSplit, ImageRef, Store},
    error::{io, DataError, Result},
};

const MAGIC: &str = "TFKD-INDEX 2";

#[derive(Serialize, Deserialize)]
struct Meta {
    name: String,
    content_hash: String,
    classes: Vec<String>,
    descriptions: Vec<String>,
    layout: String,
    train: usize,
    test: usize,
    /// Bytes after the checksum line.
    payload_bytes: u64,
}

/// What an index cache file holds.
#[derive(Debug)]
pub(super) enum Cached {
    /// No cache file.
    Absent,
    /// An index whose length, checksum and lines are sound.
    Ready(Box<EncodedDataset>),
    /// Damaged or of another format; the error says how. Rebuild it.
    Unusable(DataError),
}

/// The index cache file of an ImageNet source with this content hash.
pub(super) fn path_for(cache_dir: &Path, content_hash: &str) -> PathBuf {
    cache_dir.join("index").join(format!("imagenet-{}.idx", &content_hash[..content_hash.len().min(16)]))
}

fn payload(ds: &EncodedDataset) -> String {
    let mut out = String::new();
    for split in [&ds.train, &ds.test] {
        for (r, label) in split.refs().iter().zip(&split.labels) {
            out.push_str(&format!("{label}\t{}\t{}\t{}\n", r.offset, r.len, r.name));
        }
    }
    out
}

/// Writes the index of `ds` atomically to `path`. Image names must hold no tabs or line breaks (the indexer
/// refuses such names).
pub(super) fn store(ds: &EncodedDataset, path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let body = payload(ds);
    let meta = Meta {
        name: ds.name.clone(),
        content_hash: ds.content_hash.clone(),
        classes: ds.classes.clone(),
        descriptions: ds.descriptions.clone(),
        layout: ds.layout.clone(),
        train: ds.train.len(),
        test: ds.test.len(),
        payload_bytes: body.len() as u64,
    };
    let meta = serde_json::to_string(&meta).map_err(|e| DataError::Invalid(format!("index metadata: {e}")))?;
    let meta = format!("{meta}\n");
    let mut crc = crc32fast::Hasher::new();
    crc.update(meta.as_bytes());
    crc.update(body.as_bytes());
    let text = format!("{MAGIC}\n{meta}crc32 {:08x}\n{body}", crc.finalize());
    tfkd_io::write_atomic_with(path, |tmp: &Path| std::fs::write(tmp, text.as_bytes()).map_err(io(path))).map_err(|e| {
        match e {
            tfkd_io::atomic::AtomicError::Write(e) => e,
            tfkd_io::atomic::AtomicError::Io(e) => io(e.path.clone())(e.source),
        }
    })
}

/// Reads an index cache file, with its images in `stores` (train, test). `Err` only when the file exists but
/// cannot be read at all.
pub(super) fn load(path: &Path, stores: [Store; 2]) -> Result<Cached> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Cached::Absent),
        Err(e) => return Err(io(path)(e)),
    };
    Ok(match parse(&bytes, stores) {
        Ok(ds) => Cached::Ready(Box::new(ds)),
        Err((offset, detail)) => Cached::Unusable(DataError::Corrupt {
            path: path.to_path_buf(),
            what: "ImageNet index cache",
            offset,
            detail: format!("{detail}; it is rebuilt from the source"),
        }),
    })
}

/// Parses the file; the error is (byte offset, what is wrong).
fn parse(bytes: &[u8], [train_store, test_store]: [Store; 2]) -> Result<EncodedDataset, (u64, String)> {
    let text = std::str::from_utf8(bytes).map_err(|e| (e.valid_up_to() as u64, "it is not UTF-8 text".to_string()))?;
    let (first, rest) = text.split_once('\n').ok_or((0, "it has no header line".to_string()))?;
    if first != MAGIC {
        return Err((0, format!("the header is not `{MAGIC}`")));
    }
    let start = first.len() as u64 + 1;
    let (meta_line, rest) = rest.split_once('\n').ok_or((start, "it has no metadata line".to_string()))?;
    let meta: Meta = serde_json::from_str(meta_line).map_err(|e| (start, format!("unreadable metadata ({e})")))?;
    let crc_at = start + meta_line.len() as u64 + 1;
    let (crc_line, body) = rest.split_once('\n').ok_or((crc_at, "it has no checksum line".to_string()))?;
    let recorded = crc_line
        .strip_prefix("crc32 ")
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .ok_or((crc_at, "the checksum line is not `crc32 <8 hex digits>`".to_string()))?;
    let body_at = crc_at + crc_line.len() as u64 + 1;
    if body.len() as u64 != meta.payload_bytes {
        return Err((
            body_at,
            format!("it has {} bytes of images where its metadata says {}", body.len(), meta.payload_bytes),
        ));
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(meta_line.as_bytes());
    crc.update(b"\n");
    crc.update(body.as_bytes());
    let crc = crc.finalize();
    if crc != recorded {
        return Err((start, crate::digest::checksum_mismatch(start, bytes.len() as u64, crc, recorded)));
    }
    let mut lines = body.lines();
    let mut split = |n: usize, store: Store| -> Result<EncodedSplit, (u64, String)> {
        // Each image line takes at least 8 bytes: a count the body cannot hold allocates nothing.
        let mut refs = Vec::with_capacity(n.min(body.len() / 8));
        let mut labels = Vec::with_capacity(n.min(body.len() / 8));
        for k in 0..n {
            let line = lines
                .next()
                .ok_or((body_at, format!("it lists fewer than {} images", meta.train.saturating_add(meta.test))))?;
            let bad = || (body_at, format!("image line {} is not `label offset length name`: {line:?}", k + 1));
            let mut cols = line.splitn(4, '\t');
            let mut num = || cols.next().and_then(|c| c.parse::<u64>().ok()).ok_or_else(bad);
            let (label, offset, len) = (num()?, num()?, num()?);
            let name = cols.next().filter(|n| !n.is_empty()).ok_or_else(bad)?;
            let label = u16::try_from(label).ok().filter(|&l| usize::from(l) < meta.classes.len()).ok_or_else(bad)?;
            refs.push(ImageRef { name: name.into(), offset, len });
            labels.push(label);
        }
        Ok(EncodedSplit::new(store, refs, labels))
    };
    let train = split(meta.train, train_store)?;
    let test = split(meta.test, test_store)?;
    if lines.next().is_some() {
        return Err((body_at, format!("it lists more than {} images", meta.train.saturating_add(meta.test))));
    }
    Ok(EncodedDataset {
        name: meta.name,
        classes: meta.classes,
        descriptions: meta.descriptions,
        train,
        test,
        content_hash: meta.content_hash,
        layout: meta.layout,
    })
}
