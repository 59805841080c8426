//! The triangle-filter resize ImageFolder datasets are resized with: the `image` crate's (0.25)
//! `resize_exact(…, FilterType::Triangle)`, which tfkd used before it decoded without that crate, re-done
//! operation for operation in f32 so the pixels stay the same (tests/formats.rs compares it with values that
//! crate computed).

use crate::rgb::RgbImage;

/// One output position's input span and normalised weights, as the `image` crate computes them: the triangle
/// `max(0, 1 − |x|)`, its support widened by the downscale factor (antialiasing), centred on `(o + ½)·ratio`.
fn taps(input: usize, output: usize, o: usize) -> (usize, Vec<f32>) {
    let ratio = input as f32 / output as f32;
    let scale = ratio.max(1.0);
    let centre = (o as f32 + 0.5) * ratio;
    let left = ((centre - scale).floor() as i64).clamp(0, input as i64 - 1);
    let right = ((centre + scale).ceil() as i64).clamp(left + 1, input as i64);
    let centre = centre - 0.5;
    let mut weights: Vec<f32> = (left..right)
        .map(|i| {
            let x = (i as f32 - centre) / scale;
            if x.abs() < 1.0 {
                1.0 - x.abs()
            } else {
                0.0
            }
        })
        .collect();
    let sum: f32 = weights.iter().fold(0.0, |s, w| s + w);
    for w in &mut weights {
        *w /= sum;
    }
    (left as usize, weights)
}

/// `img` resized to `[height, width]` (both ≥ 1, `img` not empty): the vertical pass first, kept in f32, then
/// the horizontal one, clamped to 0–255 and rounded half away from zero.
pub(super) fn resize(img: &RgbImage, [height, width]: [usize; 2]) -> RgbImage {
    let [in_h, in_w] = img.size();
    let src = img.as_raw();
    let mut columns = vec![0f32; height * in_w * 3];
    for y in 0..height {
        let (top, weights) = taps(in_h, height, y);
        for x in 0..in_w * 3 {
            let mut t = 0f32;
            for (i, w) in weights.iter().enumerate() {
                t += f32::from(src[(top + i) * in_w * 3 + x]) * w;
            }
            columns[y * in_w * 3 + x] = t;
        }
    }
    let mut out = vec![0u8; height * width * 3];
    for x in 0..width {
        let (left, weights) = taps(in_w, width, x);
        for y in 0..height {
            for c in 0..3 {
                let mut t = 0f32;
                for (i, w) in weights.iter().enumerate() {
                    t += columns[(y * in_w + left + i) * 3 + c] * w;
                }
                out[(y * width + x) * 3 + c] = t.clamp(0.0, 255.0).round() as u8;
            }
        }
    }
    RgbImage::from_raw(width as u32, height as u32, out).expect("height × width × 3 bytes")
}
