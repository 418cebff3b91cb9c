//! Each `auto_tags` rule on its own.

use chrono::{DateTime, TimeZone, Utc};
use taina_imaging::{auto_tags, ExifInfo};

fn july_2025() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 7, 4, 12, 0, 0).unwrap()
}

fn camera(make: &str, model: &str) -> ExifInfo {
    ExifInfo {
        camera_make: Some(make.to_owned()),
        camera_model: Some(model.to_owned()),
        ..ExifInfo::default()
    }
}

#[test]
fn date_tags_always_come_first() {
    let tags = auto_tags(
        "image/jpeg",
        &ExifInfo::default(),
        july_2025(),
        Some(4000),
        Some(3000),
        "IMG_0001.JPG",
    );
    assert_eq!(tags, ["year:2025", "month:2025-07"]);

    let january = Utc.with_ymd_and_hms(1999, 1, 31, 23, 59, 59).unwrap();
    let tags = auto_tags(
        "image/jpeg",
        &ExifInfo::default(),
        january,
        None,
        None,
        "a.jpg",
    );
    assert_eq!(tags, ["year:1999", "month:1999-01"]);
}

#[test]
fn camera_tag_is_lowercased_and_dashed() {
    let exif = camera("Apple", "iPhone 15 Pro");
    let tags = auto_tags(
        "image/heic",
        &exif,
        july_2025(),
        None,
        None,
        "IMG_1234.HEIC",
    );
    assert!(
        tags.contains(&"camera:apple-iphone-15-pro".to_owned()),
        "{tags:?}"
    );

    let exif = camera("Canon", "Canon EOS R5");
    let tags = auto_tags("image/jpeg", &exif, july_2025(), None, None, "x.jpg");
    assert!(tags.contains(&"camera:canon-eos-r5".to_owned()), "{tags:?}");
}

#[test]
fn location_tag_needs_gps() {
    let exif = ExifInfo {
        gps: Some((-23.55, -46.63)),
        ..ExifInfo::default()
    };
    let tags = auto_tags("image/jpeg", &exif, july_2025(), None, None, "x.jpg");
    assert!(tags.contains(&"has-location".to_owned()));
    let tags = auto_tags(
        "image/jpeg",
        &ExifInfo::default(),
        july_2025(),
        None,
        None,
        "x.jpg",
    );
    assert!(!tags.contains(&"has-location".to_owned()));
}

#[test]
fn video_tag_from_mime() {
    for mime in [
        "video/mp4",
        "video/quicktime",
        "video/webm",
        "video/x-matroska",
    ] {
        let tags = auto_tags(
            mime,
            &ExifInfo::default(),
            july_2025(),
            Some(1920),
            Some(1080),
            "clip",
        );
        assert!(tags.contains(&"video".to_owned()), "{mime}");
        assert!(!tags.contains(&"screenshot".to_owned()), "{mime}");
    }
    let tags = auto_tags(
        "image/gif",
        &ExifInfo::default(),
        july_2025(),
        None,
        None,
        "a.gif",
    );
    assert!(!tags.contains(&"video".to_owned()));
}

#[test]
fn screenshot_from_png_screen_size() {
    let no_exif = ExifInfo::default();
    for (w, h) in [
        (1920, 1080),
        (1170, 2532),
        (1080, 2400),
        (2560, 1600),
        (2048, 2732),
    ] {
        let tags = auto_tags(
            "image/png",
            &no_exif,
            july_2025(),
            Some(w),
            Some(h),
            "image.png",
        );
        assert!(tags.contains(&"screenshot".to_owned()), "{w}x{h}");
    }
    // Not a screen shape, a JPEG, a PNG from a camera, or unknown size: no tag.
    let cases = [
        ("image/png", &no_exif, Some(1000), Some(1000)),
        ("image/png", &no_exif, Some(64), Some(36)),
        ("image/jpeg", &no_exif, Some(1920), Some(1080)),
        (
            "image/png",
            &camera("Google", "Pixel 8"),
            Some(1920),
            Some(1080),
        ),
        ("image/png", &no_exif, None, None),
    ];
    for (mime, exif, w, h) in cases {
        let tags = auto_tags(mime, exif, july_2025(), w, h, "image.png");
        assert!(
            !tags.contains(&"screenshot".to_owned()),
            "{mime} {w:?}x{h:?}"
        );
    }
}

#[test]
fn screenshot_from_file_name() {
    for name in [
        "Screenshot_20250704-120000.png",
        "Screen Shot 2020-01-01 at 10.00.00.png",
        "SCREENSHOT.JPG",
        "screen_shot.webp",
        "Captura de Tela 2025-07-04 às 12.00.00.png",
    ] {
        let tags = auto_tags(
            "image/jpeg",
            &ExifInfo::default(),
            july_2025(),
            None,
            None,
            name,
        );
        assert!(tags.contains(&"screenshot".to_owned()), "{name}");
    }
    let tags = auto_tags(
        "image/jpeg",
        &ExifInfo::default(),
        july_2025(),
        None,
        None,
        "screen.jpg",
    );
    assert!(!tags.contains(&"screenshot".to_owned()));
}

#[test]
fn all_rules_together_in_order() {
    let exif = ExifInfo {
        gps: Some((1.0, 2.0)),
        ..camera("Apple", "iPhone 12")
    };
    let tags = auto_tags(
        "video/quicktime",
        &exif,
        july_2025(),
        Some(1920),
        Some(1080),
        "Screen Recording screenshot.mov",
    );
    assert_eq!(
        tags,
        [
            "year:2025",
            "month:2025-07",
            "camera:apple-iphone-12",
            "has-location",
            "video",
            "screenshot"
        ]
    );
}
