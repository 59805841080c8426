//! torchvision's transforms of PIL images of any size — `RandomResizedCrop`, `Resize`, `CenterCrop` and
//! `RandomHorizontalFlip` — on decoded RGB images ([`crate::decode::decode_rgb`]), with the pixels Pillow
//! computes: the official ImageNet pipeline (docs/paper.md §4.4) is RandomResizedCrop(224) → flip for training
//! and Resize(256) → CenterCrop(224) for evaluation, then ToTensor → Normalize.
//!
//! * Draws ([`draws`]) depend on (seed, epoch, sample) and the image's size only, through the same counter RNG
//!   stream as [`crate::augment`]; RandomResizedCrop's sampling is torchvision's `get_params` step for step
//!   ([`resized_crop_params`]).
//! * Resampling is Pillow's, bit for bit ([`crate::resample`]); `Resize` → `CenterCrop` resamples only the
//!   kept window. Normalisation is ToTensor's `x/255` and Normalize's `(x − mean)/std`, in f32.
//! * One call per image ([`transform_rgb`]), with per-thread buffers: nothing is allocated per pixel.
//!
//! `tests/imagenet_transforms.rs` checks every op against torchvision + Pillow on real photographs.

use std::cell::RefCell;

use crate::{
    augment::{Normalize, Op},
    decode::RgbWindow,
    error::{DataError, Result},
    resample::{resize_rgb, Rect, Scratch},
    rgb::RgbImage,
    rng::{Key, SampleRng},
};

/// The drawn (or, for the deterministic ops, fixed) parameters of one op for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Draw {
    /// RandomResizedCrop's window in the image it is applied to.
    ResizedCrop {
        /// The window (torchvision's `i, j, h, w`).
        crop: Rect,
        /// Whether none of the 10 attempts fitted and the central fallback was taken.
        fallback: bool,
    },
    /// Whether to flip.
    Flip(bool),
    /// Resize: nothing random.
    Resize,
    /// CenterCrop: nothing random.
    CenterCrop,
}

/// The random numbers RandomResizedCrop consumes, in torchvision's order.
pub trait Uniforms {
    /// 24 random bits: what torch's `uniform_` on a float tensor uses.
    fn bits24(&mut self) -> u32;
    /// A uniform integer in `0..n` (`torch.randint(0, n)`); `n >= 1`.
    fn below(&mut self, n: u64) -> u64;
}

impl Uniforms for SampleRng {
    fn bits24(&mut self) -> u32 {
        (self.next_u64() >> 40) as u32
    }

    fn below(&mut self, n: u64) -> u64 {
        self.below_inclusive(n - 1)
    }
}

/// `torch.empty(1).uniform_(from, to)` in float32, from its 24 random bits: `x·(to − from) + from`.
fn torch_uniform(bits: u32, from: f32, to: f32) -> f32 {
    let x = (bits & 0x00ff_ffff) as f32 * (1.0 / 16_777_216.0);
    x * (to - from) + from
}

/// torchvision's `RandomResizedCrop.get_params(img, scale, ratio)` for an image of `[height, width]`, with
/// its random numbers from `u`.
///
/// Up to 10 attempts: area = H·W·U(scale) and aspect = exp(U(log ratio)), both drawn in float32 as torch does;
/// w = round(√(area·aspect)), h = round(√(area/aspect)) with round-half-even (Python's `round`); accepted if
/// 0 < w ≤ W and 0 < h ≤ H, then the top row is uniform in 0..=H−h and the left column in 0..=W−w. Otherwise
/// the central crop of the whole image clamped to the ratio range. Returns the window and whether it is the
/// fallback.
pub fn resized_crop_params(hw: [usize; 2], scale: [f64; 2], ratio: [f64; 2], u: &mut impl Uniforms) -> (Rect, bool) {
    let [height, width] = hw;
    let area = (height * width) as f64;
    let log_ratio = [(ratio[0] as f32).ln(), (ratio[1] as f32).ln()];
    for _ in 0..10 {
        let target_area = area * f64::from(torch_uniform(u.bits24(), scale[0] as f32, scale[1] as f32));
        let aspect = f64::from(torch_uniform(u.bits24(), log_ratio[0], log_ratio[1]).exp());
        let w = (target_area * aspect).sqrt().round_ties_even();
        let h = (target_area / aspect).sqrt().round_ties_even();
        if 0.0 < w && w <= width as f64 && 0.0 < h && h <= height as f64 {
            let (h, w) = (h as usize, w as usize);
            let top = u.below((height - h + 1) as u64) as usize;
            let left = u.below((width - w + 1) as u64) as usize;
            return (Rect { top, left, height: h, width: w }, false);
        }
    }
    let in_ratio = width as f64 / height as f64;
    let (lo, hi) = (ratio[0].min(ratio[1]), ratio[0].max(ratio[1]));
    let (h, w) = if in_ratio < lo {
        (((width as f64 / lo).round_ties_even() as usize).clamp(1, height), width)
    } else if in_ratio > hi {
        (height, ((height as f64 * hi).round_ties_even() as usize).clamp(1, width))
    } else {
        (height, width)
    };
    (Rect { top: (height - h) / 2, left: (width - w) / 2, height: h, width: w }, true)
}

