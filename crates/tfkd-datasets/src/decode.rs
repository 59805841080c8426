//! Decoding JPEG/PNG bytes into planar u8 images, in parallel, reporting progress ([`crate::progress`]).

use std::path::PathBuf;

use image::{imageops::FilterType, DynamicImage};
use rayon::prelude::*;

use crate::error::{DataError, Result};

/// How decoded images must come out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// 1 (grey) or 3 (RGB); other channel counts are converted.
    pub channels: usize,
    /// Required height and width.
    pub size: [usize; 2],
    /// Resize images of another size (triangle filter) instead of rejecting them.
    pub resize: bool,
}

/// One encoded image with its label and a name for error messages.
#[derive(Debug)]
pub struct Encoded {
    /// File or `archive!entry`.
    pub name: PathBuf,
    /// The encoded bytes.
    pub bytes: Vec<u8>,
    /// Its label.
    pub label: u16,
}

/// Decodes all images in parallel into one planar buffer, in input order.
pub fn decode_all(items: &[Encoded], target: Target, what: &str) -> Result<Vec<u8>> {
    let [h, w] = target.size;
    let per = target.channels * h * w;
    let mut out = vec![0u8; items.len() * per];
    let task = crate::progress::Task::new(&format!("decoding {what}"), Some(items.len() as u64));
    out.par_chunks_mut(per.max(1)).zip(items.par_iter()).try_for_each(|(dst, item)| {
        decode_into(item, target, dst)?;
        task.inc(1);
        Ok::<_, DataError>(())
    })?;
    Ok(out)
}

fn decode_into(item: &Encoded, target: Target, dst: &mut [u8]) -> Result<()> {
    let img = image::load_from_memory(&item.bytes)
        .map_err(|e| DataError::Image { path: item.name.clone(), detail: format!("cannot decode image: {e}") })?;
    let [h, w] = target.size;
    let img = if (img.height() as usize, img.width() as usize) == (h, w) {
        img
    } else if target.resize {
        img.resize_exact(w as u32, h as u32, FilterType::Triangle)
    } else {
        return Err(DataError::Image {
            path: item.name.clone(),
            detail: format!(
                "image is {}×{} (h×w), expected {h}×{w} like the rest of the dataset",
                img.height(),
                img.width()
            ),
        });
    };
    write_planar(&img, target.channels, dst);
    Ok(())
}

/// Writes an image as planar C×H×W bytes (grey → RGB by repetition, RGB → grey by luma).
fn write_planar(img: &DynamicImage, channels: usize, dst: &mut [u8]) {
    let plane = (img.width() * img.height()) as usize;
    if channels == 1 {
        dst[..plane].copy_from_slice(img.to_luma8().as_raw());
    } else {
        let rgb = img.to_rgb8();
        for (p, px) in rgb.as_raw().chunks_exact(3).enumerate() {
            for c in 0..3 {
                dst[c * plane + p] = px[c];
            }
        }
    }
}
