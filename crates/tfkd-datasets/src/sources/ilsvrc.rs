//! ILSVRC-2012 (ImageNet-1k) as users keep it, indexed — never decoded up front — into [`EncodedSplit`]s.
//!
//! Layouts, each split found independently under the source's folder (or under its `ILSVRC/Data/CLS-LOC/`, as
//! Kaggle's download unpacks):
//! * train: `train/<wnid>/*.JPEG`, or the official `ILSVRC2012_img_train.tar` (one `<wnid>.tar` per class).
//! * val: `val/<wnid>/*.JPEG` (sorted), or flat `val/*.JPEG`, or the official flat `ILSVRC2012_img_val.tar`; the
//!   flat ones are labelled by Kaggle's `LOC_val_solution.csv`, in the source's folder or beside `val/`.
//! * `LOC_synset_mapping.txt`, where present, gives the classes' descriptions.
//!
//! Classes are the train wnids sorted, as torchvision's ImageFolder orders them, so label i is output i of
//! torchvision's pretrained models; images are in (label, file name) order in every layout. The index is
//! cached ([`index_cache`]) under the source's content hash: names, sizes and modification times of the files
//! read, or of the archives themselves.

mod archive;
mod folder;
mod index_cache;
mod labels;

use std::{
    collections::{BTreeMap, BTreeSet},
    ffi::OsStr,
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};

use crate::{
    digest::hex,
    encoded::{display_name, EncodedDataset, EncodedSplit, ImageRef, Store},
    error::{DataError, Result},
};
use folder::Listed;

/// The source's name in specs and messages.
const NAME: &str = "imagenet";

/// Bytes read from the start of every image to check it is one.
const HEAD: usize = 8;

/// Bytes read from the end of every image to check it is whole: a PNG's last chunk (`IEND` and its CRC) is 12.
const TAIL: usize = 12;

/// How to get ImageNet, for the message when it is not there.
const HOW: &str = "tfkd cannot download ImageNet: ILSVRC-2012 is distributed only under a licence from image-net.org \
    (sign up there and download ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar, or take Kaggle's \"ImageNet \
    Object Localization Challenge\" download). Put it in data/imagenet — the two tars as they are, or train/<wnid>/*.JPEG \
    and val/ (sorted into val/<wnid>/, or flat beside Kaggle's LOC_val_solution.csv) — or set TFKD_IMAGENET to \
    where it is";

/// Where one split is kept.
#[derive(Debug, Clone)]
enum Part {
    Folder(PathBuf),
    Archive(PathBuf),
}

impl Part {
    fn store(&self) -> Store {
        match self {
            Part::Folder(p) => Store::Folder(p.clone()),
            Part::Archive(p) => Store::Archive(p.clone()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Part::Folder(p) => format!("the folder {}", p.display()),
            Part::Archive(p) => format!("the archive {}", p.display()),
        }
    }
}

/// A located source: where train and val are, and its label files.
#[derive(Debug)]
struct Found {
    train: Part,
    val: Part,
    solution: Option<PathBuf>,
    mapping: Option<PathBuf>,
}

/// A located source with its folder splits listed and its content hash.
#[derive(Debug)]
struct Scan {
    found: Found,
    /// The listed files of the folder splits (train, val); empty for archives.
    listed: [Vec<Listed>; 2],
    /// Whether val is labelled by `LOC_val_solution.csv` (flat folder or archive).
    flat_val: bool,
    hash: String,
}

/// The error for a folder or archive not laid out as ILSVRC-2012.
fn layout_error(path: &Path, expected: &str, found: String) -> DataError {
    DataError::Layout { source_name: NAME, path: path.to_path_buf(), expected: expected.into(), found }
}

/// Size and modification time (nanoseconds since the epoch; 0 where unknown) of a file.
fn stamp(meta: &std::fs::Metadata) -> (u64, u128) {
    let mtime =
        meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    (meta.len(), mtime)
}

/// A path component as UTF-8 without control characters (the index stores names as text lines).
fn utf8_name<'a>(part: &'a OsStr, path: &Path) -> Result<&'a str> {
    part.to_str().filter(|s| !s.contains(char::is_control)).ok_or_else(|| DataError::Image {
        path: path.to_path_buf(),
        detail: "its name is not UTF-8 or holds a control character (tab, line break, …), which tfkd's index \
                 cannot hold: rename it"
            .into(),
    })
}

