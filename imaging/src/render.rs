//! JPEG renditions (thumbnail and large preview) of an uploaded photo or video poster.
//!
//! Uploads are untrusted: a few hundred bytes can declare a 100000×100000 image. Dimensions and
//! the output buffer size are therefore checked against [`DecodeLimits`] from the header alone,
//! before any pixel buffer is allocated. Everything after decoding works on bounded sizes.

use std::fmt;
use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::metadata::Orientation;
use image::{
    DynamicImage, ImageDecoder, ImageEncoder, ImageError, ImageFormat, ImageReader, Limits,
    RgbImage,
};

use crate::truncation::jpeg_is_truncated;

pub use crate::error::ImagingError;

/// Longest side of the thumbnail rendition, in pixels.
pub const THUMB_SIZE: u32 = 256;
/// Longest side of the large (viewer) rendition, in pixels.
pub const LARGE_SIZE: u32 = 1280;

/// JPEG quality of both renditions: visually clean at thumbnail sizes, a fraction of the bytes.
const JPEG_QUALITY: u8 = 82;

/// Down-scaling factor from which the fast area-averaging filter is used instead of a
/// triangle filter: with at least 2×2 source pixels per output pixel the box average does not
/// alias and costs a fraction of a convolution.
const BOX_FILTER_MIN_FACTOR: u32 = 2;

/// What an image may cost to decode; exceeding any bound is [`ImagingError::TooLarge`].
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Widest accepted image, in pixels.
    pub max_width: u32,
    /// Tallest accepted image, in pixels.
    pub max_height: u32,
    /// Largest decoded pixel buffer (and decoder allocations), in bytes.
    pub max_alloc_bytes: u64,
}

impl Default for DecodeLimits {
    /// 16384 × 16384 pixels and 512 MiB: above any camera or phone sensor today.
    fn default() -> Self {
        Self {
            max_width: 16_384,
            max_height: 16_384,
            max_alloc_bytes: 512 * 1024 * 1024,
        }
    }
}

/// The renditions of one image.
#[derive(Clone)]
pub struct Renditions {
    /// Width of the original, after orientation.
    pub width: u32,
    /// Height of the original, after orientation.
    pub height: u32,
    /// JPEG whose longest side is at most [`THUMB_SIZE`].
    pub thumb_jpeg: Vec<u8>,
    /// JPEG whose longest side is at most [`LARGE_SIZE`].
    pub large_jpeg: Vec<u8>,
}

/// Byte counts instead of the JPEG bytes, so logging a rendition does not dump kilobytes.
impl fmt::Debug for Renditions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Renditions")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("thumb_jpeg_bytes", &self.thumb_jpeg.len())
            .field("large_jpeg_bytes", &self.large_jpeg.len())
            .finish()
    }
}

/// Decodes `bytes` within `limits`, applies the EXIF `orientation` (1..=8; anything else means
/// none) and encodes JPEG renditions whose longest side is at most [`THUMB_SIZE`] and
/// [`LARGE_SIZE`] (never upscaled).
///
/// Errors: [`ImagingError::TooLarge`] when the header exceeds the limits (nothing is allocated
/// for the pixels), [`ImagingError::Decode`] for truncated or corrupt data,
/// [`ImagingError::Unsupported`] for formats this build cannot decode (HEIC, AVIF, TIFF).
pub fn render(
    bytes: &[u8],
    orientation: Option<u16>,
    limits: DecodeLimits,
) -> Result<Renditions, ImagingError> {
    let orientation = orientation
        .and_then(|o| u8::try_from(o).ok())
        .and_then(Orientation::from_exif)
        .unwrap_or(Orientation::NoTransforms);
    let (image, icc_profile) = decode(bytes, limits)?;

    let (stored_width, stored_height) = (image.width(), image.height());
    let (width, height) = if swaps_axes(orientation) {
        (stored_height, stored_width)
    } else {
        (stored_width, stored_height)
    };

    // Scaling before orienting gives the same pixels as the other way round, but rotates only
    // the small renditions instead of copying the full-size image once more.
    let (large_width, large_height) = fit(stored_width, stored_height, LARGE_SIZE);
    let (thumb_width, thumb_height) = fit(stored_width, stored_height, THUMB_SIZE);
    let large = if (large_width, large_height) == (stored_width, stored_height) {
        image
    } else {
        downscale(&image, large_width, large_height)
    };
    // The thumbnail is made from the large rendition: same result at a fraction of the work.
    let thumb = downscale(&large, thumb_width, thumb_height);

    Ok(Renditions {
        width,
        height,
        thumb_jpeg: encode_jpeg(thumb, orientation, icc_profile.as_deref())?,
        large_jpeg: encode_jpeg(large, orientation, icc_profile.as_deref())?,
    })
}

