//! `tfkd data fetch`: download official archives, verify their published checksums, unpack.
//!
//! Each file is downloaded to a temporary name inside the data folder, its MD5 checked, then
//! unpacked into a temporary folder that is renamed into place only when everything succeeded:
//! a failed download or a wrong checksum leaves nothing half-written.

use std::{
    io::{Read, Write},
    path::{Path, PathBuf},
};

use md5::{Digest, Md5};

use crate::{
    error::{io, DataError, Result},
    hex, SourceName,
};

/// How a downloaded file becomes a dataset folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unpack {
    /// Extract a `.tar.gz`.
    TarGz,
    /// Extract a `.zip`.
    Zip,
    /// Keep the file as it is.
    Keep,
}

/// One official file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// Official URL.
    pub url: String,
    /// Published MD5 (lowercase hex).
    pub md5: &'static str,
    /// What to do with it.
    pub unpack: Unpack,
}

/// A dataset's official files and the folder (under the data folder) they end up in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Dataset name.
    pub name: &'static str,
    /// Folder created under the data folder.
    pub folder: &'static str,
    /// Files to download.
    pub files: Vec<Remote>,
}

/// The official files of `source` (one of [`SourceName::fetchable`]). CIFAR and Fashion-MNIST checksums are the
/// ones their pages publish; Tiny-ImageNet's page publishes none, so its MD5 is the one torchvision-style loaders
/// pin.
pub fn catalogue(source: SourceName) -> Result<Entry> {
    let remote = |url: &str, md5, unpack| Remote { url: url.to_string(), md5, unpack };
    let fmnist = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";
    Ok(match source {
        SourceName::Cifar10 => Entry {
            name: "cifar10",
            folder: "cifar-10-batches-bin",
            files: vec![remote(
                "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                "c32a1d4ab5d03f1284b67883e8d87530",
                Unpack::TarGz,
            )],
        },
        SourceName::Cifar100 => Entry {
            name: "cifar100",
            folder: "cifar-100-binary",
            files: vec![remote(
                "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
                "03b5dce01913d631647c71ecec9e9cb8",
                Unpack::TarGz,
            )],
        },
        SourceName::TinyImagenet => Entry {
            name: "tiny-imagenet",
            folder: "tiny-imagenet-200",
            files: vec![remote(
                "http://cs231n.stanford.edu/tiny-imagenet-200.zip",
                "90528d7ca1a48142e341f4ef8d21d0de",
                Unpack::Zip,
            )],
        },
        SourceName::FashionMnist => Entry {
            name: "fashion-mnist",
            folder: "fashion-mnist",
            files: vec![
                remote(
                    &format!("{fmnist}train-images-idx3-ubyte.gz"),
                    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                    Unpack::Keep,
                ),
                remote(
                    &format!("{fmnist}train-labels-idx1-ubyte.gz"),
                    "25c81989df183df01b3e8a0aad5dffbe",
                    Unpack::Keep,
                ),
                remote(&format!("{fmnist}t10k-images-idx3-ubyte.gz"), "bef4ecab320f06d8554ea6380940ec79", Unpack::Keep),
                remote(&format!("{fmnist}t10k-labels-idx1-ubyte.gz"), "bb300cfdad3c16e7a12a480ee83cd310", Unpack::Keep),
            ],
        },
        other => {
            let known: Vec<&str> = SourceName::fetchable().map(SourceName::name).collect();
            return Err(DataError::Invalid(format!("cannot fetch '{other}': known are {}", known.join(", "))));
        }
    })
}

/// Downloads, verifies and unpacks `entry` into `data_dir/<entry.folder>`; returns that folder.
///
/// Does nothing when the folder already exists.
pub fn fetch(entry: &Entry, data_dir: &Path) -> Result<PathBuf> {
    let dest = data_dir.join(entry.folder);
    if dest.exists() {
        return Ok(dest);
    }
    std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
    let staging = data_dir.join(format!(".fetch-{}-{}", entry.name, std::process::id()));
    let result = (|| {
        std::fs::create_dir_all(&staging).map_err(io(&staging))?;
        for remote in &entry.files {
            let file = download(remote, &staging)?;
            unpack(remote, &file, &staging)?;
        }
        // The archive may hold the folder itself (CIFAR, Tiny-ImageNet) or bare files (Fashion-MNIST).
        let inner = staging.join(entry.folder);
        let src = if inner.is_dir() { inner } else { staging.clone() };
        std::fs::rename(&src, &dest).map_err(io(&dest))
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result.map(|()| dest)
}

/// Streams `remote` through `curl` (on every platform tfkd supports; an HTTP and TLS stack of its own cost the build
/// a sixth of its time for this one command) into `dir`, hashing as it writes.
fn download(remote: &Remote, dir: &Path) -> Result<PathBuf> {
    let fail = |detail: String| DataError::Fetch { url: remote.url.clone(), detail };
    let name =
        remote.url.rsplit('/').next().filter(|n| !n.is_empty()).ok_or_else(|| fail("URL has no file name".into()))?;
    let mut curl = std::process::Command::new("curl")
        .args(["--fail", "--location", "--silent", "--show-error", "--"])
        .arg(&remote.url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run curl (tfkd downloads through it; install it or fetch by hand): {e}")))?;
    let task = crate::progress::Task::new(&format!("downloading {name}"), None);
    let path = dir.join(name);
    let stdout = curl.stdout.take().ok_or_else(|| fail("curl's output was not piped".into()))?;
    let copied = copy_hashed(stdout, &path, &task);
    drop(task);
    if copied.is_err() {
        // It would wait forever on a pipe nobody reads.
        let _ = curl.kill();
    }
    let output = curl.wait_with_output().map_err(|e| fail(format!("curl: {e}")))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr).trim().to_string();
        return Err(fail(format!("curl {}: {said}", output.status)));
    }
    let (total, got) = copied.map_err(|e| match e {
        CopyError::Read(e) => fail(format!("download interrupted: {e}")),
        CopyError::Write(e) => io(&path)(e),
    })?;
    if got != remote.md5 {
        return Err(fail(format!(
            "MD5 mismatch: got {got} ({total} bytes), published {} — file rejected and removed",
            remote.md5
        )));
    }
    Ok(path)
}

enum CopyError {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Copies `reader` into a new file at `path`; returns the byte count and the MD5 (lowercase hex).
fn copy_hashed(
    mut reader: impl Read,
    path: &Path,
    task: &crate::progress::Task,
) -> std::result::Result<(u64, String), CopyError> {
    let mut out = std::fs::File::create(path).map_err(CopyError::Write)?;
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(CopyError::Read)?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(CopyError::Write)?;
        total += n as u64;
        task.inc(n as u64);
    }
    Ok((total, hex(&md5.finalize())))
}

fn unpack(remote: &Remote, file: &Path, dir: &Path) -> Result<()> {
    let corrupt =
        |detail: String| DataError::Corrupt { path: file.to_path_buf(), what: "downloaded archive", offset: 0, detail };
    match remote.unpack {
        Unpack::Keep => Ok(()),
        Unpack::TarGz => {
            let f = std::fs::File::open(file).map_err(io(file))?;
            tar::Archive::new(flate2::read::GzDecoder::new(f)).unpack(dir).map_err(|e| corrupt(e.to_string()))?;
            std::fs::remove_file(file).map_err(io(file))
        }
        Unpack::Zip => {
            let f = std::fs::File::open(file).map_err(io(file))?;
            zip::ZipArchive::new(f).and_then(|mut z| z.extract(dir)).map_err(|e| corrupt(e.to_string()))?;
            std::fs::remove_file(file).map_err(io(file))
        }
    }
}
