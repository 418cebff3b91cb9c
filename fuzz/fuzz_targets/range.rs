//! HTTP `Range` parsing (`taina_protocol::http::parse_range`): the first 8 bytes are the file
//! size (little-endian), the rest the header. Never panics; a range it returns is non-empty and
//! inside the file, and reads back unchanged when written as `bytes=first-last`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taina_protocol::http::parse_range;

fuzz_target!(|data: &[u8]| {
    let (size, header) = data.split_at(data.len().min(8));
    let mut size_bytes = [0u8; 8];
    size_bytes[..size.len()].copy_from_slice(size);
    let size = u64::from_le_bytes(size_bytes);
    let Ok(header) = std::str::from_utf8(header) else {
        return;
    };
    let Some(range) = parse_range(header, size) else {
        return;
    };
    assert!(
        range.start < range.end && range.end <= size,
        "{range:?} of {size}"
    );
    let canonical = format!("bytes={}-{}", range.start, range.end - 1);
    assert_eq!(parse_range(&canonical, size), Some(range));
});
