//! SQL for message search: FTS5 on SQLite, the `search_vector` GIN index on PostgreSQL,
//! over `search_terms` (see `search::terms`), limited to conversations the searcher takes
//! part in now.
//!
//! Ranking is by relevance among the newest [`WINDOW`] matches the searcher may read: the
//! matches are walked newest first (FTS5 by rowid, PostgreSQL by `created_at`), which stops
//! early however common the word is, and only those are scored. A rare word has fewer
//! matches than that and is ranked over all of them; a word in half the messages would
//! otherwise mean scoring half the database for each query.
//!
//! On SQLite the joins are `CROSS JOIN`, which fixes their order: left to itself SQLite 3.51
//! starts from the searcher's participations and runs the `MATCH` once per message of theirs
//! (35 s instead of 6 ms for a common word over 200,000 messages).

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, FromRow};

use super::{ChatStore, MessageRow, Result, MESSAGE_COLUMNS};
use crate::contexts::chat::search::SearchQuery;
use crate::contexts::chat::Message;
use crate::db::{query_as, query_scalar, Db};
use crate::ids::{CommunityId, ConversationId, UserId};

/// Who searches and the filters they set.
#[derive(Clone, Debug)]
pub struct SearchFilter {
    pub user_id: UserId,
    pub conversation_id: Option<ConversationId>,
    pub sender_id: Option<UserId>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Matches scored per query at most: the newest the searcher may read.
pub const WINDOW: u32 = 1_000;

impl SearchFilter {
    /// No filter: everything `user_id` can read.
    pub fn for_user(user_id: UserId) -> Self {
        SearchFilter {
            user_id,
            conversation_id: None,
            sender_id: None,
            from: None,
            to: None,
        }
    }
}

#[derive(FromRow)]
struct Hit {
    #[sqlx(flatten)]
    row: MessageRow,
    epoch: String,
}

impl ChatStore {
    /// One page of matches: `limit` from the `skip`-th on.
    pub async fn search(
        &self,
        search: &SearchQuery,
        filter: &SearchFilter,
        skip: u32,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let (sql, expression) = match self.db {
            Db::Sqlite(..) => (search_sql(&self.db), search.to_fts5()),
            Db::Postgres(..) => (search_sql(&self.db), search.to_tsquery()),
        };
        let hits: Vec<Hit> = query_as(AssertSqlSafe(sql))
            .bind(expression)
            .bind(&filter.user_id)
            .bind(&filter.conversation_id)
            .bind(&filter.sender_id)
            .bind(filter.from)
            .bind(filter.to)
            .bind(i64::from(limit))
            .bind(i64::from(skip))
            .planned_each_time()
            .fetch_all(&self.db)
            .await?;
        Ok(hits
            .into_iter()
            .map(|hit| hit.row.into_message(&hit.epoch))
            .collect())
    }

    /// Messages whose search terms were never computed (stored before search existed), for
    /// indexing them: (id, conversation's community, body), at most `limit`.
    pub async fn unindexed(&self, limit: u32) -> Result<Vec<(String, String, String)>> {
        Ok(query_as(
            "SELECT m.id, c.community_id, m.body FROM chat.messages m \
             JOIN chat.conversations c ON c.id = m.conversation_id \
             WHERE m.search_terms IS NULL AND m.deleted_at IS NULL AND c.encrypted = 0 \
             LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.db)
        .await?)
    }

    /// Stores the computed search terms of a message.
    pub async fn set_search_terms(&self, id: &str, terms: &str) -> Result<()> {
        let _turn = self.db.write_turn().await;
        crate::db::query("UPDATE chat.messages SET search_terms = $2 WHERE id = $1")
            .bind(id)
            .bind(terms)
            .execute(&self.db)
            .await?;
        Ok(())
    }
}

impl ChatStore {
    /// The language a community's messages are indexed in, once recorded.
    pub async fn indexed_language(&self, community_id: &CommunityId) -> Result<Option<String>> {
        Ok(
            query_scalar("SELECT language FROM chat.search_languages WHERE community_id = $1")
                .bind(community_id)
                .fetch_optional(&self.db)
                .await?,
        )
    }

