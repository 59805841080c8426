//! The one atomic write: temporary file beside the target → write → fsync → rename → fsync the folder.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use crate::temp;

/// An I/O failure on a named file; displays what was done to which file, with the OS reason as its source.
#[derive(Debug, thiserror::Error)]
#[error("{op} {}", path.display())]
pub struct IoError {
    /// What was being done: `writing`, `reading`, `creating`, `removing`, `renaming into`.
    pub op: &'static str,
    /// The file the user knows (the target, not the temporary file).
    pub path: PathBuf,
    /// What the operating system said.
    #[source]
    pub source: std::io::Error,
}

impl IoError {
    /// An error of `op` on `path`.
    pub fn new(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> IoError {
        let path = path.into();
        move |source| IoError { op, path, source }
    }
}

/// Writes `contents` to `path` atomically (see [`write_atomic_with`]).
pub fn write_atomic(path: &Path, contents: impl AsRef<[u8]>) -> Result<(), IoError> {
    write_atomic_with(path, |tmp| {
        let mut f = std::fs::File::create(tmp)?;
        f.write_all(contents.as_ref())?;
        Ok(())
    })
    .map_err(|e| match e {
        AtomicError::Write(source) => IoError { op: "writing", path: path.to_path_buf(), source },
        AtomicError::Io(e) => e,
    })
}

/// Why [`write_atomic_with`] failed: the caller's writer, or the file operations around it.
#[derive(Debug, thiserror::Error)]
pub enum AtomicError<E: std::error::Error + 'static> {
    /// The writer failed (its error names what it wrote).
    #[error(transparent)]
    Write(E),
    /// Syncing or renaming failed.
    #[error(transparent)]
    Io(#[from] IoError),
}

/// Lets `write(tmp)` produce the file at a temporary path beside `path` (same folder, same extension, so
/// writers that pick a format from the extension work), fsyncs it, renames it onto `path` and fsyncs the
/// folder. On any failure the temporary file is removed and `path` keeps its previous content.
pub fn write_atomic_with<E: std::error::Error + 'static>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), AtomicError<E>> {
    write_atomic_if(path, write, &|| true).map(|_| ())
}

/// As [`write_atomic_with`], but asks `commit` at the last moment, just before the rename that makes the file
/// appear: when it says no (the folder is no longer this process's to write, say), the temporary file is
/// removed, `path` is left as it was, and the result is `Ok(false)`.
pub fn write_atomic_if<E: std::error::Error + 'static>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
    commit: &dyn Fn() -> bool,
) -> Result<bool, AtomicError<E>> {
    refuse_special(path)?;
    let tmp = temp::path_for(path);
    let result = (|| {
        write(&tmp).map_err(AtomicError::Write)?;
        let file = std::fs::File::open(&tmp).map_err(IoError::new("writing", path))?;
        file.sync_all().map_err(IoError::new("writing", path))?;
        if !commit() {
            return Ok(false);
        }
        std::fs::rename(&tmp, path).map_err(IoError::new("renaming into", path))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Makes the rename itself durable; not every filesystem allows opening a folder, so best effort.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(true)
    })();
    if !matches!(result, Ok(true)) {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Refuses a destination that exists and is not a regular file (followed through links): renaming over a
/// device node, a FIFO, a socket or a folder would replace it (a block device's bytes would land on a disk if
/// written in place instead), so neither is done and the error says what is there.
fn refuse_special(path: &Path) -> Result<(), IoError> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::metadata(path) else { return Ok(()) };
    let t = meta.file_type();
    let what = match () {
        () if t.is_file() => return Ok(()),
        () if t.is_dir() => "a folder",
        () if t.is_fifo() => "a FIFO",
        () if t.is_char_device() => "a character device",
        () if t.is_block_device() => "a block device",
        () if t.is_socket() => "a socket",
        () => "not a regular file",
    };
    Err(IoError {
        op: "refusing to replace",
        path: path.to_path_buf(),
        source: std::io::Error::other(format!("{what}, not a regular file: give the path of a file to write")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("table.md");
        write_atomic(&path, "old").unwrap();
        write_atomic(&path, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_writer_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("figure.png");
        write_atomic(&path, "old").unwrap();
        let err = write_atomic_with(&path, |tmp| {
            std::fs::write(tmp, "half")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(matches!(err, AtomicError::Write(_)));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "the temporary file is gone");
    }

    /// A FIFO, a folder and character nodes with /dev/null's and /dev/full's numbers (1:3, 1:7), all made in a
    /// temporary folder — never /dev itself — are refused and left as they were.
    #[test]
    fn special_destinations_are_refused_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success(), "mkfifo");
        let folder = dir.path().join("folder");
        std::fs::create_dir(&folder).unwrap();
        let mut cases = vec![(fifo, "a FIFO"), (folder, "a folder")];
        // Device nodes need root (CI and these machines run as root); elsewhere the FIFO and folder cases stand.
        for (name, minor) in [("null", "3"), ("full", "7")] {
            let node = dir.path().join(name);
            let made = std::process::Command::new("mknod").arg(&node).args(["c", "1", minor]).status();
            if made.is_ok_and(|s| s.success()) {
                cases.push((node, "a character device"));
            }
        }
        let entries = cases.len();
        for (path, what) in cases {
            let before = std::fs::metadata(&path).unwrap().file_type();
            let err = write_atomic(&path, "bytes").unwrap_err();
            let msg = crate::chain(&err);
            assert!(msg.starts_with(&format!("refusing to replace {}: {what}", path.display())), "{msg}");
            let after = std::fs::metadata(&path).unwrap().file_type();
            assert_eq!(
                (before.is_fifo(), before.is_dir(), before.is_char_device()),
                (after.is_fifo(), after.is_dir(), after.is_char_device())
            );
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), entries, "no temporary file left");
    }

    #[test]
    fn errors_name_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-folder/report.json");
        let err = write_atomic(&path, "x").unwrap_err();
        assert_eq!(err.path, path);
        assert!(crate::chain(&err).starts_with(&format!("writing {}: ", path.display())), "{}", crate::chain(&err));
    }
}