/// torchvision's `Resize(size)` output `[height, width]` for an int size: the shorter side becomes `size`, the
/// longer `int(size · long / short)`.
#[must_use]
pub fn resized_shape([height, width]: [usize; 2], size: usize) -> [usize; 2] {
    let (short, long) = if width <= height { (width, height) } else { (height, width) };
    let new_long = ((size * long) as f64 / short as f64) as usize;
    if width <= height {
        [new_long, size]
    } else {
        [size, new_long]
    }
}

/// torchvision's `CenterCrop(size)` on an axis of `n` pixels: the input index of output index 0 (negative
/// where the image is zero-padded first, by `(size − n) // 2` before it); otherwise
/// `int(round((n − size) / 2.0))` with round-half-even.
#[must_use]
pub fn center_crop_offset(n: usize, size: usize) -> isize {
    if size > n {
        -(((size - n) / 2) as isize)
    } else {
        ((n - size) as f64 / 2.0).round_ties_even() as isize
    }
}

fn not_here(op: &Op) -> DataError {
    DataError::Invalid(format!(
        "{op:?} is an op of the fixed-size pipeline (CIFAR, Tiny-ImageNet), not of the any-size transforms \
         (RandomResizedCrop, Resize, CenterCrop, Flip)"
    ))
}

/// The parameters of every op of `ops` for sample `index` in `epoch`, applied to an image of `[height,
/// width]`: a pure function of (seed, epoch, index) and the image's size. Errors on an empty image, invalid op
/// parameters, or the fixed-size ops `Crop` and `Rotate`.
pub fn draws(ops: &[Op], hw: [usize; 2], seed: u64, epoch: u64, index: u64) -> Result<Vec<Draw>> {
    if hw[0] == 0 || hw[1] == 0 {
        return Err(DataError::Invalid(format!("cannot transform an empty {}×{} image", hw[0], hw[1])));
    }
    let mut rng = SampleRng::new(Key::new(seed).with_str("augment").with(epoch).with(index));
    let mut size = hw;
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        op.validate()?;
        out.push(match *op {
            Op::RandomResizedCrop { size: s, scale, ratio } => {
                let (crop, fallback) = resized_crop_params(size, scale, ratio, &mut rng);
                size = [s, s];
                Draw::ResizedCrop { crop, fallback }
            }
            Op::Resize { size: s } => {
                size = resized_shape(size, s);
                Draw::Resize
            }
            Op::CenterCrop { size: s } => {
                size = [s, s];
                Draw::CenterCrop
            }
            Op::Flip => Draw::Flip(rng.unit() < 0.5),
            Op::Crop { .. } | Op::Rotate { .. } => return Err(not_here(op)),
        });
    }
    Ok(out)
}

/// The `[height, width]` that `ops` turn an image of `hw` into.
pub fn output_size(ops: &[Op], hw: [usize; 2]) -> Result<[usize; 2]> {
    ops.iter().try_fold(hw, |size, op| match *op {
        Op::RandomResizedCrop { size: s, .. } | Op::CenterCrop { size: s } => Ok([s, s]),
        Op::Resize { size: s } => Ok(resized_shape(size, s)),
        Op::Flip => Ok(size),
        Op::Crop { .. } | Op::Rotate { .. } => Err(not_here(op)),
    })
}

/// Per-thread buffers: the current and the next image (interleaved RGB) and the resampler's.
#[derive(Debug, Default)]
struct Work {
    cur: Vec<u8>,
    next: Vec<u8>,
    resample: Scratch,
}

thread_local! {
    static WORK: RefCell<Work> = RefCell::new(Work::default());
}

