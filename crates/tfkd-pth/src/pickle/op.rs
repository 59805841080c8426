//! Pickle opcodes (CPython's `Lib/pickle.py` names), those this crate reads or writes.

/// Push a mark on the mark stack.
pub(crate) const MARK: u8 = b'(';
/// End of the pickle; its result is the stack's top.
pub(crate) const STOP: u8 = b'.';
/// Discard the stack's top.
pub(crate) const POP: u8 = b'0';
/// Duplicate the stack's top.
pub(crate) const DUP: u8 = b'2';
/// 4-byte signed little-endian int.
pub(crate) const BININT: u8 = b'J';
/// 1-byte unsigned int.
pub(crate) const BININT1: u8 = b'K';
/// 2-byte unsigned little-endian int.
pub(crate) const BININT2: u8 = b'M';
/// `None`.
pub(crate) const NONE: u8 = b'N';
/// Persistent id: the stack's top names an object stored outside the pickle.
pub(crate) const BINPERSID: u8 = b'Q';
/// Call the callable below the top with the argument tuple on top.
pub(crate) const REDUCE: u8 = b'R';
/// Bytes string (Python 2 `str`), 4-byte length.
pub(crate) const BINSTRING: u8 = b'T';
/// Bytes string (Python 2 `str`), 1-byte length.
pub(crate) const SHORT_BINSTRING: u8 = b'U';
/// UTF-8 str, 4-byte length.
pub(crate) const BINUNICODE: u8 = b'X';
/// Append the top to the list below it.
pub(crate) const APPEND: u8 = b'a';
/// Set the state of the object below the top.
pub(crate) const BUILD: u8 = b'b';
/// Push a global named by two newline-terminated lines, module and name.
pub(crate) const GLOBAL: u8 = b'c';
/// Build a dict from the items above the mark.
pub(crate) const DICT: u8 = b'd';
/// Push an empty dict.
pub(crate) const EMPTY_DICT: u8 = b'}';
/// Append the items above the mark to the list below the mark.
pub(crate) const APPENDS: u8 = b'e';
/// Push memo entry, 1-byte index.
pub(crate) const BINGET: u8 = b'h';
/// Push memo entry, 4-byte index.
pub(crate) const LONG_BINGET: u8 = b'j';
/// Build a list from the items above the mark.
pub(crate) const LIST: u8 = b'l';
/// Push an empty list.
pub(crate) const EMPTY_LIST: u8 = b']';
/// Store the top in the memo, 1-byte index.
pub(crate) const BINPUT: u8 = b'q';
/// Store the top in the memo, 4-byte index.
pub(crate) const LONG_BINPUT: u8 = b'r';
/// Set one key/value pair in the dict below them.
pub(crate) const SETITEM: u8 = b's';
/// Build a tuple from the items above the mark.
pub(crate) const TUPLE: u8 = b't';
/// Push an empty tuple.
pub(crate) const EMPTY_TUPLE: u8 = b')';
/// Set the key/value pairs above the mark in the dict below the mark.
pub(crate) const SETITEMS: u8 = b'u';
/// 8-byte big-endian float.
pub(crate) const BINFLOAT: u8 = b'G';
/// Protocol version (protocol >= 2).
pub(crate) const PROTO: u8 = 0x80;
/// `cls.__new__(cls, *args)`.
pub(crate) const NEWOBJ: u8 = 0x81;
/// Tuple of the top item.
pub(crate) const TUPLE1: u8 = 0x85;
/// Tuple of the top two items.
pub(crate) const TUPLE2: u8 = 0x86;
/// Tuple of the top three items.
pub(crate) const TUPLE3: u8 = 0x87;
/// `True`.
pub(crate) const NEWTRUE: u8 = 0x88;
/// `False`.
pub(crate) const NEWFALSE: u8 = 0x89;
/// Little-endian two's-complement int, 1-byte length.
pub(crate) const LONG1: u8 = 0x8a;
/// Little-endian two's-complement int, 4-byte length.
pub(crate) const LONG4: u8 = 0x8b;
/// Bytes, 4-byte length (protocol 3).
pub(crate) const BINBYTES: u8 = b'B';
/// Bytes, 1-byte length (protocol 3).
pub(crate) const SHORT_BINBYTES: u8 = b'C';
/// UTF-8 str, 1-byte length (protocol 4).
pub(crate) const SHORT_BINUNICODE: u8 = 0x8c;
/// UTF-8 str, 8-byte length (protocol 4).
pub(crate) const BINUNICODE8: u8 = 0x8d;
/// Push a global named by the two strs on top, module below name (protocol 4).
pub(crate) const STACK_GLOBAL: u8 = 0x93;
/// Store the top in the memo at the next index (protocol 4).
pub(crate) const MEMOIZE: u8 = 0x94;
/// Framing hint with an 8-byte length (protocol 4); frames need no special handling here.
pub(crate) const FRAME: u8 = 0x95;
