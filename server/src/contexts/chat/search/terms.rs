//! From text to index terms: split into words, fold case and accents ("Açaí" → "acai"), stem
//! each word (Snowball, Portuguese or English). A query goes through the same steps, so
//! "açaís" finds "acai", and `"quoted words"` become phrases.

use rust_stemmers::{Algorithm, Stemmer};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// Words longer than this are not indexed (hashes, base64, URLs glued together).
const MAX_WORD_CHARS: usize = 40;
/// Terms a query may hold; more are ignored.
const MAX_QUERY_TERMS: usize = 16;

/// How words are stemmed: a community's search language.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Portuguese,
    English,
    /// Folded but not stemmed.
    Simple,
}

impl Language {
    /// From a language tag or name ("pt-BR", "portuguese", "en"); anything else is `Simple`.
    pub fn from_tag(tag: &str) -> Language {
        let tag = tag.trim().to_ascii_lowercase();
        if tag == "portuguese" || tag == "pt" || tag.starts_with("pt-") || tag.starts_with("pt_") {
            Language::Portuguese
        } else if tag == "english"
            || tag == "en"
            || tag.starts_with("en-")
            || tag.starts_with("en_")
        {
            Language::English
        } else {
            Language::Simple
        }
    }

    /// The name `from_tag` reads back.
    pub fn name(self) -> &'static str {
        match self {
            Language::Portuguese => "portuguese",
            Language::English => "english",
            Language::Simple => "simple",
        }
    }

    fn stemmer(self) -> Option<Stemmer> {
        match self {
            Language::Portuguese => Some(Stemmer::create(Algorithm::Portuguese)),
            Language::English => Some(Stemmer::create(Algorithm::English)),
            Language::Simple => None,
        }
    }
}

/// Lower case without accents: "Ação" → "acao".
pub fn fold(word: &str) -> String {
    word.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The words of `text` with their byte ranges, in order.
pub fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(move |w| (w.as_ptr() as usize - text.as_ptr() as usize, w))
}

/// Turns words into index terms.
pub struct Terms {
    stemmer: Option<Stemmer>,
}

impl Terms {
    pub fn new(language: Language) -> Self {
        Terms {
            stemmer: language.stemmer(),
        }
    }

    /// The index term of one word; `None` for words not indexed.
    pub fn term(&self, word: &str) -> Option<String> {
        if word.chars().count() > MAX_WORD_CHARS {
            return None;
        }
        // Fold before stemming: a word typed with or without its accents ("açaí", "acai")
        // must give the same term, whatever the stemmer would make of the accents.
        let folded = fold(word);
        let term = match &self.stemmer {
            Some(stemmer) => stemmer.stem(&folded).into_owned(),
            None => folded,
        };
        (!term.is_empty()).then_some(term)
    }

    /// `text` as the space-separated terms the index stores.
    pub fn of_text(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for (_, word) in words(text) {
            if let Some(term) = self.term(word) {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(&term);
            }
        }
        out
    }
}

/// A parsed query: every part must match; a part of several terms is a phrase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchQuery {
    pub parts: Vec<Vec<String>>,
}

impl SearchQuery {
    /// Words match anywhere, `"quoted words"` in that order; `None` when nothing is left to
    /// search for.
    pub fn parse(query: &str, language: Language) -> Option<SearchQuery> {
        let terms = Terms::new(language);
        let mut parts = Vec::new();
        let mut count = 0;
        for (index, chunk) in query.split('"').enumerate() {
            let quoted = index % 2 == 1;
            let chunk_terms: Vec<String> =
                words(chunk).filter_map(|(_, w)| terms.term(w)).collect();
            if quoted {
                if !chunk_terms.is_empty() {
                    count += chunk_terms.len();
                    parts.push(chunk_terms);
                }
            } else {
                for term in chunk_terms {
                    count += 1;
                    parts.push(vec![term]);
                }
            }
            if count >= MAX_QUERY_TERMS {
                break;
            }
        }
        parts.dedup();
        (!parts.is_empty()).then_some(SearchQuery { parts })
    }

    /// Every term of the query, for highlighting.
    pub fn terms(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().flatten().map(String::as_str)
    }

    /// An FTS5 MATCH expression: each part quoted (terms are letters and digits only, so
    /// nothing in them is FTS5 syntax).
    pub fn to_fts5(&self) -> String {
        self.parts
            .iter()
            .map(|part| format!("\"{}\"", part.join(" ")))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// A `to_tsquery('simple', …)` expression: `&` between parts, `<->` inside phrases.
    pub fn to_tsquery(&self) -> String {
        self.parts
            .iter()
            .map(|part| {
                let phrase: Vec<String> = part.iter().map(|t| format!("'{t}'")).collect();
                if phrase.len() == 1 {
                    phrase[0].clone()
                } else {
                    format!("({})", phrase.join(" <-> "))
                }
            })
            .collect::<Vec<_>>()
            .join(" & ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_and_case_do_not_matter() {
        let pt = Terms::new(Language::Portuguese);
        assert_eq!(pt.of_text("Açaí"), pt.of_text("acai"));
        assert_eq!(pt.of_text("AÇAÍ!"), pt.of_text("açai"));
        assert_eq!(pt.of_text("São Paulo"), pt.of_text("sao paulo"));
        assert_eq!(fold("Ação São Paulo"), "acao sao paulo");
    }

    #[test]
    fn portuguese_and_english_words_are_stemmed() {
        let pt = Terms::new(Language::Portuguese);
        assert_eq!(pt.term("corridas"), pt.term("corrida"));
        assert_eq!(pt.term("gatos"), pt.term("gato"));
        assert_eq!(pt.term("meninas"), pt.term("menina"));
        let en = Terms::new(Language::English);
        assert_eq!(en.term("running"), en.term("runs"));
        assert_eq!(en.term("connected"), en.term("connection"));
        // Simple folds but keeps the word.
        let simple = Terms::new(Language::Simple);
        assert_eq!(simple.of_text("Gatos açaí"), "gatos acai");
    }

    #[test]
    fn queries_become_parts_and_phrases_safely() {
        let query = SearchQuery::parse(r#"gatos "São Paulo" OR*"#, Language::Portuguese).unwrap();
        assert_eq!(query.parts.len(), 3);
        let pt = Terms::new(Language::Portuguese);
        let (sao, paulo) = (pt.term("sao").unwrap(), pt.term("paulo").unwrap());
        assert_eq!(query.parts[1], [sao.clone(), paulo.clone()]);
        assert_eq!(
            query.to_fts5(),
            format!(r#""gat" AND "{sao} {paulo}" AND "or""#)
        );
        assert_eq!(
            query.to_tsquery(),
            format!("'gat' & ('{sao}' <-> '{paulo}') & 'or'")
        );
        // Punctuation and syntax characters never reach the database.
        let hostile = SearchQuery::parse(r#"a' OR 1=1; -- "x"#, Language::Simple).unwrap();
        assert!(hostile
            .to_fts5()
            .chars()
            .all(|c| c.is_alphanumeric() || " \"".contains(c)));
        assert!(SearchQuery::parse("  ?! \"\" ", Language::English).is_none());
        assert_eq!(Language::from_tag("pt-BR"), Language::Portuguese);
        assert_eq!(Language::from_tag("en"), Language::English);
        assert_eq!(Language::from_tag("de"), Language::Simple);
    }
}
