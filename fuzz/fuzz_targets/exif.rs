//! EXIF reading (`taina_imaging::read_exif`) on any bytes: never panics, stays within
//! libFuzzer's time and memory limits, and every value it returns is in its documented range.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taina_imaging::read_exif;

fuzz_target!(|bytes: &[u8]| {
    let info = read_exif(bytes);
    for text in [&info.camera_make, &info.camera_model, &info.lens]
        .into_iter()
        .flatten()
    {
        assert!(
            !text.is_empty() && text.trim() == text && !text.contains('\0'),
            "{text:?}"
        );
    }
    if let Some((latitude, longitude)) = info.gps {
        assert!(
            latitude.abs() <= 90.0 && longitude.abs() <= 180.0,
            "{latitude}, {longitude}"
        );
        assert!((latitude, longitude) != (0.0, 0.0));
    }
    if let Some(orientation) = info.orientation {
        assert!((1..=8).contains(&orientation), "{orientation}");
    }
});
