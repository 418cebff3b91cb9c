//! Safe display names for uploaded files.
//!
//! The client's file name is only ever shown back (gallery captions, `Content-Disposition`), never
//! used as a storage path, but it still travels into headers, HTML and logs. [`sanitize`] keeps
//! what a person would recognise and drops whatever could traverse directories, break a header,
//! hide the real extension or render as something else.

/// Longest sanitized name, in bytes.
pub const MAX_NAME_BYTES: usize = 200;

/// Name used when nothing usable is left.
const FALLBACK: &str = "file";

/// Longest extension (dot included) that [`sanitize`] keeps when it has to shorten a name.
const MAX_KEPT_EXTENSION_BYTES: usize = 16;

/// A safe display name: no path components (the last segment after `/` or `\`), no control
/// characters, no leading dots, trimmed, at most [`MAX_NAME_BYTES`] bytes (cut on a char
/// boundary), never empty (fallback `"file"`).
///
/// When a name must be shortened its extension is kept, so the display name still says what
/// kind of file it is.
pub fn sanitize(name: &str) -> String {
    // Both separators count whatever the server's OS: Windows clients send `C:\dir\name`.
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last.chars().filter(|&c| !is_unsafe_char(c)).collect();
    // Dots and blanks may alternate (" . .profile"): strip them together, or a dot survives.
    let trimmed = cleaned
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end();
    let shortened = shorten(trimmed);
    if shortened.is_empty() {
        FALLBACK.to_owned()
    } else {
        shortened
    }
}

/// Control characters break headers and logs; bidirectional overrides and zero-width marks let
/// `photo\u{202E}gpj.exe` display as `photoexe.jpg`, so they go too.
fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
        )
}

/// Cuts `name` to [`MAX_NAME_BYTES`] on a char boundary, keeping a short extension.
fn shorten(name: &str) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name.to_owned();
    }
    let extension = name
        .rfind('.')
        .filter(|&dot| dot > 0 && name.len() - dot <= MAX_KEPT_EXTENSION_BYTES)
        .map_or("", |dot| &name[dot..]);
    let stem = &name[..name.len() - extension.len()];
    let stem = truncate_on_char_boundary(stem, MAX_NAME_BYTES - extension.len()).trim_end();
    format!("{stem}{extension}")
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn truncate_on_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_override_removed() {
        assert_eq!(sanitize("photo\u{202E}gpj.exe"), "photogpj.exe");
    }

    #[test]
    fn long_name_keeps_extension() {
        let name = format!("{}.jpeg", "a".repeat(300));
        let out = sanitize(&name);
        assert_eq!(out.len(), MAX_NAME_BYTES);
        assert!(out.ends_with(".jpeg"));
    }

    #[test]
    fn long_extension_is_just_cut() {
        let name = format!("x.{}", "b".repeat(300));
        let out = sanitize(&name);
        assert_eq!(out.len(), MAX_NAME_BYTES);
        assert!(out.starts_with("x.bbb"));
    }

    #[test]
    fn trailing_separator_falls_back() {
        assert_eq!(sanitize("photos/"), "file");
        assert_eq!(sanitize(""), "file");
        assert_eq!(sanitize("  .. "), "file");
    }
}
