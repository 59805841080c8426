//! Splits of encoded images, read and decoded per batch: ImageNet's 1.28 M images cannot be decoded up front,
//! so its splits hold *references* — a file, or a byte range in an uncompressed tar — and the loader reads,
//! decodes and transforms each image when its batch is assembled ([`crate::loader`]).

use std::{
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
};

use crate::{
    error::{io, DataError, Result},
    split::{label_histogram, stratified_indices},
};

/// Where the images of one split are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// Files under this folder; image names are paths relative to it.
    Folder(PathBuf),
    /// Members of this uncompressed tar, read by byte offset; image names are member paths, nested tars
    /// joined by `!` (`n01440764.tar!n01440764_10026.JPEG`).
    Archive(PathBuf),
}

/// One encoded image: its name in the [`Store`] and where its bytes lie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Path relative to the folder, or member path in the archive.
    pub(crate) name: Box<str>,
    /// Byte offset of the image in the archive (0 for files).
    pub(crate) offset: u64,
    /// Length of the encoded image in bytes (a file's size when it was indexed).
    pub(crate) len: u64,
}

/// The name for messages of the image `name` in `store`: its path, or `archive!member`.
pub(crate) fn display_name(store: &Store, name: &str) -> PathBuf {
    match store {
        Store::Folder(dir) => dir.join(name),
        Store::Archive(tar) => PathBuf::from(format!("{}!{name}", tar.display())),
    }
}

/// The images of one split as references to their encoded bytes, with their labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSplit {
    store: Store,
    refs: Vec<ImageRef>,
    /// One label per image, in `0..classes`.
    pub labels: Vec<u16>,
}

/// An ImageNet-style dataset whose images stay encoded: class names and train and test [`EncodedSplit`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedDataset {
    /// The source's name in specs (`imagenet`).
    pub name: String,
    /// Class names (the wnids, sorted, as torchvision's ImageFolder orders them); label i is `classes[i]`.
    pub classes: Vec<String>,
    /// What each class is, from `LOC_synset_mapping.txt` where the source has one (else empty strings).
    pub descriptions: Vec<String>,
    /// The training split.
    pub train: EncodedSplit,
    /// The test split: ILSVRC-2012's validation set, on which the official ImageNet script evaluates
    /// (docs/paper.md §4.4).
    pub test: EncodedSplit,
    /// Hex digest identifying the source's content (names, sizes and modification times); keys the index cache.
    pub content_hash: String,
    /// The layout it was read from, in words.
    pub layout: String,
}

impl EncodedSplit {
    /// A split of the images `refs` in `store`, labelled `labels` (one each).
    pub(crate) fn new(store: Store, refs: Vec<ImageRef>, labels: Vec<u16>) -> Self {
        debug_assert_eq!(refs.len(), labels.len());
        EncodedSplit { store, refs, labels }
    }

    /// Where the images are kept.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Number of images.
    #[must_use]
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The references, in split order (crate-internal: the index cache writes them).
    pub(crate) fn refs(&self) -> &[ImageRef] {
        &self.refs
    }

    /// Image `i`'s name for messages: its path, or `archive!member`.
    #[must_use]
    pub fn name(&self, i: usize) -> PathBuf {
        display_name(&self.store, &self.refs[i].name)
    }

    /// Image `i`'s file name without folders or enclosing tars (`n01440764_10026.JPEG`): the same in every
    /// layout of the same data.
    #[must_use]
    pub fn file_name(&self, i: usize) -> &str {
        let name = &*self.refs[i].name;
        name.rsplit(['/', '!']).next().unwrap_or(name)
    }

    /// Length of image `i`'s encoded bytes.
    #[must_use]
    pub fn encoded_len(&self, i: usize) -> u64 {
        self.refs[i].len
    }

    /// Reads image `i`'s encoded bytes (a file read, or one seek and read in the archive). The error names
    /// the image; a file whose size changed since it was indexed is an error, never a silently different image.
    pub fn bytes(&self, i: usize) -> Result<Vec<u8>> {
        let r = &self.refs[i];
        let name = || self.name(i);
        let bytes = match &self.store {
            Store::Folder(dir) => std::fs::read(dir.join(&*r.name)).map_err(io(name()))?,
            Store::Archive(tar) => {
                let mut f = std::fs::File::open(tar).map_err(io(tar))?;
                let mut buf = vec![0u8; usize::try_from(r.len).unwrap_or(usize::MAX)];
                f.seek(SeekFrom::Start(r.offset)).and_then(|_| f.read_exact(&mut buf)).map_err(io(name()))?;
                buf
            }
        };
        if bytes.len() as u64 != r.len {
            return Err(DataError::Image {
                path: name(),
                detail: format!(
                    "has {} bytes but had {} when the dataset was indexed: the data changed while in use; restart \
                     to index it again",
                    bytes.len(),
                    r.len
                ),
            });
        }
        Ok(bytes)
    }

