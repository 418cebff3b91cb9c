//! SQL for what happens to messages after they are sent: reactions, edits and deletes, each
//! stored with an `chat.activity` row at the conversation's next offset, in one transaction,
//! and the conversation's log (messages and activity merged by offset) for recovery.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use sqlx::AssertSqlSafe;

use super::{ChatStore, MessageRow, Result, MESSAGE_COLUMNS};
use crate::contexts::chat::{Activity, ChatError, Message, ReactionCount, ThreadSummary};
use crate::db::{query, query_as, query_scalar, Tx};
use crate::ids::{ConversationId, MessageId, UserId};

/// One entry of a conversation's log.
#[derive(Clone, Debug, PartialEq)]
pub enum LogEntry {
    Message(Message),
    Activity(Activity),
}

impl LogEntry {
    pub fn offset(&self) -> u64 {
        match self {
            LogEntry::Message(m) => m.offset,
            LogEntry::Activity(a) => a.offset,
        }
    }
}

/// An activity about to be stored; the offset is assigned on the way in.
pub struct NewActivity<'a> {
    pub event: &'static str,
    pub conversation_id: &'a ConversationId,
    pub epoch: &'a str,
    pub message_id: &'a MessageId,
    pub user_id: &'a UserId,
    pub details: Map<String, Value>,
    pub now: DateTime<Utc>,
}

