//! Decoding JPEG/PNG bytes into planar u8 images, in parallel, reporting progress ([`crate::progress`]); and
//! [`decode_rgb`], one image as PIL's `Image.open(f).convert('RGB')` gives it (the ImageNet path).

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::{
    error::{DataError, Result},
    resample::Rect,
    rgb::RgbImage,
};

mod png_file;
mod triangle;

/// How decoded images must come out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// 1 (grey) or 3 (RGB); other channel counts are converted.
    pub channels: usize,
    /// Required height and width.
    pub size: [usize; 2],
    /// Resize images of another size (a triangle filter, [`triangle`]) instead of rejecting them.
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
    let fail = |detail: String| DataError::Image { path: item.name.clone(), detail };
    let img = if item.bytes.starts_with(JPEG_START) {
        decode_zune_jpeg(&item.bytes).map_err(|e| fail(format!("cannot decode JPEG: {e}")))?
    } else if item.bytes.starts_with(PNG_SIGNATURE) {
        png_file::decode_png(&item.bytes).map_err(|e| fail(format!("cannot decode PNG: {e}")))?
    } else {
        return Err(fail(format!("cannot decode image: {}", not_an_image(&item.bytes))));
    };
    let [h, w] = target.size;
    let img = if img.size() == target.size {
        img
    } else if target.resize {
        triangle::resize(&img, target.size)
    } else {
        return Err(fail(format!(
            "image is {}×{} (h×w), expected {h}×{w} like the rest of the dataset",
            img.height(),
            img.width()
        )));
    };
    write_planar(&img, target.channels, dst);
    Ok(())
}

/// Decodes a JPEG with zune-jpeg, as the `image` crate (0.25) did for tfkd's committed CIFAR-10 results, to
/// RGB: its decoder, options and colour output (RGB for YCbCr, CMYK and YCCK files), alpha dropped and grey
/// replicated: pixel for pixel what those results were trained on. [`decode_rgb`] is the path that gives
/// Pillow's pixels (libjpeg-turbo); the two decoders' IDCT and upsampling differ, and so can their pixels.
fn decode_zune_jpeg(bytes: &[u8]) -> std::result::Result<RgbImage, String> {
    use zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions};
    let options = DecoderOptions::default().set_strict_mode(false).set_max_width(usize::MAX).set_max_height(usize::MAX);
    let mut header = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    header.decode_headers().map_err(|e| e.to_string())?;
    let (width, height) = header.dimensions().ok_or("no dimensions after the headers")?;
    check_size(width, height)?;
    let colour = match header.input_colorspace().ok_or("no colour space after the headers")? {
        c @ (ColorSpace::RGB | ColorSpace::RGBA | ColorSpace::Luma | ColorSpace::LumaA) => c,
        _ => ColorSpace::RGB,
    };
    let mut decoder =
        zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options.jpeg_set_out_colorspace(colour));
    let buf = decoder.decode().map_err(|e| e.to_string())?;
    RgbImage::from_channels(width as u32, height as u32, colour.num_components(), buf)
        .ok_or_else(|| "the decoder gave the wrong number of pixels".into())
}

/// Writes an RGB image as planar C×H×W bytes: RGB, or grey as Pillow's `convert('L')` computes it (ITU-R
/// 601-2 luma, `(19595·R + 38470·G + 7471·B + 2¹⁵) >> 16`).
fn write_planar(img: &RgbImage, channels: usize, dst: &mut [u8]) {
    let plane = (img.width() * img.height()) as usize;
    let px = img.as_raw().chunks_exact(3);
    if channels == 1 {
        for (d, p) in dst[..plane].iter_mut().zip(px) {
            let [r, g, b] = [p[0], p[1], p[2]].map(u32::from);
            *d = ((19595 * r + 38470 * g + 7471 * b + 0x8000) >> 16) as u8;
        }
    } else {
        for (i, p) in px.enumerate() {
            for c in 0..3 {
                dst[c * plane + i] = p[c];
            }
        }
    }
}

/// A PNG file's first eight bytes.
pub(crate) const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// How a JPEG file starts: its start-of-image marker and the next marker's `ff`.
pub(crate) const JPEG_START: &[u8] = &[0xff, 0xd8, 0xff];

/// The error for bytes that are neither JPEG nor PNG.
fn not_an_image(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(8)];
    format!("neither a JPEG nor a PNG: the {} bytes start with {head:02x?}", bytes.len())
}

