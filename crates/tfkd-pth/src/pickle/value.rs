//! The values the unpickler builds: Python's plain data, plus the few torch objects a state dict needs.
//!
//! Containers record how deeply they nest and whether they sit inside another container. A container is
//! filled before it is placed anywhere (that is how Python's pickler writes them), so refusing to modify
//! one that is already inside another keeps the recorded depths exact, and a depth limit then bounds every
//! recursion over values (hashing, dropping), whatever the input.

use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
    rc::Rc,
};

use crate::{error::PickleProblem, DType};

/// How deeply containers may nest (torch's checkpoints nest about 5 levels: checkpoint → optimiser state →
/// param groups → list of ids).
pub(crate) const MAX_DEPTH: usize = 64;

/// A value on the unpickler's stack.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An int (Python's are unbounded; wider than 128 bits is refused).
    Int(i128),
    /// A float.
    Float(f64),
    /// A str.
    Str(Rc<str>),
    /// A bytes object.
    Bytes(Rc<[u8]>),
    /// A tuple.
    Tuple(Rc<Tuple>),
    /// A list.
    List(Rc<Container<Vec<Value>>>),
    /// A dict or `collections.OrderedDict` (both keep insertion order).
    Dict(Rc<Container<Dict>>),
    /// One of the globals this reader allows.
    Global(Global),
    /// A storage, as torch's persistent id names it.
    Storage(Rc<StorageRef>),
    /// A tensor: a view of a storage.
    Tensor(Rc<TensorRef>),
}

/// An immutable tuple and its nesting depth.
#[derive(Debug)]
pub(crate) struct Tuple {
    /// The elements.
    pub items: Vec<Value>,
    depth: usize,
}

/// A mutable container (list or dict) with its nesting depth and whether it is inside another container.
#[derive(Debug)]
pub(crate) struct Container<T> {
    /// The contents.
    pub items: RefCell<T>,
    depth: Cell<usize>,
    nested: Cell<bool>,
}

/// A dict's entries in insertion order, indexed by their keys.
#[derive(Debug, Default)]
pub(crate) struct Dict {
    /// `(key, value)` pairs in insertion order.
    pub entries: Vec<(Value, Value)>,
    index: HashMap<Key, usize>,
}

/// A hashable image of a dict key (Python's equality: `True == 1 == 1.0`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    None,
    Int(i128),
    Float(u64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Tuple(Vec<Key>),
}

/// The globals a `torch.save` state dict refers to; any other is refused when the pickle names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Global {
    /// `collections.OrderedDict`.
    OrderedDict,
    /// `torch._utils._rebuild_tensor_v2` (torch >= 0.4).
    RebuildTensorV2,
    /// `torch._utils._rebuild_tensor` (torch 0.3).
    RebuildTensor,
    /// `torch._utils._rebuild_parameter`.
    RebuildParameter,
    /// `torch._utils._rebuild_parameter_with_state`.
    RebuildParameterWithState,
    /// `_codecs.encode`, which protocol 2 uses for Python 3 bytes (`encode(text, 'latin1')`).
    CodecsEncode,
    /// `builtins.bytes` (`__builtin__.bytes` in protocol 2), called with no arguments for `b''`.
    Bytes,
    /// A storage class: `torch.FloatStorage` (or `torch.cuda.FloatStorage`, …), or `torch.UntypedStorage` (U8).
    Storage(DType),
}

impl Global {
    /// The allowed global `module.name`, if it is one.
    pub(crate) fn resolve(module: &str, name: &str) -> Option<Global> {
        match (module, name) {
            ("collections", "OrderedDict") => Some(Global::OrderedDict),
            ("torch._utils", "_rebuild_tensor_v2") => Some(Global::RebuildTensorV2),
            ("torch._utils", "_rebuild_tensor") => Some(Global::RebuildTensor),
            ("torch._utils", "_rebuild_parameter") => Some(Global::RebuildParameter),
            ("torch._utils", "_rebuild_parameter_with_state") => Some(Global::RebuildParameterWithState),
            ("_codecs", "encode") => Some(Global::CodecsEncode),
            ("builtins" | "__builtin__", "bytes") => Some(Global::Bytes),
            ("torch" | "torch.storage", "UntypedStorage") => Some(Global::Storage(DType::U8)),
            ("torch" | "torch.cuda", class) => DType::from_storage_class(class).map(Global::Storage),
            _ => None,
        }
    }

