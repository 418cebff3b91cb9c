//! SQL for attachments: which messages carry which items, and who may read them that way.

use super::{ChatStore, Result};
use crate::db::{query, query_scalar};
use crate::ids::{ConversationId, MessageId, UserId};

impl ChatStore {
    pub async fn add_attachment(
        &self,
        conversation_id: &ConversationId,
        message_id: &MessageId,
        kind: &str,
        item_id: &str,
    ) -> Result<()> {
        let _turn = self.db.write_turn().await;
        query(
            "INSERT INTO chat.attachments (message_id, conversation_id, kind, item_id) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(message_id)
        .bind(conversation_id)
        .bind(kind)
        .bind(item_id)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Whether a message (not deleted) of a conversation `user_id` takes part in carries the
    /// item.
    pub async fn shares_item(&self, user_id: &UserId, kind: &str, item_id: &str) -> Result<bool> {
        let found: Option<i64> = query_scalar(
            "SELECT CAST(1 AS BIGINT) FROM chat.attachments a \
             JOIN chat.messages m ON m.id = a.message_id \
             JOIN chat.participants p ON p.conversation_id = a.conversation_id \
             WHERE a.kind = $1 AND a.item_id = $2 AND p.user_id = $3 \
               AND m.deleted_at IS NULL LIMIT 1",
        )
        .bind(kind)
        .bind(item_id)
        .bind(user_id)
        .fetch_optional(&self.db)
        .await?;
        Ok(found.is_some())
    }
}
