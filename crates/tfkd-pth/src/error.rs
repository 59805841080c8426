//! What can go wrong reading or writing a `.pth` file; every error names the file and says what is wrong.

use std::path::PathBuf;

use crate::DType;

/// A failure to read or write a state-dict file.
#[derive(Debug, thiserror::Error)]
pub enum PthError {
    /// The file could not be read from disk.
    #[error("reading {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The file starts like a zip archive but the archive is damaged.
    #[error("{}: damaged zip archive: {source}", path.display())]
    Zip {
        /// The file.
        path: PathBuf,
        /// What the zip reader found.
        #[source]
        source: zip::result::ZipError,
    },
    /// The container (zip entries, legacy records) is not what `torch.save` writes.
    #[error("{}: {source}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: FormatProblem,
    },
    /// A pickle in the file is malformed or asks for something this reader refuses to do.
    #[error("{}: {part}: {source}", path.display())]
    Pickle {
        /// The file.
        path: PathBuf,
        /// Which pickle: `archive/data.pkl`, or the legacy format's `object pickle`, …
        part: String,
        /// What is wrong, and where.
        #[source]
        source: PickleError,
    },
    /// A tensor's view does not fit its storage, or its metadata is unusable.
    #[error("{}: tensor '{name}': {source}", path.display())]
    Tensor {
        /// The file.
        path: PathBuf,
        /// The tensor's key in the state dict.
        name: String,
        /// What is wrong (boxed: it carries the view's sizes and strides).
        #[source]
        source: Box<ViewProblem>,
    },
    /// The file's object holds no state dict this reader recognises.
    #[error("{}: no state dict: {source}", path.display())]
    Layout {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        #[source]
        source: LayoutProblem,
    },
    /// The state dict cannot be written as given.
    #[error("{}: cannot write: {source}", path.display())]
    Unwritable {
        /// The target file.
        path: PathBuf,
        /// Why.
        #[source]
        source: WriteProblem,
    },
    /// Writing the file failed (the previous file, if any, is left as it was).
    #[error(transparent)]
    Write(#[from] tfkd_io::IoError),
}

/// The container around the pickles is not what `torch.save` writes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatProblem {
    /// The oldest torch format (a tar archive, torch < 0.1.10).
    #[error("a tar-format checkpoint (torch < 0.1.10) is not supported; load it with an old torch and save it again")]
    TarFormat,
    /// Neither a zip archive nor the legacy format's magic number.
    #[error("not a torch.save file: neither a zip archive nor the legacy format's magic number")]
    NotTorch,
    /// The zip archive has no `<prefix>/data.pkl`.
    #[error("the zip archive has no <folder>/data.pkl (entries: {entries})")]
    NoDataPkl {
        /// The first few entry names.
        entries: String,
    },
    /// Entries under more than one top folder.
    #[error("entries under two top folders: '{first}' and '{other}'")]
    MixedPrefixes {
        /// The first entry's top folder.
        first: String,
        /// An entry under another one.
        other: String,
    },
    /// The `byteorder` record holds neither `little` nor `big`.
    #[error("byteorder record is {0:?}, not \"little\" or \"big\"")]
    ByteOrder(String),
    /// A storage the pickle refers to has no record.
    #[error("storage '{key}' is referenced but the file has no data for it")]
    MissingStorage {
        /// The storage's key.
        key: String,
    },
    /// A storage's bytes disagree with the element count its reference states.
    #[error("storage '{key}' holds {bytes} bytes, but is referenced as {numel} elements of {dtype}")]
    StorageLength {
        /// The storage's key.
        key: String,
        /// The element type it is referenced with.
        dtype: DType,
        /// The element count stated.
        numel: u64,
        /// The bytes present.
        bytes: u64,
    },
    /// One storage referenced with two element types.
    #[error("storage '{key}' is referenced as both {first} and {second}")]
    StorageDType {
        /// The storage's key.
        key: String,
        /// One type.
        first: DType,
        /// The other.
        second: DType,
    },
    /// The legacy format's header pickles are not what torch writes.
    #[error("legacy format: {0}")]
    LegacyHeader(String),
    /// The legacy format from a big-endian machine.
    #[error("legacy format written on a big-endian machine: not supported; save it again with torch >= 1.6")]
    LegacyBigEndian,
    /// The legacy format's storage section ends early.
    #[error("legacy format: storage '{key}' is cut short (the file ends inside it)")]
    LegacyTruncated {
        /// The storage being read.
        key: String,
    },
}

/// A malformed pickle, or one that asks for more than rebuilding a state dict.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("at byte {at}: {kind}")]
pub struct PickleError {
    /// Offset of the opcode in the pickle.
    pub at: usize,
    /// What is wrong.
    pub kind: PickleProblem,
}

