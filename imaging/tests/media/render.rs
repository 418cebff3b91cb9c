//! `render` sizes, orientation, limits and failure modes.

use std::time::{Duration, Instant};

use image::{ImageFormat, Rgb, RgbImage};
use taina_imaging::{render, render_poster, DecodeLimits, ImagingError, LARGE_SIZE, THUMB_SIZE};

use crate::support::{dimensions, encode, gradient, jpeg, png_declaring, translucent};

#[test]
fn renditions_fit_their_sizes() {
    let bytes = encode(&gradient(3000, 2000), ImageFormat::Png);
    let out = render(&bytes, None, DecodeLimits::default()).unwrap();
    assert_eq!((out.width, out.height), (3000, 2000));
    assert_eq!(dimensions(&out.thumb_jpeg), (THUMB_SIZE, 171));
    assert_eq!(dimensions(&out.large_jpeg), (LARGE_SIZE, 853));
    assert!(out.thumb_jpeg.starts_with(&[0xFF, 0xD8, 0xFF]));
    assert!(out.thumb_jpeg.len() < out.large_jpeg.len());
}

#[test]
fn orientation_6_swaps_width_and_height() {
    // A red block in the stored top-left corner; orientation 6 means "rotate 90° clockwise to
    // display", which moves it to the top-right corner.
    let mut image = RgbImage::from_pixel(300, 200, Rgb([0, 0, 255]));
    for y in 0..40 {
        for x in 0..40 {
            image.put_pixel(x, y, Rgb([255, 0, 0]));
        }
    }
    let bytes = encode(&image.into(), ImageFormat::Png);
    let out = render(&bytes, Some(6), DecodeLimits::default()).unwrap();
    assert_eq!((out.width, out.height), (200, 300));
    assert_eq!(dimensions(&out.thumb_jpeg), (171, 256));
    assert_eq!(dimensions(&out.large_jpeg), (200, 300));

    let large = image::load_from_memory(&out.large_jpeg)
        .unwrap()
        .into_rgb8();
    let top_right = large.get_pixel(190, 10);
    let top_left = large.get_pixel(10, 10);
    assert!(top_right[0] > 200 && top_right[2] < 60, "{top_right:?}");
    assert!(top_left[2] > 200 && top_left[0] < 60, "{top_left:?}");
}

#[test]
fn every_orientation_is_accepted() {
    let bytes = jpeg(40, 20);
    for orientation in 1..=8 {
        let out = render(&bytes, Some(orientation), DecodeLimits::default()).unwrap();
        let expected = if orientation >= 5 { (20, 40) } else { (40, 20) };
        assert_eq!(
            (out.width, out.height),
            expected,
            "orientation {orientation}"
        );
        assert_eq!(
            dimensions(&out.large_jpeg),
            expected,
            "orientation {orientation}"
        );
    }
    // Out-of-range values are ignored rather than failing the upload.
    let out = render(&bytes, Some(42), DecodeLimits::default()).unwrap();
    assert_eq!((out.width, out.height), (40, 20));
}

#[test]
fn small_images_are_never_upscaled() {
    let out = render(&jpeg(100, 50), None, DecodeLimits::default()).unwrap();
    assert_eq!((out.width, out.height), (100, 50));
    assert_eq!(dimensions(&out.thumb_jpeg), (100, 50));
    assert_eq!(dimensions(&out.large_jpeg), (100, 50));
}

#[test]
fn other_formats_render() {
    for format in [ImageFormat::Gif, ImageFormat::WebP, ImageFormat::Png] {
        let bytes = encode(&gradient(600, 300), format);
        let out = render(&bytes, None, DecodeLimits::default()).unwrap();
        assert_eq!(dimensions(&out.thumb_jpeg), (256, 128), "{format:?}");
        assert_eq!(dimensions(&out.large_jpeg), (600, 300), "{format:?}");
    }
    let transparent = encode(&translucent(64, 64), ImageFormat::Png);
    let out = render(&transparent, None, DecodeLimits::default()).unwrap();
    let thumb = image::load_from_memory(&out.thumb_jpeg)
        .unwrap()
        .into_rgb8();
    assert!(thumb.get_pixel(32, 32).0.iter().all(|&c| c > 240));
}

#[test]
fn poster_renders_like_a_photo() {
    let out = render_poster(&jpeg(1920, 1080), DecodeLimits::default()).unwrap();
    assert_eq!((out.width, out.height), (1920, 1080));
    assert_eq!(dimensions(&out.thumb_jpeg), (256, 144));
    assert_eq!(dimensions(&out.large_jpeg), (1280, 720));
}

#[test]
fn truncated_jpeg_is_a_decode_error() {
    let bytes = jpeg(640, 480);
    for keep in [bytes.len() / 2, 600, 200] {
        let result = render(&bytes[..keep], None, DecodeLimits::default());
        assert!(
            matches!(result, Err(ImagingError::Decode(_))),
            "kept {keep} bytes: {result:?}"
        );
    }
}

#[test]
fn corrupt_png_is_a_decode_error() {
    let mut bytes = encode(&gradient(64, 64), ImageFormat::Png);
    let middle = bytes.len() / 2;
    bytes[middle..middle + 16].fill(0xAA);
    let result = render(&bytes, None, DecodeLimits::default());
    assert!(matches!(result, Err(ImagingError::Decode(_))), "{result:?}");
}

