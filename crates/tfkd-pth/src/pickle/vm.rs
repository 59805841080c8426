//! The unpickler: a stack machine over the opcodes `torch.save` emits (protocol 2, plus the protocol 3–4
//! opcodes that cost nothing to accept). It builds [`Value`]s and never imports or runs anything: globals are
//! looked up in a fixed table ([`Global::resolve`]) and calls are interpreted by [`calls`].

use std::{collections::HashMap, rc::Rc};

use super::{
    calls,
    op::*,
    value::{build, dict_set, list_extend, Global, Value},
};
use crate::error::{PickleError, PickleProblem};

/// A pickle's result and the offset just past its STOP (where the legacy format's next record starts).
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The object.
    pub value: Value,
    /// Offset after the STOP opcode.
    pub end: usize,
}

/// Unpickles the pickle that starts at `start` in `data`; error offsets count from the start of `data`.
pub(crate) fn load(data: &[u8], start: usize) -> Result<Loaded, PickleError> {
    let mut vm = Vm { data, pos: start, stack: Vec::new(), marks: Vec::new(), memo: HashMap::new() };
    loop {
        let at = vm.pos;
        match vm.step() {
            Ok(None) => {}
            Ok(Some(value)) => return Ok(Loaded { value, end: vm.pos }),
            Err(kind) => return Err(PickleError { at, kind }),
        }
    }
}

type Step = Result<Option<Value>, PickleProblem>;

struct Vm<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
}