/// The largest image [`decode_rgb`] accepts, in pixels: where Pillow refuses an image as a decompression bomb
/// (twice its `MAX_IMAGE_PIXELS`).
pub const MAX_PIXELS: u64 = 2 * 89_478_485;

/// Decodes one JPEG or PNG, recognised by its content whatever its name says (ILSVRC-2012 has a PNG named
/// `.JPEG`), into the RGB pixels of PIL's `Image.open(f).convert('RGB')`, which torchvision's ImageFolder
/// loader calls.
///
/// * JPEG: libjpeg-turbo's decoder (MozJPEG's, through `mozjpeg-sys`, built from source): the library Pillow links, with
///   Pillow's settings (islow IDCT, fancy upsampling), so the pixels are Pillow's exactly. Grayscale is
///   replicated to RGB; CMYK and YCCK (which libjpeg turns into CMYK) are read with Adobe's inverted
///   polarity and converted as Pillow's `cmyk2rgb` does: `k − k·(255 − c)/255` with the stored c and k.
/// * PNG: the `png` crate, converted as Pillow converts: alpha dropped, grey replicated, 16-bit colour and
///   grey+alpha reduced to their high byte, 16-bit grey (Pillow's `I;16`) clamped to 255.
///
/// `name` is the file (or `archive!entry`) the errors name. A JPEG whose data ends before its last scan is
/// refused, as Pillow refuses it ("image file is truncated"), where libjpeg alone would fill the rest with grey.
pub fn decode_rgb(bytes: &[u8], name: &Path) -> Result<RgbImage> {
    let window = decode_rgb_window(bytes, name, |size| Ok(Rect::full(size)))?;
    let [height, width] = window.size;
    RgbImage::from_raw(width as u32, height as u32, window.pixels).ok_or_else(|| DataError::Image {
        path: name.to_path_buf(),
        detail: format!("the decoder gave the wrong number of pixels for {width}×{height}"),
    })
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

/// The decoded pixels of a rectangle of an image: what [`decode_rgb_window`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbWindow {
    /// Interleaved RGB of `rect`, row after row: `rect.height × rect.width × 3` bytes.
    pub pixels: Vec<u8>,
    /// Where the pixels lie in the whole image.
    pub rect: Rect,
    /// The whole image's `[height, width]`.
    pub size: [usize; 2],
}

impl RgbWindow {
    /// The whole of a decoded image.
    #[must_use]
    pub fn whole(img: RgbImage) -> Self {
        let size = [img.height() as usize, img.width() as usize];
        RgbWindow { pixels: img.into_raw(), rect: Rect::full(size), size }
    }
}

/// [`decode_rgb`] of the part of an image a caller needs: `need` is given the image's `[height, width]` (read
/// from the file's header) and returns the rectangle it will read; the result is that rectangle, with exactly
/// the pixels [`decode_rgb`] gives there.
///
/// For a JPEG, libjpeg-turbo skips the rows above and below the rectangle (they are entropy-decoded, not
/// transformed: every byte of the file is still read, so a truncated file is refused as [`decode_rgb`]
/// refuses it) and the iMCU columns left and right of it (`jpeg_crop_scanline`). The rectangle is widened by
/// one iMCU on every side for decoding (and cut back after), so that chroma upsampling, which reads
/// neighbouring samples, sees the same neighbours inside it as in a whole decode; `tests/imagenet_transforms.rs`
/// checks random windows of 4:2:0, 4:2:2, 4:4:4, progressive, grey and CMYK files against whole decodes. A PNG
/// is decoded whole, then cut. Errors of `need` are returned as they are.
pub fn decode_rgb_window(
    bytes: &[u8],
    name: &Path,
    need: impl FnOnce([usize; 2]) -> Result<Rect>,
) -> Result<RgbWindow> {
    let fail = |detail: String| DataError::Image { path: name.to_path_buf(), detail };
    if bytes.starts_with(JPEG_START) {
        decode_jpeg(bytes, need).map_err(|e| match e {
            JpegError::Libjpeg(e) => fail(format!("cannot decode JPEG: {e}")),
            JpegError::Need(e) => e,
        })
    } else if bytes.starts_with(PNG_SIGNATURE) {
        let img = png_file::decode_png(bytes).map_err(|e| fail(format!("cannot decode PNG: {e}")))?;
        let size = [img.height() as usize, img.width() as usize];
        let rect = need(size)?;
        if !rect.fits(size) {
            return Err(outside(rect, size));
        }
        if rect == Rect::full(size) {
            return Ok(RgbWindow::whole(img));
        }
        let row = |y: usize| &img.as_raw()[((rect.top + y) * size[1] + rect.left) * 3..][..rect.width * 3];
        Ok(RgbWindow { pixels: (0..rect.height).flat_map(row).copied().collect(), rect, size })
    } else {
        Err(fail(not_an_image(bytes)))
    }
}

