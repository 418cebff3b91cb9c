//! Detection of truncated JPEG data.
//!
//! The JPEG decoder behind `image` is lenient: when the data stops early it fills the rest of
//! the picture with grey and reports success. An interrupted upload would then get a
//! half-grey thumbnail while it should be reported as broken, so the structure is checked
//! first: a complete JPEG has an end-of-image marker after its first scan.

/// Marker prefix byte.
const MARKER: u8 = 0xFF;
/// End of image.
const EOI: u8 = 0xD9;
/// Start of scan: entropy-coded data follows its header.
const SOS: u8 = 0xDA;
/// Temporary marker, no length field.
const TEM: u8 = 0x01;
/// Restart markers RST0..RST7, no length field.
const RST: std::ops::RangeInclusive<u8> = 0xD0..=0xD7;

/// True when `jpeg` provably ends before its end-of-image marker: the headers run past the end
/// of the data, or no EOI follows the first scan. Anything the walk does not understand is
/// left to the decoder (false), so unusual but valid files are never refused here.
pub(crate) fn jpeg_is_truncated(jpeg: &[u8]) -> bool {
    // Past SOI (the caller only passes data recognised as JPEG).
    let mut pos = 2;
    loop {
        match jpeg.get(pos) {
            None => return true,
            Some(&MARKER) => {}
            Some(_) => return false,
        }
        // Any number of 0xFF fill bytes may precede a marker.
        while jpeg.get(pos) == Some(&MARKER) {
            pos += 1;
        }
        let Some(&marker) = jpeg.get(pos) else {
            return true;
        };
        pos += 1;
        match marker {
            EOI => return false,
            SOS => return !has_eoi(&jpeg[pos..]),
            TEM => {}
            m if RST.contains(&m) => {}
            _ => {
                // Length-prefixed segment (the length counts its own two bytes). Skipping whole
                // segments matters: the EXIF thumbnail inside APP1 is a JPEG with its own EOI.
                let Some(length) = jpeg.get(pos..pos + 2) else {
                    return true;
                };
                let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
                if length < 2 {
                    return false;
                }
                pos += length;
            }
        }
    }
}

/// Inside entropy-coded data 0xFF is always stuffed (`FF 00`) or a marker, so `FF D9` can only
/// be the end of the image.
fn has_eoi(data: &[u8]) -> bool {
    data.windows(2).any(|pair| pair == [MARKER, EOI])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SOI, an APP1 holding a complete small JPEG (as an EXIF thumbnail), SOS, data, `tail`.
    fn jpeg(tail: &[u8]) -> Vec<u8> {
        let mut out = vec![0xFF, 0xD8];
        let thumbnail = [0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0x12, 0xFF, 0xD9];
        out.extend_from_slice(&[0xFF, 0xE1, 0x00, 2 + thumbnail.len() as u8]);
        out.extend_from_slice(&thumbnail);
        out.extend_from_slice(&[
            0xFF, 0xFF, 0xDA, 0x00, 0x02, 0x12, 0x34, 0xFF, 0x00, 0xFF, 0xD0,
        ]);
        out.extend_from_slice(tail);
        out
    }

    #[test]
    fn complete_and_trailing_data() {
        assert!(!jpeg_is_truncated(&jpeg(&[0xFF, 0xD9])));
        // Motion photos append a video after EOI.
        assert!(!jpeg_is_truncated(&jpeg(&[
            0xFF, 0xD9, 0, 0, 0, 0x18, b'f'
        ])));
    }

    #[test]
    fn missing_eoi_even_with_one_in_the_thumbnail() {
        assert!(jpeg_is_truncated(&jpeg(&[0x56])));
    }

    #[test]
    fn headers_cut_short() {
        assert!(jpeg_is_truncated(&[0xFF, 0xD8]));
        assert!(jpeg_is_truncated(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00]));
        assert!(jpeg_is_truncated(&[
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A
        ]));
    }

    #[test]
    fn unknown_structure_is_left_to_the_decoder() {
        assert!(!jpeg_is_truncated(&[0xFF, 0xD8, 0x00, 0x01]));
        assert!(!jpeg_is_truncated(&[0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x01]));
    }
}