/// Checks that `head` (the first bytes of the image at `path`) starts as a JPEG or PNG does.
fn check_magic(head: &[u8], path: &Path) -> Result<()> {
    if head.starts_with(crate::decode::JPEG_START) || head.starts_with(crate::decode::PNG_SIGNATURE) {
        return Ok(());
    }
    let detail = if head.is_empty() {
        "is empty, not an image".to_string()
    } else {
        let bytes: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "is not an image: it starts with the bytes {} where a JPEG starts ff d8 ff and a PNG 89 50 4e 47",
            bytes.join(" ")
        )
    };
    Err(DataError::Image { path: path.to_path_buf(), detail: format!("{detail}; replace it with a good copy") })
}

/// Whether an image that starts with `head` ends as a whole one does: a JPEG with its end-of-image marker
/// (`ff d9`), a PNG with its `IEND` chunk. Anything else (a cut file, or bytes after the end) is decoded in
/// full by [`check_whole`] before it is trusted.
fn ends_whole(head: &[u8], tail: &[u8]) -> bool {
    const IEND: [u8; 12] = [0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82];
    if head.starts_with(&[0xff, 0xd8]) {
        tail.ends_with(&[0xff, 0xd9])
    } else {
        tail.ends_with(&IEND)
    }
}

/// Checks an image whose end is not a whole one's ([`ends_whole`]) by decoding it as training will: a
/// truncated or damaged file fails now, while the dataset is indexed, naming itself, and not hours into a run.
/// `read` gives its bytes.
fn check_whole(head: &[u8], tail: &[u8], path: &Path, read: impl FnOnce() -> Result<Vec<u8>>) -> Result<()> {
    if ends_whole(head, tail) {
        return Ok(());
    }
    match crate::decode::decode_rgb(&read()?, path) {
        Ok(_) => Ok(()),
        Err(DataError::Image { path, detail }) => {
            Err(DataError::Image { path, detail: format!("{detail}; replace it with a good copy") })
        }
        Err(e) => Err(e),
    }
}

/// Finds train and val (folders or archives) and the label files under `root`.
fn locate(root: &Path) -> Result<Found> {
    let missing = |looked_for: &str| DataError::Missing {
        source_name: NAME,
        looked_for: looked_for.into(),
        where_: root.to_path_buf(),
        how: HOW.into(),
    };
    if root.is_file() {
        return Err(layout_error(root, "a folder holding train/ and val/ or the ILSVRC-2012 tars", "a file".into()));
    }
    if !root.is_dir() {
        return Err(missing("train/<wnid>/*.JPEG and val/, or ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar"));
    }
    let kaggle = root.join("ILSVRC").join("Data").join("CLS-LOC");
    let base = if !root.join("train").is_dir() && !root.join("val").is_dir() && kaggle.is_dir() {
        kaggle
    } else {
        root.to_path_buf()
    };
    let part = |dir: &str, tar: &str| {
        if base.join(dir).is_dir() {
            Some(Part::Folder(base.join(dir)))
        } else {
            Some(root.join(tar)).filter(|p| p.is_file()).map(Part::Archive)
        }
    };
    let train = part("train", "ILSVRC2012_img_train.tar")
        .ok_or_else(|| missing("train/<wnid>/*.JPEG or ILSVRC2012_img_train.tar"))?;
    let val = part("val", "ILSVRC2012_img_val.tar").ok_or_else(|| missing("val/ or ILSVRC2012_img_val.tar"))?;
    let file = |name: &str| [root.join(name), base.join(name)].into_iter().find(|p| p.is_file());
    Ok(Found { train, val, solution: file("LOC_val_solution.csv"), mapping: file("LOC_synset_mapping.txt") })
}

