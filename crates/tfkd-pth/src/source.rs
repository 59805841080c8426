//! Where a file's storages are: records of a zip archive, or byte ranges of a legacy file.

use std::{
    collections::HashMap,
    io::{Cursor, Read},
    ops::{Deref, Range},
    path::Path,
    rc::Rc,
};

use zip::{CompressionMethod, ZipArchive};

use crate::{FormatProblem, PthError};

/// A storage's bytes: borrowed from the file's buffer (stored zip records, legacy files) or decompressed.
pub(crate) enum Bytes<'a> {
    /// Part of the file as read.
    Borrowed(&'a [u8]),
    /// Decompressed from a compressed zip record.
    Shared(Rc<[u8]>),
}

impl Deref for Bytes<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Borrowed(b) => b,
            Bytes::Shared(b) => b,
        }
    }
}

/// The storages of one file, by key.
pub(crate) enum Source<'a> {
    /// Records `<prefix>/data/<key>` of a zip archive held in `file`.
    Zip {
        /// The whole file.
        file: &'a [u8],
        /// Its archive.
        archive: ZipArchive<Cursor<&'a [u8]>>,
        /// The archive's top folder.
        prefix: String,
        /// Records already read and checked.
        cache: HashMap<String, Range<usize>>,
        /// Compressed records, decompressed.
        inflated: HashMap<String, Rc<[u8]>>,
    },
    /// Byte ranges of a legacy file (after each storage's 8-byte element count).
    Legacy {
        /// The whole file.
        file: &'a [u8],
        /// Range of each storage's bytes.
        ranges: HashMap<String, Range<usize>>,
    },
}

impl<'a> Source<'a> {
    /// The bytes of storage `key`.
    pub(crate) fn storage(&mut self, path: &Path, key: &str) -> Result<Bytes<'a>, PthError> {
        let missing = || PthError::Format {
            path: path.to_path_buf(),
            source: FormatProblem::MissingStorage { key: key.to_string() },
        };
        match self {
            Source::Legacy { file, ranges } => {
                let file: &'a [u8] = file;
                let r = ranges.get(key).ok_or_else(missing)?;
                file.get(r.clone()).map(Bytes::Borrowed).ok_or_else(missing)
            }
            Source::Zip { file, archive, prefix, cache, inflated } => {
                let file: &'a [u8] = file;
                if let Some(r) = cache.get(key) {
                    return file.get(r.clone()).map(Bytes::Borrowed).ok_or_else(missing);
                }
                if let Some(b) = inflated.get(key) {
                    return Ok(Bytes::Shared(b.clone()));
                }
                let name = format!("{prefix}/data/{key}");
                let zip_err = |source| PthError::Zip { path: path.to_path_buf(), source };
                let mut entry = match archive.by_name(&name) {
                    Ok(e) => e,
                    Err(zip::result::ZipError::FileNotFound) => return Err(missing()),
                    Err(e) => return Err(zip_err(e)),
                };
                let stored =
                    entry.compression() == CompressionMethod::Stored && entry.compressed_size() == entry.size();
                if stored {
                    let range = record_range(entry.data_start(), entry.size(), file.len())
                        .ok_or_else(|| zip_err(zip::result::ZipError::InvalidArchive("record runs past the file")))?;
                    let bytes = &file[range.clone()];
                    if crc32fast::hash(bytes) != entry.crc32() {
                        return Err(zip_err(zip::result::ZipError::InvalidArchive(
                            "CRC-32 mismatch in a storage record",
                        )));
                    }
                    cache.insert(key.to_string(), range);
                    return Ok(Bytes::Borrowed(bytes));
                }
                let mut data = Vec::new();
                entry.read_to_end(&mut data).map_err(|e| zip_err(e.into()))?;
                let data: Rc<[u8]> = data.into();
                inflated.insert(key.to_string(), data.clone());
                Ok(Bytes::Shared(data))
            }
        }
    }
}

fn record_range(start: u64, size: u64, file_len: usize) -> Option<Range<usize>> {
    let start = usize::try_from(start).ok()?;
    let end = start.checked_add(usize::try_from(size).ok()?)?;
    (end <= file_len).then_some(start..end)
}
