//! The data sources tfkd reads, where it looks for them by default, and loading through the decode cache.

use std::{
    io::Read,
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};
use tfkd_names::SourceName;

use crate::{
    cache,
    decode::Target,
    digest::hex,
    error::{io, DataError, Result},
    sources::{cifar, idx, ilsvrc, tree},
    Dataset, EncodedDataset,
};

/// sha256 of the bundled `data/cifar10-jpeg.tar.gz` (data/README.md): the only archive accepted as `cifar10-jpeg`.
pub const CIFAR10_JPEG_SHA256: &str = "45b041e867f5a40f79bfde38d3dd1fd511103d50068c1afecf6445e25234d4db";

/// A dataset source and its location.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// CIFAR-10 binary: a folder or `cifar-10-binary.tar.gz`.
    Cifar10(PathBuf),
    /// CIFAR-100 binary: a folder or `cifar-100-binary.tar.gz`.
    Cifar100(PathBuf),
    /// The bundled CIFAR-10 re-encoded as JPEG q75 (ImageFolder layout in a `.tar.gz`).
    Cifar10Jpeg(PathBuf),
    /// Tiny-ImageNet-200 in its official layout.
    TinyImageNet(PathBuf),
    /// Any `split/<class>/<image>` tree, images brought to `size` (h, w) with `channels` channels.
    ImageFolder {
        /// Root folder (or `.tar.gz`).
        root: PathBuf,
        /// Output height and width; images of another size are resized.
        size: [usize; 2],
        /// 1 or 3.
        channels: usize,
    },
    /// Fashion-MNIST IDX files.
    FashionMnist(PathBuf),
    /// MNIST IDX files.
    Mnist(PathBuf),
    /// ILSVRC-2012 (ImageNet-1k): `train/` and `val/` folders or the official tars. Too large to decode into
    /// memory: read it with [`Source::load_encoded`], whose splits the loader decodes per batch.
    ImageNet(PathBuf),
}

impl Source {
    /// The source's name in specs and reports.
    #[must_use]
    pub fn name(&self) -> SourceName {
        match self {
            Source::Cifar10(_) => SourceName::Cifar10,
            Source::Cifar100(_) => SourceName::Cifar100,
            Source::Cifar10Jpeg(_) => SourceName::Cifar10Jpeg,
            Source::TinyImageNet(_) => SourceName::TinyImagenet,
            Source::ImageFolder { .. } => SourceName::Imagefolder,
            Source::FashionMnist(_) => SourceName::FashionMnist,
            Source::Mnist(_) => SourceName::Mnist,
            Source::ImageNet(_) => SourceName::Imagenet,
        }
    }

    /// The source `name` at `location` (an ImageFolder is read at 32×32 RGB unless resized with [`Source::sized`]).
    #[must_use]
    pub fn at(name: SourceName, location: PathBuf) -> Source {
        match name {
            SourceName::Cifar10 => Source::Cifar10(location),
            SourceName::Cifar100 => Source::Cifar100(location),
            SourceName::Cifar10Jpeg => Source::Cifar10Jpeg(location),
            SourceName::TinyImagenet => Source::TinyImageNet(location),
            SourceName::Imagefolder => Source::ImageFolder { root: location, size: [32, 32], channels: 3 },
            SourceName::FashionMnist => Source::FashionMnist(location),
            SourceName::Mnist => Source::Mnist(location),
            SourceName::Imagenet => Source::ImageNet(location),
        }
    }

    /// The source `name` at its default location under `data_dir` (see [`default_location`]).
    #[must_use]
    pub fn named(name: SourceName, data_dir: &Path) -> Source {
        Source::at(name, default_location(name, data_dir))
    }

    /// An ImageFolder brought to `size` (h, w); other sources are returned unchanged (their size is fixed).
    #[must_use]
    pub fn sized(self, size: [usize; 2]) -> Source {
        match self {
            Source::ImageFolder { root, channels, .. } => Source::ImageFolder { root, size, channels },
            other => other,
        }
    }