/// Decoded pixels the ops start from: `pixels` (interleaved RGB) are the `rect` of an image of `size`.
#[derive(Debug, Clone, Copy)]
struct View<'a> {
    pixels: &'a [u8],
    rect: Rect,
    size: [usize; 2],
}

impl<'a> View<'a> {
    fn whole(img: &'a RgbImage) -> Self {
        let size = [img.height() as usize, img.width() as usize];
        View { pixels: img.as_raw(), rect: Rect::full(size), size }
    }

    fn window(win: &'a RgbWindow) -> Self {
        View { pixels: &win.pixels, rect: win.rect, size: win.size }
    }
}

/// The part of an image of `size` that `ops` with their `draws` read: RandomResizedCrop's window when it
/// comes first (it reads nothing else: the crop is an image of its own), otherwise the whole image. What
/// [`crate::decode::decode_rgb_window`] is asked to decode.
#[must_use]
pub fn needed(ops: &[Op], draws: &[Draw], size: [usize; 2]) -> Rect {
    match (ops.first(), draws.first()) {
        (Some(Op::RandomResizedCrop { .. }), Some(&Draw::ResizedCrop { crop, .. })) if crop.fits(size) => crop,
        _ => Rect::full(size),
    }
}

/// Decodes what `ops` read of the image in `bytes` for sample `index` of `epoch`, as training does: the draws are
/// made from the size in the file's header ([`draws`]) and only the [`needed`] window is decoded
/// ([`crate::decode::decode_rgb_window`]). The window and the draws, for [`transform_window`].
pub fn decode_drawn(
    bytes: &[u8],
    name: &std::path::Path,
    ops: &[Op],
    seed: u64,
    epoch: u64,
    index: u64,
) -> Result<(RgbWindow, Vec<Draw>)> {
    let mut drawn = Vec::new();
    let window = crate::decode::decode_rgb_window(bytes, name, |size| {
        drawn = draws(ops, size, seed, epoch, index)?;
        Ok(needed(ops, &drawn, size))
    })?;
    Ok((window, drawn))
}

/// Applies `ops` with their `draws` (from [`draws`] for this image) to `img` and writes the result as planar
/// C×H×W f32, normalised as ToTensor → Normalize do: `(x/255 − mean[c]) / std[c]`. `out` must hold exactly
/// 3·H·W values for the [`output_size`].
pub fn transform_rgb(img: &RgbImage, ops: &[Op], draws: &[Draw], norm: &Normalize, out: &mut [f32]) -> Result<()> {
    normalised(View::whole(img), ops, draws, norm, out)
}

/// [`transform_rgb`] of a decoded window ([`crate::decode::decode_rgb_window`]) that holds at least the
/// [`needed`] part of the image: the same values as [`transform_rgb`] of the whole decoded image.
pub fn transform_window(win: &RgbWindow, ops: &[Op], draws: &[Draw], norm: &Normalize, out: &mut [f32]) -> Result<()> {
    normalised(View::window(win), ops, draws, norm, out)
}

fn normalised(view: View<'_>, ops: &[Op], draws: &[Draw], norm: &Normalize, out: &mut [f32]) -> Result<()> {
    if norm.mean.len() != 3 || norm.std.len() != 3 {
        return Err(DataError::Invalid(format!("normalisation has {} channels, RGB images have 3", norm.mean.len())));
    }
    // A final flip is done while normalising (reading each row backwards) rather than as a pass of its own.
    let (ops, draws, mirror) = match (ops.split_last(), draws.split_last()) {
        (Some((Op::Flip, first_ops)), Some((&Draw::Flip(flip), first_draws))) => (first_ops, first_draws, flip),
        _ => (ops, draws, false),
    };
    // ToTensor → Normalize of every byte value, per channel: the same f32 operations as per pixel.
    let lut: [[f32; 256]; 3] =
        std::array::from_fn(|c| std::array::from_fn(|v| (f32::from(v as u8) / 255.0 - norm.mean[c]) / norm.std[c]));
    WORK.with(|work| {
        let mut work = work.borrow_mut();
        let [h, w] = run(view, ops, draws, &mut work)?;
        let plane = h * w;
        if out.len() != 3 * plane {
            return Err(DataError::Invalid(format!("{} output values for a 3×{h}×{w} image", out.len())));
        }
        let (r, rest) = out.split_at_mut(plane);
        let (g, b) = rest.split_at_mut(plane);
        for (y, row) in work.cur.chunks_exact(3 * w).enumerate() {
            let span = y * w..(y + 1) * w;
            let (r, g, b) = (&mut r[span.clone()], &mut g[span.clone()], &mut b[span]);
            let mut write = |x: usize, px: &[u8]| {
                r[x] = lut[0][usize::from(px[0])];
                g[x] = lut[1][usize::from(px[1])];
                b[x] = lut[2][usize::from(px[2])];
            };
            if mirror {
                row.chunks_exact(3).rev().enumerate().for_each(|(x, px)| write(x, px));
            } else {
                row.chunks_exact(3).enumerate().for_each(|(x, px)| write(x, px));
            }
        }
        Ok(())
    })
}

