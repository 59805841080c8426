//! From the unpickled object to a [`StateDict`]: find the dict of tensors (the object itself, or a checkpoint
//! entry such as `state_dict`), then take each tensor's view (offset, sizes, strides) out of its storage.

use std::{collections::HashMap, path::Path, rc::Rc};

use crate::{
    pickle::value::{StorageRef, TensorRef, Value},
    source::Source,
    tensor::contiguous_strides,
    FormatProblem, LayoutProblem, PthError, RawTensor, StateDict, ViewProblem, CHECKPOINT_KEYS,
};

/// The most bytes a view that repeats its storage's elements (stride 0, overlapping strides) may expand to.
pub const MAX_EXPANSION: u64 = 1 << 30;

/// The state dict in `object`, with its tensors' data from `source`.
pub(crate) fn state_dict(
    path: &Path,
    object: &Value,
    source: &mut Source<'_>,
    big_endian: bool,
) -> Result<StateDict, PthError> {
    let layout = |source| PthError::Layout { path: path.to_path_buf(), source };
    let (from_key, refs) = locate(object).map_err(layout)?;
    let mut seen: HashMap<String, (crate::DType, u64)> = HashMap::new();
    let mut tensors = Vec::with_capacity(refs.len());
    for (name, t) in refs {
        let s = &t.storage;
        match seen.get(&s.key) {
            Some(&(dtype, _)) if dtype != s.dtype => {
                return Err(PthError::Format {
                    path: path.to_path_buf(),
                    source: FormatProblem::StorageDType { key: s.key.clone(), first: dtype, second: s.dtype },
                })
            }
            _ => {
                seen.insert(s.key.clone(), (s.dtype, s.numel));
            }
        }
        let bytes = source.storage(path, &s.key)?;
        check_storage(s, bytes.len()).map_err(|source| PthError::Format { path: path.to_path_buf(), source })?;
        let data = view(&t, &bytes, big_endian).map_err(|source| PthError::Tensor {
            path: path.to_path_buf(),
            name: name.clone(),
            source: Box::new(source),
        })?;
        tensors.push((name, RawTensor { dtype: s.dtype, shape: data.1, data: data.0 }));
    }
    Ok(StateDict { tensors, from_key })
}

type Located = (Option<String>, Vec<(String, Rc<TensorRef>)>);

/// The dict of tensors: a checkpoint's `state_dict`/`model`/`model_state_dict`/`net` entry if it holds a
/// dict, else the object itself.
fn locate(object: &Value) -> Result<Located, LayoutProblem> {
    let Value::Dict(top) = object else { return Err(LayoutProblem::NotADict(object.kind())) };
    let top = top.items.borrow();
    for key in CHECKPOINT_KEYS {
        if let Some((_, inner @ Value::Dict(_))) = top.entries.iter().find(|(k, _)| k.as_str() == Some(key)) {
            return Ok((Some(key.to_string()), tensors(inner, Some(key))?));
        }
    }
    let has_tensor = top.entries.iter().any(|(_, v)| matches!(v, Value::Tensor(_)));
    if !has_tensor && !top.entries.is_empty() {
        let keys: Vec<String> = top
            .entries
            .iter()
            .take(12)
            .map(|(k, _)| k.as_str().map_or_else(|| format!("<{}>", k.kind()), |s| format!("'{s}'")))
            .collect();
        return Err(LayoutProblem::NoTensors { keys: keys.join(", ") });
    }
    drop(top);
    Ok((None, tensors(object, None)?))
}

fn tensors(dict: &Value, within: Option<&str>) -> Result<Vec<(String, Rc<TensorRef>)>, LayoutProblem> {
    let Value::Dict(d) = dict else { return Err(LayoutProblem::NotADict(dict.kind())) };
    let d = d.items.borrow();
    d.entries
        .iter()
        .map(|(k, v)| {
            let name = k.as_str().ok_or(LayoutProblem::NonStringKey(k.kind()))?;
            match v {
                Value::Tensor(t) => Ok((name.to_string(), t.clone())),
                other => Err(LayoutProblem::NotATensor {
                    key: name.to_string(),
                    within: within.map(|w| format!(" (under '{w}')")).unwrap_or_default(),
                    found: other.kind(),
                }),
            }
        })
        .collect()
}

