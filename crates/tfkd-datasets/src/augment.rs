//! The paper's augmentations, seeded per sample, and normalisation — the CPU implementation.
//!
//! Semantics follow the official torchvision/PIL pipeline (REFERENCE.md §4.2):
//! * `Crop { padding: p }` = `RandomCrop(size, padding=p)`: zero-pad by p, take a window at offsets
//!   (i, j) drawn uniformly from `0..=2p`.
//! * `Flip` = `RandomHorizontalFlip(0.5)`.
//! * `Rotate { degrees: d }` = `RandomRotation(d)`: angle uniform in [−d, d], counter-clockwise about the
//!   image centre, zero fill, PIL's inverse mapping. Interpolation is nearest (torchvision's default,
//!   hence the official code's) or bilinear.
//!
//! The draws for sample i in epoch e come from (seed, epoch, i) alone; see [`crate::rng`].

use serde::{Deserialize, Serialize};

use crate::rng::{Key, SampleRng};

/// One augmentation step, applied in list order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// Random crop of the original size after zero padding.
    Crop {
        /// Pixels of zero padding on each side.
        padding: usize,
    },
    /// Horizontal flip with probability 0.5.
    Flip,
    /// Random rotation.
    Rotate {
        /// Maximum absolute angle in degrees.
        degrees: f64,
    },
}

pub use tfkd_names::Interpolation;
use tfkd_names::{AugmentPreset, AugmentStep, NormalizePreset};

/// Per-channel normalisation `(x/255 − mean)/std`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalize {
    /// Channel means of [0, 1] pixels.
    pub mean: Vec<f32>,
    /// Channel standard deviations.
    pub std: Vec<f32>,
}

impl Normalize {
    /// The CIFAR-100 statistics the official code uses for both CIFAR-10 and CIFAR-100.
    #[must_use]
    pub fn cifar_official() -> Self {
        Normalize {
            mean: vec![0.507_075_16, 0.486_548_87, 0.440_917_84],
            std: vec![0.267_334_28, 0.256_438_46, 0.276_150_47],
        }
    }

    /// The official code's Tiny-ImageNet statistics.
    #[must_use]
    pub fn tiny_imagenet_official() -> Self {
        Normalize { mean: vec![0.4802, 0.4481, 0.3975], std: vec![0.2302, 0.2265, 0.2262] }
    }

    /// Mean 0.5, std 0.5 for every channel: a neutral choice for other data.
    #[must_use]
    pub fn half(channels: usize) -> Self {
        Normalize { mean: vec![0.5; channels], std: vec![0.5; channels] }
    }

    /// The constants of a preset for `channels`-channel images; the official presets are for RGB only.
    pub fn preset(preset: NormalizePreset, channels: usize) -> crate::Result<Self> {
        let n = match preset {
            NormalizePreset::CifarOfficial => Normalize::cifar_official(),
            NormalizePreset::TinyImagenetOfficial => Normalize::tiny_imagenet_official(),
            NormalizePreset::Half => Normalize::half(channels),
        };
        if n.mean.len() != channels {
            return Err(crate::DataError::Invalid(format!(
                "normalisation '{preset}' is for {}-channel images; the data has {channels} (use `half`)",
                n.mean.len()
            )));
        }
        Ok(n)
    }
}

/// A training-time pipeline: ops, interpolation and the seed they draw from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Augment {
    /// Steps in order.
    pub ops: Vec<Op>,
    /// Rotation interpolation.
    #[serde(default)]
    pub interpolation: Interpolation,
}

impl Augment {
    /// CIFAR: RandomCrop(32, 4) → flip → RandomRotation(15).
    #[must_use]
    pub fn cifar_official() -> Self {
        Augment {
            ops: vec![Op::Crop { padding: 4 }, Op::Flip, Op::Rotate { degrees: 15.0 }],
            interpolation: Interpolation::Nearest,
        }
    }

