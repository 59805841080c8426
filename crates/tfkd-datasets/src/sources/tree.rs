//! Image trees: ImageFolder (`split/<class>/<image>`) in a folder or a `.tar.gz`, and Tiny-ImageNet-200.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Read,
    path::{Path, PathBuf},
};

use rayon::prelude::*;

use crate::{
    decode::{decode_all, Encoded, Target},
    error::{io, DataError, Result},
    split::Split,
    Dataset,
};

const IMAGE_EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "JPEG"];

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Files grouped as split → class → sorted list of (name, bytes).
type Tree = BTreeMap<String, BTreeMap<String, Vec<(PathBuf, Vec<u8>)>>>;

/// Builds a dataset from a tree, labelling classes by the sorted folder names of `train`.
fn from_tree(
    source_name: &'static str,
    root: &Path,
    mut tree: Tree,
    test_split: &[&str],
    target: Target,
    content_hash: String,
) -> Result<Dataset> {
    let layout = |found: String| DataError::Layout {
        source_name,
        path: root.to_path_buf(),
        expected: format!("train/<class>/<image> and {}/<class>/<image>", test_split.join(" or ")),
        found,
    };
    let splits: Vec<String> = tree.keys().cloned().collect();
    let Some(train) = tree.remove("train") else {
        return Err(layout(format!("top-level folders {splits:?}")));
    };
    let Some(test) = test_split.iter().find_map(|s| tree.remove(*s)) else {
        return Err(layout(format!("top-level folders {splits:?}")));
    };
    let classes: Vec<String> = train.keys().cloned().collect();
    for (class, files) in &train {
        if files.is_empty() {
            return Err(layout(format!("an empty class folder train/{class}")));
        }
    }
    if let Some(extra) = test.keys().find(|c| !train.contains_key(*c)) {
        return Err(layout(format!("test class '{extra}' that has no train folder")));
    }
    let decode = |split: BTreeMap<String, Vec<(PathBuf, Vec<u8>)>>, what: &str| -> Result<Split> {
        let mut items = Vec::new();
        for (class, files) in split {
            let label = classes.binary_search(&class).expect("class checked above") as u16;
            items.extend(files.into_iter().map(|(name, bytes)| Encoded { name, bytes, label }));
        }
        let images = decode_all(&items, target, what)?;
        let [h, w] = target.size;
        Ok(Split {
            images,
            labels: items.iter().map(|e| e.label).collect(),
            chw: [target.channels, h, w],
            coarse_labels: None,
        })
    };
    let train = decode(train, "train")?;
    let test = decode(test, "test")?;
    let layout = format!(
        "image files in class folders ({} {})",
        if root.is_file() { "archive" } else { "folder" },
        root.display()
    );
    Ok(Dataset { name: source_name.into(), classes, train, test, content_hash, layout })
}

/// Reads an ImageFolder tree packed in a `.tar.gz` (entries `split/<class>/<image>`, optionally under one top folder).
pub fn load_tar_gz(source_name: &'static str, archive: &Path, target: Target, content_hash: String) -> Result<Dataset> {
    let file = std::fs::File::open(archive).map_err(io(archive))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let fix = match source_name {
        "cifar10-jpeg" => "restore it (`git checkout -- data/cifar10-jpeg.tar.gz` in the repository)".to_string(),
        other => format!("copy the {other} archive again"),
    };
    let broken = super::archive_broken(archive, fix)?;
    let listing = || super::LISTING.to_string();
    let mut tree = Tree::new();
    // Where the last entry listed ends in the unpacked stream: the place a failure to read the next header
    // (after skipping through that entry's data) is reported at.
    let mut reached = 0;
    for entry in tar.entries().map_err(|e| broken(listing(), 0, e))? {
        let mut entry = entry.map_err(|e| broken(listing(), reached, e))?;
        let offset = entry.raw_file_position();
        reached = offset + entry.size();
        let path = entry.path().map_err(|e| broken(listing(), offset, e))?.into_owned();
        if !entry.header().entry_type().is_file() || !is_image(&path) {
            continue;
        }
        let parts: Vec<String> = path.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        let n = parts.len();
        if n < 3 {
            continue;
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| broken(format!("in entry {}", path.display()), offset + bytes.len() as u64, e))?;
        let name = PathBuf::from(format!("{}!{}", archive.display(), path.display()));
        tree.entry(parts[n - 3].clone()).or_default().entry(parts[n - 2].clone()).or_default().push((name, bytes));
    }
    sort_files(&mut tree);
    from_tree(source_name, archive, tree, &["test", "val"], target, content_hash)
}