/// [`transform_rgb`] without the normalisation: the transformed image's pixels, as the PIL image torchvision
/// hands to ToTensor.
pub fn transform_rgb_u8(img: &RgbImage, ops: &[Op], draws: &[Draw]) -> Result<RgbImage> {
    pixels_u8(View::whole(img), ops, draws)
}

/// [`transform_rgb_u8`] of a decoded window, as [`transform_window`] is of [`transform_rgb`].
pub fn transform_window_u8(win: &RgbWindow, ops: &[Op], draws: &[Draw]) -> Result<RgbImage> {
    pixels_u8(View::window(win), ops, draws)
}

fn pixels_u8(view: View<'_>, ops: &[Op], draws: &[Draw]) -> Result<RgbImage> {
    WORK.with(|work| {
        let mut work = work.borrow_mut();
        let [h, w] = run(view, ops, draws, &mut work)?;
        RgbImage::from_raw(w as u32, h as u32, work.cur.clone())
            .ok_or_else(|| DataError::Invalid(format!("a {h}×{w} result of the wrong length")))
    })
}

/// Runs the ops; the result is in `work.cur`, its size is returned. The first op reads `view`: a window of the
/// image only when it is RandomResizedCrop with its crop inside the window; any other op needs the whole image.
fn run(view: View<'_>, ops: &[Op], draws: &[Draw], work: &mut Work) -> Result<[usize; 2]> {
    if ops.len() != draws.len() {
        return Err(DataError::Invalid(format!("{} ops but {} draws", ops.len(), draws.len())));
    }
    let Work { cur, next, resample } = work;
    let whole = view.rect == Rect::full(view.size);
    if view.pixels.len() != view.rect.height * view.rect.width * 3 || !view.rect.fits(view.size) {
        return Err(DataError::Invalid(format!(
            "{} bytes for the window {:?} of a {:?} image",
            view.pixels.len(),
            view.rect,
            view.size
        )));
    }
    let mut size = view.size;
    let mut in_source = true;
    let mut i = 0;
    while i < ops.len() {
        let src: &[u8] = if in_source { view.pixels } else { cur };
        if in_source && !whole && !matches!(ops[i], Op::RandomResizedCrop { .. }) {
            return Err(DataError::Invalid(format!("{:?} needs the whole image, not a window", ops[i])));
        }
        size = match (ops[i], draws[i]) {
            (Op::RandomResizedCrop { size: s, .. }, Draw::ResizedCrop { crop, .. }) => {
                // In the source: the crop's place in the window.
                let (src_hw, crop) = if in_source {
                    let r = view.rect;
                    if !crop.fits(size) || crop.top < r.top || crop.left < r.left {
                        return Err(DataError::Invalid(format!("crop {crop:?} is not inside the window {r:?}")));
                    }
                    ([r.height, r.width], Rect { top: crop.top - r.top, left: crop.left - r.left, ..crop })
                } else {
                    (size, crop)
                };
                next.resize(s * s * 3, 0);
                resize_rgb(src, src_hw, crop, [s, s], Rect::full([s, s]), next, resample)?;
                [s, s]
            }
            (Op::Resize { size: s }, Draw::Resize) => {
                let resized = resized_shape(size, s);
                let window = match (ops.get(i + 1), draws.get(i + 1)) {
                    (Some(&Op::CenterCrop { size: c }), Some(Draw::CenterCrop))
                        if c <= resized[0] && c <= resized[1] =>
                    {
                        i += 1; // fused: only the window CenterCrop keeps is resampled
                        let top = center_crop_offset(resized[0], c) as usize;
                        Rect { top, left: center_crop_offset(resized[1], c) as usize, height: c, width: c }
                    }
                    _ => Rect::full(resized),
                };
                next.resize(window.height * window.width * 3, 0);
                resize_rgb(src, size, Rect::full(size), resized, window, next, resample)?;
                [window.height, window.width]
            }
            (Op::CenterCrop { size: c }, Draw::CenterCrop) => {
                center_crop(src, size, c, next);
                [c, c]
            }
            (Op::Flip, Draw::Flip(true)) => {
                next.clear();
                for row in src.chunks_exact(size[1] * 3) {
                    next.extend(row.chunks_exact(3).rev().flatten());
                }
                size
            }
            (Op::Flip, Draw::Flip(false)) => {
                i += 1;
                continue;
            }
            (op, draw) => return Err(DataError::Invalid(format!("op {op:?} was given the draw {draw:?}"))),
        };
        std::mem::swap(cur, next);
        in_source = false;
        i += 1;
    }
    if in_source {
        cur.clear();
        cur.extend_from_slice(view.pixels);
    }
    Ok(size)
}

