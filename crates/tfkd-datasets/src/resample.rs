//! Pillow's bilinear resampling of 8-bit RGB images, bit for bit: what `Image.resize(size, Image.BILINEAR)`
//! computes (`ImagingResample` in `libImaging/Resample.c` of Pillow 13; Pillow 7–12 differ only in the pass
//! order, see [`vertical_first`]), and so what torchvision's `Resize` and
//! `RandomResizedCrop` do to the PIL images of the official ImageNet pipeline (docs/paper.md §4.4).
//!
//! The algorithm, as Pillow runs it:
//! * Two separable passes, each with its own coefficient table ([`Taps`]): horizontal first unless the height
//!   shrinks by more than twice as many pixels as the width (Pillow ≥ 13, [`vertical_first`]). A pass whose
//!   output size equals its input size is skipped (it would be the identity). The first pass produces an 8-bit
//!   intermediate image holding only the rows (or columns) the second pass reads.
//! * The triangle filter's support is scaled by the downscale factor (antialiasing): for output pixel `i` the
//!   centre is `in0 + (i + 0.5)·scale`, the taps run from `(int)(centre − support + 0.5)` (at least 0) to
//!   `(int)(centre + support + 0.5)` (at most the input size), weighted by the filter at
//!   `(tap − centre + 0.5)/filterscale`, then normalised to sum to 1. All in f64, as Pillow does; the box
//!   edges are f32, as Pillow stores them.
//! * The weights become fixed point with [`PRECISION_BITS`] fraction bits, rounded half away from zero; each
//!   output value is `2^(P−1) + Σ pixel·weight` in 32-bit integers, shifted right by P and clamped to 0..=255
//!   (Pillow's `clip8`).
//!
//! [`resize_rgb`] takes a crop rectangle so that `img.crop(box).resize(size)` (torchvision's `resized_crop`) is
//! one call with no copy, and an output window so that `Resize` followed by `CenterCrop` computes only the
//! pixels the crop keeps — the same values, since every output pixel depends only on its own taps.
//! `tests/imagenet_transforms.rs` checks the results against Pillow's on real photographs.

use crate::error::{DataError, Result};

mod horizontal;
use horizontal::horizontal_row;

/// Fraction bits of Pillow's 8-bit fixed-point weights (`PRECISION_BITS = 32 − 8 − 2`).
pub const PRECISION_BITS: u32 = 32 - 8 - 2;

/// A rectangle of pixels: its top-left corner and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rect {
    /// First row.
    pub top: usize,
    /// First column.
    pub left: usize,
    /// Number of rows.
    pub height: usize,
    /// Number of columns.
    pub width: usize,
}

impl Rect {
    /// The whole of an image of `[height, width]`.
    #[must_use]
    pub fn full([height, width]: [usize; 2]) -> Self {
        Rect { top: 0, left: 0, height, width }
    }

    /// Whether the rectangle is non-empty and lies inside an image of `[height, width]`.
    #[must_use]
    pub fn fits(&self, [height, width]: [usize; 2]) -> bool {
        self.height > 0
            && self.width > 0
            && self.top.checked_add(self.height).is_some_and(|b| b <= height)
            && self.left.checked_add(self.width).is_some_and(|r| r <= width)
    }
}

/// Pillow's bilinear filter: the triangle `max(0, 1 − |x|)`, support 1.
fn bilinear_filter(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 {
        1.0 - x
    } else {
        0.0
    }
}

/// Pillow's conversion of a normalised weight to fixed point (`normalize_coeffs_8bpc`).
fn fixed(k: f64) -> i32 {
    let one = f64::from(1u32 << PRECISION_BITS);
    if k < 0.0 {
        (-0.5 + k * one) as i32
    } else {
        (0.5 + k * one) as i32
    }
}

/// Pillow's `clip8`: the accumulated value shifted down by [`PRECISION_BITS`] and clamped to a byte.
fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// One term of a pass: `acc + pixel · weight`. The weights of an output are non-negative (the triangle filter)
/// and sum to about 2^[`PRECISION_BITS`], so the sum stays below 255 · 2^22 + 2^21 < 2^31 and never wraps; the
/// wrapping operations only keep the release profile's overflow checks out of the pixel loops, where they
/// stopped the compiler from vectorising them.
#[inline(always)]
fn mac(acc: i32, pixel: u8, weight: i32) -> i32 {
    acc.wrapping_add(i32::from(pixel).wrapping_mul(weight))
}

