//! A result's snippet: the part of the body around the first matching word, HTML-escaped,
//! with every matching word in `<mark>…</mark>`. Cut here, not by the database, so both
//! backends give the same snippet and a body can never inject markup.

use std::collections::HashSet;

use super::terms::{words, Terms};

/// Characters shown before the first match (at most) and in the whole snippet.
const BEFORE: usize = 40;
const LENGTH: usize = 160;

/// The snippet of `body` for the query `terms` (index terms, as [`Terms::term`] makes them).
pub fn snippet<'a>(
    body: &str,
    terms: impl IntoIterator<Item = &'a str>,
    stemmer: &Terms,
) -> String {
    let wanted: HashSet<&str> = terms.into_iter().collect();
    let matches: Vec<(usize, usize)> = words(body)
        .filter(|(_, w)| stemmer.term(w).is_some_and(|t| wanted.contains(t.as_str())))
        .map(|(start, w)| (start, start + w.len()))
        .collect();
    // Start a little before the first match, on a character boundary.
    let first = matches.first().map_or(0, |m| m.0);
    let start = body[..first]
        .char_indices()
        .rev()
        .take(BEFORE)
        .last()
        .map_or(first, |(i, _)| i);
    let end = body[start..]
        .char_indices()
        .nth(LENGTH)
        .map_or(body.len(), |(i, _)| start + i);
    let mut out = String::with_capacity(end - start + 32);
    if start > 0 {
        out.push('…');
    }
    let mut at = start;
    for &(m_start, m_end) in matches.iter().filter(|m| m.0 >= start && m.1 <= end) {
        escape_into(&mut out, &body[at..m_start]);
        out.push_str("<mark>");
        escape_into(&mut out, &body[m_start..m_end]);
        out.push_str("</mark>");
        at = m_end;
    }
    escape_into(&mut out, &body[at..end]);
    if end < body.len() {
        out.push('…');
    }
    out
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Language, SearchQuery};
    use super::*;

    fn cut(body: &str, query: &str) -> String {
        let query = SearchQuery::parse(query, Language::Portuguese).unwrap();
        snippet(body, query.terms(), &Terms::new(Language::Portuguese))
    }

    #[test]
    fn matching_words_are_marked_whatever_their_accents() {
        assert_eq!(
            cut("Quero um AÇAÍ <agora> & já", "acai"),
            "Quero um <mark>AÇAÍ</mark> &lt;agora&gt; &amp; já"
        );
        assert_eq!(
            cut("os gatos e o gato", "gato"),
            "os <mark>gatos</mark> e o <mark>gato</mark>"
        );
    }

    #[test]
    fn long_bodies_are_cut_around_the_first_match() {
        let body = format!("{} açaí {}", "palavra ".repeat(40), "fim ".repeat(60));
        let got = cut(&body, "açaí");
        assert!(got.starts_with('…') && got.ends_with('…'), "{got}");
        assert!(got.contains("<mark>açaí</mark>"), "{got}");
        assert!(got.chars().count() < LENGTH + 20, "{got}");
    }
}
