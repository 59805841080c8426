//! The pickler for writing: `data.pkl` of an `OrderedDict` of tensors, byte for byte what CPython's pickler
//! writes when `torch.save` saves a state dict (protocol 2, the same memo indices, the same int and tuple
//! opcodes, items in batches of 1000), so torch's weights-only unpickler sees only the globals it saves itself.
//!
//! Python memoizes by object identity; the strings `'storage'` and `'cpu'`, the globals and the hooks'
//! `OrderedDict` class recur (BINGET after the first time), every key, tuple and storage key is a new object.

use std::collections::HashMap;

use super::op::*;
use crate::{tensor::contiguous_strides, DType};

/// One tensor as the pickle describes it: name, dtype, shape; its storage is `data/<index>`.
pub(crate) struct Entry<'a> {
    /// The state-dict key.
    pub name: &'a str,
    /// Element type.
    pub dtype: DType,
    /// Shape.
    pub shape: &'a [usize],
}

/// Python's `_batch_setitems` batch size.
const BATCH: usize = 1000;

/// `data.pkl` for `OrderedDict((name, tensor) …)`, tensor `i` stored contiguously in storage key `i`.
pub(crate) fn state_dict(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut p = Pickler::default();
    p.out.extend_from_slice(&[PROTO, 2]);
    let od = p.global("collections", "OrderedDict");
    p.out.extend_from_slice(&[EMPTY_TUPLE, REDUCE]);
    p.put();
    for (b, batch) in entries.chunks(BATCH).enumerate() {
        if batch.len() > 1 {
            p.out.push(MARK);
        }
        for (i, e) in batch.iter().enumerate() {
            p.fresh_str(e.name);
            p.tensor(e, b * BATCH + i, od);
        }
        p.out.push(if batch.len() > 1 { SETITEMS } else { SETITEM });
    }
    p.out.push(STOP);
    p.out
}

#[derive(Default)]
struct Pickler {
    out: Vec<u8>,
    memo_len: u32,
    globals: HashMap<(&'static str, &'static str), u32>,
    strings: HashMap<&'static str, u32>,
}

impl Pickler {
    /// `_rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())`, as `Tensor.__reduce_ex__` gives it.
    fn tensor(&mut self, e: &Entry<'_>, index: usize, od: u32) {
        let numel = e.shape.iter().product::<usize>();
        self.global("torch._utils", "_rebuild_tensor_v2");
        self.out.extend_from_slice(&[MARK, MARK]);
        self.interned_str("storage");
        self.global("torch", e.dtype.storage_class());
        self.fresh_str(&index.to_string());
        self.interned_str("cpu");
        self.int(numel as u64);
        self.out.push(TUPLE);
        self.put();
        self.out.push(BINPERSID);
        self.int(0);
        self.int_tuple(e.shape);
        self.int_tuple(&contiguous_strides(e.shape));
        self.out.push(NEWFALSE);
        self.get(od);
        self.out.extend_from_slice(&[EMPTY_TUPLE, REDUCE]);
        self.put();
        self.out.push(TUPLE);
        self.put();
        self.out.push(REDUCE);
        self.put();
    }

    fn put(&mut self) -> u32 {
        let idx = self.memo_len;
        match u8::try_from(idx) {
            Ok(i) => self.out.extend_from_slice(&[BINPUT, i]),
            Err(_) => {
                self.out.push(LONG_BINPUT);
                self.out.extend_from_slice(&idx.to_le_bytes());
            }
        }
        self.memo_len += 1;
        idx
    }

    fn get(&mut self, idx: u32) {
        match u8::try_from(idx) {
            Ok(i) => self.out.extend_from_slice(&[BINGET, i]),
            Err(_) => {
                self.out.push(LONG_BINGET);
                self.out.extend_from_slice(&idx.to_le_bytes());
            }
        }
    }

    /// A global, memoized the first time (Python memoizes classes and functions by identity).
    fn global(&mut self, module: &'static str, name: &'static str) -> u32 {
        if let Some(&i) = self.globals.get(&(module, name)) {
            self.get(i);
            return i;
        }
        self.out.push(GLOBAL);
        for part in [module, name] {
            self.out.extend_from_slice(part.as_bytes());
            self.out.push(b'\n');
        }
        let i = self.put();
        self.globals.insert((module, name), i);
        i
    }

    /// A str that is one object every time it occurs (a literal in torch's code).
    fn interned_str(&mut self, s: &'static str) {
        if let Some(&i) = self.strings.get(s) {
            self.get(i);
        } else {
            self.fresh_str(s);
            self.strings.insert(s, self.memo_len - 1);
        }
    }

    /// A str that is a new object (a key, a storage key).
    fn fresh_str(&mut self, s: &str) {
        self.out.push(BINUNICODE);
        // Names over 4 GiB cannot occur: the writer refuses archives over 4 GiB before pickling.
        self.out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
        self.put();
    }

    /// A non-negative int with the smallest opcode Python's `save_long` picks.
    fn int(&mut self, v: u64) {
        if let Ok(b) = u8::try_from(v) {
            self.out.extend_from_slice(&[BININT1, b]);
        } else if let Ok(w) = u16::try_from(v) {
            self.out.push(BININT2);
            self.out.extend_from_slice(&w.to_le_bytes());
        } else if let Ok(d) = i32::try_from(v) {
            self.out.push(BININT);
            self.out.extend_from_slice(&d.to_le_bytes());
        } else {
            // encode_long: little-endian two's complement, (bit_length >> 3) + 1 bytes.
            let n = ((64 - v.leading_zeros()) >> 3) + 1;
            self.out.extend_from_slice(&[LONG1, n as u8]);
            self.out.extend_from_slice(&v.to_le_bytes()[..(n as usize).min(8)]);
            self.out.extend(std::iter::repeat_n(0u8, (n as usize).saturating_sub(8)));
        }
    }

    /// A tuple of ints: EMPTY_TUPLE (not memoized), TUPLE1–3, or MARK … TUPLE.
    fn int_tuple(&mut self, v: &[usize]) {
        if v.is_empty() {
            self.out.push(EMPTY_TUPLE);
            return;
        }
        if v.len() > 3 {
            self.out.push(MARK);
        }
        for &x in v {
            self.int(x as u64);
        }
        self.out.push(match v.len() {
            1 => TUPLE1,
            2 => TUPLE2,
            3 => TUPLE3,
            _ => TUPLE,
        });
        self.put();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_use_pythons_opcodes() {
        // pickle.dumps(n, 2)[2:-1] in CPython for 255, 256, 65536, 2**31, 2**63.
        let cases: [(u64, &[u8]); 5] = [
            (255, b"K\xff"),
            (256, b"M\x00\x01"),
            (65536, b"J\x00\x00\x01\x00"),
            (1 << 31, b"\x8a\x05\x00\x00\x00\x80\x00"),
            (1 << 63, b"\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00"),
        ];
        for (v, want) in cases {
            let mut p = Pickler::default();
            p.int(v);
            assert_eq!(p.out, want, "{v}");
        }
    }
}
