//! Readers for each on-disk format.

pub mod cifar;
pub mod idx;
pub mod ilsvrc;
pub mod tree;

use std::path::Path;

use crate::error::{io, DataError, Result};

/// A constructor of [`DataError::ArchiveBroken`] for the `.tar.gz` at `path` (it reads the file's size once):
/// call it with where reading stopped, the offset in the unpacked stream and the reader's error.
pub(crate) fn archive_broken(
    path: &Path,
    fix: String,
) -> Result<impl Fn(String, u64, std::io::Error) -> DataError + '_> {
    let size = std::fs::metadata(path).map_err(io(path))?.len();
    Ok(move |at, unpacked, source| DataError::ArchiveBroken {
        path: path.to_path_buf(),
        at,
        unpacked,
        size,
        fix: fix.clone(),
        source,
    })
}

/// Where reading a `.tar.gz` stopped when its entry list broke off.
pub(crate) const LISTING: &str = "while listing its entries";
