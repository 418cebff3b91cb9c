//! Parsed GraphQL documents, kept by their text. Clients send the same few documents over and
//! over with different variables (`sendMessage` on every message); parsing one is most of what
//! async-graphql spends before it runs it (docs/performance.md), and copying a parsed one is
//! far cheaper. Validation still runs on every request, with its variables.

use std::sync::{Arc, Mutex};

use async_graphql::parser::types::ExecutableDocument;
use hashlink::LruCache;

/// Documents kept, the least recently used going first.
const CAPACITY: usize = 128;
/// Longer documents are parsed each time rather than kept (bounds the cache's memory).
const MAX_KEPT_LENGTH: usize = 8 * 1024;

pub struct Documents {
    kept: Mutex<LruCache<Box<str>, Arc<ExecutableDocument>>>,
}

impl Default for Documents {
    fn default() -> Self {
        Self {
            kept: Mutex::new(LruCache::new(CAPACITY)),
        }
    }
}

impl Documents {
    /// Gives the request its parsed document, a copy of the one kept for its text or of a fresh
    /// parse (kept when short enough), and returns that document. One that does not parse is
    /// left for the execution to report, as it would be without this cache: None then.
    pub fn prepare(&self, request: &mut async_graphql::Request) -> Option<Arc<ExecutableDocument>> {
        let document = if request.query.len() > MAX_KEPT_LENGTH {
            Arc::new(async_graphql::parser::parse_query(&request.query).ok()?)
        } else {
            self.get(&request.query)?
        };
        request.set_parsed_query(ExecutableDocument::clone(&document));
        Some(document)
    }

    fn get(&self, query: &str) -> Option<Arc<ExecutableDocument>> {
        if let Some(document) = self.kept.lock().expect("documents lock").get(query) {
            return Some(document.clone());
        }
        // Parsed outside the lock; two requests missing at once both parse, harmlessly.
        let document = Arc::new(async_graphql::parser::parse_query(query).ok()?);
        self.kept
            .lock()
            .expect("documents lock")
            .insert(query.into(), document.clone());
        Some(document)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.kept.lock().expect("documents lock").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_document_is_shared_and_a_broken_one_is_not_kept() {
        let documents = Documents::default();
        let query = "mutation($b: String!) { sendMessage(conversationId: \"c\", body: $b) { id } }";
        let mut first = async_graphql::Request::new(query);
        let mut second = async_graphql::Request::new(query);
        let a = documents.prepare(&mut first).expect("parses");
        let b = documents.prepare(&mut second).expect("parses");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(documents.len(), 1);

        let mut broken = async_graphql::Request::new("mutation { sendMessage(");
        assert!(documents.prepare(&mut broken).is_none());
        assert_eq!(documents.len(), 1);
        // The execution reports the parse error itself.
        assert!(broken.parsed_query().is_err());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let documents = Documents::default();
        for n in 0..CAPACITY + 10 {
            let mut request = async_graphql::Request::new(format!("{{ a{n}: __typename }}"));
            documents.prepare(&mut request).expect("parses");
        }
        assert_eq!(documents.len(), CAPACITY);
        let long = format!("{{ {} }}", "__typename ".repeat(MAX_KEPT_LENGTH / 10));
        let mut request = async_graphql::Request::new(long);
        assert!(documents.prepare(&mut request).is_some());
        assert_eq!(documents.len(), CAPACITY);
    }
}
