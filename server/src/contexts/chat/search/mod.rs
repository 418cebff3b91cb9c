//! Full-text search over messages. The server turns each body into `search_terms` (accents
//! folded, words stemmed in the community's language by Snowball, [`terms`]); SQLite indexes
//! them with FTS5, PostgreSQL with a `tsvector` and a GIN index, so both backends find the
//! same messages. Snippets are cut and highlighted here ([`snippet`]), never by the database.

pub mod snippet;
pub mod terms;

pub use terms::{Language, SearchQuery};

use serde::Serialize;

use super::store::SearchFilter;
use super::{ChatError, ChatService, Message};
use crate::contexts::auth::Principal;
use crate::ids::CommunityId;

/// Results per page at most.
const MAX_PAGE: u32 = 100;
/// How deep paging goes: within the scored window.
const MAX_SKIP: u32 = super::store::SEARCH_WINDOW;

/// One match: the message and its highlighted snippet (HTML-escaped, `<mark>` around the
/// matching words).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SearchHit {
    pub message: Message,
    pub snippet: String,
}

impl ChatService {
    /// Messages the caller can read now that match `query`, best first; `skip` pages.
    /// Encrypted conversations and deleted messages are never found.
    pub async fn search_messages(
        &self,
        by: &Principal,
        query: &str,
        mut filter: SearchFilter,
        skip: u32,
        first: u32,
    ) -> Result<Vec<SearchHit>, ChatError> {
        if query.chars().count() > 500 {
            return Err(ChatError::Invalid(
                "query must be at most 500 characters".into(),
            ));
        }
        let language = self.language(&by.community_id).await;
        let Some(parsed) = SearchQuery::parse(query, language) else {
            return Err(ChatError::Invalid(
                "the query has no words to search for".into(),
            ));
        };
        filter.user_id = by.user_id.clone();
        let first = first.clamp(1, MAX_PAGE);
        if skip >= MAX_SKIP {
            return Ok(Vec::new());
        }
        let messages = self
            .store()
            .search(&parsed, &filter, skip.min(MAX_SKIP), first)
            .await?;
        let stemmer = terms::Terms::new(language);
        Ok(messages
            .into_iter()
            .map(|message| SearchHit {
                snippet: snippet::snippet(&message.body, parsed.terms(), &stemmer),
                message,
            })
            .collect())
    }

    /// Indexes, in the background, messages stored before search existed (after an upgrade).
    pub fn spawn_indexer(&self) {
        let chat = self.clone();
        tokio::spawn(async move {
            match chat.index_missing().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(messages = n, "indexed messages for search"),
                Err(e) => tracing::error!(error = %e, "indexing messages for search failed"),
            }
        });
    }

    /// Computes the search terms of messages stored before search existed, in batches;
    /// returns how many were indexed.
    pub async fn index_missing(&self) -> Result<u64, ChatError> {
        let mut done = 0;
        loop {
            let batch = self.store().unindexed(500).await?;
            if batch.is_empty() {
                return Ok(done);
            }
            for (id, community_id, body) in batch {
                let language = self.language(&CommunityId::from(community_id)).await;
                let terms = terms::Terms::new(language).of_text(&body);
                self.store().set_search_terms(&id, &terms).await?;
                done += 1;
            }
        }
    }
}