/// torchvision's `CenterCrop(size)` of an interleaved RGB image: zero where the window leaves the image.
fn center_crop(src: &[u8], [h, w]: [usize; 2], size: usize, dst: &mut Vec<u8>) {
    dst.clear();
    dst.resize(size * size * 3, 0);
    let (dy, dx) = (center_crop_offset(h, size), center_crop_offset(w, size));
    // Output columns whose input column is inside the image.
    let x0 = (-dx).max(0) as usize;
    let x1 = ((w as isize - dx).min(size as isize)).max(x0 as isize) as usize;
    for y in 0..size {
        let sy = y as isize + dy;
        if sy < 0 || sy >= h as isize || x0 == x1 {
            continue;
        }
        let from = (sy as usize * w + (x0 as isize + dx) as usize) * 3;
        dst[(y * size + x0) * 3..(y * size + x1) * 3].copy_from_slice(&src[from..from + (x1 - x0) * 3]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_and_center_crop_follow_torchvision() {
        assert_eq!(resized_shape([375, 500], 256), [256, 341]);
        assert_eq!(resized_shape([500, 375], 256), [341, 256]);
        assert_eq!(resized_shape([100, 100], 256), [256, 256]);
        // (375 − 224)/2 = 75.5 rounds to 76 (even), (377 − 224)/2 = 76.5 rounds to 76 as well.
        assert_eq!(center_crop_offset(375, 224), 76);
        assert_eq!(center_crop_offset(377, 224), 76);
        assert_eq!(center_crop_offset(100, 131), -15); // padded by 15 before, 16 after
    }

    #[test]
    fn fused_resize_crop_equals_the_two_steps() {
        // Wide (horizontal pass first) and tall (vertical pass first) images.
        for (w, h, size, crop) in [(53, 41, 30, 24), (21, 90, 15, 12)] {
            let pixels = (0..w * h).flat_map(|i| {
                let (x, y) = (i % w, i / w);
                [(x * 5) as u8, (y * 7) as u8, ((x * y) % 251) as u8]
            });
            let img = RgbImage::from_raw(w, h, pixels.collect()).unwrap();
            let ops = [Op::Resize { size }, Op::CenterCrop { size: crop }];
            let fused = transform_rgb_u8(&img, &ops, &[Draw::Resize, Draw::CenterCrop]).unwrap();
            let resized = transform_rgb_u8(&img, &ops[..1], &[Draw::Resize]).unwrap();
            let apart = transform_rgb_u8(&resized, &ops[1..], &[Draw::CenterCrop]).unwrap();
            assert_eq!((fused.width(), fused.height()), (crop as u32, crop as u32));
            assert_eq!(fused, apart);
        }
    }

    #[test]
    fn mismatched_draws_are_errors() {
        let img = RgbImage::new(8, 8);
        assert!(transform_rgb_u8(&img, &[Op::Flip], &[]).is_err());
        assert!(transform_rgb_u8(&img, &[Op::Flip], &[Draw::Resize]).is_err());
        let bad = Draw::ResizedCrop { crop: Rect { top: 4, left: 0, height: 5, width: 8 }, fallback: false };
        assert!(transform_rgb_u8(&img, &[Op::random_resized_crop(4)], &[bad]).is_err());
        assert!(draws(&[Op::Crop { padding: 4 }], [8, 8], 0, 0, 0).is_err());
        assert!(draws(&[Op::Flip], [0, 8], 0, 0, 0).is_err());
    }
}