    fn location(&self) -> &Path {
        match self {
            Source::Cifar10(p)
            | Source::Cifar100(p)
            | Source::Cifar10Jpeg(p)
            | Source::TinyImageNet(p)
            | Source::FashionMnist(p)
            | Source::Mnist(p)
            | Source::ImageNet(p) => p,
            Source::ImageFolder { root, .. } => root,
        }
    }

    /// A hex digest of the source's content: the sha256 of the file for archives (so `cifar10-jpeg` reports
    /// the archive's published sha256); for folders, sha256 over every file's relative path, size and
    /// modification time (reading every byte of a large tree on each start would defeat the cache).
    /// ImageFolder also mixes in the requested size and channels, which change the decoded pixels, and the
    /// conversion's name. ImageNet
    /// hashes the names, sizes and modification times of the images it reads, or its archives' (see
    /// [`Source::load_encoded`]).
    pub fn content_hash(&self) -> Result<String> {
        let loc = self.location();
        if let Source::ImageNet(root) = self {
            return ilsvrc::content_hash(root);
        }
        let mut h = Sha256::new();
        if let Source::ImageFolder { size, channels, .. } = self {
            // "luma601": grey is Pillow's luma (decode.rs); older caches, made grey with the `image` crate's
            // Rec. 709 luma, are not reused.
            h.update(format!("imagefolder {size:?} {channels} luma601\n"));
        } else if loc.is_file() {
            return sha256_file(loc);
        } else if matches!(self, Source::Cifar10Jpeg(_)) {
            // An archive, not a folder: the reader says what is wrong without walking whatever folder was named.
            self.read(String::new())?;
        }
        if loc.is_file() {
            h.update(sha256_file(loc)?);
        } else if loc.is_dir() {
            let mut files = Vec::new();
            walk(loc, &mut files)?;
            files.sort();
            for f in files {
                let meta = std::fs::metadata(&f).map_err(io(&f))?;
                let mtime = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                h.update(format!("{}\0{}\0{mtime}\n", f.strip_prefix(loc).unwrap_or(&f).display(), meta.len()));
            }
        } else {
            // Let the reader produce its precise "missing" message.
            self.read(String::new())?;
        }
        Ok(hex(&h.finalize()))
    }

    /// Decodes the source without the cache.
    pub fn read(&self, content_hash: String) -> Result<Dataset> {
        let rgb32 = Target { channels: 3, size: [32, 32], resize: false };
        match self {
            Source::Cifar10(p) => cifar::load(cifar::Variant::Cifar10, p, content_hash),
            Source::Cifar100(p) => cifar::load(cifar::Variant::Cifar100, p, content_hash),
            Source::Cifar10Jpeg(p) => {
                check_bundled_archive(p, &content_hash)?;
                tree::load_tar_gz("cifar10-jpeg", p, rgb32, content_hash)
            }
            Source::TinyImageNet(p) => tree::load_tiny_imagenet(p, content_hash),
            Source::ImageFolder { root, size, channels } => {
                let target = Target { channels: *channels, size: *size, resize: true };
                if root.is_file() {
                    tree::load_tar_gz("imagefolder", root, target, content_hash)
                } else {
                    tree::load_folder("imagefolder", root, target, content_hash)
                }
            }
            Source::FashionMnist(p) => idx::load(idx::Variant::FashionMnist, p, content_hash),
            Source::Mnist(p) => idx::load(idx::Variant::Mnist, p, content_hash),
            Source::ImageNet(p) => Err(not_decodable(p)),
        }
    }