/// The storage's bytes must be exactly its element count (torch checks the same on load).
fn check_storage(s: &StorageRef, bytes: usize) -> Result<(), FormatProblem> {
    let wanted = u128::from(s.numel) * s.dtype.size_of() as u128;
    if wanted == bytes as u128 {
        Ok(())
    } else {
        Err(FormatProblem::StorageLength { key: s.key.clone(), dtype: s.dtype, numel: s.numel, bytes: bytes as u64 })
    }
}

fn index(what: &'static str, v: i128) -> Result<usize, ViewProblem> {
    usize::try_from(v).map_err(|_| ViewProblem::BadIndex { what, value: v })
}

/// The view's elements, contiguous and little-endian, and its shape.
fn view(t: &TensorRef, storage: &[u8], big_endian: bool) -> Result<(Vec<u8>, Vec<usize>), ViewProblem> {
    let el = t.storage.dtype.size_of();
    let (base, numel) = root_slice(&t.storage, storage.len() / el)?;
    let offset = index("storage offset", t.offset)?;
    let size = t.size.iter().map(|&s| index("size", s)).collect::<Result<Vec<_>, _>>()?;
    let stride = t.stride.iter().map(|&s| index("stride", s)).collect::<Result<Vec<_>, _>>()?;
    if size.len() != stride.len() {
        return Err(ViewProblem::Rank { size: size.len(), stride: stride.len() });
    }
    let count = size.iter().try_fold(1u128, |acc, &s| acc.checked_mul(s as u128)).unwrap_or(u128::MAX);
    if count == 0 {
        return Ok((Vec::new(), size));
    }
    let last = size
        .iter()
        .zip(&stride)
        .fold(offset as u128, |acc, (&s, &st)| acc.saturating_add((s as u128 - 1).saturating_mul(st as u128)));
    if last >= numel as u128 {
        let needs = usize::try_from(last).unwrap_or(usize::MAX);
        return Err(ViewProblem::OutOfBounds { offset, size, stride, needs, numel });
    }
    let bytes = count.saturating_mul(el as u128);
    if count > numel as u128 && bytes > u128::from(MAX_EXPANSION) {
        return Err(ViewProblem::TooLarge { bytes, limit: MAX_EXPANSION });
    }
    // count <= numel, or bytes <= 1 GiB: both fit usize.
    let count = count as usize;
    let src = &storage[base * el..(base + numel) * el];
    let mut out = Vec::with_capacity(count * el);
    if is_contiguous(&size, &stride) {
        out.extend_from_slice(&src[offset * el..(offset + count) * el]);
    } else {
        gather(src, el, offset, &size, &stride, &mut out);
    }
    if big_endian && el > 1 {
        out.chunks_exact_mut(el).for_each(<[u8]>::reverse);
    }
    Ok((out, size))
}

/// The elements of the (legacy) storage view within its root storage: first element and count.
fn root_slice(s: &StorageRef, root_numel: usize) -> Result<(usize, usize), ViewProblem> {
    match s.view {
        None => Ok((0, root_numel)),
        Some((off, len)) => {
            let fits = off.checked_add(len).is_some_and(|end| end <= root_numel as u64);
            match (usize::try_from(off), usize::try_from(len)) {
                (Ok(off), Ok(len)) if fits => Ok((off, len)),
                _ => Err(ViewProblem::OutOfBounds {
                    offset: usize::try_from(off).unwrap_or(usize::MAX),
                    size: vec![usize::try_from(len).unwrap_or(usize::MAX)],
                    stride: vec![1],
                    needs: usize::try_from(off.saturating_add(len)).unwrap_or(usize::MAX),
                    numel: root_numel,
                }),
            }
        }
    }
}

/// Whether the strides are row-major for these sizes (dimensions of size 1 may have any stride).
fn is_contiguous(size: &[usize], stride: &[usize]) -> bool {
    let want = contiguous_strides(size);
    size.iter().zip(stride).zip(want).all(|((&s, &st), w)| s == 1 || st == w)
}

