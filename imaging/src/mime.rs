//! MIME detection from magic bytes.
//!
//! The type a client claims (header, file name) is never trusted: what gets stored, served and
//! decoded is decided here from the first bytes of the content. Only the photo and video formats
//! the media library accepts are recognised; everything else is `None` and must be refused.
//!
//! The checks are written out instead of delegated to a generic sniffer because the accepted set
//! needs distinctions generic tables blur: HEIC vs. other HEIF vs. AVIF (all `ftyp` boxes),
//! MP4 vs. QuickTime vs. camera raw files that are also ISO-BMFF (Canon CR3), and WebM vs.
//! Matroska (same EBML magic, told apart by the `DocType`).

/// How many leading bytes [`sniff`] looks at at most; callers can read this much and no more.
pub const SNIFF_LEN: usize = 64;

/// MIME type from the content's magic bytes (never the client's claim). Returns `None` for
/// anything not accepted as a photo or video.
///
/// `head` is the start of the file; [`SNIFF_LEN`] bytes are enough for every accepted format,
/// and any bytes past them are ignored.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    // Callers may pass more (the server passes its first read); looking past SNIFF_LEN would
    // let the same file sniff differently depending on how much was read (found by fuzzing:
    // a `mif1` brand list running past 64 bytes).
    let head = &head[..head.len().min(SNIFF_LEN)];
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some("image/jpeg");
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return Some("image/gif");
    }
    if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return Some("image/webp");
    }
    if is_tiff(head) {
        return Some("image/tiff");
    }
    if let Some(mime) = sniff_isobmff(head) {
        return Some(mime);
    }
    if let Some(mime) = sniff_quicktime_without_ftyp(head) {
        return Some(mime);
    }
    sniff_ebml(head)
}

/// True for the video MIME types (the ones that go through ffprobe/ffmpeg instead of the image
/// decoder).
pub fn is_video(mime: &str) -> bool {
    mime.starts_with("video/")
}

/// Extension for a MIME type ("jpg", "png", "mp4", ...), used for stored object names and
/// download names. Unknown types get "bin" so a name is always produced.
pub fn extension(mime: &str) -> &'static str {
    match mime {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "image/heic" => "heic",
        "image/heif" => "heif",
        "image/avif" => "avif",
        "image/tiff" => "tiff",
        "video/mp4" => "mp4",
        "video/quicktime" => "mov",
        "video/webm" => "webm",
        "video/x-matroska" => "mkv",
        _ => "bin",
    }
}

/// Little- or big-endian TIFF, classic or BigTIFF. TIFF-based camera raw files (DNG, NEF, ...)
/// match too, which is fine: they are stored as TIFF originals.
fn is_tiff(head: &[u8]) -> bool {
    matches!(
        head.get(0..4),
        Some(b"II*\0") | Some(b"MM\0*") | Some(b"II+\0") | Some(b"MM\0+")
    )
}

/// ISO base media files (MP4, MOV, HEIF, AVIF) start with an `ftyp` box: size, "ftyp", major
/// brand, minor version, then compatible brands up to the box size.
fn sniff_isobmff(head: &[u8]) -> Option<&'static str> {
    if head.len() < 12 || &head[4..8] != b"ftyp" {
        return None;
    }
    let box_size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if box_size < 16 {
        return None;
    }
    let major: &[u8] = &head[8..12];
    // Only the part of the box present in `head` can be inspected; the major brand decides in
    // almost every file, the compatible brands only refine the generic HEIF brands.
    let compatible_end = box_size.min(head.len());
    let compatible: Vec<&[u8]> = head
        .get(16..compatible_end)
        .unwrap_or_default()
        .chunks_exact(4)
        .collect();
    let has = |brand: &[u8]| compatible.contains(&brand);

    match major {
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" => Some("image/heic"),
        b"avif" | b"avis" => Some("image/avif"),
        // Generic HEIF image / sequence brands: the codec brand among the compatible ones says
        // what is inside.
        b"mif1" | b"msf1" => {
            if has(b"avif") || has(b"avis") {
                Some("image/avif")
            } else if has(b"heic") || has(b"heix") || has(b"hevc") || has(b"hevx") {
                Some("image/heic")
            } else {
                Some("image/heif")
            }
        }
        b"qt  " => Some("video/quicktime"),
        b"isom" | b"iso2" | b"iso3" | b"iso4" | b"iso5" | b"iso6" | b"iso7" | b"iso8" | b"iso9"
        | b"mp41" | b"mp42" | b"mp71" | b"avc1" | b"dash" | b"M4V " | b"M4VH" | b"M4VP"
        | b"MSNV" | b"NDAS" | b"NDSC" | b"NDSH" | b"NDSM" | b"NDSP" | b"NDSS" | b"NDXC"
        | b"NDXH" | b"NDXM" | b"NDXP" | b"NDXS" | b"XAVC" | b"f4v " => Some("video/mp4"),
        // Audio-only (M4A), raw camera (crx), 3GPP and anything unknown are not accepted.
        _ => None,
    }
}