/// The taps of one axis: for each output index the first input index, the number of taps and their
/// fixed-point weights, as Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` compute them.
///
/// Beside Pillow's layout (each output's taps from its first input index), a fixed-width one for the
/// horizontal pass: every output reads exactly `ksize` inputs, its first one moved left where the taps would
/// run past the end of the axis, with zero weights on the inputs it does not use. The sums are the same
/// (adding `pixel · 0` changes no integer), and a loop of a length known at compile time is unrolled.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Taps {
    key: Option<(usize, u32, u32, usize)>,
    ksize: usize,
    start: Vec<usize>,
    count: Vec<usize>,
    weights: Vec<i32>,
    unnormalised: Vec<f64>,
    /// The fixed-width layout's first input per output; empty where the axis is shorter than `ksize`.
    wide_start: Vec<usize>,
    /// Its weights, `ksize` per output.
    wide_weights: Vec<i32>,
}

impl Taps {
    /// The taps that resample the span `[in0, in1)` of an axis of `in_size` pixels to `out_size` pixels.
    #[must_use]
    pub fn bilinear(in_size: usize, in0: f32, in1: f32, out_size: usize) -> Self {
        let mut taps = Taps::default();
        taps.set(in_size, in0, in1, out_size);
        taps
    }

    /// Recomputes the taps in place (reusing the buffers); a no-op when the arguments are those of the last call.
    pub fn set(&mut self, in_size: usize, in0: f32, in1: f32, out_size: usize) {
        let key = (in_size, in0.to_bits(), in1.to_bits(), out_size);
        if self.key == Some(key) {
            return;
        }
        let scale = f64::from(in1 - in0) / out_size as f64;
        let filterscale = if scale < 1.0 { 1.0 } else { scale };
        let support = filterscale; // the bilinear filter's support (1) scaled
        let ksize = support.ceil() as usize * 2 + 1;
        self.ksize = ksize;
        self.start.resize(out_size, 0);
        self.count.resize(out_size, 0);
        self.weights.resize(out_size * ksize, 0);
        self.unnormalised.resize(ksize, 0.0);
        for xx in 0..out_size {
            let center = f64::from(in0) + (xx as f64 + 0.5) * scale;
            let ss = 1.0 / filterscale;
            // C's (int) cast truncates toward zero, as `as` does.
            let xmin = ((center - support + 0.5) as i64).max(0);
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) - xmin;
            let n = xmax.clamp(0, ksize as i64) as usize;
            let mut ww = 0.0;
            for x in 0..n {
                let w = bilinear_filter(((x as i64 + xmin) as f64 - center + 0.5) * ss);
                self.unnormalised[x] = w;
                ww += w;
            }
            let row = &mut self.weights[xx * ksize..(xx + 1) * ksize];
            for (x, slot) in row.iter_mut().enumerate() {
                *slot = if x < n {
                    let k = self.unnormalised[x];
                    fixed(if ww == 0.0 { k } else { k / ww })
                } else {
                    0
                };
            }
            self.start[xx] = xmin as usize;
            self.count[xx] = n;
        }
        self.wide_start.clear();
        self.wide_weights.clear();
        if in_size >= ksize {
            for xx in 0..out_size {
                let (start, n) = (self.start[xx], self.count[xx]);
                let k = &self.weights[xx * ksize..xx * ksize + n];
                let wide = start.min(in_size - ksize);
                let shift = start - wide;
                self.wide_start.push(wide);
                self.wide_weights
                    .extend((0..ksize).map(|t| t.checked_sub(shift).and_then(|t| k.get(t)).map_or(0, |&w| w)));
            }
        }
        self.key = Some(key);
    }

    /// Number of output pixels.
    #[must_use]
    pub fn len(&self) -> usize {
        self.start.len()
    }

    /// Whether there are no output pixels.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.start.is_empty()
    }

    /// The first input index and the fixed-point weights of output pixel `i`.
    #[must_use]
    #[inline]
    pub fn of(&self, i: usize) -> (usize, &[i32]) {
        let k = &self.weights[i * self.ksize..i * self.ksize + self.count[i]];
        (self.start[i], k)
    }

    /// The input indices that the taps of the outputs in `outputs` read (taps start in increasing order).
    fn span(&self, outputs: std::ops::Range<usize>) -> std::ops::Range<usize> {
        let (first, _) = self.of(outputs.start);
        let (last, k) = self.of(outputs.end - 1);
        first..last + k.len()
    }

    /// The input indices that [`horizontal_row`] reads for the outputs in `outputs`: [`Taps::span`], or the
    /// fixed-width layout's where it is used.
    fn wide_span(&self, outputs: std::ops::Range<usize>) -> std::ops::Range<usize> {
        if self.wide_start.is_empty() {
            return self.span(outputs);
        }
        self.wide_start[outputs.start]..self.wide_start[outputs.end - 1] + self.ksize
    }
}