fn outside(rect: Rect, size: [usize; 2]) -> DataError {
    DataError::Invalid(format!("window {rect:?} is not inside the {size:?} image"))
}

enum JpegError {
    /// libjpeg's message (or ours about the image).
    Libjpeg(String),
    /// The caller's `need` failed.
    Need(DataError),
}

impl From<String> for JpegError {
    fn from(e: String) -> Self {
        JpegError::Libjpeg(e)
    }
}

/// A libjpeg decompressor reading borrowed bytes, destroyed when dropped (also when an error unwinds).
struct Decompressor<'a> {
    cinfo: Box<mozjpeg_sys::jpeg_decompress_struct>,
    _err: Box<mozjpeg_sys::jpeg_error_mgr>,
    _bytes: std::marker::PhantomData<&'a [u8]>,
}

impl<'a> Decompressor<'a> {
    /// Creates the decompressor with [`strict_errors`] and `bytes` as its source, and reads the header.
    fn new(bytes: &'a [u8]) -> Self {
        let mut err = Box::new(strict_errors());
        // SAFETY: all-zero is a valid jpeg_decompress_struct before jpeg_create_decompress (libjpeg's own
        // examples start from a zeroed struct); destroying a zeroed one is a no-op (its `mem` is null).
        let mut cinfo: Box<mozjpeg_sys::jpeg_decompress_struct> = Box::new(unsafe { std::mem::zeroed() });
        cinfo.common.err = &mut *err;
        let mut d = Decompressor { cinfo, _err: err, _bytes: std::marker::PhantomData };
        let len = std::os::raw::c_ulong::try_from(bytes.len()).unwrap_or(std::os::raw::c_ulong::MAX);
        // SAFETY: the struct is boxed (it never moves), its error manager lives as long as it does, and the
        // bytes outlive it (`'a`); libjpeg only reads them. Errors unwind out of these calls.
        unsafe {
            mozjpeg_sys::jpeg_create_decompress(&mut *d.cinfo);
            mozjpeg_sys::jpeg_mem_src(&mut d.cinfo, bytes.as_ptr(), len);
            mozjpeg_sys::jpeg_read_header(&mut d.cinfo, 1);
        }
        d
    }

    /// Reads the next `rows.len() / row_bytes` scanlines into `rows`.
    fn read(&mut self, rows: &mut [u8], row_bytes: usize) -> std::result::Result<(), String> {
        for row in rows.chunks_exact_mut(row_bytes) {
            let mut ptr = row.as_mut_ptr();
            // SAFETY: `row` holds one output scanline (output_width × output_components bytes, checked by the
            // caller); libjpeg writes at most that.
            let read = unsafe { mozjpeg_sys::jpeg_read_scanlines(&mut self.cinfo, &mut ptr, 1) };
            if read != 1 {
                return Err("libjpeg returned no scanline".into());
            }
        }
        Ok(())
    }

    /// Skips `rows` scanlines (entropy-decoding them only).
    fn skip(&mut self, rows: usize) -> std::result::Result<(), String> {
        let n = mozjpeg_sys::JDIMENSION::try_from(rows).map_err(|e| e.to_string())?;
        // SAFETY: a started decompressor; libjpeg checks the count against the image.
        let skipped = unsafe { mozjpeg_sys::jpeg_skip_scanlines(&mut self.cinfo, n) };
        if skipped != n {
            return Err(format!("libjpeg skipped {skipped} of {n} scanlines"));
        }
        Ok(())
    }
}

impl Drop for Decompressor<'_> {
    fn drop(&mut self) {
        // SAFETY: the struct was zeroed and then possibly created; libjpeg frees what it allocated.
        unsafe { mozjpeg_sys::jpeg_destroy_decompress(&mut self.cinfo) };
    }
}

/// libjpeg reports errors by unwinding ([`strict_errors`]); they are caught here and become messages.
fn decode_jpeg(
    bytes: &[u8],
    need: impl FnOnce([usize; 2]) -> Result<Rect>,
) -> std::result::Result<RgbWindow, JpegError> {
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decode_jpeg_window(bytes, need)));
    match decoded {
        Ok(result) => result,
        Err(payload) => Err(JpegError::Libjpeg(
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_else(|| "libjpeg failed".into()),
        )),
    }
}

