//! Writing a state dict as `torch.save(OrderedDict(...), f)` would: the zip format, byte for byte.

use std::{collections::HashSet, path::Path};

use crate::{
    pickle::emit::{self, Entry},
    zip_write::{ZipWriter, ALIGNMENT},
    PthError, StateDict, WriteProblem,
};

/// Writes `sd` to `path` atomically (a temporary file renamed into place), in the zip format torch 2.11
/// writes; `torch.load(path)` (weights-only, the default) and `torch.load(path, mmap=True)` read it.
pub fn write(path: &Path, sd: &StateDict) -> Result<(), PthError> {
    let bytes = to_bytes(sd).map_err(|source| PthError::Unwritable { path: path.to_path_buf(), source })?;
    tfkd_io::write_atomic(path, bytes)?;
    Ok(())
}

/// The bytes `torch.save(sd, buffer)` writes for this state dict (archive folder `archive`), with each
/// tensor in its own storage `data/<i>` in order. `sd.from_key` is ignored: the state dict is written alone.
pub fn to_bytes(sd: &StateDict) -> Result<Vec<u8>, WriteProblem> {
    let mut names = HashSet::new();
    let mut data_bytes = 0u64;
    for (name, t) in &sd.tensors {
        t.check().map_err(|source| WriteProblem::Tensor { name: name.clone(), source })?;
        if !names.insert(name.as_str()) {
            return Err(WriteProblem::DuplicateName(name.clone()));
        }
        // data, its record's header and padding, and its part of data.pkl (name and ~100 bytes of opcodes)
        data_bytes += t.data.len() as u64 + name.len() as u64 + 4 * ALIGNMENT as u64;
    }
    if data_bytes >= u64::from(u32::MAX) {
        return Err(WriteProblem::TooLarge(format!("{data_bytes} bytes of tensors")));
    }
    let entries: Vec<Entry<'_>> =
        sd.tensors.iter().map(|(name, t)| Entry { name, dtype: t.dtype, shape: &t.shape }).collect();
    let mut zip = ZipWriter::new("archive");
    zip.add("data.pkl", &emit::state_dict(&entries))?;
    zip.add(".format_version", b"1")?;
    zip.add(".storage_alignment", ALIGNMENT.to_string().as_bytes())?;
    zip.add("byteorder", b"little")?;
    for (i, (_, t)) in sd.tensors.iter().enumerate() {
        zip.add(&format!("data/{i}"), &t.data)?;
    }
    zip.finish()
}