#[test]
fn decompression_bomb_is_refused_before_allocating() {
    let bomb = png_declaring(100_000, 100_000);
    assert!(bomb.len() < 100, "the bomb itself is tiny: {}", bomb.len());
    let started = Instant::now();
    let result = render(&bomb, None, DecodeLimits::default());
    assert!(
        matches!(result, Err(ImagingError::TooLarge(_))),
        "{result:?}"
    );
    // Allocating (let alone filling) 30 GB would take far longer, if it did not abort.
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn allocation_limit_is_enforced_within_the_dimension_limits() {
    let bomb = png_declaring(16_000, 16_000);
    let result = render(&bomb, None, DecodeLimits::default());
    assert!(
        matches!(result, Err(ImagingError::TooLarge(_))),
        "{result:?}"
    );
}

#[test]
fn custom_limits_apply() {
    let bytes = jpeg(300, 200);
    let narrow = DecodeLimits {
        max_width: 299,
        ..DecodeLimits::default()
    };
    assert!(matches!(
        render(&bytes, None, narrow),
        Err(ImagingError::TooLarge(_))
    ));
    let low = DecodeLimits {
        max_alloc_bytes: 300 * 200 * 3 - 1,
        ..DecodeLimits::default()
    };
    assert!(matches!(
        render(&bytes, None, low),
        Err(ImagingError::TooLarge(_))
    ));
}

#[test]
fn undecodable_formats_are_unsupported() {
    let mut heic = 24u32.to_be_bytes().to_vec();
    heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
    heic.extend_from_slice(&[0; 64]);
    assert!(matches!(
        render(&heic, None, DecodeLimits::default()),
        Err(ImagingError::Unsupported(_))
    ));
    assert!(matches!(
        render(b"II*\0\x08\0\0\0\0\0", None, DecodeLimits::default()),
        Err(ImagingError::Unsupported(_))
    ));
    assert!(matches!(
        render(b"plain text", None, DecodeLimits::default()),
        Err(ImagingError::Unsupported(_))
    ));
}

#[test]
fn limits_default() {
    let limits = DecodeLimits::default();
    assert_eq!((limits.max_width, limits.max_height), (16_384, 16_384));
    assert_eq!(limits.max_alloc_bytes, 512 * 1024 * 1024);
}

#[test]
fn png_chunk_crc_matches_the_spec() {
    // The CRC of an empty IEND chunk is a well-known constant.
    assert_eq!(crate::support::crc32(b"IEND"), 0xAE42_6082);
}

#[test]
fn truncated_other_formats_are_decode_errors() {
    for format in [ImageFormat::Png, ImageFormat::Gif, ImageFormat::WebP] {
        let bytes = encode(&gradient(320, 240), format);
        let result = render(&bytes[..bytes.len() / 2], None, DecodeLimits::default());
        assert!(
            matches!(result, Err(ImagingError::Decode(_))),
            "{format:?}: {result:?}"
        );
    }
}

#[test]
fn rgb_colour_profile_is_carried_over() {
    use image::codecs::jpeg::JpegDecoder;
    use image::codecs::png::PngEncoder;
    use image::{ImageDecoder, ImageEncoder};

    // A minimal ICC header: size, RGB data colour space, XYZ connection space, signature.
    let mut profile = vec![0u8; 132];
    profile[0..4].copy_from_slice(&132u32.to_be_bytes());
    profile[16..20].copy_from_slice(b"RGB ");
    profile[20..24].copy_from_slice(b"XYZ ");
    profile[36..40].copy_from_slice(b"acsp");

    let image = gradient(400, 300).into_rgb8();
    let mut png = Vec::new();
    let mut encoder = PngEncoder::new(&mut png);
    encoder.set_icc_profile(profile.clone()).unwrap();
    encoder
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();

    let out = render(&png, None, DecodeLimits::default()).unwrap();
    for jpeg in [&out.thumb_jpeg, &out.large_jpeg] {
        let mut decoder = JpegDecoder::new(std::io::Cursor::new(jpeg)).unwrap();
        assert_eq!(decoder.icc_profile().unwrap(), Some(profile.clone()));
    }
}

#[test]
fn gif_bomb_is_refused() {
    // Logical screen and frame of 65535 × 65535 with a two-pixel LZW stream.
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0, 0]);
    gif.extend_from_slice(&[0, 0, 0, 255, 255, 255]); // global colour table, 2 entries
    gif.extend_from_slice(&[b',', 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0]);
    gif.extend_from_slice(&[2, 2, 0x4C, 0x01, 0, b';']);
    let started = Instant::now();
    let result = render(&gif, None, DecodeLimits::default());
    assert!(
        matches!(result, Err(ImagingError::TooLarge(_))),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn jpeg_with_exif_segment_renders_with_its_orientation() {
    use exif::{Field, In, Tag, Value};
    let fields = [Field {
        tag: Tag::Orientation,
        ifd_num: In::PRIMARY,
        value: Value::Short(vec![8]),
    }];
    let bytes = crate::support::jpeg_with_exif(&jpeg(300, 100), &fields);
    let exif = taina_imaging::read_exif(&bytes);
    let out = render(&bytes, exif.orientation, DecodeLimits::default()).unwrap();
    assert_eq!((out.width, out.height), (100, 300));
    assert_eq!(dimensions(&out.thumb_jpeg), (85, 256));
}
