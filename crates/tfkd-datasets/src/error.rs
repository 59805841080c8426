//! The one error type of this crate: every message says what was expected, where, and how to fix it.

use std::path::PathBuf;

/// Why a dataset could not be found, read, decoded, cached or downloaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// Nothing usable at the expected place.
    #[error("dataset '{source_name}' not found: looked for {looked_for} in {}\n  to get it: {how}", where_.display())]
    Missing {
        /// The source's name in specs.
        source_name: &'static str,
        /// The files or folders looked for.
        looked_for: String,
        /// Where.
        where_: PathBuf,
        /// How to obtain it.
        how: String,
    },
    /// The folder or archive exists but is not laid out as the format requires.
    #[error("{}: wrong layout for '{source_name}': expected {expected}; found {found}", path.display())]
    Layout {
        /// The source's name.
        source_name: &'static str,
        /// Folder or archive.
        path: PathBuf,
        /// What the format requires.
        expected: String,
        /// What is there.
        found: String,
    },
    /// A file ends early or holds bytes that cannot be what the format says.
    #[error("{}: corrupt {what} at byte offset {offset}: {detail}", path.display())]
    Corrupt {
        /// The file (or archive entry, as `archive!entry`).
        path: PathBuf,
        /// What was being read.
        what: &'static str,
        /// Byte offset of the problem.
        offset: u64,
        /// Details.
        detail: String,
    },
    /// A compressed archive that ends early or whose compressed data is damaged. Offsets inside a `.tar.gz` are
    /// positions in the unpacked tar stream, so the message gives the file's own size beside it.
    #[error(
        "{}: the archive is truncated or damaged ({source}) {at}, byte {unpacked} of its unpacked contents; the file \
         has {size} bytes. To fix: {fix}, or point the source at a complete copy",
        path.display()
    )]
    ArchiveBroken {
        /// The archive.
        path: PathBuf,
        /// Where reading stopped: "while listing its entries" or "in entry data_batch_3".
        at: String,
        /// Position in the unpacked stream.
        unpacked: u64,
        /// The archive's size on disk.
        size: u64,
        /// How to get a good copy.
        fix: String,
        /// What the decompressor or tar reader said.
        source: std::io::Error,
    },
    /// A file that is not the one expected (a different archive, a Git LFS pointer, a folder).
    #[error("{}: not a usable {what}: {detail}", path.display())]
    WrongFile {
        /// The file.
        path: PathBuf,
        /// What it should have been.
        what: &'static str,
        /// What it is instead, and how to fix it.
        detail: String,
    },
    /// An image could not be decoded, or has the wrong size.
    #[error("{}: {detail}", path.display())]
    Image {
        /// The image (or `archive!entry`).
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A label outside `0..classes`.
    #[error("{}: label {label} out of range for {classes} classes", path.display())]
    LabelOutOfRange {
        /// Where it was read.
        path: PathBuf,
        /// The label.
        label: i64,
        /// Number of classes.
        classes: usize,
    },
    /// A download or checksum failed; nothing was left half-written.
    #[error("fetch {url}: {detail}")]
    Fetch {
        /// The URL.
        url: String,
        /// What failed.
        detail: String,
    },
    /// An invalid option (split sizes, augmentation parameters, …).
    #[error("invalid data option: {0}")]
    Invalid(String),
    /// An augmentation or normalisation setting its data cannot take.
    #[error("invalid data option: {0}")]
    Setting(#[from] tfkd_names::SettingError),
    /// An I/O error on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// libtorch failed.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// Result alias of this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// Attaches the path to an I/O error.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DataError {
    let path = path.into();
    move |source| DataError::Io { path, source }
}