/// What is wrong in a pickle.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PickleProblem {
    /// The data ends before the opcode's argument or before STOP.
    #[error("the pickle ends early (inside {0})")]
    Truncated(&'static str),
    /// An opcode torch does not write for state dicts.
    #[error("unsupported pickle opcode 0x{0:02x}")]
    UnknownOpcode(u8),
    /// A pickle protocol newer than 5.
    #[error("unsupported pickle protocol {0}")]
    Protocol(u8),
    /// A global other than the few torch needs for tensors; it is never imported or run.
    #[error(
        "the pickle refers to '{0}', which tfkd-pth does not allow: it rebuilds only tensors, storages and \
         ordered dicts and never runs other code (save a plain state_dict() instead)"
    )]
    Global(String),
    /// An opcode needs more stack than there is.
    #[error("{0} on an empty stack")]
    StackUnderflow(&'static str),
    /// An opcode that needs a MARK found none.
    #[error("{0} without a MARK")]
    NoMark(&'static str),
    /// A memo lookup of an index never stored.
    #[error("memo entry {0} was never stored")]
    Memo(u32),
    /// An operand of the wrong kind.
    #[error("{op} expects {expected}, found {found}")]
    WrongType {
        /// The opcode or call.
        op: &'static str,
        /// What it needs.
        expected: &'static str,
        /// What it got.
        found: &'static str,
    },
    /// A call with arguments torch never passes.
    #[error("{callee}: {detail}")]
    BadCall {
        /// The function called.
        callee: &'static str,
        /// What is wrong with the arguments.
        detail: String,
    },
    /// A dict key Python could not hash (a list or dict).
    #[error("a {0} used as a dict key")]
    Unhashable(&'static str),
    /// An integer wider than 128 bits.
    #[error("an integer of {0} bytes (more than 16)")]
    IntTooWide(usize),
    /// A string that is not UTF-8.
    #[error("a string that is not valid UTF-8")]
    Utf8,
    /// A persistent id that is not torch's `('storage', type, key, location, numel[, view])`.
    #[error("persistent id: {0}")]
    PersistentId(String),
    /// An object is modified while it is being read (a self-referencing structure).
    #[error("an object is modified while it is in use (self-referencing structure)")]
    SelfReference,
    /// The value nests deeper than this reader follows.
    #[error("objects nest deeper than {0} levels")]
    TooDeep(usize),
}

/// A tensor's view that cannot be taken from its storage.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ViewProblem {
    /// Size and stride have different lengths.
    #[error("size has {size} dimensions but stride has {stride}")]
    Rank {
        /// Dimensions in size.
        size: usize,
        /// Dimensions in stride.
        stride: usize,
    },
    /// A size, stride or offset that is negative or too large.
    #[error("{what} {value} is not a valid non-negative index")]
    BadIndex {
        /// Which field.
        what: &'static str,
        /// Its value.
        value: i128,
    },
    /// The view reaches past the end of its storage.
    #[error(
        "the view (offset {offset}, size {size:?}, stride {stride:?}) needs element {needs} of a storage of {numel}"
    )]
    OutOfBounds {
        /// Storage offset.
        offset: usize,
        /// Sizes.
        size: Vec<usize>,
        /// Strides.
        stride: Vec<usize>,
        /// The largest element index it reads (or `usize::MAX` if that overflows).
        needs: usize,
        /// Elements in the storage.
        numel: usize,
    },
    /// A view that repeats elements (stride 0) into more memory than this reader allocates.
    #[error("the view repeats its storage into {bytes} bytes, more than the {limit} allowed")]
    TooLarge {
        /// Bytes it would take.
        bytes: u128,
        /// The limit.
        limit: u64,
    },
}

/// The file's object is not a state dict, nor a checkpoint that holds one.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LayoutProblem {
    /// The top-level object is not a dict.
    #[error("the file holds a {0}, not a dict of tensors")]
    NotADict(&'static str),
    /// A dict with no tensors, and none of the checkpoint keys that would hold them.
    #[error(
        "a dict with keys {keys} and no tensors; a checkpoint's state dict is looked for under \
         'state_dict', 'model', 'model_state_dict' and 'net'"
    )]
    NoTensors {
        /// Its first keys, quoted.
        keys: String,
    },
    /// A key that is not a string.
    #[error("a key of type {0} (state dict keys are strings)")]
    NonStringKey(&'static str),
    /// An entry that is not a tensor, in the dict chosen as the state dict.
    #[error("entry '{key}'{within} is a {found}, not a tensor")]
    NotATensor {
        /// The entry's key.
        key: String,
        /// ` (under 'state_dict')` when the dict came from a checkpoint key, else empty.
        within: String,
        /// What it is.
        found: &'static str,
    },
}

/// Why a state dict cannot be written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WriteProblem {
    /// A tensor whose bytes do not fit its dtype and shape.
    #[error("tensor '{name}': {source}")]
    Tensor {
        /// The tensor's name.
        name: String,
        /// What is wrong.
        #[source]
        source: TensorError,
    },
    /// Two tensors with one name (a dict keeps only one).
    #[error("two tensors are named '{0}'")]
    DuplicateName(String),
    /// Beyond the zip format without its 64-bit extensions (4 GiB, 65535 entries), which this writer omits.
    #[error("the archive would need zip64 extensions ({0}); this writer stops at 4 GiB and 65535 entries")]
    TooLarge(String),
}

/// A tensor's bytes that do not match its dtype and shape, or a conversion its dtype does not allow.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TensorError {
    /// The data's length is not `numel × size_of(dtype)`.
    #[error("{dtype} of shape {shape:?} needs {} bytes, the data has {actual}",
        expected.map_or_else(|| "more than usize::MAX".to_string(), |e| e.to_string()))]
    Length {
        /// Element type.
        dtype: DType,
        /// Shape.
        shape: Vec<usize>,
        /// Bytes needed (`None` if that overflows).
        expected: Option<usize>,
        /// Bytes present.
        actual: usize,
    },
    /// A conversion that does not apply to this dtype.
    #[error("a {dtype} tensor cannot be read as {wanted}")]
    WrongDType {
        /// The tensor's dtype.
        dtype: DType,
        /// What was asked for.
        wanted: &'static str,
    },
    /// Renaming that would give two tensors one name.
    #[error("stripping the prefix would give two tensors the name '{0}'")]
    NameClash(String),
}
