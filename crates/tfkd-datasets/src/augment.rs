//! The paper's augmentations, seeded per sample, and normalisation — the CPU implementation.
//!
//! Semantics follow the official torchvision/PIL pipeline (docs/paper.md §4.2):
//! * `Crop { padding: p }` = `RandomCrop(size, padding=p)`: zero-pad by p, take a window at offsets
//!   (i, j) drawn uniformly from `0..=2p`.
//! * `Flip` = `RandomHorizontalFlip(0.5)`.
//! * `Rotate { degrees: d }` = `RandomRotation(d)`: angle uniform in [−d, d], counter-clockwise about the
//!   image centre, zero fill, exactly as Pillow computes it (see [`rotate`]). Interpolation is nearest
//!   (torchvision's default, hence the official code's) or bilinear.
//!
//! `tests/torchvision.rs` checks every op against torchvision's output on real cifar10-jpeg images
//! (`tests/fixtures/torchvision_augment.py` wrote it).
//!
//! The draws for sample i in epoch e come from (seed, epoch, i) alone; see [`crate::rng`].

use crate::rng::{Key, SampleRng};

pub use tfkd_names::{Augment, Interpolation, Normalize, Op};

/// The random parameters of every op of `augment` for sample `index` in `epoch`.
///
/// For the fixed-size ops ([`Augment::keeps_size`]). The ops that change an image's size (RandomResizedCrop,
/// Resize, CenterCrop) need the image's size and run in [`crate::transform`]; here they draw nothing and
/// leave the image as it is (`Draw::Flip(false)`), so a loader of fixed-size images must refuse a pipeline that
/// does not keep the size rather than pass it here.
#[must_use]
pub fn draws(augment: &Augment, seed: u64, epoch: u64, index: u64) -> Vec<Draw> {
    let mut rng = SampleRng::new(Key::new(seed).with_str("augment").with(epoch).with(index));
    augment
        .ops
        .iter()
        .map(|op| match *op {
            Op::Crop { padding } => {
                let span = 2 * padding as u64;
                Draw::Crop {
                    top: rng.below_inclusive(span) as usize,
                    left: rng.below_inclusive(span) as usize,
                    padding,
                }
            }
            Op::Flip => Draw::Flip(rng.unit() < 0.5),
            Op::Rotate { degrees } => Draw::Rotate((2.0 * rng.unit() - 1.0) * degrees),
            Op::RandomResizedCrop { .. } | Op::Resize { .. } | Op::CenterCrop { .. } => Draw::Flip(false),
        })
        .collect()
}

/// The drawn parameters of one op for one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Draw {
    /// Window offset into the padded image.
    Crop {
        /// Row offset in `0..=2·padding`.
        top: usize,
        /// Column offset in `0..=2·padding`.
        left: usize,
        /// The padding.
        padding: usize,
    },
    /// Whether to flip.
    Flip(bool),
    /// Angle in degrees, counter-clockwise.
    Rotate(f64),
}

/// Augments and normalises one planar u8 image (C×H×W) into `out` (same shape, f32).
pub fn apply(
    src: &[u8],
    chw: [usize; 3],
    draws: &[Draw],
    interpolation: Interpolation,
    norm: &Normalize,
    out: &mut [f32],
) {
    let [c, h, w] = chw;
    let mut cur: Vec<f32> = src.iter().map(|&p| f32::from(p)).collect();
    let mut next = vec![0f32; cur.len()];
    for draw in draws {
        match *draw {
            Draw::Crop { top, left, padding } => {
                next.fill(0.0);
                for ch in 0..c {
                    for y in 0..h {
                        let sy = (y + top) as isize - padding as isize;
                        if sy < 0 || sy >= h as isize {
                            continue;
                        }
                        for x in 0..w {
                            let sx = (x + left) as isize - padding as isize;
                            if sx >= 0 && sx < w as isize {
                                next[(ch * h + y) * w + x] = cur[(ch * h + sy as usize) * w + sx as usize];
                            }
                        }
                    }
                }
            }
            Draw::Flip(false) => continue,
            Draw::Flip(true) => {
                for row in 0..c * h {
                    for x in 0..w {
                        next[row * w + x] = cur[row * w + (w - 1 - x)];
                    }
                }
            }
            Draw::Rotate(angle) => rotate(&cur, &mut next, chw, angle, interpolation),
        }
        std::mem::swap(&mut cur, &mut next);
    }
    let plane = h * w;
    for ch in 0..c {
        let (m, s) = (norm.mean[ch], norm.std[ch]);
        for p in 0..plane {
            out[ch * plane + p] = (cur[ch * plane + p] / 255.0 - m) / s;
        }
    }
}

