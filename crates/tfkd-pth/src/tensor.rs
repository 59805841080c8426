//! One tensor's data as it lies on disk once its view is applied: contiguous, row-major, little-endian bytes.

use crate::{DType, TensorError};

/// A tensor without libtorch: dtype, shape and the elements' bytes, contiguous in row-major order and
/// little-endian (whatever the file's byte order and the view's strides were).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTensor {
    /// Element type.
    pub dtype: DType,
    /// Sizes, outermost first; empty for a 0-d tensor (one element).
    pub shape: Vec<usize>,
    /// `numel() * dtype.size_of()` bytes.
    pub data: Vec<u8>,
}

impl RawTensor {
    /// A tensor after checking that `data` holds exactly `shape`'s elements of `dtype`.
    pub fn new(dtype: DType, shape: Vec<usize>, data: Vec<u8>) -> Result<RawTensor, TensorError> {
        let t = RawTensor { dtype, shape, data };
        t.check()?;
        Ok(t)
    }

    /// An F32 tensor from values in row-major order.
    pub fn from_f32(shape: Vec<usize>, values: &[f32]) -> Result<RawTensor, TensorError> {
        RawTensor::new(DType::F32, shape, values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    /// An I64 tensor from values in row-major order.
    pub fn from_i64(shape: Vec<usize>, values: &[i64]) -> Result<RawTensor, TensorError> {
        RawTensor::new(DType::I64, shape, values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    /// The number of elements (the product of the shape; 1 for a 0-d tensor), or `None` if it overflows.
    #[must_use]
    pub fn numel(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |acc, &s| acc.checked_mul(s))
    }

    /// Checks that the data's length is what dtype and shape need.
    pub fn check(&self) -> Result<(), TensorError> {
        let expected = self.numel().and_then(|n| n.checked_mul(self.dtype.size_of()));
        if expected == Some(self.data.len()) {
            Ok(())
        } else {
            Err(TensorError::Length { dtype: self.dtype, shape: self.shape.clone(), expected, actual: self.data.len() })
        }
    }

    /// The elements as `f32` (F32 exactly; F16 and BF16 exactly, since both widen losslessly; F64 rounded to
    /// nearest). Other dtypes are an error: integers are not silently turned into floats.
    pub fn to_f32_vec(&self) -> Result<Vec<f32>, TensorError> {
        match self.dtype {
            DType::F32 => Ok(self.chunks::<4>().map(f32::from_le_bytes).collect()),
            #[allow(clippy::cast_possible_truncation)] // documented: F64 rounds to the nearest f32
            DType::F64 => Ok(self.chunks::<8>().map(|b| f64::from_le_bytes(b) as f32).collect()),
            DType::F16 => Ok(self.chunks::<2>().map(|b| f16_to_f32(u16::from_le_bytes(b))).collect()),
            DType::BF16 => Ok(self.chunks::<2>().map(|b| bf16_to_f32(u16::from_le_bytes(b))).collect()),
            other => Err(TensorError::WrongDType { dtype: other, wanted: "f32" }),
        }
    }

    /// The elements as `f64`, exactly, for every floating-point dtype.
    pub fn to_f64_vec(&self) -> Result<Vec<f64>, TensorError> {
        match self.dtype {
            DType::F64 => Ok(self.chunks::<8>().map(f64::from_le_bytes).collect()),
            DType::F32 | DType::F16 | DType::BF16 => Ok(self.to_f32_vec()?.into_iter().map(f64::from).collect()),
            other => Err(TensorError::WrongDType { dtype: other, wanted: "f64" }),
        }
    }

    /// The elements as `i64`, exactly, for the integer dtypes and Bool (0 or 1).
    pub fn to_i64_vec(&self) -> Result<Vec<i64>, TensorError> {
        match self.dtype {
            DType::I64 => Ok(self.chunks::<8>().map(i64::from_le_bytes).collect()),
            DType::I32 => Ok(self.chunks::<4>().map(|b| i64::from(i32::from_le_bytes(b))).collect()),
            DType::I16 => Ok(self.chunks::<2>().map(|b| i64::from(i16::from_le_bytes(b))).collect()),
            DType::I8 => Ok(self.chunks::<1>().map(|b| i64::from(i8::from_le_bytes(b))).collect()),
            DType::U8 | DType::Bool => Ok(self.data.iter().map(|&b| i64::from(b)).collect()),
            other => Err(TensorError::WrongDType { dtype: other, wanted: "i64" }),
        }
    }

    fn chunks<const N: usize>(&self) -> impl Iterator<Item = [u8; N]> + '_ {
        self.data.chunks_exact(N).map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            a
        })
    }
}

/// Row-major strides of a contiguous tensor of `shape`, as torch computes them (a size-0 dimension counts as
/// 1, so `[0, 3]` has strides `[3, 1]` and `[2, 0]` has `[1, 1]`).
#[must_use]
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1].saturating_mul(shape[i + 1].max(1));
    }
    strides
}

/// IEEE binary16 → binary32, exactly (subnormals, infinities and NaN payloads included).
#[must_use]
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let mant = u32::from(h & 0x3ff);
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: value = m · 2^-24; normalise the mantissa.
            let shift = m.leading_zeros() - 21; // bring the top set bit to position 10
            let m = (m << shift) & 0x3ff;
            let e = 127 - 15 + 1 - shift;
            sign | (e << 23) | (m << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// bfloat16 → binary32, exactly (bfloat16 is the top half of a binary32).
#[must_use]
pub fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_conversions_match_known_values() {
        // Values from the IEEE 754 binary16 table: 1, -2, max normal, min normal, min subnormal, inf.
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0400), 2f32.powi(-14));
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x03ff), 1023.0 * 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
        assert_eq!(bf16_to_f32(0x3f80), 1.0);
    }

    #[test]
    fn strides_follow_torch() {
        assert_eq!(contiguous_strides(&[2, 3, 4]), vec![12, 4, 1]);
        assert_eq!(contiguous_strides(&[0, 3]), vec![3, 1]);
        assert_eq!(contiguous_strides(&[2, 0]), vec![1, 1]);
        assert!(contiguous_strides(&[]).is_empty());
    }

    #[test]
    fn length_is_checked() {
        assert!(RawTensor::new(DType::F32, vec![2], vec![0; 7]).is_err());
        assert!(RawTensor::new(DType::F32, vec![], vec![0; 4]).is_ok());
        assert!(RawTensor::new(DType::I64, vec![usize::MAX, 2], vec![]).is_err());
    }
}
