//! The horizontal pass of [`super::resize_rgb`]: one output row from one input row, by three kernels that give
//! the same bytes — tap by tap from Pillow's layout (any filter width), the fixed-width layout unrolled for the
//! common widths, and an SSE4.1/AVX2 one where the CPU has AVX2 (see [`super::Taps`]).

use super::{clip8, mac, Taps, PRECISION_BITS};

/// One row of the horizontal pass: output columns `cols` of the resampled row. `row[0]` is input column `col0`.
/// The common filter widths run with the fixed-width layout ([`Taps`]), unrolled; the rest tap by tap.
#[inline(always)]
pub(super) fn horizontal_row<const AVX2: bool>(
    row: &[u8],
    col0: usize,
    taps: &Taps,
    cols: std::ops::Range<usize>,
    out: &mut [u8],
) {
    #[cfg(target_arch = "x86_64")]
    let (cols, out) = if AVX2 && !taps.wide_start.is_empty() {
        // SAFETY: AVX2 is only true where the CPU has it ([`resize_rgb`]).
        let done = unsafe {
            match taps.ksize {
                3 => horizontal_row_simd::<3>(row, col0, taps, cols.clone(), out),
                5 => horizontal_row_simd::<5>(row, col0, taps, cols.clone(), out),
                7 => horizontal_row_simd::<7>(row, col0, taps, cols.clone(), out),
                9 => horizontal_row_simd::<9>(row, col0, taps, cols.clone(), out),
                11 => horizontal_row_simd::<11>(row, col0, taps, cols.clone(), out),
                _ => 0,
            }
        };
        (cols.start + done..cols.end, &mut out[done * 3..])
    } else {
        (cols, out)
    };
    if !taps.wide_start.is_empty() {
        match taps.ksize {
            3 => return horizontal_row_wide::<3>(row, col0, taps, cols, out),
            5 => return horizontal_row_wide::<5>(row, col0, taps, cols, out),
            7 => return horizontal_row_wide::<7>(row, col0, taps, cols, out),
            9 => return horizontal_row_wide::<9>(row, col0, taps, cols, out),
            11 => return horizontal_row_wide::<11>(row, col0, taps, cols, out),
            _ => {}
        }
    }
    horizontal_row_taps(row, col0, taps, cols, out);
}

/// [`horizontal_row`] tap by tap from Pillow's layout: any filter width, any axis length.
#[inline(always)]
fn horizontal_row_taps(row: &[u8], col0: usize, taps: &Taps, cols: std::ops::Range<usize>, out: &mut [u8]) {
    for (xx, px) in cols.zip(out.chunks_exact_mut(3)) {
        let (first, k) = taps.of(xx);
        let first = first - col0;
        let mut acc = [1i32 << (PRECISION_BITS - 1); 3];
        for (p, &weight) in row[first * 3..(first + k.len()) * 3].chunks_exact(3).zip(k) {
            acc[0] = mac(acc[0], p[0], weight);
            acc[1] = mac(acc[1], p[1], weight);
            acc[2] = mac(acc[2], p[2], weight);
        }
        px[0] = clip8(acc[0]);
        px[1] = clip8(acc[1]);
        px[2] = clip8(acc[2]);
    }
}