/// Buffers reused across calls of [`resize_rgb`]: the two coefficient tables, the intermediate image and the
/// vertical accumulator. Hold one per thread.
#[derive(Debug, Clone, Default)]
pub struct Scratch {
    horizontal: Taps,
    vertical: Taps,
    intermediate: Vec<u8>,
    acc: Vec<i32>,
}

/// Pillow ≥ 13's order of the passes: vertical first when the height shrinks by more than twice as many
/// pixels as the width (`(in_h − out_h) > 0 && (in_h − out_h) > 2·(in_w − out_w)`), horizontal first otherwise.
/// Earlier Pillow always ran the horizontal pass first; the two orders round the intermediate image
/// differently, so their results can differ by 1.
#[must_use]
pub fn vertical_first([in_h, in_w]: [usize; 2], [out_h, out_w]: [usize; 2]) -> bool {
    let shrink_h = in_h as i64 - out_h as i64;
    shrink_h > 0 && shrink_h > (in_w as i64 - out_w as i64) * 2
}

/// `img.crop((crop.left, crop.top, crop.left + crop.width, crop.top + crop.height)).resize((out_w, out_h),
/// Image.BILINEAR)` for an interleaved RGB image `src` of `src_hw` = `[height, width]`, writing only the
/// `window` of the `out_hw` result into `dst` (interleaved RGB, `window.height × window.width × 3` bytes).
///
/// The crop is an image of its own, as `Image.crop` makes it: the filter stops at its edges. The passes run
/// in Pillow's order ([`vertical_first`]). Errors when the crop or the window does not fit, or a buffer has
/// the wrong length.
pub fn resize_rgb(
    src: &[u8],
    src_hw: [usize; 2],
    crop: Rect,
    out_hw: [usize; 2],
    window: Rect,
    dst: &mut [u8],
    scratch: &mut Scratch,
) -> Result<()> {
    if src.len() != src_hw[0] * src_hw[1] * 3 || !crop.fits(src_hw) || !window.fits(out_hw) {
        return Err(DataError::Invalid(format!(
            "resampling: crop {crop:?} of a {src_hw:?} image ({} bytes) to {out_hw:?}, window {window:?}",
            src.len()
        )));
    }
    if dst.len() != window.height * window.width * 3 {
        return Err(DataError::Invalid(format!("resampling: {} output bytes for window {window:?}", dst.len())));
    }
    let geometry = Geometry { src, src_hw, crop, out_hw, window };
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { passes_avx2(geometry, dst, scratch) };
        return Ok(());
    }
    passes::<false>(geometry, dst, scratch);
    Ok(())
}

/// What [`resize_rgb`] resamples: its arguments but the output buffers, checked.
#[derive(Clone, Copy)]
struct Geometry<'a> {
    src: &'a [u8],
    src_hw: [usize; 2],
    crop: Rect,
    out_hw: [usize; 2],
    window: Rect,
}

/// [`passes`] compiled for AVX2, where the CPU has it: the same integer arithmetic, so the same bytes, in wider
/// vectors than the baseline x86-64 target's SSE2 (which has no 32-bit multiply).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn passes_avx2(geometry: Geometry<'_>, dst: &mut [u8], scratch: &mut Scratch) {
    passes::<true>(geometry, dst, scratch);
}