/// Reads an ImageFolder tree from `root/{train,test|val}/<class>/<image>`.
pub fn load_folder(source_name: &'static str, root: &Path, target: Target, content_hash: String) -> Result<Dataset> {
    if !root.join("train").is_dir() {
        return Err(DataError::Missing {
            source_name,
            looked_for: "train/<class>/<image> and test/<class>/<image> (or val/)".into(),
            where_: root.to_path_buf(),
            how: "point the source at a folder in ImageFolder layout".into(),
        });
    }
    let mut tree = Tree::new();
    for split in ["train", "test", "val"] {
        let dir = root.join(split);
        if !dir.is_dir() {
            continue;
        }
        for class_dir in list_dir(&dir)?.into_iter().filter(|p| p.is_dir()) {
            let class = class_dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
            let files = read_files(list_dir(&class_dir)?.into_iter().filter(|p| is_image(p)).collect())?;
            tree.entry(split.into()).or_default().insert(class, files);
        }
    }
    sort_files(&mut tree);
    from_tree(source_name, root, tree, &["test", "val"], target, content_hash)
}

/// Reads Tiny-ImageNet-200: `wnids.txt`, `train/<wnid>/images/*.JPEG`, `val/images/*.JPEG` with labels from
/// `val/val_annotations.txt`. Labels follow the sorted wnids (as the official code's ImageFolder does);
/// the official `val` set is the test split.
pub fn load_tiny_imagenet(root: &Path, content_hash: String) -> Result<Dataset> {
    let name = "tiny-imagenet";
    let root =
        if root.join("tiny-imagenet-200").is_dir() { root.join("tiny-imagenet-200") } else { root.to_path_buf() };
    let wnids_file = root.join("wnids.txt");
    if !wnids_file.is_file() {
        return Err(DataError::Missing {
            source_name: name,
            looked_for: "wnids.txt, train/<wnid>/images/*.JPEG, val/images/*.JPEG, val/val_annotations.txt".into(),
            where_: root,
            how: "`tfkd data fetch tiny-imagenet` downloads and verifies tiny-imagenet-200.zip".into(),
        });
    }
    let text = std::fs::read_to_string(&wnids_file).map_err(io(&wnids_file))?;
    let wnids: BTreeSet<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    let layout = |expected: &str, found: String| DataError::Layout {
        source_name: name,
        path: root.clone(),
        expected: expected.into(),
        found,
    };
    let mut tree = Tree::new();
    for wnid in &wnids {
        let dir = root.join("train").join(wnid).join("images");
        if !dir.is_dir() {
            return Err(layout(
                "train/<wnid>/images/ for every wnid in wnids.txt",
                format!("no folder {}", dir.display()),
            ));
        }
        let files = read_files(list_dir(&dir)?.into_iter().filter(|p| is_image(p)).collect())?;
        tree.entry("train".into()).or_default().insert(wnid.clone(), files);
    }
    let ann_file = root.join("val").join("val_annotations.txt");
    let ann = std::fs::read_to_string(&ann_file).map_err(io(&ann_file))?;
    let val = tree.entry("val".into()).or_default();
    for (line_no, line) in ann.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let mut cols = line.split('\t');
        let (Some(file), Some(wnid)) = (cols.next(), cols.next()) else {
            return Err(DataError::Corrupt {
                path: ann_file.clone(),
                what: "val_annotations.txt",
                offset: ann.lines().take(line_no).map(|l| l.len() as u64 + 1).sum(),
                detail: format!("line {} has no tab-separated file and wnid", line_no + 1),
            });
        };
        if !wnids.contains(wnid) {
            return Err(layout(
                "val annotations naming wnids from wnids.txt",
                format!("unknown wnid '{wnid}' on line {}", line_no + 1),
            ));
        }
        let path = root.join("val").join("images").join(file);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        val.entry(wnid.into()).or_default().push((path, bytes));
    }
    sort_files(&mut tree);
    let target = Target { channels: 3, size: [64, 64], resize: false };
    from_tree(name, &root, tree, &["val"], target, content_hash)
}

fn list_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(io(dir))?;
    out.sort();
    Ok(out)
}

fn read_files(paths: Vec<PathBuf>) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    paths.into_par_iter().map(|p| std::fs::read(&p).map(|b| (p.clone(), b)).map_err(io(p))).collect()
}

fn sort_files(tree: &mut Tree) {
    for classes in tree.values_mut() {
        for files in classes.values_mut() {
            files.sort_by(|a, b| a.0.cmp(&b.0));
        }
    }
}