/// Where each output pixel of a rotation samples the input plane (index `y·w + x`; `None`: the zero fill).
#[derive(Debug, Clone, PartialEq)]
pub enum RotationMap {
    /// One source pixel per output pixel (nearest, and Pillow's exact transposes).
    Nearest(Vec<Option<u32>>),
    /// Four neighbours — (y0, x0), (y0, x1), (y1, x0), (y1, x1) — and the weights (dx, dy) per output pixel.
    Bilinear(Vec<Option<([u32; 4], f64, f64)>>),
}

/// Pillow's `Image.rotate(angle)` — what torchvision's `rotate` does to the PIL images of the official
/// pipeline — operation for operation, so tfkd's pixels are Pillow's (checked against torchvision on real
/// images by `tests/torchvision.rs`); the CPU and device paths both sample through this map.
///
/// * The angle is taken modulo 360; 0 is a copy, 180 and (on square images) 90 and 270 are exact transposes,
///   whatever the interpolation.
/// * Otherwise the inverse affine matrix is `[cos, sin, ·, −sin, cos, ·]` of −angle, each entry rounded to
///   15 decimals (Python's `round(x, 15)`), about the centre (w/2, h/2), with 0 outside the image.
/// * Nearest: Pillow's 16.16 fixed-point loop (`affine_fixed` in Geometry.c): the first pixel centre's
///   position plus whole multiples of the fixed-point matrix entries, the index being the position >> 16.
/// * Bilinear: the sample point at each output pixel centre; outside the image it is 0, inside, the four
///   neighbours are clamped to the edge and blended in f64, and the value is cut down to a whole number
///   (`(UINT8) v`); see [`blend`].
#[must_use]
pub fn rotation_map(h: usize, w: usize, angle_deg: f64, interpolation: Interpolation) -> RotationMap {
    let angle = angle_deg.rem_euclid(360.0);
    let flat = |y: usize, x: usize| (y * w + x) as u32;
    if angle == 0.0 || angle == 180.0 || ((angle == 90.0 || angle == 270.0) && w == h) {
        let map = (0..h * w)
            .map(|p| {
                let (y, x) = (p / w, p % w);
                Some(if angle == 0.0 {
                    flat(y, x)
                } else if angle == 180.0 {
                    flat(h - 1 - y, w - 1 - x)
                } else if angle == 90.0 {
                    flat(x, w - 1 - y)
                } else {
                    flat(h - 1 - x, y)
                })
            })
            .collect();
        return RotationMap::Nearest(map);
    }
    let r15 = |v: f64| format!("{v:.15}").parse::<f64>().expect("a formatted float parses");
    let t = -angle.to_radians();
    let (a0, a1, a3, a4) = (r15(t.cos()), r15(t.sin()), r15(-t.sin()), r15(t.cos()));
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    let a2 = a0 * -cx + a1 * -cy + 0.0 + cx;
    let a5 = a3 * -cx + a4 * -cy + 0.0 + cy;
    match interpolation {
        Interpolation::Nearest => {
            let fix = |v: f64| (v * 65536.0 + 0.5).floor() as i64;
            let (f0, f1, f3, f4) = (fix(a0), fix(a1), fix(a3), fix(a4));
            let (x0, y0) = (fix(a2 + a0 * 0.5 + a1 * 0.5), fix(a5 + a3 * 0.5 + a4 * 0.5));
            let map = (0..h * w)
                .map(|p| {
                    let (y, x) = ((p / w) as i64, (p % w) as i64);
                    // Pillow steps by whole fixed-point increments, so the position is exactly this sum.
                    let (xi, yi) = ((x0 + y * f1 + x * f0) >> 16, (y0 + y * f4 + x * f3) >> 16);
                    ((0..w as i64).contains(&xi) && (0..h as i64).contains(&yi)).then(|| flat(yi as usize, xi as usize))
                })
                .collect();
            RotationMap::Nearest(map)
        }
        Interpolation::Bilinear => {
            let clamp = |v: f64, n: usize| (v as i64).clamp(0, n as i64 - 1) as usize;
            let map = (0..h * w)
                .map(|p| {
                    let (px, py) = ((p % w) as f64 + 0.5, (p / w) as f64 + 0.5);
                    let (u, v) = (a0 * px + a1 * py + a2, a3 * px + a4 * py + a5);
                    if !(u >= 0.0 && u < w as f64 && v >= 0.0 && v < h as f64) {
                        return None;
                    }
                    let (fx, fy) = (u - 0.5, v - 0.5);
                    let (xf, yf) = (fx.floor(), fy.floor());
                    let (xa, xb, ya, yb) = (clamp(xf, w), clamp(xf + 1.0, w), clamp(yf, h), clamp(yf + 1.0, h));
                    Some(([flat(ya, xa), flat(ya, xb), flat(yb, xa), flat(yb, xb)], fx - xf, fy - yf))
                })
                .collect();
            RotationMap::Bilinear(map)
        }
    }
}