impl Vm<'_> {
    fn step(&mut self) -> Step {
        let op = self.u8("an opcode")?;
        match op {
            PROTO => match self.u8("PROTO")? {
                v if v <= 5 => {}
                v => return Err(PickleProblem::Protocol(v)),
            },
            FRAME => {
                self.take(8, "FRAME")?;
            }
            STOP => return self.pop("STOP").map(Some),
            MARK => self.marks.push(self.stack.len()),
            POP => {
                self.pop("POP")?;
            }
            DUP => {
                let top = self.top("DUP")?.clone();
                self.stack.push(top);
            }
            BINPUT | LONG_BINPUT | MEMOIZE | BINGET | LONG_BINGET => self.memo_op(op)?,
            TUPLE | TUPLE1 | TUPLE2 | TUPLE3 | LIST | DICT | APPEND | APPENDS | SETITEM | SETITEMS => {
                self.container_op(op)?;
            }
            GLOBAL | STACK_GLOBAL | REDUCE | NEWOBJ | BUILD | BINPERSID => self.object_op(op)?,
            _ => {
                let v = self.literal(op)?;
                self.stack.push(v);
            }
        }
        Ok(None)
    }

    /// Opcodes that push one new value read from the pickle itself.
    fn literal(&mut self, op: u8) -> Result<Value, PickleProblem> {
        Ok(match op {
            NONE => Value::None,
            NEWTRUE => Value::Bool(true),
            NEWFALSE => Value::Bool(false),
            BININT1 => Value::Int(i128::from(self.u8("BININT1")?)),
            BININT2 => Value::Int(i128::from(u16::from_le_bytes(self.array("BININT2")?))),
            BININT => Value::Int(i128::from(i32::from_le_bytes(self.array("BININT")?))),
            LONG1 => {
                let n = usize::from(self.u8("LONG1")?);
                Value::Int(long(self.take(n, "LONG1")?)?)
            }
            LONG4 => {
                let n = self.len32("LONG4")?;
                Value::Int(long(self.take(n, "LONG4")?)?)
            }
            BINFLOAT => Value::Float(f64::from_be_bytes(self.array("BINFLOAT")?)),
            SHORT_BINUNICODE | SHORT_BINSTRING => {
                let n = usize::from(self.u8("a short string")?);
                self.string(n)?
            }
            BINUNICODE | BINSTRING => {
                let n = self.len32("a string")?;
                self.string(n)?
            }
            BINUNICODE8 => {
                let n = usize::try_from(u64::from_le_bytes(self.array("BINUNICODE8")?))
                    .map_err(|_| PickleProblem::Truncated("BINUNICODE8"))?;
                self.string(n)?
            }
            SHORT_BINBYTES => {
                let n = usize::from(self.u8("SHORT_BINBYTES")?);
                Value::Bytes(Rc::from(self.take(n, "SHORT_BINBYTES")?))
            }
            BINBYTES => {
                let n = self.len32("BINBYTES")?;
                Value::Bytes(Rc::from(self.take(n, "BINBYTES")?))
            }
            EMPTY_TUPLE => Value::tuple(Vec::new())?,
            EMPTY_LIST => Value::empty_list(),
            EMPTY_DICT => Value::empty_dict(),
            other => return Err(PickleProblem::UnknownOpcode(other)),
        })
    }

    fn memo_op(&mut self, op: u8) -> Result<(), PickleProblem> {
        match op {
            BINPUT | LONG_BINPUT | MEMOIZE => {
                let index = match op {
                    BINPUT => u32::from(self.u8("BINPUT")?),
                    LONG_BINPUT => u32::from_le_bytes(self.array("LONG_BINPUT")?),
                    _ => u32::try_from(self.memo.len()).map_err(|_| PickleProblem::Memo(u32::MAX))?,
                };
                let top = self.top("BINPUT")?.clone();
                self.memo.insert(index, top);
            }
            _ => {
                let index = match op {
                    BINGET => u32::from(self.u8("BINGET")?),
                    _ => u32::from_le_bytes(self.array("LONG_BINGET")?),
                };
                let v = self.memo.get(&index).ok_or(PickleProblem::Memo(index))?.clone();
                self.stack.push(v);
            }
        }
        Ok(())
    }

    fn container_op(&mut self, op: u8) -> Result<(), PickleProblem> {
        match op {
            TUPLE1 | TUPLE2 | TUPLE3 => {
                let n = usize::from(op - TUPLE1 + 1);
                if self.stack.len() < n + self.marks.last().copied().unwrap_or(0) {
                    return Err(PickleProblem::StackUnderflow("TUPLE1/2/3"));
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.stack.push(Value::tuple(items)?);
            }
            TUPLE => {
                let items = self.pop_mark("TUPLE")?;
                self.stack.push(Value::tuple(items)?);
            }
            LIST | DICT => {
                let items = self.pop_mark("LIST/DICT")?;
                let v = if op == LIST { Value::empty_list() } else { Value::empty_dict() };
                if op == LIST {
                    list_extend(&v, items)?
                } else {
                    dict_set(&v, items)?
                }
                self.stack.push(v);
            }
            APPEND => {
                let v = self.pop("APPEND")?;
                list_extend(self.top("APPEND")?, vec![v])?;
            }
            APPENDS => {
                let items = self.pop_mark("APPENDS")?;
                list_extend(self.top("APPENDS")?, items)?;
            }
            SETITEM => {
                let v = self.pop("SETITEM")?;
                let k = self.pop("SETITEM")?;
                dict_set(self.top("SETITEM")?, vec![k, v])?;
            }
            _ => {
                let items = self.pop_mark("SETITEMS")?;
                dict_set(self.top("SETITEMS")?, items)?;
            }
        }
        Ok(())
    }

    fn object_op(&mut self, op: u8) -> Result<(), PickleProblem> {
        let v = match op {
            GLOBAL => {
                let module = self.line()?;
                let name = self.line()?;
                global(&module, &name)?
            }
            STACK_GLOBAL => {
                let name = self.pop("STACK_GLOBAL")?;
                let module = self.pop("STACK_GLOBAL")?;
                match (module.as_str(), name.as_str()) {
                    (Some(m), Some(n)) => global(m, n)?,
                    _ => return Err(wrong("STACK_GLOBAL", "two strs", module.kind())),
                }
            }
            REDUCE | NEWOBJ => {
                let args = self.pop("REDUCE")?;
                let callee = self.pop("REDUCE")?;
                calls::call(&callee, &args, op == NEWOBJ)?
            }
            BUILD => {
                let state = self.pop("BUILD")?;
                build(self.top("BUILD")?, &state)?;
                return Ok(());
            }
            _ => {
                let pid = self.pop("BINPERSID")?;
                calls::persistent_load(&pid)?
            }
        };
        self.stack.push(v);
        Ok(())
    }

    fn pop(&mut self, op: &'static str) -> Result<Value, PickleProblem> {
        if self.stack.len() <= self.marks.last().copied().unwrap_or(0) {
            return Err(PickleProblem::StackUnderflow(op));
        }
        self.stack.pop().ok_or(PickleProblem::StackUnderflow(op))
    }

    fn top(&self, op: &'static str) -> Result<&Value, PickleProblem> {
        if self.stack.len() <= self.marks.last().copied().unwrap_or(0) {
            return Err(PickleProblem::StackUnderflow(op));
        }
        self.stack.last().ok_or(PickleProblem::StackUnderflow(op))
    }

    fn pop_mark(&mut self, op: &'static str) -> Result<Vec<Value>, PickleProblem> {
        let mark = self.marks.pop().ok_or(PickleProblem::NoMark(op))?;
        Ok(self.stack.split_off(mark.min(self.stack.len())))
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&[u8], PickleProblem> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len()).ok_or(PickleProblem::Truncated(what))?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], PickleProblem> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, PickleProblem> {
        Ok(self.array::<1>(what)?[0])
    }

    fn len32(&mut self, what: &'static str) -> Result<usize, PickleProblem> {
        usize::try_from(u32::from_le_bytes(self.array(what)?)).map_err(|_| PickleProblem::Truncated(what))
    }

    fn string(&mut self, n: usize) -> Result<Value, PickleProblem> {
        let bytes = self.take(n, "a string")?;
        let s = std::str::from_utf8(bytes).map_err(|_| PickleProblem::Utf8)?;
        Ok(Value::Str(Rc::from(s)))
    }

    /// A newline-terminated line (GLOBAL's module and name).
    fn line(&mut self) -> Result<String, PickleProblem> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let n = rest.iter().position(|&b| b == b'\n').ok_or(PickleProblem::Truncated("GLOBAL"))?;
        let line = std::str::from_utf8(&rest[..n]).map_err(|_| PickleProblem::Utf8)?.to_string();
        self.pos += n + 1;
        Ok(line)
    }
}

