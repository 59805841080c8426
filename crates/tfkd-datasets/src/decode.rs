//! Decoding JPEG/PNG bytes into planar u8 images, in parallel, reporting progress ([`crate::progress`]); and
//! [`decode_rgb`], one image as PIL's `Image.open(f).convert('RGB')` gives it (the ImageNet path).

use std::path::{Path, PathBuf};

use image::{imageops::FilterType, DynamicImage, ImageFormat, RgbImage};
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

/// The largest image [`decode_rgb`] accepts, in pixels: where Pillow refuses an image as a decompression bomb
/// (twice its `MAX_IMAGE_PIXELS`).
pub const MAX_PIXELS: u64 = 2 * 89_478_485;

/// Decodes one JPEG or PNG, recognised by its content whatever its name says (ILSVRC-2012 has a PNG named
/// `.JPEG`), into the RGB pixels of PIL's `Image.open(f).convert('RGB')`, which torchvision's ImageFolder
/// loader calls.
///
/// * JPEG: libjpeg-turbo's decoder (through `mozjpeg`, built from source): the library Pillow links, with
///   Pillow's settings (islow IDCT, fancy upsampling), so the pixels are Pillow's exactly. Grayscale is
///   replicated to RGB; CMYK and YCCK (which libjpeg turns into CMYK) are read with Adobe's inverted
///   polarity and converted as Pillow's `cmyk2rgb` does: `k − k·(255 − c)/255` with the stored c and k.
/// * PNG: the `image` crate, converted as Pillow converts: alpha dropped, grey replicated, 16-bit colour and
///   grey+alpha reduced to their high byte, 16-bit grey (Pillow's `I;16`) clamped to 255.
///
/// `name` is the file (or `archive!entry`) the errors name. A JPEG whose data ends before its last scan is
/// refused, as Pillow refuses it ("image file is truncated"), where libjpeg alone would fill the rest with grey.
pub fn decode_rgb(bytes: &[u8], name: &Path) -> Result<RgbImage> {
    let fail = |detail: String| DataError::Image { path: name.to_path_buf(), detail };
    if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        decode_jpeg(bytes).map_err(|e| fail(format!("cannot decode JPEG: {e}")))
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        decode_png(bytes).map_err(|e| fail(format!("cannot decode PNG: {e}")))
    } else {
        let head = &bytes[..bytes.len().min(8)];
        Err(fail(format!("neither a JPEG nor a PNG: the {} bytes start with {head:02x?}", bytes.len())))
    }
}

fn check_size(width: usize, height: usize) -> std::result::Result<(), String> {
    if width == 0 || height == 0 || (width as u64) * (height as u64) > MAX_PIXELS {
        return Err(format!("{width}×{height} pixels: empty or larger than {MAX_PIXELS} pixels"));
    }
    Ok(())
}

/// The message a truncated JPEG fails with (Pillow's words, and why).
pub const TRUNCATED_JPEG: &str = "image file is truncated: the JPEG data ends before its last scan";

/// libjpeg's error manager for decoding as Pillow does: errors unwind with libjpeg's message (as mozjpeg's own
/// manager does), and so does the one warning Pillow turns into an error, data ending early (`JWRN_JPEG_EOF`);
/// the other warnings (extraneous bytes, …) pass silently, as in Pillow.
fn strict_errors() -> mozjpeg_sys::jpeg_error_mgr {
    // SAFETY: jpeg_error_mgr is a plain C struct of integers, pointers and optional function pointers, for which
    // all-zero is a valid value; jpeg_std_error then fills every field.
    let mut err: mozjpeg_sys::jpeg_error_mgr = unsafe { std::mem::zeroed() };
    // SAFETY: `err` is a valid, exclusively borrowed error manager.
    unsafe { mozjpeg_sys::jpeg_std_error(&mut err) };
    err.error_exit = Some(unwind_on_error);
    err.emit_message = Some(unwind_on_truncation);
    err
}

/// libjpeg's `error_exit`: unwinds with its formatted message; [`decode_jpeg`] catches it.
extern "C-unwind" fn unwind_on_error(cinfo: &mut mozjpeg_sys::jpeg_common_struct) {
    let mut buffer = [0u8; 80];
    // SAFETY: `cinfo.err` is the manager set by [`strict_errors`]; format_message writes at most 80 bytes (JMSG_LENGTH_MAX).
    let format = unsafe { cinfo.err.as_ref() }.and_then(|e| e.format_message);
    if let Some(format) = format {
        type Writes = unsafe extern "C-unwind" fn(&mut mozjpeg_sys::jpeg_common_struct, &mut [u8; 80]);
        // SAFETY: the binding declares the buffer `&[u8; 80]` but libjpeg writes the message into it; the same
        // function with the buffer as `&mut` (one pointer either way) says so to Rust.
        let format: Writes = unsafe { std::mem::transmute(format) };
        // SAFETY: libjpeg's formatter for this cinfo, writing into a buffer of the size it expects.
        unsafe { format(cinfo, &mut buffer) };
    }
    let text = buffer.split(|&c| c == 0).next().unwrap_or_default();
    std::panic::resume_unwind(Box::new(format!("libjpeg: {}", String::from_utf8_lossy(text))));
}

