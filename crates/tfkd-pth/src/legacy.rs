//! The legacy format (torch < 1.6, or `_use_new_zipfile_serialization=False`): five pickles — magic number,
//! protocol version, sys info, the object, the list of storage keys — then, for each listed key, an 8-byte
//! little-endian element count and the storage's bytes. Old torchvision weights (`resnet18-5c106cde.pth`)
//! are in this format.

use std::{collections::HashMap, path::Path};

use crate::{
    pickle::{
        value::{Value, MAX_DEPTH},
        vm,
    },
    source::Source,
    DType, FormatProblem, PickleProblem, PthError,
};

/// The magic number torch's legacy format starts with.
const MAGIC: i128 = 0x1950_a86a_20f9_469c_fc6c;
/// The only protocol version torch ever wrote.
const PROTOCOL: i128 = 1001;

/// The legacy file's object and storages.
pub(crate) struct Opened<'a> {
    /// The unpickled object.
    pub object: Value,
    /// Its storages.
    pub source: Source<'a>,
}

/// Whether `file` starts like a legacy file (a protocol-2 pickle).
pub(crate) fn looks_legacy(file: &[u8]) -> bool {
    file.first() == Some(&0x80)
}

/// Opens the legacy-format file whose bytes are `file`.
pub(crate) fn open<'a>(path: &Path, file: &'a [u8]) -> Result<Opened<'a>, PthError> {
    let header =
        |what: String| PthError::Format { path: path.to_path_buf(), source: FormatProblem::LegacyHeader(what) };
    let pickle = |part: &str, start: usize| {
        vm::load(file, start).map_err(|source| PthError::Pickle { path: path.to_path_buf(), part: part.into(), source })
    };
    let magic = pickle("legacy magic-number pickle", 0)?;
    if magic.value.as_int() != Some(MAGIC) {
        return Err(PthError::Format { path: path.to_path_buf(), source: FormatProblem::NotTorch });
    }
    let protocol = pickle("legacy protocol pickle", magic.end)?;
    if protocol.value.as_int() != Some(PROTOCOL) {
        return Err(header(format!("protocol version {:?}, expected 1001", protocol.value.as_int())));
    }
    let sys = pickle("legacy sys_info pickle", protocol.end)?;
    match dict_get(&sys.value, "little_endian") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => {
            return Err(PthError::Format { path: path.to_path_buf(), source: FormatProblem::LegacyBigEndian })
        }
        _ => return Err(header("sys_info has no little_endian flag".into())),
    }
    let object = pickle("legacy object pickle", sys.end)?;
    let key_pickle = pickle("legacy storage-key pickle", object.end)?;
    let keys = str_list(&key_pickle.value).ok_or_else(|| header("the storage keys are not a list of strs".into()))?;
    let mut dtypes = HashMap::new();
    collect_storages(&object.value, &mut dtypes, 0).map_err(|source| PthError::Pickle {
        path: path.to_path_buf(),
        part: "legacy object pickle".into(),
        source: crate::PickleError { at: sys.end, kind: source },
    })?;
    let ranges = storage_ranges(path, file, key_pickle.end, &keys, &dtypes)?;
    Ok(Opened { object: object.value, source: Source::Legacy { file, ranges } })
}

fn storage_ranges(
    path: &Path,
    file: &[u8],
    mut pos: usize,
    keys: &[String],
    dtypes: &HashMap<String, DType>,
) -> Result<HashMap<String, std::ops::Range<usize>>, PthError> {
    let mut ranges = HashMap::new();
    for key in keys {
        let fail = |source| PthError::Format { path: path.to_path_buf(), source };
        let dtype = *dtypes.get(key).ok_or_else(|| {
            fail(FormatProblem::LegacyHeader(format!("storage '{key}' is listed but no tensor uses it")))
        })?;
        let truncated = || fail(FormatProblem::LegacyTruncated { key: key.clone() });
        let count = file.get(pos..pos.saturating_add(8)).ok_or_else(truncated)?;
        let mut c = [0u8; 8];
        c.copy_from_slice(count);
        let bytes = usize::try_from(u64::from_le_bytes(c))
            .ok()
            .and_then(|n| n.checked_mul(dtype.size_of()))
            .ok_or_else(truncated)?;
        let start = pos + 8;
        let end = start.checked_add(bytes).filter(|&e| e <= file.len()).ok_or_else(truncated)?;
        ranges.insert(key.clone(), start..end);
        pos = end;
    }
    Ok(ranges)
}

fn dict_get(v: &Value, key: &str) -> Option<Value> {
    let Value::Dict(d) = v else { return None };
    let d = d.items.borrow();
    d.entries.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v.clone())
}

fn str_list(v: &Value) -> Option<Vec<String>> {
    let Value::List(l) = v else { return None };
    let l = l.items.borrow();
    l.iter().map(|x| x.as_str().map(str::to_string)).collect()
}

/// The dtype of every storage the object refers to (the storage section needs each one's element size).
fn collect_storages(v: &Value, out: &mut HashMap<String, DType>, depth: usize) -> Result<(), PickleProblem> {
    if depth > MAX_DEPTH {
        return Err(PickleProblem::TooDeep(MAX_DEPTH));
    }
    let d = depth + 1;
    match v {
        Value::Tensor(t) => {
            out.entry(t.storage.key.clone()).or_insert(t.storage.dtype);
        }
        Value::Storage(s) => {
            out.entry(s.key.clone()).or_insert(s.dtype);
        }
        Value::Tuple(t) => t.items.iter().try_for_each(|x| collect_storages(x, out, d))?,
        Value::List(l) => l.items.borrow().iter().try_for_each(|x| collect_storages(x, out, d))?,
        Value::Dict(dict) => dict.items.borrow().entries.iter().try_for_each(|(k, x)| {
            collect_storages(k, out, d)?;
            collect_storages(x, out, d)
        })?,
        _ => {}
    }
    Ok(())
}