/// The two passes of [`resize_rgb`]; `AVX2`: the CPU has it, and the horizontal pass uses
/// [`horizontal_row_simd`].
#[inline(always)]
fn passes<const AVX2: bool>(geometry: Geometry<'_>, dst: &mut [u8], scratch: &mut Scratch) {
    let Geometry { src, src_hw, crop, out_hw, window } = geometry;
    let [oh, ow] = out_hw;
    let Scratch { horizontal, vertical, intermediate, acc } = scratch;
    let (need_horizontal, need_vertical) = (ow != crop.width, oh != crop.height);
    horizontal.set(crop.width, 0.0, crop.width as f32, ow);
    vertical.set(crop.height, 0.0, crop.height as f32, oh);
    // Row r of the crop, all its columns.
    let (stride, origin) = (src_hw[1] * 3, (crop.top * src_hw[1] + crop.left) * 3);
    let crop_row = |r: usize| &src[origin + r * stride..origin + r * stride + crop.width * 3];
    let rows = window.top..window.top + window.height;
    let cols = window.left..window.left + window.width;
    let row_bytes = window.width * 3;
    match (need_horizontal, need_vertical) {
        (false, false) => {
            for (r, out) in rows.zip(dst.chunks_exact_mut(row_bytes)) {
                out.copy_from_slice(&crop_row(r)[cols.start * 3..cols.end * 3]);
            }
        }
        (true, false) => {
            for (r, out) in rows.zip(dst.chunks_exact_mut(row_bytes)) {
                horizontal_row::<AVX2>(crop_row(r), 0, horizontal, cols.clone(), out);
            }
        }
        (false, true) => vertical_rows(|r| &crop_row(r)[cols.start * 3..cols.end * 3], vertical, rows, acc, dst),
        (true, true) if vertical_first([crop.height, crop.width], out_hw) => {
            // Vertical pass over the crop columns the window's horizontal taps read.
            let used = horizontal.wide_span(cols.clone());
            let used_bytes = used.len() * 3;
            intermediate.resize(window.height * used_bytes, 0);
            vertical_rows(|r| &crop_row(r)[used.start * 3..used.end * 3], vertical, rows, acc, intermediate);
            for (mid, out) in intermediate.chunks_exact(used_bytes).zip(dst.chunks_exact_mut(row_bytes)) {
                horizontal_row::<AVX2>(mid, used.start, horizontal, cols.clone(), out);
            }
        }
        (true, true) => {
            // Horizontal pass over the crop rows the window's vertical taps read.
            let used = vertical.span(rows.clone());
            intermediate.resize(used.len() * row_bytes, 0);
            for (r, mid) in used.clone().zip(intermediate.chunks_exact_mut(row_bytes)) {
                horizontal_row::<AVX2>(crop_row(r), 0, horizontal, cols.clone(), mid);
            }
            let mid = &intermediate[..];
            vertical_rows(
                |r| &mid[(r - used.start) * row_bytes..(r - used.start + 1) * row_bytes],
                vertical,
                rows,
                acc,
                dst,
            );
        }
    }
}

