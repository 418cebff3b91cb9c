//! `read_exif` on generated JPEGs with and without an EXIF segment.

use chrono::NaiveDate;
use exif::{Field, In, Rational, Tag, Value};
use taina_imaging::{read_exif, ExifInfo};

use crate::support::{jpeg, jpeg_with_exif};

fn ascii(tag: Tag, text: &str) -> Field {
    Field {
        tag,
        ifd_num: In::PRIMARY,
        value: Value::Ascii(vec![text.as_bytes().to_vec()]),
    }
}

fn dms(tag: Tag, degrees: u32, minutes: u32, seconds_x100: u32) -> Field {
    Field {
        tag,
        ifd_num: In::PRIMARY,
        value: Value::Rational(vec![
            Rational::from((degrees, 1)),
            Rational::from((minutes, 1)),
            Rational::from((seconds_x100, 100)),
        ]),
    }
}

fn orientation(value: u16) -> Field {
    Field {
        tag: Tag::Orientation,
        ifd_num: In::PRIMARY,
        value: Value::Short(vec![value]),
    }
}

#[test]
fn camera_fields_are_read() {
    let fields = [
        ascii(Tag::Make, "Apple"),
        ascii(Tag::Model, "iPhone 15 Pro"),
        ascii(
            Tag::LensModel,
            "iPhone 15 Pro back triple camera 6.86mm f/1.78",
        ),
        ascii(Tag::DateTimeOriginal, "2024:07:15 10:30:45"),
        ascii(Tag::SubSecTimeOriginal, "25"),
        ascii(Tag::DateTime, "2024:08:01 00:00:00"),
        // São Paulo: 23°33'0.00" S, 46°38'0.00" W.
        ascii(Tag::GPSLatitudeRef, "S"),
        dms(Tag::GPSLatitude, 23, 33, 0),
        ascii(Tag::GPSLongitudeRef, "W"),
        dms(Tag::GPSLongitude, 46, 38, 0),
        orientation(6),
    ];
    let info = read_exif(&jpeg_with_exif(&jpeg(32, 16), &fields));

    assert_eq!(info.camera_make.as_deref(), Some("Apple"));
    assert_eq!(info.camera_model.as_deref(), Some("iPhone 15 Pro"));
    assert_eq!(
        info.lens.as_deref(),
        Some("iPhone 15 Pro back triple camera 6.86mm f/1.78")
    );
    assert_eq!(
        info.taken_at,
        NaiveDate::from_ymd_opt(2024, 7, 15).and_then(|d| d.and_hms_milli_opt(10, 30, 45, 250))
    );
    let (lat, lon) = info.gps.expect("gps");
    assert!((lat - -23.55).abs() < 1e-9, "{lat}");
    assert!((lon - -46.633_333_333).abs() < 1e-6, "{lon}");
    assert_eq!(info.orientation, Some(6));
}

#[test]
fn northern_eastern_coordinates_are_positive() {
    let fields = [
        ascii(Tag::GPSLatitudeRef, "N"),
        dms(Tag::GPSLatitude, 48, 51, 2400), // 48°51'24" N
        ascii(Tag::GPSLongitudeRef, "E"),
        dms(Tag::GPSLongitude, 2, 21, 0),
    ];
    let info = read_exif(&jpeg_with_exif(&jpeg(8, 8), &fields));
    let (lat, lon) = info.gps.expect("gps");
    assert!((lat - 48.856_666_666).abs() < 1e-6, "{lat}");
    assert!((lon - 2.35).abs() < 1e-9, "{lon}");
}

#[test]
fn date_time_is_the_fallback() {
    let fields = [ascii(Tag::DateTime, "2019:12:31 23:59:59")];
    let info = read_exif(&jpeg_with_exif(&jpeg(8, 8), &fields));
    assert_eq!(
        info.taken_at,
        NaiveDate::from_ymd_opt(2019, 12, 31).and_then(|d| d.and_hms_opt(23, 59, 59))
    );
}

#[test]
fn invalid_values_are_dropped_one_by_one() {
    let fields = [
        ascii(Tag::Make, "  Canon\0\0 "),
        ascii(Tag::Model, "   "),
        ascii(Tag::DateTimeOriginal, "2024:13:45 99:00:00"),
        ascii(Tag::DateTime, "    :  :     :  :  "),
        // No fix: cameras write zeros.
        dms(Tag::GPSLatitude, 0, 0, 0),
        dms(Tag::GPSLongitude, 0, 0, 0),
        orientation(9),
    ];
    let info = read_exif(&jpeg_with_exif(&jpeg(8, 8), &fields));
    assert_eq!(
        info,
        ExifInfo {
            camera_make: Some("Canon".to_owned()),
            ..ExifInfo::default()
        }
    );
}

#[test]
fn out_of_range_latitude_is_dropped() {
    let fields = [
        dms(Tag::GPSLatitude, 91, 0, 0),
        dms(Tag::GPSLongitude, 10, 0, 0),
    ];
    let info = read_exif(&jpeg_with_exif(&jpeg(8, 8), &fields));
    assert_eq!(info.gps, None);
}

#[test]
fn jpeg_without_exif_gives_default() {
    assert_eq!(read_exif(&jpeg(16, 16)), ExifInfo::default());
}

#[test]
fn garbage_gives_default() {
    assert_eq!(read_exif(b"definitely not an image"), ExifInfo::default());
    assert_eq!(read_exif(&[]), ExifInfo::default());
    // A JPEG whose APP1 claims EXIF but holds noise.
    let mut broken = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x10];
    broken.extend_from_slice(b"Exif\0\0II*\0\xFF\xFF\xFF\xFF");
    broken.extend_from_slice(&[0xFF, 0xD9]);
    assert_eq!(read_exif(&broken), ExifInfo::default());
}

#[test]
fn serde_round_trip() {
    let info = ExifInfo {
        camera_make: Some("FUJIFILM".to_owned()),
        gps: Some((-22.9, -43.2)),
        orientation: Some(1),
        ..ExifInfo::default()
    };
    let json = serde_json::to_string(&info).unwrap();
    assert_eq!(serde_json::from_str::<ExifInfo>(&json).unwrap(), info);
}
