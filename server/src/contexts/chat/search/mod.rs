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
use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;

use crate::contexts::auth::events::COMMUNITY_SETTINGS_CHANGED;
use crate::contexts::auth::Principal;
use crate::events::EventBus;
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

    /// Indexes, in the background, messages stored before search existed (after an upgrade),
    /// and a community's messages again when its language changes.
    pub fn spawn_indexer(&self, bus: &Arc<dyn EventBus>) {
        let chat = self.clone();
        let mut events = bus.subscribe();
        tokio::spawn(async move {
            chat.index_logged().await;
            loop {
                let event = match events.recv().await {
                    Ok(event) => event,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                };
                if event.kind != COMMUNITY_SETTINGS_CHANGED {
                    continue;
                }
                let Some(community_id) = event.community_id.as_ref() else {
                    continue;
                };
                if event.from_other_node {
                    // That node re-indexes; this one reads the recorded language again.
                    chat.inner.languages.remove(community_id);
                    continue;
                }
                if let Err(e) = chat.follow_language(community_id).await {
                    tracing::error!(error = %e, "re-indexing for a new language failed");
                }
            }
        });
    }

    async fn index_logged(&self) {
        match self.index_missing().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(messages = n, "indexed messages for search"),
            Err(e) => tracing::error!(error = %e, "indexing messages for search failed"),
        }
    }

    /// When the community's language is no longer the one its index was made in, records
    /// the new one and indexes its messages again (new messages use it at once).
    async fn follow_language(&self, community_id: &CommunityId) -> Result<(), ChatError> {
        let indexed = self.language(community_id).await;
        let chosen = self.chosen_language(community_id).await;
        if chosen == indexed {
            return Ok(());
        }
        self.store()
            .set_indexed_language(community_id, chosen.name())
            .await?;
        self.inner.languages.insert(community_id.clone(), chosen);
        let forgotten = self.store().unindex_community(community_id).await?;
        tracing::info!(community = %community_id, language = chosen.name(), messages = forgotten, "search language changed: indexing again");
        self.index_logged().await;
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::auth::{CommunityChanges, Role};
    use crate::contexts::chat::{ConversationKind, NewConversation, NewMessage};
    use crate::db::testing::Fixture;

    #[tokio::test]
    async fn a_community_searching_in_another_language_is_indexed_again() {
        let fx = Fixture::new().await;
        let chat = fx.chat();
        let admin = fx.sign_up("admin@example.org", None).await;
        let ana = fx.invited(&admin, "ana@example.org", Role::Member).await;
        let id = chat
            .create_conversation(
                &admin,
                NewConversation {
                    kind: ConversationKind::Group,
                    name: None,
                    participant_ids: vec![ana.user_id.clone()],
                    encrypted: false,
                },
            )
            .await
            .unwrap()
            .id;
        let say = |body: &str| NewMessage {
            body: body.into(),
            ..Default::default()
        };
        chat.send_message(&admin, &id, say("she was running home"))
            .await
            .unwrap();
        let find = |q: &'static str| {
            let (chat, ana) = (chat.clone(), ana.clone());
            async move {
                let filter = SearchFilter::for_user(ana.user_id.clone());
                chat.search_messages(&ana, q, filter, 0, 10)
                    .await
                    .unwrap()
                    .len()
            }
        };
        // Portuguese stems do not join "runs" and "running".
        assert_eq!(find("runs").await, 0);
        let changes = CommunityChanges {
            name: None,
            slug: None,
            default_language: Some("en-GB".into()),
            registration: None,
        };
        fx.auth.update_community(&admin, changes).await.unwrap();
        chat.follow_language(&admin.community_id).await.unwrap();
        assert_eq!(find("runs").await, 1);
        assert_eq!(find("run").await, 1);
        // New messages are indexed in English at once.
        chat.send_message(&admin, &id, say("the connections held"))
            .await
            .unwrap();
        assert_eq!(find("connected").await, 1);
    }
}