/// Copies the view's elements in row-major order (an odometer over the sizes).
fn gather(src: &[u8], el: usize, offset: usize, size: &[usize], stride: &[usize], out: &mut Vec<u8>) {
    let mut idx = vec![0usize; size.len()];
    let mut pos = offset;
    loop {
        out.extend_from_slice(&src[pos * el..(pos + 1) * el]);
        let mut d = size.len();
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            // Wrapping: a dimension of size 1 may carry any stride; the positions actually read are in bounds.
            idx[d] += 1;
            pos = pos.wrapping_add(stride[d]);
            if idx[d] < size[d] {
                break;
            }
            pos = pos.wrapping_sub(stride[d].wrapping_mul(size[d]));
            idx[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    fn tref(numel: u64, offset: i128, size: &[i128], stride: &[i128]) -> TensorRef {
        let storage = Rc::new(StorageRef { key: "0".into(), dtype: DType::I16, numel, view: None });
        TensorRef { storage, offset, size: size.to_vec(), stride: stride.to_vec() }
    }

    fn storage(n: i16) -> Vec<u8> {
        (0..n).flat_map(i16::to_le_bytes).collect()
    }

    fn values(bytes: &[u8]) -> Vec<i16> {
        bytes.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect()
    }

    #[test]
    fn views_gather_in_row_major_order() {
        // torch.arange(6).reshape(2, 3).t()[:, 1:] … as offset/size/stride: t() of [[0,1,2],[3,4,5]].
        let (data, shape) = view(&tref(6, 0, &[3, 2], &[1, 3]), &storage(6), false).expect("view");
        assert_eq!((values(&data), shape), (vec![0, 3, 1, 4, 2, 5], vec![3, 2]));
        let (data, _) = view(&tref(6, 4, &[2], &[1]), &storage(6), false).expect("slice");
        assert_eq!(values(&data), vec![4, 5]);
        let (data, _) = view(&tref(6, 1, &[2, 2], &[0, 2]), &storage(6), false).expect("expand");
        assert_eq!(values(&data), vec![1, 3, 1, 3]);
        let (data, _) = view(&tref(6, 2, &[1, 1], &[i128::from(u32::MAX), 7]), &storage(6), false).expect("size 1");
        assert_eq!(values(&data), vec![2]);
        let (data, _) = view(&tref(2, 0, &[2], &[1]), &[0x01, 0x02, 0x03, 0x04], true).expect("big-endian");
        assert_eq!(data, vec![0x02, 0x01, 0x04, 0x03]);
    }

    #[test]
    fn views_past_the_storage_are_errors() {
        let s = storage(6);
        assert!(matches!(view(&tref(6, 5, &[2], &[1]), &s, false), Err(ViewProblem::OutOfBounds { needs: 6, .. })));
        assert!(matches!(view(&tref(6, 0, &[2, 3], &[3, 2]), &s, false), Err(ViewProblem::OutOfBounds { .. })));
        assert!(matches!(view(&tref(6, 0, &[2], &[-1]), &s, false), Err(ViewProblem::BadIndex { what: "stride", .. })));
        assert!(matches!(view(&tref(6, -1, &[1], &[1]), &s, false), Err(ViewProblem::BadIndex { .. })));
        assert!(matches!(view(&tref(6, 0, &[2], &[1, 1]), &s, false), Err(ViewProblem::Rank { size: 1, stride: 2 })));
        let huge = tref(6, 0, &[1 << 40, 1 << 20], &[0, 0]);
        assert!(matches!(view(&huge, &s, false), Err(ViewProblem::TooLarge { .. })));
        let far = tref(6, 0, &[i128::from(u64::MAX), 3], &[i128::from(u64::MAX), 1]);
        assert!(matches!(view(&far, &s, false), Err(ViewProblem::OutOfBounds { .. })));
        let (empty, shape) = view(&tref(6, 100, &[0, 5], &[5, 1]), &s, false).expect("empty view");
        assert!(empty.is_empty() && shape == vec![0, 5]);
    }

    #[test]
    fn checkpoint_keys_are_tried_in_order() {
        let sd = Value::empty_dict();
        let top = Value::empty_dict();
        let pairs = vec![Value::Str("epoch".into()), Value::Int(3), Value::Str("net".into()), sd];
        crate::pickle::value::dict_set(&top, pairs).expect("dict");
        assert_eq!(locate(&top).expect("located"), (Some("net".to_string()), Vec::new()));
        let plain = Value::empty_dict();
        crate::pickle::value::dict_set(&plain, vec![Value::Str("epoch".into()), Value::Int(3)]).expect("dict");
        assert!(matches!(locate(&plain), Err(LayoutProblem::NoTensors { .. })));
        assert_eq!(locate(&Value::Int(1)), Err(LayoutProblem::NotADict("int")));
    }
}
