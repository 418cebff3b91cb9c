//! EXIF metadata the media library shows and sorts by.
//!
//! Uploads come from every kind of camera, phone and editor, and a good share of them carry
//! broken, partial or no EXIF at all. Missing metadata must never block an upload, so
//! [`read_exif`] never fails: whatever cannot be read is simply `None`.

use std::io::Cursor;

use ::exif::{Exif, Field, In, Reader, Tag, Value};
use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

/// What the library keeps from a photo's EXIF.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExifInfo {
    /// `Make`, trimmed.
    pub camera_make: Option<String>,
    /// `Model`, trimmed.
    pub camera_model: Option<String>,
    /// `LensModel`, trimmed.
    pub lens: Option<String>,
    /// `DateTimeOriginal` (fallback `DateTime`), camera-local time, with sub-seconds when given.
    pub taken_at: Option<chrono::NaiveDateTime>,
    /// (latitude, longitude) in decimal degrees, negative for S / W.
    pub gps: Option<(f64, f64)>,
    /// EXIF orientation, 1..=8.
    pub orientation: Option<u16>,
}

/// Reads the EXIF of a JPEG, PNG, WebP, HEIF/AVIF or TIFF file.
///
/// Never fails: unreadable or absent EXIF gives `ExifInfo::default()`, and each unreadable field
/// is `None` on its own.
pub fn read_exif(bytes: &[u8]) -> ExifInfo {
    let mut reader = Reader::new();
    // A single malformed entry should not throw away the rest, so partial results are kept.
    reader.continue_on_error(true);
    let exif = match reader.read_from_container(&mut Cursor::new(bytes)) {
        Ok(exif) => exif,
        Err(error) => match error.distill_partial_result(|_ignored| {}) {
            Ok(exif) => exif,
            Err(_) => return ExifInfo::default(),
        },
    };
    ExifInfo {
        camera_make: ascii(&exif, Tag::Make),
        camera_model: ascii(&exif, Tag::Model),
        lens: ascii(&exif, Tag::LensModel),
        taken_at: date_time(&exif, Tag::DateTimeOriginal, Tag::SubSecTimeOriginal)
            .or_else(|| date_time(&exif, Tag::DateTime, Tag::SubSecTime)),
        gps: gps(&exif),
        orientation: orientation(&exif),
    }
}

fn field(exif: &Exif, tag: Tag) -> Option<&Field> {
    exif.get_field(tag, In::PRIMARY)
}

/// The first string of an ASCII field, without the NUL padding and blanks cameras leave in.
fn ascii_bytes(exif: &Exif, tag: Tag) -> Option<&[u8]> {
    match &field(exif, tag)?.value {
        Value::Ascii(strings) => strings.first().map(Vec::as_slice),
        _ => None,
    }
}

fn ascii(exif: &Exif, tag: Tag) -> Option<String> {
    let raw = ascii_bytes(exif, tag)?;
    let text = String::from_utf8_lossy(raw);
    let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!text.is_empty()).then(|| text.to_owned())
}

fn date_time(exif: &Exif, tag: Tag, subsec_tag: Tag) -> Option<NaiveDateTime> {
    let mut parsed = ::exif::DateTime::from_ascii(ascii_bytes(exif, tag)?).ok()?;
    if let Some(subsec) = ascii_bytes(exif, subsec_tag) {
        // Sub-seconds only order burst shots; a malformed value is not worth losing the date.
        if parsed.parse_subsec(subsec).is_err() {
            parsed.nanosecond = None;
        }
    }
    // `from_ascii` does not range-check (month 13 parses), chrono does.
    NaiveDate::from_ymd_opt(
        i32::from(parsed.year),
        u32::from(parsed.month),
        u32::from(parsed.day),
    )?
    .and_hms_nano_opt(
        u32::from(parsed.hour),
        u32::from(parsed.minute),
        u32::from(parsed.second),
        parsed.nanosecond.unwrap_or(0),
    )
}

fn gps(exif: &Exif) -> Option<(f64, f64)> {
    let lat = coordinate(exif, Tag::GPSLatitude, Tag::GPSLatitudeRef, b'S', 90.0)?;
    let lon = coordinate(exif, Tag::GPSLongitude, Tag::GPSLongitudeRef, b'W', 180.0)?;
    // Many cameras write 0/0 when they had no fix; "Null Island" is never a real photo spot.
    if lat == 0.0 && lon == 0.0 {
        return None;
    }
    Some((lat, lon))
}

/// Degrees/minutes/seconds rationals to signed decimal degrees; `None` when malformed or out of
/// range.
fn coordinate(exif: &Exif, tag: Tag, ref_tag: Tag, negative_ref: u8, max: f64) -> Option<f64> {
    let Value::Rational(parts) = &field(exif, tag)?.value else {
        return None;
    };
    let mut degrees = 0.0;
    for (part, divisor) in parts.iter().zip([1.0, 60.0, 3600.0]) {
        if part.denom == 0 {
            return None;
        }
        degrees += part.to_f64() / divisor;
    }
    if parts.is_empty() || !degrees.is_finite() || degrees > max {
        return None;
    }
    // A missing reference is read as N / E, the only sensible default.
    let negative = ascii_bytes(exif, ref_tag)
        .and_then(|r| r.first())
        .is_some_and(|&r| r.eq_ignore_ascii_case(&negative_ref));
    Some(if negative { -degrees } else { degrees })
}

fn orientation(exif: &Exif) -> Option<u16> {
    let value = field(exif, Tag::Orientation)?.value.get_uint(0)?;
    u16::try_from(value).ok().filter(|o| (1..=8).contains(o))
}