/// Pillow's bilinear value from four neighbours: two horizontal blends, one vertical, cut to a whole number.
#[must_use]
pub fn blend([p00, p01, p10, p11]: [f64; 4], dx: f64, dy: f64) -> f64 {
    let top = p00 + (p01 - p00) * dx;
    let bottom = p10 + (p11 - p10) * dx;
    (top + (bottom - top) * dy).trunc()
}

fn rotate(src: &[f32], dst: &mut [f32], [c, h, w]: [usize; 3], angle_deg: f64, interpolation: Interpolation) {
    let plane = h * w;
    match rotation_map(h, w, angle_deg, interpolation) {
        RotationMap::Nearest(map) => {
            for ch in 0..c {
                for (p, s) in map.iter().enumerate() {
                    dst[ch * plane + p] = s.map_or(0.0, |s| src[ch * plane + s as usize]);
                }
            }
        }
        RotationMap::Bilinear(map) => {
            for ch in 0..c {
                let at = |s: u32| f64::from(src[ch * plane + s as usize]);
                for (p, m) in map.iter().enumerate() {
                    dst[ch * plane + p] = m.map_or(0.0, |(n, dx, dy)| blend(n.map(at), dx, dy) as f32);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp() -> Vec<u8> {
        (0..16).map(|i| i as u8 * 10).collect() // 1×4×4, value = 10·(4y + x)
    }

    fn identity_norm() -> Normalize {
        Normalize { mean: vec![0.0], std: vec![1.0 / 255.0] } // out = pixel value
    }

    fn run(draws: &[Draw], interp: Interpolation) -> Vec<f32> {
        let mut out = vec![0.0; 16];
        apply(&ramp(), [1, 4, 4], draws, interp, &identity_norm(), &mut out);
        out.iter().map(|v| v.round()).collect()
    }

    #[test]
    fn crop_shifts_with_zero_padding() {
        // padding 1, offsets (0, 2): output (y, x) = input (y − 1, x + 1), zero outside.
        let out = run(&[Draw::Crop { top: 0, left: 2, padding: 1 }], Interpolation::Nearest);
        assert_eq!(out[0..4], [0.0, 0.0, 0.0, 0.0]);
        assert_eq!(out[4..8], [10.0, 20.0, 30.0, 0.0]);
        let centred = run(&[Draw::Crop { top: 1, left: 1, padding: 1 }], Interpolation::Nearest);
        assert_eq!(centred, ramp().iter().map(|&v| f32::from(v)).collect::<Vec<_>>());
    }

    #[test]
    fn flip_mirrors_columns() {
        let out = run(&[Draw::Flip(true)], Interpolation::Nearest);
        assert_eq!(out[0..4], [30.0, 20.0, 10.0, 0.0]);
    }

    #[test]
    fn quarter_turns_are_exact() {
        let id = run(&[Draw::Rotate(0.0)], Interpolation::Nearest);
        assert_eq!(id, ramp().iter().map(|&v| f32::from(v)).collect::<Vec<_>>());
        // 90° counter-clockwise: the top row becomes the right column read upwards... in PIL's frame the
        // output top-left samples the input top-right.
        let ccw = run(&[Draw::Rotate(90.0)], Interpolation::Nearest);
        assert_eq!(ccw[0], 30.0, "{ccw:?}");
        assert_eq!(ccw[3], 150.0, "{ccw:?}");
        let bil = run(&[Draw::Rotate(90.0)], Interpolation::Bilinear);
        assert_eq!(bil, ccw);
    }

    #[test]
    fn draws_depend_only_on_seed_epoch_index() {
        let a = Augment::cifar_official();
        assert_eq!(draws(&a, 1, 2, 3), draws(&a, 1, 2, 3));
        assert_ne!(draws(&a, 1, 2, 3), draws(&a, 1, 2, 4));
        assert_ne!(draws(&a, 1, 2, 3), draws(&a, 1, 3, 3));
        for i in 0..200 {
            for d in draws(&a, 9, 0, i) {
                match d {
                    Draw::Crop { top, left, .. } => assert!(top <= 8 && left <= 8),
                    Draw::Rotate(angle) => assert!((-15.0..=15.0).contains(&angle)),
                    Draw::Flip(_) => {}
                }
            }
        }
    }
}
