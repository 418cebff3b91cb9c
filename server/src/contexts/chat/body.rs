//! What counts as an empty message body: nothing but whitespace, control characters and
//! characters that render as nothing (zero-width spaces and joiners, the byte-order mark,
//! direction marks, fillers, variation selectors, tag characters…). A body of only these
//! would show as an empty bubble, so it is refused like an empty one.

/// True when `body` has no character that renders as something.
pub fn is_blank(body: &str) -> bool {
    body.chars().all(is_invisible)
}

fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '\u{00AD}'              // soft hyphen
            | '\u{034F}'            // combining grapheme joiner
            | '\u{061C}'            // Arabic letter mark
            | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
            | '\u{17B4}' | '\u{17B5}' // Khmer inherent vowels
            | '\u{180B}'..='\u{180F}' // Mongolian free variation selectors, vowel separator
            | '\u{200B}'..='\u{200F}' // zero-width space, non-joiner, joiner, LRM, RLM
            | '\u{202A}'..='\u{202E}' // bidirectional embeddings and overrides
            | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, isolates, deprecated formats
            | '\u{2800}'            // Braille pattern blank
            | '\u{FE00}'..='\u{FE0F}' // variation selectors
            | '\u{FEFF}'            // byte-order mark (zero-width no-break space)
            | '\u{1D173}'..='\u{1D17A}' // musical symbol formatting
            | '\u{E0000}'..='\u{E007F}' // tag characters
            | '\u{E0100}'..='\u{E01EF}' // variation selectors supplement
        )
}

#[cfg(test)]
mod tests {
    use super::is_blank;

    #[test]
    fn invisible_only_bodies_are_blank() {
        for body in [
            "",
            "   \n\t",
            "\u{200B}",
            "\u{FEFF}\u{200B}\u{200C}\u{200D}",
            " \u{2060}\u{00AD} ",
            "\u{3164}\u{2800}",
            "\u{E0020}\u{E007F}",
            "\u{202E}\u{2066}\u{2069}",
        ] {
            assert!(is_blank(body), "{body:?}");
        }
    }

    #[test]
    fn visible_text_is_not_blank() {
        for body in [
            "a",
            " ok ",
            "\u{200B}x",
            "👍",
            "🏳\u{FE0F}\u{200D}🌈",
            "ç",
            "中",
        ] {
            assert!(!is_blank(body), "{body:?}");
        }
    }
}