    /// The global's Python name, for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Global::OrderedDict => "collections.OrderedDict",
            Global::RebuildTensorV2 => "torch._utils._rebuild_tensor_v2",
            Global::RebuildTensor => "torch._utils._rebuild_tensor",
            Global::RebuildParameter => "torch._utils._rebuild_parameter",
            Global::RebuildParameterWithState => "torch._utils._rebuild_parameter_with_state",
            Global::CodecsEncode => "_codecs.encode",
            Global::Bytes => "builtins.bytes",
            Global::Storage(_) => "a torch storage class",
        }
    }
}

/// A storage as a persistent id names it: the data lives outside the pickle, under `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StorageRef {
    /// The record (zip `data/<key>`) or legacy storage key.
    pub key: String,
    /// The element type the storage is read as.
    pub dtype: DType,
    /// Elements in the (root) storage.
    pub numel: u64,
    /// Legacy format only: this storage is elements `[offset, offset + size)` of the root storage.
    pub view: Option<(u64, u64)>,
}

/// A tensor before its data is read: which storage, and the view (offset, sizes, strides in elements).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TensorRef {
    /// Its storage.
    pub storage: Rc<StorageRef>,
    /// Storage offset, in elements.
    pub offset: i128,
    /// Sizes.
    pub size: Vec<i128>,
    /// Strides, in elements.
    pub stride: Vec<i128>,
}

impl Value {
    /// The kind, as Python would name its type (for messages).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Global(_) => "global",
            Value::Storage(_) => "storage",
            Value::Tensor(_) => "tensor",
        }
    }

    /// How deeply containers nest inside this value (0 for a non-container).
    fn depth(&self) -> usize {
        match self {
            Value::Tuple(t) => t.depth,
            Value::List(c) => c.depth.get(),
            Value::Dict(c) => c.depth.get(),
            _ => 0,
        }
    }

    /// Records that this value now sits inside a container (a nested list or dict may no longer change).
    fn mark_nested(&self) {
        match self {
            Value::List(c) => c.nested.set(true),
            Value::Dict(c) => c.nested.set(true),
            _ => {}
        }
    }

    /// A new tuple of `items`.
    pub(crate) fn tuple(items: Vec<Value>) -> Result<Value, PickleProblem> {
        let depth = child_depth(&items)?;
        items.iter().for_each(Value::mark_nested);
        Ok(Value::Tuple(Rc::new(Tuple { items, depth })))
    }

    /// A new, empty list.
    pub(crate) fn empty_list() -> Value {
        Value::List(Rc::new(Container::new(Vec::new())))
    }

    /// A new, empty dict.
    pub(crate) fn empty_dict() -> Value {
        Value::Dict(Rc::new(Container::new(Dict::default())))
    }

    /// The str, if this is one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The int, if this is one (a bool counts, as in Python).
    pub(crate) fn as_int(&self) -> Option<i128> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i128::from(*b)),
            _ => None,
        }
    }

    fn key(&self) -> Result<Key, PickleProblem> {
        Ok(match self {
            Value::None => Key::None,
            Value::Bool(b) => Key::Int(i128::from(*b)),
            Value::Int(i) => Key::Int(*i),
            #[allow(clippy::cast_possible_truncation)] // guarded: integral and within ±2^100
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e30 => Key::Int(*f as i128),
            Value::Float(f) => Key::Float(f.to_bits()),
            Value::Str(s) => Key::Str(s.clone()),
            Value::Bytes(b) => Key::Bytes(b.clone()),
            Value::Tuple(t) => Key::Tuple(t.items.iter().map(Value::key).collect::<Result<_, _>>()?),
            other => return Err(PickleProblem::Unhashable(other.kind())),
        })
    }
}

