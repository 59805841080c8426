//! What REDUCE, NEWOBJ and BINPERSID mean for the allowed globals: the functions `torch.save` pickles are
//! interpreted here, with their arguments checked, instead of being run.

use std::rc::Rc;

use super::value::{Global, StorageRef, TensorRef, Value};
use crate::error::PickleProblem;

/// Calls `callee(*args)` (REDUCE), or `callee.__new__(callee, *args)` (NEWOBJ, `newobj`).
pub(crate) fn call(callee: &Value, args: &Value, newobj: bool) -> Result<Value, PickleProblem> {
    let Value::Global(g) = callee else {
        return Err(PickleProblem::WrongType { op: "REDUCE", expected: "a global", found: callee.kind() });
    };
    let Value::Tuple(t) = args else {
        return Err(PickleProblem::WrongType { op: "REDUCE", expected: "an argument tuple", found: args.kind() });
    };
    let a = t.items.as_slice();
    let bad = |detail: String| PickleProblem::BadCall { callee: g.name(), detail };
    if newobj && *g != Global::OrderedDict {
        return Err(bad("NEWOBJ is only accepted for OrderedDict".into()));
    }
    match g {
        Global::OrderedDict if a.is_empty() => Ok(Value::empty_dict()),
        Global::OrderedDict => Err(bad(format!("{} arguments (torch passes none)", a.len()))),
        Global::RebuildTensorV2 => match a {
            [storage, offset, size, stride, requires_grad, hooks]
            | [storage, offset, size, stride, requires_grad, hooks, _] => {
                check_grad_and_hooks(requires_grad, hooks).map_err(bad)?;
                tensor(storage, offset, size, stride).map_err(bad)
            }
            _ => Err(bad(format!("{} arguments, expected 6 or 7", a.len()))),
        },
        Global::RebuildTensor => match a {
            [storage, offset, size, stride] => tensor(storage, offset, size, stride).map_err(bad),
            _ => Err(bad(format!("{} arguments, expected 4", a.len()))),
        },
        Global::RebuildParameter | Global::RebuildParameterWithState => {
            let n = if *g == Global::RebuildParameter { 3 } else { 4 };
            match a {
                [data @ Value::Tensor(_), requires_grad, hooks, ..] if a.len() == n => {
                    check_grad_and_hooks(requires_grad, hooks).map_err(bad)?;
                    Ok(data.clone())
                }
                _ => Err(bad(format!("expected a tensor and {} more arguments", n - 1))),
            }
        }
        Global::CodecsEncode => match a {
            [Value::Str(text), Value::Str(enc)] if matches!(&**enc, "latin1" | "latin-1") => text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).map_err(|_| bad(format!("{c:?} is not latin-1"))))
                .collect::<Result<Vec<u8>, _>>()
                .map(|b| Value::Bytes(b.into())),
            _ => Err(bad("expected (str, 'latin1')".into())),
        },
        Global::Bytes if a.is_empty() => Ok(Value::Bytes(Rc::from(&b""[..]))),
        Global::Bytes => Err(bad("expected no arguments".into())),
        Global::Storage(_) => Err(bad("storage classes are never called in a state dict".into())),
    }
}

fn check_grad_and_hooks(requires_grad: &Value, hooks: &Value) -> Result<(), String> {
    if !matches!(requires_grad, Value::Bool(_)) {
        return Err(format!("requires_grad is a {}, not a bool", requires_grad.kind()));
    }
    if !matches!(hooks, Value::Dict(_) | Value::None) {
        return Err(format!("backward_hooks is a {}, not a dict", hooks.kind()));
    }
    Ok(())
}

fn tensor(storage: &Value, offset: &Value, size: &Value, stride: &Value) -> Result<Value, String> {
    let Value::Storage(storage) = storage else {
        return Err(format!("the storage argument is a {}", storage.kind()));
    };
    let offset = offset.as_int().ok_or_else(|| format!("storage_offset is a {}", offset.kind()))?;
    Ok(Value::Tensor(Rc::new(TensorRef {
        storage: storage.clone(),
        offset,
        size: ints(size, "size")?,
        stride: ints(stride, "stride")?,
    })))
}

fn ints(v: &Value, what: &str) -> Result<Vec<i128>, String> {
    let Value::Tuple(t) = v else { return Err(format!("{what} is a {}, not a tuple", v.kind())) };
    t.items.iter().map(|x| x.as_int().ok_or_else(|| format!("{what} holds a {}", x.kind()))).collect()
}

/// torch's `persistent_load`: `('storage', storage_class, key, location, numel)`, with a sixth element
/// (`None` or `(view_key, offset, size)`) in the legacy format. The location (`cpu`, `cuda:0`) is ignored:
/// the data is read to memory either way.
pub(crate) fn persistent_load(pid: &Value) -> Result<Value, PickleProblem> {
    let bad = |s: String| PickleProblem::PersistentId(s);
    let Value::Tuple(t) = pid else { return Err(bad(format!("a {}, not a tuple", pid.kind()))) };
    let (typename, class, key, numel, view) = match t.items.as_slice() {
        [a, b, c, _location, e] => (a, b, c, e, None),
        [a, b, c, _location, e, f] => (a, b, c, e, Some(f)),
        items => return Err(bad(format!("a tuple of {} items, expected 5 or 6", items.len()))),
    };
    if typename.as_str() != Some("storage") {
        return Err(bad("its first item is not 'storage'".into()));
    }
    let Value::Global(Global::Storage(dtype)) = class else {
        return Err(bad(format!("its storage type is a {}", class.kind())));
    };
    let key = match key {
        Value::Str(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        other => return Err(bad(format!("its key is a {}", other.kind()))),
    };
    let numel =
        numel.as_int().and_then(|n| u64::try_from(n).ok()).ok_or_else(|| bad("its numel is not a count".into()))?;
    let view = match view {
        None | Some(Value::None) => None,
        Some(Value::Tuple(v)) => match v.items.as_slice() {
            [_view_key, off, size] => match (off.as_int().map(u64::try_from), size.as_int().map(u64::try_from)) {
                (Some(Ok(off)), Some(Ok(size))) => Some((off, size)),
                _ => return Err(bad("its view offset or size is not a count".into())),
            },
            _ => return Err(bad("its view metadata is not (key, offset, size)".into())),
        },
        Some(other) => return Err(bad(format!("its view metadata is a {}", other.kind()))),
    };
    Ok(Value::Storage(Rc::new(StorageRef { key, dtype: *dtype, numel, view })))
}
