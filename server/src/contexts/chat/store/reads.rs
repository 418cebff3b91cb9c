//! SQL for read positions: each participant's newest read offset, and unread counts.

use super::{ChatStore, Result};
use crate::contexts::chat::ReadState;
use crate::db::{query, query_as};
use crate::ids::{ConversationId, UserId};

impl ChatStore {
    /// Moves the participant's read position forward to `offset` (never back, never past the
    /// newest offset); `false` when it did not move.
    pub async fn mark_read(
        &self,
        conversation_id: &ConversationId,
        user_id: &UserId,
        offset: u64,
    ) -> Result<bool> {
        let _turn = self.db.write_turn().await;
        let moved = query(
            "UPDATE chat.participants SET last_read_seq = $3 \
             WHERE conversation_id = $1 AND user_id = $2 AND last_read_seq < $3 \
               AND $3 <= (SELECT last_seq FROM chat.conversations WHERE id = $1)",
        )
        .bind(conversation_id)
        .bind(user_id)
        .bind(offset as i64)
        .execute(&self.db)
        .await?;
        Ok(moved > 0)
    }

    /// Every participant's read position.
    pub async fn read_states(&self, conversation_id: &ConversationId) -> Result<Vec<ReadState>> {
        let rows: Vec<(UserId, i64)> = query_as(
            "SELECT user_id, last_read_seq FROM chat.participants WHERE conversation_id = $1 \
             ORDER BY joined_at, user_id",
        )
        .bind(conversation_id)
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(user_id, seq)| ReadState {
                user_id,
                offset: seq.max(0) as u64,
            })
            .collect())
    }

    /// For each conversation of the user: (id, read position, messages of others after it
    /// that are not deleted).
    pub async fn unread_counts(&self, user_id: &UserId) -> Result<Vec<(ConversationId, u64, u64)>> {
        let rows: Vec<(ConversationId, i64, i64)> = query_as(
            "SELECT p.conversation_id, p.last_read_seq, \
                    (SELECT COUNT(*) FROM chat.messages m \
                     WHERE m.conversation_id = p.conversation_id AND m.seq > p.last_read_seq \
                       AND m.sender_id <> p.user_id AND m.deleted_at IS NULL) \
             FROM chat.participants p WHERE p.user_id = $1",
        )
        .bind(user_id)
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, read, unread)| (id, read.max(0) as u64, unread.max(0) as u64))
            .collect())
    }
}