/// The horizontal pass with each output pixel's three channels in one vector: per tap, the four bytes at the
/// tap's pixel (red, green, blue, and the next pixel's red, weighted and dropped) widened to 32-bit lanes,
/// multiplied by the weight and added, `K` taps per output (the fixed-width layout, `K == taps.ksize`). The same
/// integer sums as [`horizontal_row_wide`] (no sum wraps, see [`mac`]), so the same bytes. An output whose
/// fourth byte would lie past the end of `row` is left to the scalar loop; the number written is returned.
///
/// # Safety
/// The CPU must have AVX2 (SSE4.1 instructions are used).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn horizontal_row_simd<const K: usize>(
    row: &[u8],
    col0: usize,
    taps: &Taps,
    cols: std::ops::Range<usize>,
    out: &mut [u8],
) -> usize {
    use std::arch::x86_64::{
        _mm_add_epi32, _mm_cvtepu8_epi32, _mm_cvtsi128_si32, _mm_cvtsi32_si128, _mm_max_epi32, _mm_min_epi32,
        _mm_mullo_epi32, _mm_packus_epi16, _mm_packus_epi32, _mm_set1_epi32, _mm_setzero_si128, _mm_srai_epi32,
    };
    let half = _mm_set1_epi32(1 << (PRECISION_BITS - 1));
    let max = _mm_set1_epi32(255);
    let starts = &taps.wide_start[cols.clone()];
    let weights = &taps.wide_weights[cols.start * K..cols.end * K];
    let mut done = 0;
    for ((&first, k), px) in starts.iter().zip(weights.chunks_exact(K)).zip(out.chunks_exact_mut(3)) {
        let at = (first - col0) * 3;
        let Some(p) = row.get(at..at + 3 * K + 1) else { break };
        let mut acc = half;
        for t in 0..K {
            let four = u32::from_le_bytes([p[3 * t], p[3 * t + 1], p[3 * t + 2], p[3 * t + 3]]);
            let v = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(four as i32));
            acc = _mm_add_epi32(acc, _mm_mullo_epi32(v, _mm_set1_epi32(k[t])));
        }
        let shifted = _mm_srai_epi32::<{ PRECISION_BITS as i32 }>(acc);
        let clipped = _mm_min_epi32(_mm_max_epi32(shifted, _mm_setzero_si128()), max);
        let bytes = _mm_cvtsi128_si32(_mm_packus_epi16(_mm_packus_epi32(clipped, clipped), _mm_setzero_si128()));
        px.copy_from_slice(&bytes.to_le_bytes()[..3]);
        done += 1;
    }
    done
}

/// [`horizontal_row`] with `K` taps per output (the fixed-width layout, `K == taps.ksize`).
#[inline(always)]
fn horizontal_row_wide<const K: usize>(
    row: &[u8],
    col0: usize,
    taps: &Taps,
    cols: std::ops::Range<usize>,
    out: &mut [u8],
) {
    let starts = &taps.wide_start[cols.clone()];
    let weights = &taps.wide_weights[cols.start * K..cols.end * K];
    for ((&first, k), px) in starts.iter().zip(weights.chunks_exact(K)).zip(out.chunks_exact_mut(3)) {
        let at = (first - col0) * 3;
        let p = &row[at..at + 3 * K];
        let mut acc = [1i32 << (PRECISION_BITS - 1); 3];
        for t in 0..K {
            for c in 0..3 {
                acc[c] = mac(acc[c], p[3 * t + c], k[t]);
            }
        }
        px[0] = clip8(acc[0]);
        px[1] = clip8(acc[1]);
        px[2] = clip8(acc[2]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The horizontal pass's kernels — vectors (where the CPU has AVX2), fixed-width scalar, tap by tap — give
    /// the same bytes for crops from 1 pixel to 8× the output width (filters of 3 to 19 taps) at any offset.
    #[test]
    fn horizontal_kernels_agree() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let avx2 = cfg!(target_arch = "x86_64") && std::arch::is_x86_feature_detected!("avx2");
        let mut ksizes = std::collections::BTreeSet::new();
        for _ in 0..400 {
            let out_w = 1 + (next() % 60) as usize;
            let in_w = 1 + (next() % (8 * out_w as u64 + 3)) as usize;
            let col0 = (next() % 3) as usize;
            // The row holds the input from column col0 on, and sometimes a few bytes more.
            let extra = (next() % 5) as usize;
            let row: Vec<u8> = (0..(in_w - col0.min(in_w - 1)) * 3 + extra).map(|_| next() as u8).collect();
            let row = &row[..];
            let col0 = col0.min(in_w - 1);
            let taps = Taps::bilinear(in_w, 0.0, in_w as f32, out_w);
            ksizes.insert(taps.ksize);
            // The outputs whose taps start at col0 or after.
            let first = (0..out_w).find(|&x| taps.of(x).0 >= col0 && taps.wide_span(x..x + 1).start >= col0);
            let Some(first) = first else { continue };
            let cols = first..out_w;
            let run = |f: &dyn Fn(&mut [u8])| {
                let mut out = vec![0u8; cols.len() * 3];
                f(&mut out);
                out
            };
            let want = run(&|o| horizontal_row_taps(row, col0, &taps, cols.clone(), o));
            assert_eq!(run(&|o| horizontal_row::<false>(row, col0, &taps, cols.clone(), o)), want, "{in_w} → {out_w}");
            if avx2 {
                assert_eq!(
                    run(&|o| horizontal_row::<true>(row, col0, &taps, cols.clone(), o)),
                    want,
                    "{in_w} → {out_w}"
                );
            }
        }
        assert!(ksizes.contains(&3) && ksizes.contains(&11) && ksizes.contains(&17), "{ksizes:?}");
    }
}
