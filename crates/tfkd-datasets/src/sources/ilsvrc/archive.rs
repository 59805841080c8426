//! ILSVRC-2012's official archives read in place: `ILSVRC2012_img_train.tar` (one tar per class inside,
//! `n01440764.tar`, …) and the flat `ILSVRC2012_img_val.tar`. Indexing records each image's byte offset and
//! length in the outer (uncompressed) file, seeking past the image data, so nothing is extracted and the
//! loader reads an image with one seek and one read.

use std::{
    fs::File,
    io::{Read, Seek, SeekFrom},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

use rayon::prelude::*;

use super::{check_magic, check_whole, layout_error, HEAD, TAIL};
use crate::{
    error::{io, DataError, Result},
    progress::Task,
    sources::{archive_broken, LISTING},
};

/// One image member of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Member {
    /// The class: the per-class tar's name without `.tar` (`None` in the flat validation archive).
    pub class: Option<String>,
    /// Member path, nested tars joined by `!` (`n01440764.tar!n01440764_10026.JPEG`).
    pub name: String,
    /// Offset of the image's bytes in the outer archive file.
    pub offset: u64,
    /// Length of the image in bytes.
    pub len: u64,
}

/// A regular-file member of a tar: path, absolute offset of its data, length, and its first bytes.
type Listed = (String, u64, u64, Vec<u8>);

/// A byte range of a file, read as a file of its own: a tar inside a tar.
struct Window {
    file: File,
    start: u64,
    len: u64,
    pos: u64,
}

impl Read for Window {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if n == 0 {
            return Ok(0);
        }
        self.file.seek(SeekFrom::Start(self.start + self.pos))?;
        let k = self.file.read(&mut buf[..n])?;
        self.pos += k as u64;
        Ok(k)
    }
}

impl Seek for Window {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before start"))?;
        Ok(self.pos)
    }
}

/// Lists the regular-file members of a tar read from `reader` (which starts at byte `base` of the file and
/// ends at byte `end`), seeking past their data: (member path, absolute offset, length, first bytes). A member
/// whose data runs past `end` is an error (a truncated archive), not the silent end of the listing.
fn members<R: Read + Seek>(
    reader: R,
    base: u64,
    end: u64,
    at: &dyn Fn(u64, std::io::Error) -> DataError,
) -> Result<Vec<Listed>> {
    let mut tar = tar::Archive::new(reader);
    let mut out = Vec::new();
    for entry in tar.entries_with_seek().map_err(|e| at(base, e))? {
        let mut entry = entry.map_err(|e| at(base, e))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let offset = base + entry.raw_file_position();
        let path = entry.path().map_err(|e| at(offset, e))?.to_string_lossy().into_owned();
        let len = entry.size();
        if offset.saturating_add(len) > end {
            let short = std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the member {path} ends at byte {}, past the end of the data at {end}", offset + len),
            );
            return Err(at(offset, short));
        }
        let mut head = Vec::with_capacity(HEAD);
        entry.by_ref().take(HEAD as u64).read_to_end(&mut head).map_err(|e| at(offset, e))?;
        out.push((path, offset, len, head));
    }
    Ok(out)
}

fn fix(archive: &Path) -> String {
    let name = archive.file_name().unwrap_or_default().to_string_lossy();
    format!("download {name} again from image-net.org (its md5 is published there) or copy it again")
}

fn is_image_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".jpeg", ".jpg", ".png"].iter().any(|x| lower.ends_with(x))
}

/// The image members of one tar, checked to start and end as images do ([`check_whole`]); `prefix` is prepended
/// to their names.
fn images(archive: &Path, list: Vec<Listed>, prefix: &str, class: Option<&str>) -> Result<Vec<Member>> {
    let file = File::open(archive).map_err(io(archive))?;
    let read = |offset: u64, len: u64| {
        let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
        file.read_exact_at(&mut bytes, offset).map_err(io(archive)).map(|()| bytes)
    };
    let mut out = Vec::new();
    for (path, offset, len, head) in list {
        if !is_image_name(&path) {
            continue;
        }
        let name = format!("{prefix}{path}");
        let shown = PathBuf::from(format!("{}!{name}", archive.display()));
        check_magic(&head, &shown)?;
        let tail_len = len.min(TAIL as u64);
        check_whole(&head, &read(offset + len - tail_len, tail_len)?, &shown, || read(offset, len))?;
        out.push(Member { class: class.map(String::from), name, offset, len });
    }
    Ok(out)
}

/// Indexes `ILSVRC2012_img_train.tar`: every member must be a per-class tar `<wnid>.tar` holding that class's
/// images; the per-class tars are indexed in parallel.
pub(super) fn index_train(archive: &Path) -> Result<Vec<Member>> {
    let broken = archive_broken(archive, fix(archive))?;
    let outer = File::open(archive).map_err(io(archive))?;
    let size = outer.metadata().map_err(io(archive))?.len();
    let task = Task::new(&format!("indexing {}", archive.display()), Some(size));
    let listing = members(outer, 0, size, &|offset, e| broken(LISTING.into(), offset, e))?;
    let mut classes = Vec::new();
    for (path, offset, len, _) in listing {
        let Some(class) = path.strip_suffix(".tar").filter(|c| !c.contains('/') && !c.is_empty()) else {
            return Err(layout_error(
                archive,
                "only per-class tars <wnid>.tar as members (the official ILSVRC2012_img_train.tar)",
                format!("the member {path}"),
            ));
        };
        classes.push((class.to_string(), path, offset, len));
    }
    let per_class: Vec<Vec<Member>> = classes
        .par_iter()
        .map(|(class, path, offset, len)| {
            let file = File::open(archive).map_err(io(archive))?;
            let window = Window { file, start: *offset, len: *len, pos: 0 };
            let at = |o: u64, e| broken(format!("in the member {path}"), o, e);
            let found =
                images(archive, members(window, *offset, offset + len, &at)?, &format!("{path}!"), Some(class))?;
            if found.is_empty() {
                let name = PathBuf::from(format!("{}!{path}", archive.display()));
                return Err(layout_error(&name, "JPEG images in every per-class tar", "no images".into()));
            }
            task.inc(*len);
            Ok(found)
        })
        .collect::<Result<_>>()?;
    if per_class.is_empty() {
        return Err(layout_error(archive, "per-class tars <wnid>.tar", "no members".into()));
    }
    Ok(per_class.into_iter().flatten().collect())
}

/// Indexes the flat `ILSVRC2012_img_val.tar`: image members directly in it (their labels come from
/// `LOC_val_solution.csv`).
pub(super) fn index_val(archive: &Path) -> Result<Vec<Member>> {
    let broken = archive_broken(archive, fix(archive))?;
    let file = File::open(archive).map_err(io(archive))?;
    let size = file.metadata().map_err(io(archive))?.len();
    let _task = Task::new(&format!("indexing {}", archive.display()), None);
    let list = members(file, 0, size, &|offset, e| broken(LISTING.into(), offset, e))?;
    let found = images(archive, list, "", None)?;
    if let Some(nested) = found.iter().find(|m| m.name.contains('/')) {
        return Err(layout_error(
            archive,
            "validation images directly in the archive (the official ILSVRC2012_img_val.tar)",
            format!("the member {}", nested.name),
        ));
    }
    if found.is_empty() {
        return Err(layout_error(archive, "JPEG validation images", "no images".into()));
    }
    Ok(found)
}
