//! Reading a `torch.save` file: which format it is, then its object, then its state dict.

use std::path::Path;

use crate::{archive, legacy, rebuild, FormatProblem, PthError, StateDict};

/// Reads the state dict in the `torch.save` file at `path` (zip or legacy format), from the top-level object
/// or from a checkpoint's `state_dict` / `model` / `model_state_dict` / `net` entry (see
/// [`StateDict::from_key`]). Nothing in the file is executed: pickled globals other than those torch uses
/// for tensors are refused.
pub fn read(path: &Path) -> Result<StateDict, PthError> {
    let file = std::fs::read(path).map_err(|source| PthError::Read { path: path.to_path_buf(), source })?;
    from_bytes(path, &file)
}

/// [`read`] for a file already in memory; `path` names it in errors.
pub fn from_bytes(path: &Path, file: &[u8]) -> Result<StateDict, PthError> {
    if file.starts_with(b"PK\x03\x04") || file.starts_with(b"PK\x05\x06") {
        let opened = archive::open(path, file)?;
        let mut source = opened.source;
        return rebuild::state_dict(path, &opened.object, &mut source, opened.big_endian);
    }
    if file.get(257..262) == Some(b"ustar".as_slice()) {
        return Err(PthError::Format { path: path.to_path_buf(), source: FormatProblem::TarFormat });
    }
    if legacy::looks_legacy(file) {
        let opened = legacy::open(path, file)?;
        let mut source = opened.source;
        return rebuild::state_dict(path, &opened.object, &mut source, false);
    }
    Err(PthError::Format { path: path.to_path_buf(), source: FormatProblem::NotTorch })
}
