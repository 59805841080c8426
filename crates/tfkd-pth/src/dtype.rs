//! The element types a state dict's tensors may have, with the names torch gives them.

use std::fmt;

/// A tensor's element type: the ten torch dtypes that model weights and buffers use.
///
/// Each one maps to one legacy typed-storage class (`torch.FloatStorage`, …), which is how `torch.save` names
/// the type of a storage in its pickle, in both the zip and the legacy format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// `torch.float32`.
    F32,
    /// `torch.float64`.
    F64,
    /// `torch.float16` (IEEE half precision).
    F16,
    /// `torch.bfloat16`.
    BF16,
    /// `torch.int64` (BatchNorm's `num_batches_tracked`, class indices).
    I64,
    /// `torch.int32`.
    I32,
    /// `torch.int16`.
    I16,
    /// `torch.int8`.
    I8,
    /// `torch.uint8`; also what an untyped storage holds.
    U8,
    /// `torch.bool`, one byte per element (0 or 1).
    Bool,
}

/// Every dtype, in declaration order (for tests and tables).
pub const ALL_DTYPES: [DType; 10] = [
    DType::F32,
    DType::F64,
    DType::F16,
    DType::BF16,
    DType::I64,
    DType::I32,
    DType::I16,
    DType::I8,
    DType::U8,
    DType::Bool,
];

impl DType {
    /// Bytes per element.
    #[must_use]
    pub fn size_of(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 | DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    /// The name torch prints, e.g. `torch.float32` (`str(tensor.dtype)`).
    #[must_use]
    pub fn torch_name(self) -> &'static str {
        match self {
            DType::F32 => "torch.float32",
            DType::F64 => "torch.float64",
            DType::F16 => "torch.float16",
            DType::BF16 => "torch.bfloat16",
            DType::I64 => "torch.int64",
            DType::I32 => "torch.int32",
            DType::I16 => "torch.int16",
            DType::I8 => "torch.int8",
            DType::U8 => "torch.uint8",
            DType::Bool => "torch.bool",
        }
    }

    /// The dtype torch prints as `name` (`torch.float32` or `float32`), if it is one of these ten.
    #[must_use]
    pub fn from_torch_name(name: &str) -> Option<DType> {
        let short = name.strip_prefix("torch.").unwrap_or(name);
        ALL_DTYPES.into_iter().find(|d| d.torch_name().strip_prefix("torch.") == Some(short))
    }

    /// The legacy typed-storage class `torch.save` pickles for this dtype (`FloatStorage`, in module `torch`).
    #[must_use]
    pub fn storage_class(self) -> &'static str {
        match self {
            DType::F32 => "FloatStorage",
            DType::F64 => "DoubleStorage",
            DType::F16 => "HalfStorage",
            DType::BF16 => "BFloat16Storage",
            DType::I64 => "LongStorage",
            DType::I32 => "IntStorage",
            DType::I16 => "ShortStorage",
            DType::I8 => "CharStorage",
            DType::U8 => "ByteStorage",
            DType::Bool => "BoolStorage",
        }
    }

    /// The dtype of a typed-storage class name (`FloatStorage` → F32), if it is one of these ten.
    #[must_use]
    pub fn from_storage_class(class: &str) -> Option<DType> {
        ALL_DTYPES.into_iter().find(|d| d.storage_class() == class)
    }

    /// Whether the elements are floating point (F32, F64, F16, BF16).
    #[must_use]
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64 | DType::F16 | DType::BF16)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.torch_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in ALL_DTYPES {
            assert_eq!(DType::from_torch_name(d.torch_name()), Some(d));
            assert_eq!(DType::from_storage_class(d.storage_class()), Some(d));
        }
        assert_eq!(DType::from_torch_name("float32"), Some(DType::F32));
        assert_eq!(DType::from_torch_name("torch.complex64"), None);
        assert_eq!(DType::from_storage_class("ComplexFloatStorage"), None);
    }
}