/// Old QuickTime files have no `ftyp` and start directly with a top-level atom.
fn sniff_quicktime_without_ftyp(head: &[u8]) -> Option<&'static str> {
    if head.len() < 8 {
        return None;
    }
    let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    // An atom size below its own 8-byte header is impossible, except 1 (64-bit size follows).
    let plausible_size = size == 1 || size >= 8;
    match &head[4..8] {
        b"moov" | b"mdat" | b"wide" | b"pnot" if plausible_size => Some("video/quicktime"),
        _ => None,
    }
}

/// EBML ID of the `DocType` element inside the EBML header.
const EBML_DOCTYPE_ID: u32 = 0x4282;

/// WebM and Matroska share the EBML magic; the `DocType` string in the EBML header tells them
/// apart.
fn sniff_ebml(head: &[u8]) -> Option<&'static str> {
    let rest = head.strip_prefix(&[0x1A, 0x45, 0xDF, 0xA3])?;
    let (header_size, size_len) = read_vint(rest, false)?;
    let header_end = usize::try_from(header_size)
        .ok()
        .and_then(|size| size.checked_add(size_len))
        .map_or(rest.len(), |end| end.min(rest.len()));
    let mut body = &rest[size_len..header_end];
    while !body.is_empty() {
        let (id, id_len) = read_vint(body, true)?;
        let (size, size_len) = read_vint(body.get(id_len..)?, false)?;
        let start = id_len + size_len;
        let end = usize::try_from(size).ok()?.checked_add(start)?;
        if id == u64::from(EBML_DOCTYPE_ID) {
            let doc_type = body.get(start..end)?;
            // DocType is a padded ASCII string; trailing NULs are allowed.
            let doc_type = doc_type
                .iter()
                .position(|&b| b == 0)
                .map_or(doc_type, |nul| &doc_type[..nul]);
            return match doc_type {
                b"webm" => Some("video/webm"),
                b"matroska" => Some("video/x-matroska"),
                _ => None,
            };
        }
        body = body.get(end..)?;
    }
    None
}