/// Renditions from a still frame (a video poster, JPEG bytes): same sizes as [`render`], no
/// orientation (ffmpeg already applies the video's rotation when it extracts the frame).
pub fn render_poster(jpeg: &[u8], limits: DecodeLimits) -> Result<Renditions, ImagingError> {
    render(jpeg, None, limits)
}

/// Decodes the image and returns it with its ICC profile, refusing anything over `limits`
/// before the pixel buffer is allocated.
fn decode(
    bytes: &[u8],
    limits: DecodeLimits,
) -> Result<(DynamicImage, Option<Vec<u8>>), ImagingError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImagingError::Decode(e.to_string()))?;
    match reader.format() {
        None => {
            return Err(ImagingError::Unsupported(
                "not a recognised image".to_owned(),
            ))
        }
        Some(format) if !format.reading_enabled() => {
            return Err(ImagingError::Unsupported(format!("{format:?}")))
        }
        Some(ImageFormat::Jpeg) if jpeg_is_truncated(bytes) => {
            return Err(ImagingError::Decode(
                "truncated JPEG: no end-of-image marker".to_owned(),
            ))
        }
        Some(_) => {}
    }

    let mut image_limits = Limits::default();
    image_limits.max_image_width = Some(limits.max_width);
    image_limits.max_image_height = Some(limits.max_height);
    image_limits.max_alloc = Some(limits.max_alloc_bytes);
    reader.limits(image_limits);

    // `into_decoder` only parses the header and checks the dimensions; the output buffer size
    // is checked here because that is what a bomb within the dimension limits would blow up.
    let mut decoder = reader.into_decoder().map_err(classify)?;
    let needed = decoder.total_bytes();
    if needed > limits.max_alloc_bytes {
        let (w, h) = decoder.dimensions();
        return Err(ImagingError::TooLarge(format!(
            "{w}x{h} needs {needed} bytes, limit is {}",
            limits.max_alloc_bytes
        )));
    }
    // A broken profile only costs colour accuracy, not the renditions.
    let icc_profile = decoder.icc_profile().ok().flatten();
    let image = DynamicImage::from_decoder(decoder).map_err(classify)?;
    Ok((image, icc_profile))
}

fn classify(error: ImageError) -> ImagingError {
    match error {
        ImageError::Limits(e) => ImagingError::TooLarge(e.to_string()),
        ImageError::Unsupported(e) => ImagingError::Unsupported(e.to_string()),
        // The data is in memory, so an I/O error is the decoder running past the end: truncation.
        other => ImagingError::Decode(other.to_string()),
    }
}

