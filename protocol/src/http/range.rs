//! The HTTP `Range` request header (RFC 9110 §14.2), reduced to what media downloads
//! need: one byte range, in any of its three spellings.

use std::ops::Range;

/// One `bytes=` range against `size`: `a-b`, `a-` or `-n` (the last `n` bytes).
///
/// Returns the half-open byte range to serve, always non-empty and within `0..size`.
/// `None` when unsatisfiable or malformed: several ranges are not supported and count
/// as malformed, and nothing of an empty file can be served.
pub fn parse_range(header: &str, size: u64) -> Option<Range<u64>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || size == 0 {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            if n == 0 {
                return None;
            }
            (size.saturating_sub(n), size - 1)
        }
        (start, "") => (start.parse().ok()?, size - 1),
        // A last byte past the end is clamped to the end, as RFC 9110 asks.
        (start, end) => (start.parse().ok()?, end.parse::<u64>().ok()?.min(size - 1)),
    };
    // `end` is at most `size - 1`, so `end + 1` cannot overflow.
    (start <= end && start < size).then(|| start..end + 1)
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn the_three_spellings() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(0..10));
        assert_eq!(parse_range("bytes=90-", 100), Some(90..100));
        assert_eq!(parse_range("bytes=-10", 100), Some(90..100));
    }

    #[test]
    fn a_last_byte_past_the_end_is_clamped() {
        assert_eq!(parse_range("bytes=95-200", 100), Some(95..100));
        assert_eq!(
            parse_range("bytes=0-18446744073709551615", 100),
            Some(0..100)
        );
    }

    #[test]
    fn a_suffix_longer_than_the_file_is_the_whole_file() {
        assert_eq!(parse_range("bytes=-1000", 100), Some(0..100));
        assert_eq!(
            parse_range("bytes=-18446744073709551615", 100),
            Some(0..100)
        );
    }

    #[test]
    fn unsatisfiable_ranges() {
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-2", 100), None);
        assert_eq!(parse_range("bytes=-0", 100), None);
        assert_eq!(parse_range("bytes=0-0", 0), None);
        assert_eq!(parse_range("bytes=-5", 0), None);
    }

    #[test]
    fn malformed_ranges() {
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=", 100), None);
        assert_eq!(parse_range("bytes=-", 100), None);
        assert_eq!(parse_range("bytes=5", 100), None);
        assert_eq!(parse_range("bytes=a-b", 100), None);
        assert_eq!(
            parse_range("bytes=+1-2", 100),
            Some(1..3),
            "u64::from_str takes a plus"
        );
        assert_eq!(parse_range("bytes=1--2", 100), None);
        assert_eq!(parse_range("bytes=18446744073709551616-", 100), None);
    }

    #[test]
    fn blanks_around_the_parts_are_ignored() {
        assert_eq!(parse_range("  bytes=0-9 ", 100), Some(0..10));
        assert_eq!(parse_range("bytes= 1 - 2 ", 100), Some(1..3));
        assert_eq!(parse_range("bytes = 1-2", 100), None);
    }

    #[test]
    fn the_largest_file() {
        let size = u64::MAX;
        assert_eq!(parse_range("bytes=0-", size), Some(0..u64::MAX));
        assert_eq!(parse_range("bytes=-1", size), Some(u64::MAX - 1..u64::MAX));
        assert_eq!(
            parse_range("bytes=18446744073709551614-18446744073709551615", size),
            Some(u64::MAX - 1..u64::MAX)
        );
    }
}
