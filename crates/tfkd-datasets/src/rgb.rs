//! [`RgbImage`]: an 8-bit RGB image, what the decoders return and the ImageNet transforms read and write.

/// An 8-bit RGB image: `height` rows of `width` pixels, each pixel's three channels side by side.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RgbImage {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl RgbImage {
    /// A black image.
    #[must_use]
    pub fn new(width: u32, height: u32) -> Self {
        RgbImage { width, height, pixels: vec![0; width as usize * height as usize * 3] }
    }

    /// The image over `pixels` (row after row, RGB interleaved), or `None` when their number is not
    /// `width × height × 3`.
    #[must_use]
    pub fn from_raw(width: u32, height: u32, pixels: Vec<u8>) -> Option<Self> {
        (pixels.len() as u64 == u64::from(width) * u64::from(height) * 3).then_some(RgbImage { width, height, pixels })
    }

    /// The image over 8-bit samples of `channels` interleaved channels, converted as Pillow's `convert('RGB')`:
    /// grey (1) and grey+alpha (2) replicated, alpha dropped (4); `None` when the samples do not fill the image.
    #[must_use]
    pub fn from_channels(width: u32, height: u32, channels: usize, samples: Vec<u8>) -> Option<Self> {
        let pixels = match channels {
            1 => samples.iter().flat_map(|&g| [g; 3]).collect(),
            2 => samples.chunks_exact(2).flat_map(|p| [p[0]; 3]).collect(),
            3 => samples,
            4 => samples.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect(),
            _ => return None,
        };
        Self::from_raw(width, height, pixels)
    }

    /// Its width in pixels.
    #[must_use]
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Its height in pixels.
    #[must_use]
    pub fn height(&self) -> u32 {
        self.height
    }

    /// `[height, width]`, the order the transforms use.
    #[must_use]
    pub fn size(&self) -> [usize; 2] {
        [self.height as usize, self.width as usize]
    }

    /// The pixels, row after row, RGB interleaved.
    #[must_use]
    pub fn as_raw(&self) -> &[u8] {
        &self.pixels
    }

    /// The pixels, without a copy.
    #[must_use]
    pub fn into_raw(self) -> Vec<u8> {
        self.pixels
    }
}