    /// Indexes an ImageNet source (through the index cache in `cache_dir`: listing 1.33 M images takes a
    /// while, so it is done once per content hash) into splits of encoded images that the [`crate::Loader`]
    /// reads and decodes per batch. Other sources are decoded whole: use [`Source::load`].
    pub fn load_encoded(&self, cache_dir: &Path) -> Result<EncodedDataset> {
        match self {
            Source::ImageNet(root) => ilsvrc::load(root, cache_dir),
            other => Err(DataError::Invalid(format!(
                "{} is decoded into memory whole: load it with Source::load, not load_encoded",
                other.name()
            ))),
        }
    }

    /// Loads through the decode cache in `cache_dir`: decodes once, then reads the cache file.
    pub fn load(&self, cache_dir: &Path) -> Result<Dataset> {
        if let Source::ImageNet(p) = self {
            return Err(not_decodable(p));
        }
        let hash = self.content_hash()?;
        if let Source::Cifar10Jpeg(p) = self {
            check_bundled_archive(p, &hash)?;
        }
        let path = cache::path_for(cache_dir, self.name().name(), &hash);
        match cache::load(&path)? {
            cache::Cached::Ready(ds) if ds.content_hash == hash => return Ok(ds),
            cache::Cached::Ready(_) => crate::progress::notice(&format!(
                "{}: decoded from another copy of the source; decoding this one again",
                path.display()
            )),
            cache::Cached::Damaged(e) => crate::progress::notice(&format!("{e}: rebuilding it now")),
            cache::Cached::OldFormat | cache::Cached::Absent => {}
        }
        let ds = self.read(hash)?;
        cache::store(&ds, &path)?;
        Ok(ds)
    }
}

/// Where a named source is looked for: `$TFKD_<NAME>` (e.g. `TFKD_CIFAR10_JPEG`) if set, else under
/// `data_dir` (the repository's `data/` folder, which carries `cifar10-jpeg.tar.gz`); `fashion-mnist` also
/// falls back to Debian's `/usr/share/datasets/fashion-mnist`.
pub fn default_location(name: SourceName, data_dir: &Path) -> PathBuf {
    let var = format!("TFKD_{}", name.name().to_ascii_uppercase().replace('-', "_"));
    if let Some(p) = std::env::var_os(&var) {
        return PathBuf::from(p);
    }
    let candidates: Vec<PathBuf> = match name {
        SourceName::Cifar10 => vec![
            data_dir.join("cifar-10-batches-bin"),
            data_dir.join("cifar-10-binary.tar.gz"),
            data_dir.join("cifar-10-batches-py"),
            data_dir.join("cifar-10-python.tar.gz"),
        ],
        SourceName::Cifar100 => vec![
            data_dir.join("cifar-100-binary"),
            data_dir.join("cifar-100-binary.tar.gz"),
            data_dir.join("cifar-100-python"),
            data_dir.join("cifar-100-python.tar.gz"),
        ],
        SourceName::Cifar10Jpeg => vec![data_dir.join("cifar10-jpeg.tar.gz")],
        SourceName::TinyImagenet => vec![data_dir.join("tiny-imagenet-200")],
        SourceName::FashionMnist => {
            vec![data_dir.join("fashion-mnist"), PathBuf::from("/usr/share/datasets/fashion-mnist")]
        }
        SourceName::Mnist => vec![data_dir.join("mnist")],
        SourceName::Imagefolder => vec![data_dir.join("imagefolder")],
        SourceName::Imagenet => vec![data_dir.join("imagenet")],
    };
    candidates.iter().find(|p| p.exists()).cloned().unwrap_or_else(|| candidates[0].clone())
}

/// Why ImageNet at `path` cannot be decoded into a [`Dataset`].
fn not_decodable(path: &Path) -> DataError {
    DataError::Invalid(format!(
        "imagenet ({}) has 1.33 M images, too many to decode into memory: read it with Source::load_encoded, \
         whose splits the loader decodes per batch",
        path.display()
    ))
}

/// The first line of a Git LFS pointer file, which a clone without `git lfs` holds instead of the data.
const LFS_POINTER: &[u8] = b"version https://git-lfs";

