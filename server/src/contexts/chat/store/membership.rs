//! SQL for group membership: adding participants, renaming, roles.

use chrono::{DateTime, Utc};

use super::{ChatStore, Result};
use crate::db::{query, query_as};
use crate::ids::{ConversationId, UserId};

impl ChatStore {
    /// Adds a participant with `role`, whose read position starts at the conversation's
    /// newest offset (history before they came is not unread for them).
    pub async fn add_participant(
        &self,
        conversation_id: &ConversationId,
        user_id: &UserId,
        role: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query(
            "INSERT INTO chat.participants (conversation_id, user_id, joined_at, role, \
             last_read_seq) \
             SELECT id, $2, $3, $4, last_seq FROM chat.conversations WHERE id = $1 \
             ON CONFLICT DO NOTHING",
        )
        .bind(conversation_id)
        .bind(user_id)
        .bind(now)
        .bind(role)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn rename(
        &self,
        conversation_id: &ConversationId,
        name: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query("UPDATE chat.conversations SET name = $2, updated_at = $3 WHERE id = $1")
            .bind(conversation_id)
            .bind(name)
            .bind(now)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    pub async fn set_role(
        &self,
        conversation_id: &ConversationId,
        user_id: &UserId,
        role: &str,
    ) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query("UPDATE chat.participants SET role = $3 WHERE conversation_id = $1 AND user_id = $2")
            .bind(conversation_id)
            .bind(user_id)
            .bind(role)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Each participant's role, in the order they joined.
    pub async fn roles(&self, conversation_id: &ConversationId) -> Result<Vec<(UserId, String)>> {
        Ok(query_as(
            "SELECT user_id, role FROM chat.participants WHERE conversation_id = $1 \
             ORDER BY joined_at, user_id",
        )
        .bind(conversation_id)
        .fetch_all(&self.db)
        .await?)
    }
}