    pub async fn set_indexed_language(
        &self,
        community_id: &CommunityId,
        language: &str,
    ) -> Result<()> {
        let _turn = self.db.write_turn().await;
        crate::db::query(
            "INSERT INTO chat.search_languages (community_id, language) VALUES ($1, $2) \
             ON CONFLICT (community_id) DO UPDATE SET language = excluded.language",
        )
        .bind(community_id)
        .bind(language)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Forgets the search terms of a community's messages, so the indexer makes them again.
    pub async fn unindex_community(&self, community_id: &CommunityId) -> Result<u64> {
        let _turn = self.db.write_turn().await;
        Ok(crate::db::query(
            "UPDATE chat.messages SET search_terms = NULL WHERE deleted_at IS NULL \
             AND conversation_id IN (SELECT id FROM chat.conversations \
                                     WHERE community_id = $1 AND encrypted = 0)",
        )
        .bind(community_id)
        .execute(&self.db)
        .await?)
    }
}

/// The search statement for `db`'s backend: $1 the query expression, $2 the searcher, $3–$6
/// the filters (each NULL when unset), $7 the page size, $8 how many to skip.
fn search_sql(db: &Db) -> String {
    let columns = MESSAGE_COLUMNS
        .split(", ")
        .map(|c| format!("m.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let filters = "AND ($3 IS NULL OR m.conversation_id = $3) \
                   AND ($4 IS NULL OR m.sender_id = $4) \
                   AND ($5 IS NULL OR m.created_at >= $5) \
                   AND ($6 IS NULL OR m.created_at < $6)";
    let outer = columns.replace("m.", "hits.");
    match db {
        Db::Sqlite(..) => {
            format!(
                "WITH hits AS (\
                   SELECT {columns}, c.epoch, messages_fts.rank AS score \
                   FROM chat.messages_fts \
                   CROSS JOIN chat.messages m ON m.rowid = messages_fts.rowid \
                   CROSS JOIN chat.participants p ON p.conversation_id = m.conversation_id \
                        AND p.user_id = $2 \
                   CROSS JOIN chat.conversations c ON c.id = m.conversation_id \
                   WHERE messages_fts MATCH $1 {filters} \
                   ORDER BY messages_fts.rowid DESC LIMIT {WINDOW}) \
                 SELECT {outer}, hits.epoch FROM hits \
                 ORDER BY hits.score, hits.created_at DESC LIMIT $7 OFFSET $8"
            )
        }
        Db::Postgres(..) => {
            format!(
                "WITH hits AS (\
                   SELECT {columns}, c.epoch, m.search_vector FROM chat.messages m \
                   JOIN chat.participants p ON p.conversation_id = m.conversation_id \
                        AND p.user_id = $2 \
                   JOIN chat.conversations c ON c.id = m.conversation_id \
                   WHERE m.search_vector @@ to_tsquery('simple', $1) {filters} \
                   ORDER BY m.created_at DESC LIMIT {WINDOW}) \
                 SELECT {outer}, hits.epoch FROM hits \
                 ORDER BY ts_rank_cd(hits.search_vector, to_tsquery('simple', $1)) DESC, \
                          hits.created_at DESC LIMIT $7 OFFSET $8"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::test_db;

    /// The plan walks the full-text index first (newest match first) and looks up each
    /// match's message and membership, whatever the planner would prefer on its own.
    #[tokio::test]
    async fn sqlite_search_walks_the_index_before_the_memberships() {
        let db = test_db().await;
        if !matches!(db, Db::Sqlite(..)) {
            return;
        }
        let steps: Vec<(i64, i64, i64, String)> = query_as(AssertSqlSafe(format!(
            "EXPLAIN QUERY PLAN {}",
            search_sql(&db)
        )))
        .bind("\"casa\"")
        .bind("someone")
        .bind(None::<String>)
        .bind(None::<String>)
        .bind(None::<String>)
        .bind(None::<String>)
        .bind(20_i64)
        .bind(0_i64)
        .fetch_all(&db)
        .await
        .unwrap();
        let tables: Vec<&str> = steps
            .iter()
            .map(|(.., detail)| detail.as_str())
            .filter(|detail| detail.starts_with("SCAN") || detail.starts_with("SEARCH"))
            .collect();
        assert!(tables[0].contains("messages_fts"), "{tables:?}");
        assert!(tables[1].contains(" m "), "{tables:?}");
    }
}