/// Checks that `path` is the bundled `cifar10-jpeg.tar.gz`: present, a file, not a Git LFS pointer, and with
/// the published sha256 (`sha256`, computed by the caller), so no other archive is taken for it.
fn check_bundled_archive(path: &Path, sha256: &str) -> Result<()> {
    let corrupt =
        |detail: String| DataError::WrongFile { path: path.to_path_buf(), what: "cifar10-jpeg archive", detail };
    if path.is_dir() {
        return Err(corrupt("is a folder; expected the file cifar10-jpeg.tar.gz (the repository carries it as data/cifar10-jpeg.tar.gz)".into()));
    }
    if !path.is_file() {
        return Err(DataError::Missing {
            source_name: "cifar10-jpeg",
            looked_for: "cifar10-jpeg.tar.gz".into(),
            where_: path.to_path_buf(),
            how: "the repository carries it as data/cifar10-jpeg.tar.gz: run tfkd inside a complete clone, or set TFKD_DATA_DIR to the \
                  clone's data folder or TFKD_CIFAR10_JPEG to the archive"
                .into(),
        });
    }
    if sha256 == CIFAR10_JPEG_SHA256 {
        return Ok(());
    }
    let mut head = [0u8; 64];
    let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)).map_err(io(path))?;
    if head[..n].starts_with(LFS_POINTER) {
        return Err(corrupt("is a Git LFS pointer, not the archive: fetch the real file with `git lfs pull` or copy it from another clone".into()));
    }
    let size = std::fs::metadata(path).map_err(io(path))?.len();
    // The fix depends on where the archive came from: a clone's own copy is restored by git; a copy the user
    // pointed tfkd at is theirs to replace.
    let in_clone =
        path.parent().filter(|d| d.ends_with("data")).and_then(Path::parent).is_some_and(|r| r.join(".git").exists());
    let fix = if in_clone {
        "restore the repository's copy with `git checkout -- data/cifar10-jpeg.tar.gz`".to_string()
    } else {
        format!(
            "replace {} with a complete copy (every tfkd clone carries one as data/cifar10-jpeg.tar.gz), or unset \
             TFKD_CIFAR10_JPEG to use the clone's own",
            path.display()
        )
    };
    Err(corrupt(format!(
        "has sha256 {sha256} ({size} bytes), not the bundled archive's {CIFAR10_JPEG_SHA256} (19,433,539 bytes): it is damaged or a \
         different file; {fix}"
    )))
}

/// sha256 of a file as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Every file under `dir`, following links to folders but entering each real folder once, so a link back up
/// the tree (a cycle) ends the descent instead of recursing until the paths grow too long.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    fn inner(dir: &Path, out: &mut Vec<PathBuf>, seen: &mut std::collections::HashSet<PathBuf>) -> Result<()> {
        if !seen.insert(dir.canonicalize().map_err(io(dir))?) {
            return Ok(());
        }
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            if path.is_dir() {
                inner(&path, out, seen)?;
            } else {
                out.push(path);
            }
        }
        Ok(())
    }
    inner(dir, out, &mut std::collections::HashSet::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Links to folders are followed, but a link back up the tree (a cycle) is entered once, not until the
    /// paths grow too long; and a cifar10-jpeg source naming a folder is refused without walking it.
    #[test]
    fn the_walk_survives_link_cycles() {
        let root = tempfile::tempdir().unwrap();
        let d = root.path();
        for sub in ["a", "b"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
            std::fs::write(d.join(sub).join("x.png"), b"x").unwrap();
            std::os::unix::fs::symlink("..", d.join(sub).join("up")).unwrap();
        }
        let mut files = Vec::new();
        walk(d, &mut files).unwrap();
        assert_eq!(files.len(), 2, "{files:?}");
        let err = Source::Cifar10Jpeg(d.to_path_buf()).content_hash().unwrap_err().to_string();
        assert!(err.contains("is a folder"), "{err}");
    }
}