    /// Tiny-ImageNet: RandomRotation(20) → flip.
    #[must_use]
    pub fn tiny_imagenet_official() -> Self {
        Augment { ops: vec![Op::Rotate { degrees: 20.0 }, Op::Flip], interpolation: Interpolation::Nearest }
    }

    /// No augmentation (evaluation).
    #[must_use]
    pub fn none() -> Self {
        Augment { ops: Vec::new(), interpolation: Interpolation::Nearest }
    }

    /// A preset with its rotation interpolation, minus the steps in `off`.
    #[must_use]
    pub fn preset(preset: AugmentPreset, interpolation: Interpolation, off: &[AugmentStep]) -> Self {
        let mut a = match preset {
            AugmentPreset::Cifar => Augment::cifar_official(),
            AugmentPreset::TinyImagenet => Augment::tiny_imagenet_official(),
            AugmentPreset::None => Augment::none(),
        };
        a.interpolation = interpolation;
        a.ops.retain(|op| {
            let step = match op {
                Op::Crop { .. } => AugmentStep::Crop,
                Op::Flip => AugmentStep::Flip,
                Op::Rotate { .. } => AugmentStep::Rotate,
            };
            !off.contains(&step)
        });
        a
    }

    /// The random parameters of every op for sample `index` in `epoch`.
    #[must_use]
    pub fn draws(&self, seed: u64, epoch: u64, index: u64) -> Vec<Draw> {
        let mut rng = SampleRng::new(Key::new(seed).with_str("augment").with(epoch).with(index));
        self.ops
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
            })
            .collect()
    }
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

/// PIL's `rotate(angle)`: output pixel centre (x+½, y+½) samples the input at the centre-relative
/// point rotated by the angle (dx' = cos·dx − sin·dy, dy' = sin·dx + cos·dy).
fn rotate(src: &[f32], dst: &mut [f32], [c, h, w]: [usize; 3], angle_deg: f64, interpolation: Interpolation) {
    let (sin, cos) = (angle_deg.to_radians() as f32).sin_cos();
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let pixel = |ch: usize, y: isize, x: isize| -> f32 {
        if y < 0 || x < 0 || y >= h as isize || x >= w as isize {
            0.0
        } else {
            src[(ch * h + y as usize) * w + x as usize]
        }
    };
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            let u = cos * dx - sin * dy + cx;
            let v = sin * dx + cos * dy + cy;
            for ch in 0..c {
                dst[(ch * h + y) * w + x] = match interpolation {
                    Interpolation::Nearest => pixel(ch, v.floor() as isize, u.floor() as isize),
                    Interpolation::Bilinear => {
                        let (fx, fy) = (u - 0.5, v - 0.5);
                        let (x0, y0) = (fx.floor(), fy.floor());
                        let (ax, ay) = (fx - x0, fy - y0);
                        let (x0, y0) = (x0 as isize, y0 as isize);
                        pixel(ch, y0, x0) * (1.0 - ax) * (1.0 - ay)
                            + pixel(ch, y0, x0 + 1) * ax * (1.0 - ay)
                            + pixel(ch, y0 + 1, x0) * (1.0 - ax) * ay
                            + pixel(ch, y0 + 1, x0 + 1) * ax * ay
                    }
                };
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
        assert_eq!(a.draws(1, 2, 3), a.draws(1, 2, 3));
        assert_ne!(a.draws(1, 2, 3), a.draws(1, 2, 4));
        assert_ne!(a.draws(1, 2, 3), a.draws(1, 3, 3));
        for i in 0..200 {
            for d in a.draws(9, 0, i) {
                match d {
                    Draw::Crop { top, left, .. } => assert!(top <= 8 && left <= 8),
                    Draw::Rotate(angle) => assert!((-15.0..=15.0).contains(&angle)),
                    Draw::Flip(_) => {}
                }
            }
        }
    }
}