    /// The images at `indices`, in that order.
    #[must_use]
    pub fn select(&self, indices: &[usize]) -> EncodedSplit {
        EncodedSplit {
            store: self.store.clone(),
            refs: indices.iter().map(|&i| self.refs[i].clone()).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    /// Splits off a seeded, stratified sample of `n` images: returns `(sample, rest)`, with exactly the pick
    /// [`crate::Split::stratified`] makes for the same labels, seed and purpose.
    pub fn stratified(&self, n: usize, seed: u64, purpose: &str) -> Result<(EncodedSplit, EncodedSplit)> {
        let (sample, rest) = stratified_indices(&self.labels, n, seed, purpose)?;
        Ok((self.select(&sample), self.select(&rest)))
    }

    /// Images per class, for `classes` classes.
    #[must_use]
    pub fn histogram(&self, classes: usize) -> Vec<usize> {
        label_histogram(&self.labels, classes)
    }
}

impl Store {
    /// The folder or archive.
    #[must_use]
    pub fn path(&self) -> &Path {
        match self {
            Store::Folder(p) | Store::Archive(p) => p,
        }
    }
}

/// What an encoded image's header says: format, colour layout and size, read without decoding it (for
/// `tfkd data inspect`, which reports the colour modes a dataset holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageKind {
    /// The format, recognised by content (not by the file's name).
    pub format: ImageFormat,
    /// The colour layout.
    pub colour: Colour,
    /// Width and height in pixels.
    pub size: [u32; 2],
}

/// An encoded image's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ImageFormat {
    /// JPEG (baseline, progressive or other).
    Jpeg,
    /// PNG.
    Png,
}

/// An encoded image's colour layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Colour {
    /// One channel.
    Grey,
    /// Grey with alpha (PNG).
    GreyAlpha,
    /// Three channels (JPEG's YCbCr or RGB).
    Rgb,
    /// RGB with alpha (PNG).
    Rgba,
    /// A palette (PNG).
    Palette,
    /// Four channels (JPEG's CMYK or YCCK).
    Cmyk,
}

impl std::fmt::Display for ImageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let format = match self.format {
            ImageFormat::Jpeg => "JPEG",
            ImageFormat::Png => "PNG",
        };
        let colour = match self.colour {
            Colour::Grey => "grey",
            Colour::GreyAlpha => "grey+alpha",
            Colour::Rgb => "RGB",
            Colour::Rgba => "RGBA",
            Colour::Palette => "palette",
            Colour::Cmyk => "CMYK",
        };
        write!(f, "{format} {colour}")
    }
}

/// Reads the header of a JPEG or PNG: `None` when `bytes` is neither or its header is cut short or malformed.
#[must_use]
pub fn image_kind(bytes: &[u8]) -> Option<ImageKind> {
    if bytes.starts_with(crate::decode::PNG_SIGNATURE) {
        // The IHDR chunk comes first: width, height, bit depth, colour type.
        let ihdr = bytes.get(8..26).filter(|h| &h[4..8] == b"IHDR")?;
        let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let colour = match ihdr[17] {
            0 => Colour::Grey,
            2 => Colour::Rgb,
            3 => Colour::Palette,
            4 => Colour::GreyAlpha,
            6 => Colour::Rgba,
            _ => return None,
        };
        return Some(ImageKind { format: ImageFormat::Png, colour, size: [be(&ihdr[8..12]), be(&ihdr[12..16])] });
    }
    if !bytes.starts_with(&[0xff, 0xd8]) {
        return None;
    }
    // Walk the marker segments to the first start-of-frame (SOF0–SOF15 but DHT, JPG and DAC).
    let mut at = 2;
    while let (Some(&0xff), Some(&marker)) = (bytes.get(at), bytes.get(at + 1)) {
        if marker == 0xff {
            at += 1; // fill byte
            continue;
        }
        if marker == 0x01 || (0xd0..=0xd7).contains(&marker) {
            at += 2; // no length
            continue;
        }
        if (0xc0..=0xcf).contains(&marker) && ![0xc4, 0xc8, 0xcc].contains(&marker) {
            // Length, precision, height, width, components.
            let sof = bytes.get(at + 4..at + 10)?;
            let (h, w) = (u16::from_be_bytes([sof[1], sof[2]]), u16::from_be_bytes([sof[3], sof[4]]));
            let colour = match sof[5] {
                1 => Colour::Grey,
                3 => Colour::Rgb,
                4 => Colour::Cmyk,
                _ => return None,
            };
            return Some(ImageKind { format: ImageFormat::Jpeg, colour, size: [u32::from(w), u32::from(h)] });
        }
        at += 2 + usize::from(u16::from_be_bytes([*bytes.get(at + 2)?, *bytes.get(at + 3)?]));
    }
    None
}