fn global(module: &str, name: &str) -> Result<Value, PickleProblem> {
    Global::resolve(module, name).map(Value::Global).ok_or_else(|| PickleProblem::Global(format!("{module}.{name}")))
}

fn wrong(op: &'static str, expected: &'static str, found: &'static str) -> PickleProblem {
    PickleProblem::WrongType { op, expected, found }
}

/// A little-endian two's-complement integer (LONG1, LONG4), as Python's `decode_long`.
fn long(bytes: &[u8]) -> Result<i128, PickleProblem> {
    if bytes.len() > 16 {
        return Err(PickleProblem::IntTooWide(bytes.len()));
    }
    let Some(&last) = bytes.last() else { return Ok(0) };
    let fill = if last & 0x80 != 0 { 0xff } else { 0 };
    let mut buf = [fill; 16];
    buf[..bytes.len()].copy_from_slice(bytes);
    Ok(i128::from_le_bytes(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_decodes_like_python() {
        // Python: pickle.encode_long(255) == b'\xff\x00', encode_long(-1) == b'\xff', encode_long(-256) == b'\x00\xff'.
        assert_eq!(long(&[0xff, 0x00]), Ok(255));
        assert_eq!(long(&[0xff]), Ok(-1));
        assert_eq!(long(&[0x00, 0xff]), Ok(-256));
        assert_eq!(long(&[]), Ok(0));
        assert_eq!(long(&[0; 17]), Err(PickleProblem::IntTooWide(17)));
    }

    #[test]
    fn refuses_unknown_globals_without_running_them() {
        let pickle = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85R.";
        let err = load(pickle, 0).unwrap_err();
        assert_eq!(err.kind, PickleProblem::Global("os.system".into()));
        assert_eq!(err.at, 2);
    }

    #[test]
    fn refuses_self_reference() {
        // l = []; l.append(l)
        let pickle = b"\x80\x02]q\x00h\x00a.";
        assert_eq!(load(pickle, 0).unwrap_err().kind, PickleProblem::SelfReference);
    }

    #[test]
    fn bounds_nesting() {
        let mut pickle = b"\x80\x02)".to_vec();
        pickle.extend(std::iter::repeat_n(TUPLE1, 100_000));
        pickle.push(STOP);
        assert_eq!(load(&pickle, 0).unwrap_err().kind, PickleProblem::TooDeep(super::super::value::MAX_DEPTH));
    }
}