/// Reads an EBML variable-length integer; returns the value and its length in bytes. Element
/// IDs keep their length marker (`keep_marker`), sizes do not.
fn read_vint(buf: &[u8], keep_marker: bool) -> Option<(u64, usize)> {
    let first = *buf.first()?;
    if first == 0 {
        return None;
    }
    let len = first.leading_zeros() as usize + 1;
    let bytes = buf.get(..len)?;
    let first_value = if keep_marker {
        first
    } else {
        // An 8-byte vint (first byte 0x01) has no value bits in its first byte; a plain
        // `0xFF >> len` would shift a u8 by 8 (a panic in debug builds, found by fuzzing).
        first & u8::MAX.checked_shr(len as u32).unwrap_or(0)
    };
    let value = bytes[1..]
        .iter()
        .fold(u64::from(first_value), |acc, &b| (acc << 8) | u64::from(b));
    Some((value, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compatible.len();
        let mut out = Vec::new();
        out.extend_from_slice(&u32::try_from(size).unwrap().to_be_bytes());
        out.extend_from_slice(b"ftyp");
        out.extend_from_slice(major);
        out.extend_from_slice(&[0, 0, 0, 0]);
        for brand in compatible {
            out.extend_from_slice(*brand);
        }
        out
    }

    fn ebml(doc_type: &[u8]) -> Vec<u8> {
        let mut header = vec![0x42, 0x86, 0x81, 0x01]; // EBMLVersion = 1
        header.extend_from_slice(&[0x42, 0x82, 0x80 | u8::try_from(doc_type.len()).unwrap()]);
        header.extend_from_slice(doc_type);
        let mut out = vec![
            0x1A,
            0x45,
            0xDF,
            0xA3,
            0x80 | u8::try_from(header.len()).unwrap(),
        ];
        out.extend_from_slice(&header);
        out
    }

    #[test]
    fn isobmff_brands() {
        assert_eq!(
            sniff(&ftyp(b"heic", &[b"mif1", b"heic"])),
            Some("image/heic")
        );
        assert_eq!(
            sniff(&ftyp(b"mif1", &[b"mif1", b"heic"])),
            Some("image/heic")
        );
        assert_eq!(sniff(&ftyp(b"mif1", &[b"mif1"])), Some("image/heif"));
        assert_eq!(
            sniff(&ftyp(b"avif", &[b"mif1", b"avif"])),
            Some("image/avif")
        );
        assert_eq!(
            sniff(&ftyp(b"mif1", &[b"avif", b"mif1"])),
            Some("image/avif")
        );
        assert_eq!(sniff(&ftyp(b"qt  ", &[b"qt  "])), Some("video/quicktime"));
        assert_eq!(
            sniff(&ftyp(b"isom", &[b"isom", b"avc1"])),
            Some("video/mp4")
        );
        assert_eq!(sniff(&ftyp(b"mp42", &[])), Some("video/mp4"));
        assert_eq!(sniff(&ftyp(b"M4A ", &[b"isom"])), None);
        assert_eq!(sniff(&ftyp(b"crx ", &[b"isom"])), None);
    }

    #[test]
    fn quicktime_without_ftyp() {
        let mut mov = 0x20u32.to_be_bytes().to_vec();
        mov.extend_from_slice(b"moov");
        assert_eq!(sniff(&mov), Some("video/quicktime"));
        let mut bogus = 3u32.to_be_bytes().to_vec();
        bogus.extend_from_slice(b"mdat");
        assert_eq!(sniff(&bogus), None);
    }

    #[test]
    fn ebml_doc_types() {
        assert_eq!(sniff(&ebml(b"webm")), Some("video/webm"));
        assert_eq!(sniff(&ebml(b"matroska")), Some("video/x-matroska"));
        assert_eq!(sniff(&ebml(b"matroska\0\0")), Some("video/x-matroska"));
        assert_eq!(sniff(&ebml(b"other")), None);
        assert_eq!(sniff(&[0x1A, 0x45, 0xDF, 0xA3]), None);
    }

    #[test]
    fn only_the_first_sniff_len_bytes_decide() {
        // A generic HEIF brand whose codec brand comes after the 12th compatible brand: the
        // answer must not depend on whether the caller read 64 bytes or the whole box.
        let mut brands: Vec<&[u8; 4]> = vec![b"mif1"; 12];
        brands.push(b"heic");
        let long_box = ftyp(b"mif1", &brands);
        assert!(long_box.len() > SNIFF_LEN);
        assert_eq!(sniff(&long_box), Some("image/heif"));
        assert_eq!(sniff(&long_box[..SNIFF_LEN]), sniff(&long_box));
        // The same brand within the first 64 bytes is seen.
        let short_box = ftyp(b"mif1", &[b"mif1", b"heic"]);
        assert_eq!(sniff(&short_box), Some("image/heic"));
    }

    #[test]
    fn eight_byte_sizes() {
        // Fuzzing found `1A 45 DF A3 01 …` (a size written on 8 bytes) panicking with a shift
        // overflow; such sizes are valid EBML.
        assert_eq!(
            read_vint(&[0x01, 0, 0, 0, 0, 0, 0, 0x05], false),
            Some((5, 8))
        );
        assert_eq!(
            read_vint(&[0x01, 0, 0, 0, 0, 0, 0, 0x05], true),
            Some((0x0100_0000_0000_0005, 8))
        );
        let found = [
            0x1A, 0x45, 0xDF, 0xA3, 0x8B, 0x42, 0x86, 0x01, 0x42, 0x82, 0x89, 0x7E, 0x01, 0x45,
            0x82, 0x84, 0x77, 0x65, 0x62, 0x6D,
        ];
        assert_eq!(sniff(&found), None);
        let mut webm = ebml(b"webm");
        webm.splice(4..5, [0x01, 0, 0, 0, 0, 0, 0, webm[4] & 0x7F]);
        assert_eq!(sniff(&webm), Some("video/webm"));
    }

    #[test]
    fn tiff_and_short_inputs() {
        assert_eq!(sniff(b"II*\0\x08\0\0\0"), Some("image/tiff"));
        assert_eq!(sniff(b"MM\0*\0\0\0\x08"), Some("image/tiff"));
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(&[0xFF, 0xD8]), None);
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVE"), None);
    }

    #[test]
    fn extensions_and_video() {
        assert_eq!(extension("image/jpeg"), "jpg");
        assert_eq!(extension("video/quicktime"), "mov");
        assert_eq!(extension("video/x-matroska"), "mkv");
        assert_eq!(extension("application/pdf"), "bin");
        assert!(is_video("video/mp4"));
        assert!(!is_video("image/png"));
    }
}