/// The vertical pass for output rows `rows`: `row(r)` is input row r (the columns wanted, interleaved RGB);
/// `out` receives one output row per row of `rows`, each as long as `row(r)`.
#[inline(always)]
fn vertical_rows<'a>(
    row: impl Fn(usize) -> &'a [u8],
    taps: &Taps,
    rows: std::ops::Range<usize>,
    acc: &mut Vec<i32>,
    out: &mut [u8],
) {
    let Some(first) = rows.clone().next() else { return };
    let row_bytes = row(taps.of(first).0).len();
    for (yy, out_row) in rows.zip(out.chunks_exact_mut(row_bytes)) {
        let (start, k) = taps.of(yy);
        acc.clear();
        acc.resize(row_bytes, 1 << (PRECISION_BITS - 1));
        for (t, &weight) in k.iter().enumerate() {
            for (a, &p) in acc.iter_mut().zip(row(start + t)) {
                *a = mac(*a, p, weight);
            }
        }
        for (o, &a) in out_row.iter_mut().zip(acc.iter()) {
            *o = clip8(a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_follow_pillows_formulas() {
        // 4 → 2: scale 2, support 2, centres 1.0 and 3.0; taps of pixel 0: x = 0..3 at |x + 0.5 − 1|/2.
        let t = Taps::bilinear(4, 0.0, 4.0, 2);
        let (first, k) = t.of(0);
        assert_eq!(first, 0);
        // Raw weights 0.75, 0.75, 0.25 → /1.75 → fixed point.
        let want: Vec<i32> = [0.75, 0.75, 0.25].iter().map(|w| fixed(w / 1.75)).collect();
        assert_eq!(k, &want[..]);
        let (first, k) = t.of(1);
        assert_eq!((first, k.len()), (1, 3));
        // Same size: the identity, one tap of weight 1 (the second tap has weight 0).
        let id = Taps::bilinear(5, 0.0, 5.0, 5);
        for i in 0..5 {
            let (first, k) = id.of(i);
            assert_eq!(first, i);
            assert_eq!(k[0], 1 << PRECISION_BITS);
            assert!(k[1..].iter().all(|&w| w == 0));
        }
    }

    #[test]
    fn identity_and_constant_images_are_kept() {
        let src: Vec<u8> = (0..5 * 7 * 3).map(|i| (i * 37 % 256) as u8).collect();
        let mut out = vec![0u8; src.len()];
        let mut s = Scratch::default();
        resize_rgb(&src, [5, 7], Rect::full([5, 7]), [5, 7], Rect::full([5, 7]), &mut out, &mut s).unwrap();
        assert_eq!(out, src);
        let flat = vec![200u8; 9 * 11 * 3];
        let mut out = vec![0u8; 4 * 3 * 3];
        resize_rgb(
            &flat,
            [9, 11],
            Rect { top: 1, left: 2, height: 7, width: 8 },
            [4, 3],
            Rect::full([4, 3]),
            &mut out,
            &mut s,
        )
        .unwrap();
        assert!(out.iter().all(|&v| v == 200), "{out:?}");
    }

    #[test]
    fn windows_are_parts_of_the_whole() {
        let src: Vec<u8> = (0..23 * 31 * 3).map(|i| (i * 91 % 253) as u8).collect();
        let mut s = Scratch::default();
        let mut whole = vec![0u8; 13 * 17 * 3];
        resize_rgb(&src, [23, 31], Rect::full([23, 31]), [13, 17], Rect::full([13, 17]), &mut whole, &mut s).unwrap();
        let w = Rect { top: 3, left: 5, height: 6, width: 9 };
        let mut part = vec![0u8; 6 * 9 * 3];
        resize_rgb(&src, [23, 31], Rect::full([23, 31]), [13, 17], w, &mut part, &mut s).unwrap();
        for y in 0..6 {
            let at = ((y + 3) * 17 + 5) * 3;
            assert_eq!(&part[y * 27..(y + 1) * 27], &whole[at..at + 27], "row {y}");
        }
    }

    #[test]
    fn pass_order_is_pillow_13s() {
        assert!(!vertical_first([375, 500], [256, 341])); // Resize(256) of a landscape image
        assert!(!vertical_first([500, 375], [341, 256])); // and of a portrait one
        assert!(vertical_first([375, 12], [40, 40])); // a tall strip to a square
        assert!(!vertical_first([100, 300], [40, 200])); // height shrinks 60, width 100
        assert!(vertical_first([100, 300], [40, 271])); // height shrinks 60 > 2 · 29
        assert!(!vertical_first([40, 12], [80, 40])); // upscaling the height: never vertical first
    }

    #[test]
    fn vertical_first_windows_are_parts_of_the_whole() {
        let src: Vec<u8> = (0..61 * 9 * 3).map(|i| (i * 57 % 251) as u8).collect();
        let mut s = Scratch::default();
        assert!(vertical_first([61, 9], [11, 14]));
        let mut whole = vec![0u8; 11 * 14 * 3];
        resize_rgb(&src, [61, 9], Rect::full([61, 9]), [11, 14], Rect::full([11, 14]), &mut whole, &mut s).unwrap();
        let w = Rect { top: 2, left: 3, height: 7, width: 8 };
        let mut part = vec![0u8; 7 * 8 * 3];
        resize_rgb(&src, [61, 9], Rect::full([61, 9]), [11, 14], w, &mut part, &mut s).unwrap();
        for y in 0..7 {
            let at = ((y + 2) * 14 + 3) * 3;
            assert_eq!(&part[y * 24..(y + 1) * 24], &whole[at..at + 24], "row {y}");
        }
    }

    #[test]
    fn bad_geometry_is_an_error() {
        let src = vec![0u8; 4 * 4 * 3];
        let mut out = vec![0u8; 12];
        let mut s = Scratch::default();
        let crop = Rect { top: 2, left: 0, height: 3, width: 4 };
        assert!(resize_rgb(&src, [4, 4], crop, [2, 2], Rect::full([2, 2]), &mut out, &mut s).is_err());
        assert!(
            resize_rgb(&src, [4, 4], Rect::full([4, 4]), [2, 2], Rect::full([2, 2]), &mut out[..5], &mut s).is_err()
        );
    }
}
