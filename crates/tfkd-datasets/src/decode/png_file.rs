//! PNG files to RGB as Pillow's `Image.open(f).convert('RGB')` gives them, with the `png` crate.

use super::check_size;
use crate::rgb::RgbImage;

/// Decodes a PNG and converts it as Pillow converts to RGB: palettes and bit depths below 8 expanded (the
/// decoder's `EXPAND`, Pillow's unpackers: the same values), alpha and transparency dropped, grey replicated,
/// 16-bit colour and grey+alpha reduced to their high byte, 16-bit grey (Pillow's `I;16`) clamped to 255.
/// The size is checked against [`super::MAX_PIXELS`] from the header, before anything is allocated.
pub(super) fn decode_png(bytes: &[u8]) -> Result<RgbImage, String> {
    let mut decoder = png::Decoder::new(bytes);
    decoder.set_transformations(png::Transformations::EXPAND);
    let info = decoder.read_header_info().map_err(|e| e.to_string())?;
    let (width, height) = (info.width, info.height);
    check_size(width as usize, height as usize)?;
    // The header passed the pixel limit: let the decoder allocate what that size needs.
    decoder.set_limits(png::Limits { bytes: usize::MAX });
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    buf.truncate(frame.buffer_size());
    let (colour, depth) = reader.output_color_type();
    let sixteen = depth == png::BitDepth::Sixteen;
    let high = |s: &[u8]| s[0]; // a big-endian 16-bit sample's high byte
    use png::ColorType::{Grayscale, Indexed};
    let (channels, samples): (usize, Vec<u8>) = match (colour, sixteen) {
        (Indexed, _) => return Err("a palette the decoder did not expand".into()),
        (Grayscale, true) => {
            (1, buf.chunks_exact(2).map(|s| u16::from_be_bytes([s[0], s[1]]).min(255) as u8).collect())
        }
        (c, true) => (c.samples(), buf.chunks_exact(2).map(high).collect()),
        (c, false) => (c.samples(), buf),
    };
    RgbImage::from_channels(width, height, channels, samples)
        .ok_or_else(|| "the decoder gave the wrong number of pixels".into())
}