/// Locates the source, lists its folder splits and hashes what will be read.
fn scan(root: &Path) -> Result<Scan> {
    let found = locate(root)?;
    let list = |part: &Part, split: &str| match part {
        Part::Folder(dir) => folder::list_split(dir, split),
        Part::Archive(_) => Ok(Vec::new()),
    };
    let listed = [list(&found.train, "train")?, list(&found.val, "val")?];
    let flat_val = match &found.val {
        Part::Archive(_) => true,
        Part::Folder(_) => listed[1].iter().any(|l| l.class.is_none()),
    };
    if flat_val && found.solution.is_none() {
        let val = found.val.describe();
        return Err(DataError::Missing {
            source_name: NAME,
            looked_for: format!("LOC_val_solution.csv, the labels of the flat validation images in {val}"),
            where_: root.to_path_buf(),
            how: "take LOC_val_solution.csv from Kaggle's \"ImageNet Object Localization Challenge\" download and put \
                  it in this folder or beside val/, or sort val/ into val/<wnid>/ folders"
                .into(),
        });
    }
    let mut h = Sha256::new();
    h.update("tfkd imagenet index 1\n");
    for (split, part, files) in [("train", &found.train, &listed[0]), ("val", &found.val, &listed[1])] {
        match part {
            Part::Folder(_) => {
                h.update(format!("{split} folder {}\n", files.len()));
                for l in files {
                    h.update(format!("{}\0{}\0{}\n", l.rel, l.size, l.mtime));
                }
            }
            Part::Archive(p) => h.update(format!("{split} archive {}\n", file_stamp(p)?)),
        }
    }
    let labels = [found.solution.as_ref().filter(|_| flat_val), found.mapping.as_ref()];
    for p in labels.into_iter().flatten() {
        h.update(format!("label file {}\n", file_stamp(p)?));
    }
    Ok(Scan { found, listed, flat_val, hash: hex(&h.finalize()) })
}

fn file_stamp(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(crate::error::io(path))?;
    let (size, mtime) = stamp(&meta);
    Ok(format!("{}\0{size}\0{mtime}", path.file_name().unwrap_or_default().to_string_lossy()))
}

/// The content hash of the ImageNet source at `root`: sha256 over the names, sizes and modification times of
/// the images in its folders, of its archives, and of the label files it reads.
pub(crate) fn content_hash(root: &Path) -> Result<String> {
    Ok(scan(root)?.hash)
}

/// Loads the ImageNet source at `root` through the index cache in `cache_dir`.
pub(crate) fn load(root: &Path, cache_dir: &Path) -> Result<EncodedDataset> {
    let scan = scan(root)?;
    let path = index_cache::path_for(cache_dir, &scan.hash);
    match index_cache::load(&path, [scan.found.train.store(), scan.found.val.store()])? {
        index_cache::Cached::Ready(mut ds) if ds.content_hash == scan.hash => {
            // A copy of the source (same names, sizes and times) shares the index: say where this one is.
            ds.layout = describe(&scan, ds.classes.len());
            return Ok(*ds);
        }
        index_cache::Cached::Ready(_) => crate::progress::notice(&format!(
            "{}: indexed from another copy of the source; indexing this one again",
            path.display()
        )),
        index_cache::Cached::Unusable(e) => crate::progress::notice(&e.to_string()),
        index_cache::Cached::Absent => {}
    }
    let ds = index(&scan)?;
    index_cache::store(&ds, &path)?;
    Ok(ds)
}

/// Where the scanned source's splits and labels are read from, for `data inspect`'s `read from:` line.
fn describe(scan: &Scan, classes: usize) -> String {
    let labels = match (&scan.found.solution, scan.flat_val) {
        (Some(p), true) => format!(" labelled by {}", p.display()),
        _ => " (sorted by class)".into(),
    };
    format!(
        "ILSVRC-2012: train from {} ({classes} classes), val from {}{labels}",
        scan.found.train.describe(),
        scan.found.val.describe()
    )
}

/// An image found while indexing: class, name in its store, offset and length.
type Entry = (Option<String>, String, u64, u64);

/// The images of one split, read from its folder listing (checked to be images) or indexed in its archive.
fn entries(part: &Part, listed: &[Listed], split: &str) -> Result<Vec<Entry>> {
    Ok(match part {
        Part::Folder(dir) => {
            folder::check_images(dir, listed, split)?;
            listed.iter().map(|l| (l.class.clone(), l.rel.clone(), 0, l.size)).collect()
        }
        Part::Archive(tar) => {
            let members = if split == "train" { archive::index_train(tar)? } else { archive::index_val(tar)? };
            let mut out = Vec::with_capacity(members.len());
            for m in members {
                utf8_name(OsStr::new(&m.name), &PathBuf::from(format!("{}!{}", tar.display(), m.name)))?;
                out.push((m.class, m.name, m.offset, m.len));
            }
            out
        }
    })
}

