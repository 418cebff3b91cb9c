//! Automatic tags derived from what is already known about an upload.
//!
//! They make a fresh library browsable before anyone tags anything by hand: by date, by camera,
//! photos with a location, videos, and screenshots (which people usually want to filter out).

use chrono::{DateTime, Datelike, Utc};

use crate::exif::ExifInfo;
use crate::mime::is_video;

/// Shortest side from which a PNG's size is taken for a screen capture (smaller ones are icons
/// and stickers).
const MIN_SCREEN_SHORT_SIDE: u32 = 480;

/// How far (relative) a long/short side ratio may be from a screen aspect ratio: screens are
/// not exact (1366×768 is "16:9", 1170×2532 is "19.5:9").
const ASPECT_TOLERANCE: f64 = 0.01;

/// Long side / short side of common screens: 16:9, 16:10, 18:9, 19:9, 19.5:9, 20:9 and the
/// ultrawide 21:9 family (2560×1080, 3440×1440).
const SCREEN_ASPECTS: [f64; 9] = [
    16.0 / 9.0,
    16.0 / 10.0,
    18.0 / 9.0,
    19.0 / 9.0,
    19.5 / 9.0,
    20.0 / 9.0,
    21.0 / 9.0,
    2560.0 / 1080.0,
    3440.0 / 1440.0,
];

/// Common screens whose aspect ratio is not a typical screen one (tablets, laptops, 5:4
/// monitors), as (short, long) sides.
const SCREEN_SIZES: [(u32, u32); 16] = [
    (768, 1024),
    (1536, 2048),
    (1620, 2160),
    (1668, 2224),
    (1640, 2360),
    (1668, 2388),
    (1488, 2266),
    (2048, 2732),
    (1024, 1280),
    (1504, 2256),
    (1824, 2736),
    (1920, 2880),
    (1664, 2560),
    (1864, 2880),
    (1964, 3024),
    (2234, 3456),
];

/// Words screenshot tools put in file names: English, plus macOS / Windows in Portuguese,
/// Spanish, German and French. Compared after lowercasing and turning `_` and `-` into spaces.
const SCREENSHOT_NAMES: [&str; 7] = [
    "screenshot",
    "screen shot",
    "captura de tela",
    "captura de pantalla",
    "bildschirmfoto",
    "capture d’écran",
    "capture d'écran",
];

/// Automatic tags, in this order when they apply:
///
/// - `year:2025` and `month:2025-07` from `taken_or_uploaded`;
/// - `camera:<make model>`, lowercased, whitespace runs → `-` (the make is left out when the
///   model already starts with it: `Canon` + `Canon EOS R5` → `camera:canon-eos-r5`);
/// - `has-location` when the EXIF has GPS coordinates;
/// - `video` for video MIME types;
/// - `screenshot` for a PNG without camera EXIF whose size matches a common screen, or any file
///   whose original name says it is a screenshot (case-insensitive).
pub fn auto_tags(
    mime: &str,
    exif: &ExifInfo,
    taken_or_uploaded: DateTime<Utc>,
    width: Option<u32>,
    height: Option<u32>,
    original_filename: &str,
) -> Vec<String> {
    let year = taken_or_uploaded.year();
    let mut tags = vec![
        format!("year:{year}"),
        format!("month:{year:04}-{:02}", taken_or_uploaded.month()),
    ];
    if let Some(camera) = camera(exif) {
        tags.push(format!("camera:{camera}"));
    }
    if exif.gps.is_some() {
        tags.push("has-location".to_owned());
    }
    if is_video(mime) {
        tags.push("video".to_owned());
    }
    if is_screenshot(mime, exif, width, height, original_filename) {
        tags.push("screenshot".to_owned());
    }
    tags
}

/// `make model` normalised for a tag, or `None` when the EXIF names no camera.
fn camera(exif: &ExifInfo) -> Option<String> {
    let normalise = |s: &Option<String>| {
        s.as_deref()
            .map(|s| {
                s.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            })
            .filter(|s| !s.is_empty())
    };
    let make = normalise(&exif.camera_make);
    let model = normalise(&exif.camera_model);
    let name = match (make, model) {
        (Some(make), Some(model)) => {
            // "NIKON CORPORATION" + "NIKON D750": the model alone already names the brand.
            let brand = make.split(' ').next().unwrap_or_default();
            if model.starts_with(brand) {
                model
            } else {
                format!("{make} {model}")
            }
        }
        (Some(only), None) | (None, Some(only)) => only,
        (None, None) => return None,
    };
    Some(name.replace(' ', "-"))
}

fn is_screenshot(
    mime: &str,
    exif: &ExifInfo,
    width: Option<u32>,
    height: Option<u32>,
    original_filename: &str,
) -> bool {
    let name = original_filename.to_lowercase().replace(['_', '-'], " ");
    if SCREENSHOT_NAMES.iter().any(|word| name.contains(word)) {
        return true;
    }
    // Cameras write JPEG/HEIC with a make or model; screen captures are PNG without either.
    let from_camera = exif.camera_make.is_some() || exif.camera_model.is_some();
    match (width, height) {
        (Some(w), Some(h)) if mime == "image/png" && !from_camera => is_screen_size(w, h),
        _ => false,
    }
}

/// Whether `width` × `height` (either orientation) looks like a full screen.
fn is_screen_size(width: u32, height: u32) -> bool {
    let (short, long) = (width.min(height), width.max(height));
    if short < MIN_SCREEN_SHORT_SIDE {
        return false;
    }
    if SCREEN_SIZES.contains(&(short, long)) {
        return true;
    }
    let ratio = f64::from(long) / f64::from(short);
    SCREEN_ASPECTS
        .iter()
        .any(|aspect| (ratio - aspect).abs() / aspect <= ASPECT_TOLERANCE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screen_sizes() {
        assert!(is_screen_size(1920, 1080));
        assert!(is_screen_size(1080, 1920));
        assert!(is_screen_size(1366, 768));
        assert!(is_screen_size(1170, 2532));
        assert!(is_screen_size(1080, 2400));
        assert!(is_screen_size(2560, 1600));
        assert!(is_screen_size(3440, 1440));
        assert!(is_screen_size(2048, 2732));
        assert!(!is_screen_size(3000, 2000));
        assert!(!is_screen_size(1000, 1000));
        assert!(!is_screen_size(160, 90));
    }

    #[test]
    fn camera_names() {
        let exif = |make: Option<&str>, model: Option<&str>| ExifInfo {
            camera_make: make.map(str::to_owned),
            camera_model: model.map(str::to_owned),
            ..ExifInfo::default()
        };
        assert_eq!(
            camera(&exif(Some("Canon"), Some("Canon EOS R5"))).as_deref(),
            Some("canon-eos-r5")
        );
        assert_eq!(
            camera(&exif(Some("NIKON CORPORATION"), Some("NIKON D750"))).as_deref(),
            Some("nikon-d750")
        );
        assert_eq!(
            camera(&exif(Some("  Apple "), Some("iPhone  15 Pro"))).as_deref(),
            Some("apple-iphone-15-pro")
        );
        assert_eq!(
            camera(&exif(None, Some("Pixel 8"))).as_deref(),
            Some("pixel-8")
        );
        assert_eq!(camera(&exif(Some("   "), None)), None);
        assert_eq!(camera(&exif(None, None)), None);
    }
}
