//! ILSVRC-2012 splits kept as folders: `train/<wnid>/*.JPEG`, and `val/` sorted into `val/<wnid>/*.JPEG` or flat.

use std::{
    io::Read,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

use rayon::prelude::*;

use super::{check_magic, check_whole, layout_error, stamp, utf8_name, HEAD, TAIL};
use crate::{
    error::{io, DataError, Result},
    progress::Task,
};

/// One image file found in a split folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Listed {
    /// Its class folder (`None`: directly in a flat `val/`).
    pub class: Option<String>,
    /// Path relative to the split folder, `/`-separated (`n01440764/n01440764_10026.JPEG`).
    pub rel: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch (0 where the file system has none).
    pub mtime: u128,
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["jpeg", "jpg", "png"].iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn is_hidden(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// The entries of `dir`, sorted, hidden ones (`.DS_Store`, `._x.JPEG`) left out.
fn entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if !is_hidden(&path) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// The device and inode of folder `dir` (through links): what a folder already being walked is known by.
fn folder_id(dir: &Path) -> Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir).map_err(io(dir))?;
    Ok((meta.dev(), meta.ino()))
}

/// Every image file under `dir` (recursively, following links as torchvision's ImageFolder walks), as paths
/// relative to `base`. `within` holds the folders being walked (`dir` and those above it): a link back to one
/// of them is a loop, refused naming the link, where following it would list the same images again and again.
fn walk(
    base: &Path,
    dir: &Path,
    class: Option<&str>,
    within: &mut Vec<(u64, u64)>,
    out: &mut Vec<Listed>,
) -> Result<()> {
    for path in entries(dir)? {
        if path.is_dir() {
            let id = folder_id(&path)?;
            if within.contains(&id) {
                return Err(layout_error(
                    &path,
                    "folders and images, without links back to a folder above them",
                    "a link that loops back to a folder it is in: remove it".into(),
                ));
            }
            within.push(id);
            walk(base, &path, class, within, out)?;
            within.pop();
        } else if is_image(&path) {
            let meta = std::fs::metadata(&path).map_err(io(&path))?;
            let rel = path.strip_prefix(base).unwrap_or(&path);
            let parts: Vec<&str> = rel.iter().map(|p| utf8_name(p, &path)).collect::<Result<_>>()?;
            let (size, mtime) = stamp(&meta);
            out.push(Listed { class: class.map(String::from), rel: parts.join("/"), size, mtime });
        }
    }
    Ok(())
}

/// Lists split folder `dir` (`train` or `val`, named by `split`): class folders, each walked in parallel, or —
/// for `val` only — image files directly in it. Empty class folders, images outside class folders in `train`,
/// and a `val` that mixes both are layout errors naming the path.
pub(super) fn list_split(dir: &Path, split: &str) -> Result<Vec<Listed>> {
    let top = entries(dir)?;
    let classes: Vec<&PathBuf> = top.iter().filter(|p| p.is_dir()).collect();
    let mut flat = Vec::new();
    for path in top.iter().filter(|p| !p.is_dir() && is_image(p)) {
        walk_one(path, &mut flat)?;
    }
    if let (Some(image), false) = (flat.first(), classes.is_empty() && split == "val") {
        let found = if split == "train" {
            format!("the image {} outside any class folder", dir.join(&image.rel).display())
        } else {
            format!("both class folders (such as {}) and images (such as {})", classes[0].display(), image.rel)
        };
        return Err(layout_error(dir, &format!("{split}/<wnid>/<image>"), found));
    }
    if !flat.is_empty() {
        return Ok(flat);
    }
    let task = Task::new(&format!("listing imagenet {split}/"), Some(classes.len() as u64));
    let listed: Vec<Vec<Listed>> = classes
        .par_iter()
        .map(|class_dir| {
            let class = utf8_name(class_dir.file_name().unwrap_or_default(), class_dir)?;
            let mut files = Vec::new();
            walk(dir, class_dir, Some(class), &mut vec![folder_id(dir)?, folder_id(class_dir)?], &mut files)?;
            if files.is_empty() {
                return Err(layout_error(
                    class_dir,
                    "JPEG or PNG images in every class folder",
                    "an empty class folder".into(),
                ));
            }
            task.inc(1);
            Ok(files)
        })
        .collect::<Result<_>>()?;
    Ok(listed.into_iter().flatten().collect())
}

/// Lists the image `path` directly in a split folder (a flat `val/`).
fn walk_one(path: &Path, out: &mut Vec<Listed>) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(io(path))?;
    let (size, mtime) = stamp(&meta);
    let rel = utf8_name(path.file_name().unwrap_or_default(), path)?.to_string();
    out.push(Listed { class: None, rel, size, mtime });
    Ok(())
}

/// Checks that every listed file of split folder `dir` starts as a JPEG or PNG does and ends as a whole one
/// does (in parallel; reads a few bytes at each end, and decodes the few that do not end so), so a stray, cut
/// or damaged file fails now, naming itself, and not hours into training.
pub(super) fn check_images(dir: &Path, listed: &[Listed], split: &str) -> Result<()> {
    let task = Task::new(&format!("checking imagenet {split}/ images"), Some(listed.len() as u64));
    listed.par_iter().try_for_each(|l| {
        let path = dir.join(&l.rel);
        let mut head = [0u8; HEAD];
        let mut f = std::fs::File::open(&path).map_err(io(&path))?;
        let mut n = 0;
        while n < HEAD {
            match f.read(&mut head[n..]).map_err(io(&path))? {
                0 => break,
                k => n += k,
            }
        }
        check_magic(&head[..n], &path)?;
        let mut tail = vec![0u8; TAIL.min(l.size as usize)];
        let from = l.size - tail.len() as u64;
        f.read_exact_at(&mut tail, from).map_err(io(&path))?;
        check_whole(&head[..n], &tail, &path, || std::fs::read(&path).map_err(io(&path)))?;
        task.inc(1);
        Ok::<_, DataError>(())
    })
}