fn child_depth(items: &[Value]) -> Result<usize, PickleProblem> {
    let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
    if depth > MAX_DEPTH {
        return Err(PickleProblem::TooDeep(MAX_DEPTH));
    }
    Ok(depth)
}

impl<T> Container<T> {
    fn new(items: T) -> Container<T> {
        Container { items: RefCell::new(items), depth: Cell::new(1), nested: Cell::new(false) }
    }

    /// Checks that `values` may be added to this container and records them as nested in it.
    fn admit(self: &Rc<Self>, values: &[Value], me: &Value) -> Result<(), PickleProblem> {
        if self.nested.get() {
            return Err(PickleProblem::SelfReference);
        }
        if values.iter().any(|v| same_object(v, me)) {
            return Err(PickleProblem::SelfReference);
        }
        let depth = child_depth(values)?.max(self.depth.get());
        self.depth.set(depth);
        values.iter().for_each(Value::mark_nested);
        Ok(())
    }
}

fn same_object(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::List(x), Value::List(y)) => Rc::ptr_eq(x, y),
        (Value::Dict(x), Value::Dict(y)) => Rc::ptr_eq(x, y),
        _ => false,
    }
}

/// Appends `values` to the list `list` (APPEND, APPENDS).
pub(crate) fn list_extend(list: &Value, values: Vec<Value>) -> Result<(), PickleProblem> {
    let Value::List(c) = list else {
        return Err(PickleProblem::WrongType { op: "APPEND", expected: "a list", found: list.kind() });
    };
    c.admit(&values, list)?;
    c.items.try_borrow_mut().map_err(|_| PickleProblem::SelfReference)?.extend(values);
    Ok(())
}

/// Sets `pairs` (key, value, key, value, …) in the dict `dict` (SETITEM, SETITEMS); a key already present
/// keeps its place and takes the new value, as in Python.
pub(crate) fn dict_set(dict: &Value, pairs: Vec<Value>) -> Result<(), PickleProblem> {
    let Value::Dict(c) = dict else {
        return Err(PickleProblem::WrongType { op: "SETITEM", expected: "a dict", found: dict.kind() });
    };
    if pairs.len() % 2 != 0 {
        return Err(PickleProblem::BadCall { callee: "SETITEMS", detail: "an odd number of items".into() });
    }
    let keys: Vec<Key> = pairs.iter().step_by(2).map(Value::key).collect::<Result<_, _>>()?;
    c.admit(&pairs, dict)?;
    let mut d = c.items.try_borrow_mut().map_err(|_| PickleProblem::SelfReference)?;
    let mut it = pairs.into_iter();
    for key in keys {
        let (Some(k), Some(v)) = (it.next(), it.next()) else { break };
        match d.index.get(&key) {
            Some(&i) => d.entries[i].1 = v,
            None => {
                let i = d.entries.len();
                d.index.insert(key, i);
                d.entries.push((k, v));
            }
        }
    }
    Ok(())
}

/// Applies BUILD's `state` to `target`: only an ordered dict's attribute dict (`_metadata`) is accepted, and
/// it is checked and dropped (tensors do not depend on it).
pub(crate) fn build(target: &Value, state: &Value) -> Result<(), PickleProblem> {
    match (target, state) {
        (Value::Dict(_), Value::Dict(_) | Value::None) => Ok(()),
        (Value::Dict(_), _) => {
            Err(PickleProblem::WrongType { op: "BUILD on a dict", expected: "an attribute dict", found: state.kind() })
        }
        _ => Err(PickleProblem::WrongType { op: "BUILD", expected: "an OrderedDict", found: target.kind() }),
    }
}