/// Takes the conversation's next offset and stores the activity there.
async fn append(tx: &mut Tx<'_>, new: NewActivity<'_>) -> Result<Activity> {
    let seq: Option<i64> = query_scalar(
        "UPDATE chat.conversations SET last_seq = last_seq + 1, updated_at = $2 \
         WHERE id = $1 RETURNING last_seq",
    )
    .bind(new.conversation_id)
    .bind(new.now)
    .fetch_optional(&mut *tx)
    .await?;
    let seq = seq.ok_or(ChatError::NotFound)?;
    let activity = Activity {
        event: new.event.to_string(),
        conversation_id: new.conversation_id.clone(),
        epoch: new.epoch.to_string(),
        offset: seq as u64,
        message_id: new.message_id.clone(),
        user_id: new.user_id.clone(),
        at: new.now,
        details: new.details,
    };
    query(
        "INSERT INTO chat.activity (conversation_id, seq, event, message_id, data, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new.conversation_id)
    .bind(seq)
    .bind(new.event)
    .bind(new.message_id)
    .bind(serde_json::to_string(&activity).unwrap_or_default())
    .bind(new.now)
    .execute(&mut *tx)
    .await?;
    Ok(activity)
}

impl ChatStore {
    /// Adds the user's `emoji` to the message, or takes it away if it was there; `added`
    /// in the activity says which.
    pub async fn toggle_reaction(&self, new: NewActivity<'_>, emoji: &str) -> Result<Activity> {
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.begin().await?;
        let removed = query(
            "DELETE FROM chat.reactions WHERE message_id = $1 AND user_id = $2 AND emoji = $3",
        )
        .bind(new.message_id)
        .bind(new.user_id)
        .bind(emoji)
        .execute(&mut tx)
        .await?;
        if removed == 0 {
            query(
                "INSERT INTO chat.reactions (message_id, user_id, emoji, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(new.message_id)
            .bind(new.user_id)
            .bind(emoji)
            .bind(new.now)
            .execute(&mut tx)
            .await?;
        }
        let mut new = new;
        new.details.insert("emoji".into(), json!(emoji));
        new.details.insert("added".into(), json!(removed == 0));
        let activity = append(&mut tx, new).await?;
        tx.commit().await?;
        Ok(activity)
    }

    /// Replaces the body (keeping the old one in `message_edits`) and re-indexes it.
    pub async fn edit_message(
        &self,
        new: NewActivity<'_>,
        body: &str,
        search_terms: Option<&str>,
    ) -> Result<Activity> {
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.begin().await?;
        let moved = query(
            "INSERT INTO chat.message_edits (message_id, body, replaced_at) \
             SELECT id, body, $2 FROM chat.messages WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(new.message_id)
        .bind(new.now)
        .execute(&mut tx)
        .await?;
        if moved == 0 {
            return Err(ChatError::NotFound);
        }
        query(
            "UPDATE chat.messages SET body = $2, edited_at = $3, search_terms = $4 WHERE id = $1",
        )
        .bind(new.message_id)
        .bind(body)
        .bind(new.now)
        .bind(search_terms)
        .execute(&mut tx)
        .await?;
        let mut new = new;
        new.details.insert("body".into(), json!(body));
        new.details.insert("edited_at".into(), json!(new.now));
        let activity = append(&mut tx, new).await?;
        tx.commit().await?;
        Ok(activity)
    }

    /// Leaves a tombstone: the body, metadata, earlier bodies, reactions and index entry are
    /// gone, and so are the bodies in the message's earlier `message_edited` activity.
    pub async fn delete_message(&self, new: NewActivity<'_>) -> Result<Activity> {
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.begin().await?;
        let gone = query(
            "UPDATE chat.messages SET body = '', metadata = NULL, search_terms = NULL, \
             deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(new.message_id)
        .bind(new.now)
        .execute(&mut tx)
        .await?;
        if gone == 0 {
            return Err(ChatError::NotFound);
        }
        for table in ["chat.message_edits", "chat.reactions"] {
            query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE message_id = $1"
            )))
            .bind(new.message_id)
            .execute(&mut tx)
            .await?;
        }
        let edits: Vec<(i64, String)> = query_as(
            "SELECT seq, data FROM chat.activity \
             WHERE message_id = $1 AND conversation_id = $2 AND event = 'message_edited'",
        )
        .bind(new.message_id)
        .bind(new.conversation_id)
        .fetch_all(&mut tx)
        .await?;
        for (seq, data) in edits {
            let mut data: Value = serde_json::from_str(&data).unwrap_or_default();
            if let Some(fields) = data.as_object_mut() {
                fields.insert("body".into(), json!(""));
            }
            query("UPDATE chat.activity SET data = $3 WHERE conversation_id = $1 AND seq = $2")
                .bind(new.conversation_id)
                .bind(seq)
                .bind(data.to_string())
                .execute(&mut tx)
                .await?;
        }
        let mut new = new;
        new.details.insert("deleted_at".into(), json!(new.now));
        let activity = append(&mut tx, new).await?;
        tx.commit().await?;
        Ok(activity)
    }

    /// Earlier bodies of a message, oldest first: (body, replaced at).
    pub async fn edits(&self, message_id: &MessageId) -> Result<Vec<(String, DateTime<Utc>)>> {
        Ok(query_as(
            "SELECT body, replaced_at FROM chat.message_edits WHERE message_id = $1 \
             ORDER BY replaced_at",
        )
        .bind(message_id)
        .fetch_all(&self.db)
        .await?)
    }

    /// Offsets in `(after, up_to]`, messages and activity merged, oldest first, at most
    /// `limit`.
    pub async fn log_between(
        &self,
        conversation_id: &ConversationId,
        epoch: &str,
        after: u64,
        up_to: u64,
        limit: u32,
    ) -> Result<Vec<LogEntry>> {
        let messages = self
            .messages_between(conversation_id, epoch, after, up_to, limit)
            .await?;
        let rows: Vec<(String,)> = query_as(
            "SELECT data FROM chat.activity WHERE conversation_id = $1 AND seq > $2 \
             AND seq <= $3 ORDER BY seq LIMIT $4",
        )
        .bind(conversation_id)
        .bind(after as i64)
        .bind(up_to as i64)
        .bind(limit as i64)
        .fetch_all(&self.db)
        .await?;
        let mut log: Vec<LogEntry> = messages.into_iter().map(LogEntry::Message).collect();
        for (data,) in rows {
            match serde_json::from_str::<Activity>(&data) {
                Ok(activity) => log.push(LogEntry::Activity(activity)),
                Err(e) => tracing::error!(error = %e, "an activity row does not decode"),
            }
        }
        log.sort_by_key(LogEntry::offset);
        log.truncate(limit as usize);
        Ok(log)
    }

    /// Reactions on each of `ids`, emoji by emoji in the order they first came.
    pub async fn reactions(&self, ids: &[MessageId]) -> Result<Vec<(MessageId, ReactionCount)>> {
        let mut out: Vec<(MessageId, ReactionCount)> = Vec::new();
        for chunk in ids.chunks(100) {
            let mut select = query_as(AssertSqlSafe(format!(
                "SELECT message_id, emoji, user_id FROM chat.reactions \
                 WHERE message_id IN ({}) ORDER BY message_id, created_at, user_id",
                placeholders(chunk.len())
            )));
            for id in chunk {
                select = select.bind(id);
            }
            let rows: Vec<(MessageId, String, UserId)> = select.fetch_all(&self.db).await?;
            for (message_id, emoji, user_id) in rows {
                match out
                    .iter_mut()
                    .find(|(m, r)| *m == message_id && r.emoji == emoji)
                {
                    Some((_, count)) => count.user_ids.push(user_id),
                    None => out.push((
                        message_id,
                        ReactionCount {
                            emoji,
                            user_ids: vec![user_id],
                        },
                    )),
                }
            }
        }
        Ok(out)
    }

    /// Thread summaries of those of `ids` that have replies.
    pub async fn thread_summaries(
        &self,
        ids: &[MessageId],
    ) -> Result<Vec<(MessageId, ThreadSummary)>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(100) {
            let mut select = query_as(AssertSqlSafe(format!(
                "SELECT thread_root, COUNT(*), MAX(seq) FROM chat.messages \
                 WHERE thread_root IN ({}) AND deleted_at IS NULL GROUP BY thread_root",
                placeholders(chunk.len())
            )));
            for id in chunk {
                select = select.bind(id);
            }
            let rows: Vec<(MessageId, i64, i64)> = select.fetch_all(&self.db).await?;
            out.extend(rows.into_iter().map(|(root, count, last_seq)| {
                (
                    root,
                    ThreadSummary {
                        reply_count: count as u64,
                        last_offset: last_seq as u64,
                    },
                )
            }));
        }
        Ok(out)
    }

    /// Replies in a thread, oldest first, after offset `after`.
    pub async fn thread(
        &self,
        conversation_id: &ConversationId,
        epoch: &str,
        root: &MessageId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let rows: Vec<MessageRow> = query_as(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat.messages WHERE conversation_id = $1 \
             AND thread_root = $2 AND seq > $3 ORDER BY seq LIMIT $4"
        )))
        .bind(conversation_id)
        .bind(root)
        .bind(after as i64)
        .bind(limit as i64)
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(|r| r.into_message(epoch)).collect())
    }
}

/// `$1, $2, … $n`.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