/// libjpeg's `emit_message`: a warning (level −1) that the data ended early unwinds; everything else is silent.
extern "C-unwind" fn unwind_on_truncation(cinfo: &mut mozjpeg_sys::jpeg_common_struct, level: std::os::raw::c_int) {
    // SAFETY: `cinfo.err` is the manager set by [`strict_errors`].
    let code = unsafe { cinfo.err.as_ref() }.map_or(0, |e| e.msg_code);
    if level < 0 && code == mozjpeg_sys::JWRN_JPEG_EOF {
        std::panic::resume_unwind(Box::new(TRUNCATED_JPEG.to_string()));
    }
}

/// libjpeg reports errors by unwinding ([`strict_errors`]); they are caught here and become messages.
fn decode_jpeg(bytes: &[u8]) -> std::result::Result<RgbImage, String> {
    let decoded = std::panic::catch_unwind(|| -> std::result::Result<(usize, usize, Vec<u8>), String> {
        let io = |e: std::io::Error| e.to_string();
        let d = mozjpeg::Decompress::with_err(strict_errors()).from_mem(bytes).map_err(io)?;
        let (width, height) = d.size();
        check_size(width, height)?;
        let pixels = match d.image().map_err(io)? {
            mozjpeg::Format::RGB(mut s) => {
                let px: Vec<u8> = s.read_scanlines().map_err(io)?;
                s.finish().map_err(io)?;
                px
            }
            mozjpeg::Format::Gray(mut s) => {
                let grey: Vec<u8> = s.read_scanlines().map_err(io)?;
                s.finish().map_err(io)?;
                grey.iter().flat_map(|&g| [g, g, g]).collect()
            }
            mozjpeg::Format::CMYK(mut s) => {
                let cmyk: Vec<u8> = s.read_scanlines().map_err(io)?;
                s.finish().map_err(io)?;
                cmyk.chunks_exact(4).flat_map(|p| cmyk_to_rgb([p[0], p[1], p[2], p[3]])).collect()
            }
        };
        Ok((width, height, pixels))
    });
    let (width, height, pixels) = match decoded {
        Ok(result) => result?,
        Err(payload) => {
            return Err(payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_else(|| "libjpeg failed".into()))
        }
    };
    RgbImage::from_raw(width as u32, height as u32, pixels)
        .ok_or_else(|| format!("libjpeg gave the wrong number of pixels for {width}×{height}"))
}

/// Pillow's CMYK JPEG pixel to RGB: its decoder inverts the stored values (Adobe polarity, `CMYK;I`), then
/// `cmyk2rgb` computes `nk − nk·C/255` (`MULDIV255`, rounded) with `nk = 255 − K`.
fn cmyk_to_rgb([c, m, y, k]: [u8; 4]) -> [u8; 3] {
    let nk = i32::from(k); // 255 − (255 − k)
    [c, m, y].map(|v| {
        let t = (255 - i32::from(v)) * nk + 128;
        (nk - (((t >> 8) + t) >> 8)).clamp(0, 255) as u8
    })
}

fn decode_png(bytes: &[u8]) -> std::result::Result<RgbImage, String> {
    let img = image::load_from_memory_with_format(bytes, ImageFormat::Png).map_err(|e| e.to_string())?;
    check_size(img.width() as usize, img.height() as usize)?;
    let (w, h) = (img.width(), img.height());
    let from = |px: Vec<u8>| RgbImage::from_raw(w, h, px).ok_or_else(|| "wrong number of pixels".to_string());
    match img {
        DynamicImage::ImageLuma16(g) => from(g.as_raw().iter().flat_map(|&v| [v.min(255) as u8; 3]).collect()),
        DynamicImage::ImageLumaA16(g) => {
            from(g.as_raw().chunks_exact(2).flat_map(|p| [(p[0] >> 8) as u8; 3]).collect())
        }
        DynamicImage::ImageRgb16(c) => from(c.as_raw().iter().map(|&v| (v >> 8) as u8).collect()),
        DynamicImage::ImageRgba16(c) => {
            from(c.as_raw().chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]].map(|v| (v >> 8) as u8)).collect())
        }
        other => Ok(other.to_rgb8()),
    }
}