/// Indexes the scanned source: classes, labelled and ordered image references, descriptions, layout.
fn index(scan: &Scan) -> Result<EncodedDataset> {
    let found = &scan.found;
    let train = entries(&found.train, &scan.listed[0], "train")?;
    let classes: Vec<String> = train.iter().filter_map(|e| e.0.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let train =
        train.into_iter().map(|e| (e.0.as_deref().and_then(|c| label_of(&classes, c)).unwrap_or(0), e)).collect();
    let solution = match (&found.solution, scan.flat_val) {
        (Some(p), true) => Some((p.as_path(), labels::read_solution(p)?)),
        _ => None,
    };
    let val = entries(&found.val, &scan.listed[1], "val")?;
    let val = label_val(&found.val, val, &classes, solution.as_ref().map(|(p, s)| (*p, s)))?;
    let descriptions = match &found.mapping {
        Some(p) => {
            let m = labels::read_mapping(p)?;
            classes.iter().map(|c| m.get(c).cloned().unwrap_or_default()).collect()
        }
        None => vec![String::new(); classes.len()],
    };
    let layout = describe(scan, classes.len());
    Ok(EncodedDataset {
        name: NAME.into(),
        train: split(found.train.store(), train),
        test: split(found.val.store(), val),
        descriptions,
        classes,
        content_hash: scan.hash.clone(),
        layout,
    })
}

fn label_of(classes: &[String], class: &str) -> Option<u16> {
    classes.binary_search_by(|c| c.as_str().cmp(class)).ok().map(|l| l as u16)
}

/// Labels the validation images: by their class folder, or by `solution` (`LOC_val_solution.csv`: its path and
/// file stem → wnid) for flat ones. An image the file does not list, a line without its image, and a wnid that
/// is not a train class are errors naming them.
fn label_val(
    val: &Part,
    images: Vec<Entry>,
    classes: &[String],
    solution: Option<(&Path, &BTreeMap<String, String>)>,
) -> Result<Vec<(u16, Entry)>> {
    let store = val.store();
    let mut unlisted: BTreeSet<&str> = solution.iter().flat_map(|(_, s)| s.keys().map(String::as_str)).collect();
    let mut out = Vec::with_capacity(images.len());
    for e in images {
        let name = display_name(&store, &e.1);
        let wnid = match (&e.0, solution) {
            (Some(class), _) => class.clone(),
            (None, Some((csv, sol))) => {
                let file = e.1.rsplit(['/', '!']).next().unwrap_or(&e.1);
                let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
                unlisted.remove(stem);
                let listed = || format!("every validation image listed in {}", csv.display());
                sol.get(stem)
                    .cloned()
                    .ok_or_else(|| layout_error(&name, &listed(), "an image it does not list".into()))?
            }
            (None, None) => return Err(layout_error(&name, "val/<wnid>/<image>", "an unlabelled image".into())),
        };
        let label = label_of(classes, &wnid).ok_or_else(|| {
            let found = format!("an image of class {wnid}, which has no train images");
            layout_error(&name, "validation images of the train classes only", found)
        })?;
        out.push((label, e));
    }
    if let (Some(first), Some((csv, _))) = (unlisted.iter().next(), solution) {
        return Err(layout_error(
            csv,
            &format!("an image in {} for every line", val.describe()),
            format!("{} listed images missing, such as {first}", unlisted.len()),
        ));
    }
    Ok(out)
}

/// A split of labelled entries in (label, folder, file name) order — torchvision's ImageFolder order.
fn split(store: Store, mut images: Vec<(u16, Entry)>) -> EncodedSplit {
    fn key(name: &str) -> (&str, &str) {
        name.rsplit_once(['/', '!']).unwrap_or(("", name))
    }
    images.sort_by(|(la, a), (lb, b)| la.cmp(lb).then_with(|| key(&a.1).cmp(&key(&b.1))));
    let labels = images.iter().map(|(l, _)| *l).collect();
    let refs =
        images.into_iter().map(|(_, (_, name, offset, len))| ImageRef { name: name.into(), offset, len }).collect();
    EncodedSplit::new(store, refs, labels)
}