/// Orientations that turn the image by a quarter, so width and height trade places.
fn swaps_axes(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// Dimensions scaled so that the longest side is at most `max`, aspect ratio kept (rounded to
/// the nearest pixel, at least 1), never upscaled.
fn fit(width: u32, height: u32, max: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= max {
        return (width, height);
    }
    let scale = |side: u32| {
        let scaled = (u64::from(side) * u64::from(max) + u64::from(long) / 2) / u64::from(long);
        u32::try_from(scaled).unwrap_or(max).max(1)
    };
    if width >= height {
        (max, scale(height))
    } else {
        (scale(width), max)
    }
}

/// A copy of `image` at exactly `width` × `height` (at most its own size).
fn downscale(image: &DynamicImage, width: u32, height: u32) -> DynamicImage {
    if (image.width(), image.height()) == (width, height) {
        return image.clone();
    }
    if image.width() >= width.saturating_mul(BOX_FILTER_MIN_FACTOR)
        && image.height() >= height.saturating_mul(BOX_FILTER_MIN_FACTOR)
    {
        image.thumbnail_exact(width, height)
    } else {
        image.resize_exact(width, height, image::imageops::FilterType::Triangle)
    }
}

/// Flattens, orients and encodes one rendition.
fn encode_jpeg(
    image: DynamicImage,
    orientation: Orientation,
    icc_profile: Option<&[u8]>,
) -> Result<Vec<u8>, ImagingError> {
    let mut oriented = DynamicImage::ImageRgb8(flatten_on_white(image));
    oriented.apply_orientation(orientation);
    let rgb = oriented.into_rgb8();

    let mut out = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY);
    if let Some(profile) = icc_profile.filter(|p| is_rgb_profile(p)) {
        // Wide-gamut phone photos (Display P3) look washed out without their profile. Failing
        // to attach it only costs colour accuracy.
        let _ = encoder.set_icc_profile(profile.to_vec());
    }
    encoder
        .write_image(
            rgb.as_raw(),
            rgb.width(),
            rgb.height(),
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| ImagingError::Unsupported(format!("cannot encode JPEG rendition: {e}")))?;
    Ok(out)
}

/// JPEG has no alpha: transparent areas become white (as on a page) instead of whatever colour
/// the invisible pixels happened to hold, often black.
fn flatten_on_white(image: DynamicImage) -> RgbImage {
    if !image.has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let mut rgb = RgbImage::new(rgba.width(), rgba.height());
    for (out, px) in rgb.pixels_mut().zip(rgba.pixels()) {
        let alpha = u16::from(px[3]);
        for channel in 0..3 {
            let blended = (u16::from(px[channel]) * alpha + 255 * (255 - alpha) + 127) / 255;
            out[channel] = u8::try_from(blended).unwrap_or(u8::MAX);
        }
    }
    rgb
}

/// The renditions are RGB, so only an RGB profile describes them (a CMYK JPEG's profile would
/// make viewers misinterpret the converted pixels). The colour space sits at bytes 16..20 of
/// the ICC header.
fn is_rgb_profile(profile: &[u8]) -> bool {
    profile.get(16..20) == Some(b"RGB ".as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_rounds_and_never_upscales() {
        assert_eq!(fit(3000, 2000, THUMB_SIZE), (256, 171));
        assert_eq!(fit(3000, 2000, LARGE_SIZE), (1280, 853));
        assert_eq!(fit(2000, 3000, THUMB_SIZE), (171, 256));
        assert_eq!(fit(100, 50, THUMB_SIZE), (100, 50));
        assert_eq!(fit(100_000, 1, THUMB_SIZE), (256, 1));
        assert_eq!(fit(256, 256, THUMB_SIZE), (256, 256));
    }

    #[test]
    fn transparent_pixels_become_white() {
        let mut rgba = image::RgbaImage::new(2, 1);
        rgba.put_pixel(0, 0, image::Rgba([0, 0, 0, 0]));
        rgba.put_pixel(1, 0, image::Rgba([10, 20, 30, 255]));
        let rgb = flatten_on_white(DynamicImage::ImageRgba8(rgba));
        assert_eq!(rgb.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(rgb.get_pixel(1, 0).0, [10, 20, 30]);
    }

    #[test]
    fn only_rgb_profiles_are_embedded() {
        let mut profile = vec![0u8; 128];
        profile[16..20].copy_from_slice(b"RGB ");
        assert!(is_rgb_profile(&profile));
        profile[16..20].copy_from_slice(b"CMYK");
        assert!(!is_rgb_profile(&profile));
        assert!(!is_rgb_profile(&[]));
    }
}