fn decode_jpeg_window(
    bytes: &[u8],
    need: impl FnOnce([usize; 2]) -> Result<Rect>,
) -> std::result::Result<RgbWindow, JpegError> {
    use mozjpeg_sys::J_COLOR_SPACE::{JCS_CMYK, JCS_GRAYSCALE, JCS_RGB};
    let mut d = Decompressor::new(bytes);
    let size = [d.cinfo.image_height as usize, d.cinfo.image_width as usize];
    check_size(size[1], size[0])?;
    // libjpeg's default output for the file's colour space (what Pillow reads): RGB, grey or CMYK (YCCK files
    // come out as CMYK); anything else is asked for as RGB.
    let channels = match d.cinfo.out_color_space {
        JCS_GRAYSCALE => 1,
        JCS_CMYK => 4,
        JCS_RGB => 3,
        _ => {
            d.cinfo.out_color_space = JCS_RGB;
            3
        }
    };
    let want = need(size).map_err(JpegError::Need)?;
    if !want.fits(size) {
        return Err(JpegError::Need(outside(want, size)));
    }
    // Widen by one iMCU on every side, within the image.
    let (mh, mv) = (8 * d.cinfo.max_h_samp_factor.max(1) as usize, 8 * d.cinfo.max_v_samp_factor.max(1) as usize);
    let (top, bottom) = (want.top.saturating_sub(mv), (want.top + want.height + mv).min(size[0]));
    let (left, right) = (want.left.saturating_sub(mh), (want.left + want.width + mh).min(size[1]));
    // SAFETY: a decompressor whose header was read; errors unwind.
    unsafe { mozjpeg_sys::jpeg_start_decompress(&mut d.cinfo) };
    if d.cinfo.output_components as usize != channels {
        return Err(format!("libjpeg gives {} components, not {channels}", d.cinfo.output_components).into());
    }
    let (mut x, mut width) = (left as mozjpeg_sys::JDIMENSION, (right - left) as mozjpeg_sys::JDIMENSION);
    // SAFETY: a started decompressor that has not read a scanline; libjpeg checks the span and aligns x down to
    // an iMCU boundary (widening the span to keep its right edge).
    unsafe { mozjpeg_sys::jpeg_crop_scanline(&mut d.cinfo, &mut x, &mut width) };
    let (x, width) = (x as usize, width as usize);
    if d.cinfo.output_width as usize != width || x > left || x + width < right {
        return Err(format!("libjpeg cropped columns {x}..{} for {left}..{right}", x + width).into());
    }
    let row_bytes = width * channels;
    let mut raw = vec![0u8; (bottom - top) * row_bytes];
    d.skip(top)?;
    d.read(&mut raw, row_bytes)?;
    if bottom < size[0] {
        // Entropy-decode the rest, reading the last row, so that data ending early is noticed as in a whole
        // decode (skipping to the very end would not read the file).
        d.skip(size[0] - 1 - bottom)?;
        let mut last = vec![0u8; row_bytes];
        d.read(&mut last, row_bytes)?;
    }
    // SAFETY: every scanline was read or skipped; this reads the file up to its end marker.
    unsafe { mozjpeg_sys::jpeg_finish_decompress(&mut d.cinfo) };
    // An RGB decode of exactly the rectangle asked for (a whole image) is the result as it is.
    let decoded = Rect { top, left: x, height: bottom - top, width };
    if channels == 3 && decoded == want {
        return Ok(RgbWindow { pixels: raw, rect: want, size });
    }
    // Exactly the rectangle asked for: the widened edges may differ from a whole decode.
    let (dy, dx) = (want.top - top, (want.left - x) * channels);
    let mut pixels = Vec::with_capacity(want.height * want.width * 3);
    for row in raw.chunks_exact(row_bytes).skip(dy).take(want.height) {
        let row = &row[dx..dx + want.width * channels];
        match channels {
            1 => pixels.extend(row.iter().flat_map(|&g| [g, g, g])),
            4 => pixels.extend(row.chunks_exact(4).flat_map(|p| cmyk_to_rgb([p[0], p[1], p[2], p[3]]))),
            _ => pixels.extend_from_slice(row),
        }
    }
    Ok(RgbWindow { pixels, rect: want, size })
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
