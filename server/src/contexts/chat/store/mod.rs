//! Chat's SQL for conversations, participants and messages (tables in the `chat` schema),
//! each statement next to its one caller; what happens to messages after they are sent is in
//! [`activity`], read positions in [`reads`], search in [`search`].

mod activity;
mod attachments;
mod insert;
mod keys;
mod membership;
mod reads;
mod search;

pub use activity::{LogEntry, NewActivity};
pub use search::{SearchFilter, WINDOW as SEARCH_WINDOW};

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, FromRow};

use crate::db::{query, query_as, query_scalar, Db};
use crate::ids::{CommunityId, ConversationId, MessageId, UserId};

use super::{ChatError, Conversation, ConversationKind, Message};
use serde_json::Value;

type Result<T, E = ChatError> = std::result::Result<T, E>;

/// A conversation as seen by one of its participants about to send.
#[derive(Clone, Debug)]
pub struct Membership {
    pub id: ConversationId,
    pub community_id: CommunityId,
    pub epoch: String,
    pub encrypted: bool,
    /// The participant's role in a group: `admin` or `member`.
    pub role: String,
}

#[derive(FromRow)]
struct ConversationRow {
    id: ConversationId,
    community_id: CommunityId,
    kind: String,
    name: Option<String>,
    epoch: String,
    last_seq: i64,
    created_at: DateTime<Utc>,
    encrypted: i32,
}

impl ConversationRow {
    fn into_conversation(self, participant_ids: Vec<UserId>) -> Conversation {
        Conversation {
            kind: if self.kind == "direct" {
                ConversationKind::Direct
            } else {
                ConversationKind::Group
            },
            id: self.id,
            community_id: self.community_id,
            name: self.name,
            participant_ids,
            epoch: self.epoch,
            last_offset: self.last_seq as u64,
            created_at: self.created_at,
            encrypted: self.encrypted != 0,
        }
    }
}

const CONVERSATION_COLUMNS: &str =
    "c.id, c.community_id, c.kind, c.name, c.epoch, c.last_seq, c.created_at, c.encrypted";

#[derive(FromRow)]
struct MessageRow {
    id: MessageId,
    conversation_id: ConversationId,
    sender_id: UserId,
    body: String,
    client_id: Option<String>,
    seq: i64,
    created_at: DateTime<Utc>,
    message_type: String,
    metadata: Option<String>,
    reply_to: Option<MessageId>,
    thread_root: Option<MessageId>,
    edited_at: Option<DateTime<Utc>>,
    deleted_at: Option<DateTime<Utc>>,
}

impl MessageRow {
    fn into_message(self, epoch: &str) -> Message {
        Message {
            id: self.id,
            conversation_id: self.conversation_id,
            sender_id: self.sender_id,
            body: self.body,
            client_id: self.client_id,
            inserted_at: self.created_at,
            epoch: epoch.to_string(),
            offset: self.seq as u64,
            message_type: self.message_type,
            metadata: self
                .metadata
                .and_then(|m| serde_json::from_str::<Value>(&m).ok()),
            reply_to: self.reply_to,
            thread_root: self.thread_root,
            edited_at: self.edited_at,
            deleted_at: self.deleted_at,
        }
    }
}

const MESSAGE_COLUMNS: &str = "id, conversation_id, sender_id, body, client_id, seq, created_at, \
     message_type, metadata, reply_to, thread_root, edited_at, deleted_at";

/// A message about to be stored in `conversation_id` (whose epoch is `epoch`).
#[cfg_attr(test, derive(Clone))]
pub(super) struct NewMessageRow {
    pub conversation_id: ConversationId,
    pub epoch: String,
    pub id: MessageId,
    pub sender_id: UserId,
    pub body: String,
    pub client_id: Option<String>,
    pub message_type: String,
    pub metadata: Option<Value>,
    pub reply_to: Option<MessageId>,
    pub thread_root: Option<MessageId>,
    /// `None` for what is never indexed (ciphertext).
    pub search_terms: Option<String>,
    pub now: DateTime<Utc>,
}

impl NewMessageRow {
    fn stored(self, seq: i64) -> Message {
        Message {
            id: self.id,
            conversation_id: self.conversation_id,
            sender_id: self.sender_id,
            body: self.body,
            client_id: self.client_id,
            inserted_at: self.now,
            epoch: self.epoch,
            offset: seq as u64,
            message_type: self.message_type,
            metadata: self.metadata,
            reply_to: self.reply_to,
            thread_root: self.thread_root,
            edited_at: None,
            deleted_at: None,
        }
    }
}

/// A conversation about to be stored with its participants.
#[derive(Clone, Copy)]
pub(super) struct NewConversationRow<'a> {
    pub id: &'a ConversationId,
    pub community_id: &'a CommunityId,
    pub kind: ConversationKind,
    pub name: Option<&'a str>,
    pub created_by: &'a UserId,
    pub participants: &'a [UserId],
    pub encrypted: bool,
    pub now: DateTime<Utc>,
}

#[derive(Clone)]
pub(super) struct ChatStore {
    db: Db,
}

impl ChatStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Conversations and messages of a community: (conversations, messages).
    pub async fn community_totals(&self, community_id: &str) -> Result<(u64, u64)> {
        let (conversations, messages): (i64, i64) = query_as(
            "SELECT (SELECT COUNT(*) FROM chat.conversations WHERE community_id = $1), \
                    (SELECT COUNT(*) FROM chat.messages m \
                     JOIN chat.conversations c ON c.id = m.conversation_id \
                     WHERE c.community_id = $1)",
        )
        .bind(community_id)
        .fetch_one(&self.db)
        .await?;
        Ok((conversations.max(0) as u64, messages.max(0) as u64))
    }

    pub async fn insert_conversation(&self, new: &NewConversationRow<'_>) -> Result<()> {
        let NewConversationRow {
            id,
            community_id,
            kind,
            name,
            created_by,
            participants,
            encrypted,
            now,
        } = *new;
        let epoch = nanoid::nanoid!(8);
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.begin().await?;
        query(
            "INSERT INTO chat.conversations \
             (id, community_id, kind, name, created_by, epoch, created_at, updated_at, encrypted) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
        )
        .bind(id)
        .bind(community_id)
        .bind(kind.as_str())
        .bind(name)
        .bind(created_by)
        .bind(&epoch)
        .bind(now)
        .bind(i32::from(encrypted))
        .execute(&mut tx)
        .await?;
        for user_id in participants {
            let role = if user_id == created_by {
                "admin"
            } else {
                "member"
            };
            query(
                "INSERT INTO chat.participants (conversation_id, user_id, joined_at, role) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(user_id)
            .bind(now)
            .bind(role)
            .execute(&mut tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn conversation(&self, id: &ConversationId) -> Result<Option<Conversation>> {
        let row: Option<ConversationRow> = query_as(AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM chat.conversations c WHERE c.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.db)
        .await?;
        match row {
            Some(row) => Ok(Some(self.with_participants(row).await?)),
            None => Ok(None),
        }
    }

    /// What a participant needs to send to a conversation; `None` when it does not exist or
    /// `user_id` takes no part in it.
    pub async fn membership(
        &self,
        id: &ConversationId,
        user_id: &UserId,
    ) -> Result<Option<Membership>> {
        let row: Option<(ConversationId, CommunityId, String, i32, String)> = query_as(
            "SELECT c.id, c.community_id, c.epoch, c.encrypted, p.role \
             FROM chat.conversations c JOIN chat.participants p ON p.conversation_id = c.id \
             WHERE c.id = $1 AND p.user_id = $2",
        )
        .bind(id)
        .bind(user_id)
        .fetch_optional(&self.db)
        .await?;
        Ok(
            row.map(|(id, community_id, epoch, encrypted, role)| Membership {
                id,
                community_id,
                epoch,
                encrypted: encrypted != 0,
                role,
            }),
        )
    }

    async fn with_participants(&self, row: ConversationRow) -> Result<Conversation> {
        let participant_ids: Vec<UserId> = query_scalar(
            "SELECT user_id FROM chat.participants WHERE conversation_id = $1 \
             ORDER BY joined_at, user_id",
        )
        .bind(&row.id)
        .fetch_all(&self.db)
        .await?;
        Ok(row.into_conversation(participant_ids))
    }

    /// Conversations with their participants read by one more query, not one per
    /// conversation: `of_conversations` selects the conversation ids `rows` came from, with
    /// `$1` bound to `key`.
    async fn with_all_participants(
        &self,
        rows: Vec<ConversationRow>,
        of_conversations: &str,
        key: &str,
    ) -> Result<Vec<Conversation>> {
        let pairs: Vec<(ConversationId, UserId)> = query_as(AssertSqlSafe(format!(
            "SELECT conversation_id, user_id FROM chat.participants \
             WHERE conversation_id IN ({of_conversations}) ORDER BY joined_at, user_id"
        )))
        .bind(key)
        .fetch_all(&self.db)
        .await?;
        let mut participants: HashMap<ConversationId, Vec<UserId>> = HashMap::new();
        for (conversation_id, user_id) in pairs {
            participants
                .entry(conversation_id)
                .or_default()
                .push(user_id);
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let ids = participants.remove(&row.id).unwrap_or_default();
                row.into_conversation(ids)
            })
            .collect())
    }

    /// Conversations the user takes part in, most recently created first.
    pub async fn conversations_of(&self, user_id: &UserId) -> Result<Vec<Conversation>> {
        let rows: Vec<ConversationRow> = query_as(AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} \
             FROM chat.conversations c JOIN chat.participants p ON p.conversation_id = c.id \
             WHERE p.user_id = $1 ORDER BY c.created_at DESC, c.id"
        )))
        .bind(user_id)
        .fetch_all(&self.db)
        .await?;
        self.with_all_participants(
            rows,
            "SELECT conversation_id FROM chat.participants WHERE user_id = $1",
            user_id.as_str(),
        )
        .await
    }

    /// Every conversation of a community, oldest first (export).
    pub async fn conversations_in(&self, community_id: &CommunityId) -> Result<Vec<Conversation>> {
        let rows: Vec<ConversationRow> = query_as(AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM chat.conversations c \
             WHERE c.community_id = $1 ORDER BY c.created_at, c.id"
        )))
        .bind(community_id)
        .fetch_all(&self.db)
        .await?;
        self.with_all_participants(
            rows,
            "SELECT id FROM chat.conversations WHERE community_id = $1",
            community_id.as_str(),
        )
        .await
    }

    /// The direct conversation between exactly these two users, if one exists.
    pub async fn direct_between(&self, a: &UserId, b: &UserId) -> Result<Option<ConversationId>> {
        let id = query_scalar(
            "SELECT c.id FROM chat.conversations c \
             WHERE c.kind = 'direct' \
               AND EXISTS (SELECT 1 FROM chat.participants p \
                           WHERE p.conversation_id = c.id AND p.user_id = $1) \
               AND EXISTS (SELECT 1 FROM chat.participants p \
                           WHERE p.conversation_id = c.id AND p.user_id = $2) \
             LIMIT 1",
        )
        .bind(a)
        .bind(b)
        .fetch_optional(&self.db)
        .await?;
        Ok(id)
    }

    pub async fn is_participant(
        &self,
        conversation_id: &ConversationId,
        user_id: &UserId,
    ) -> Result<bool> {
        let found: Option<i64> = query_scalar(
            "SELECT CAST(1 AS BIGINT) FROM chat.participants \
             WHERE conversation_id = $1 AND user_id = $2",
        )
        .bind(conversation_id)
        .bind(user_id)
        .fetch_optional(&self.db)
        .await?;
        Ok(found.is_some())
    }

    pub async fn remove_participant(
        &self,
        conversation_id: &ConversationId,
        user_id: &UserId,
    ) -> Result<bool> {
        let _turn = self.db.write_turn().await;
        let removed =
            query("DELETE FROM chat.participants WHERE conversation_id = $1 AND user_id = $2")
                .bind(conversation_id)
                .bind(user_id)
                .execute(&self.db)
                .await?;
        Ok(removed > 0)
    }

    pub async fn message_by_client_id(
        &self,
        conversation_id: &ConversationId,
        sender_id: &UserId,
        client_id: &str,
        epoch: &str,
    ) -> Result<Option<Message>> {
        let row: Option<MessageRow> = query_as(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat.messages \
             WHERE conversation_id = $1 AND sender_id = $2 AND client_id = $3"
        )))
        .bind(conversation_id)
        .bind(sender_id)
        .bind(client_id)
        .fetch_optional(&self.db)
        .await?;
        Ok(row.map(|r| r.into_message(epoch)))
    }

    /// One message of a conversation.
    pub async fn message(
        &self,
        conversation_id: &ConversationId,
        epoch: &str,
        id: &MessageId,
    ) -> Result<Option<Message>> {
        let row: Option<MessageRow> = query_as(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat.messages WHERE id = $1 AND conversation_id = $2"
        )))
        .bind(id)
        .bind(conversation_id)
        .fetch_optional(&self.db)
        .await?;
        Ok(row.map(|r| r.into_message(epoch)))
    }

    /// The main timeline (thread replies are in their thread), newest first, strictly before
    /// offset `before` when given.
    pub async fn messages(
        &self,
        conversation_id: &ConversationId,
        epoch: &str,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let before = before.map(|b| b as i64).unwrap_or(i64::MAX);
        let rows: Vec<MessageRow> = query_as(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat.messages WHERE conversation_id = $1 AND seq < $2 \
             AND thread_root IS NULL ORDER BY seq DESC LIMIT $3"
        )))
        .bind(conversation_id)
        .bind(before)
        .bind(limit as i64)
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(|r| r.into_message(epoch)).collect())
    }

    /// Oldest first: offsets in `(after, up_to]`, at most `limit`.
    pub async fn messages_between(
        &self,
        conversation_id: &ConversationId,
        epoch: &str,
        after: u64,
        up_to: u64,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let rows: Vec<MessageRow> = query_as(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat.messages \
             WHERE conversation_id = $1 AND seq > $2 AND seq <= $3 \
             ORDER BY seq ASC LIMIT $4"
        )))
        .bind(conversation_id)
        .bind(after as i64)
        .bind(up_to as i64)
        .bind(limit as i64)
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(|r| r.into_message(epoch)).collect())
    }
}

#[cfg(test)]
mod tests {
    use chrono::SubsecRound;

    use super::*;
    use crate::db::testing::{insert_community, insert_user, test_db};

    const GROUP: ConversationKind = ConversationKind::Group;

    /// A store and `n` users of one community: (store, community id, user ids).
    pub(super) async fn setup(n: usize) -> (ChatStore, CommunityId, Vec<UserId>) {
        let db = test_db().await;
        let community = insert_community(&db).await;
        let mut users = Vec::with_capacity(n);
        for _ in 0..n {
            users.push(insert_user(&db, &community).await);
        }
        (ChatStore::new(db), community, users)
    }

    /// A conversation between `participants`; returns its membership as the first sees it.
    pub(super) async fn conversation(
        store: &ChatStore,
        community_id: &CommunityId,
        kind: ConversationKind,
        participants: &[UserId],
    ) -> Membership {
        let id = ConversationId::new();
        store
            .insert_conversation(&NewConversationRow {
                id: &id,
                community_id,
                kind,
                name: None,
                created_by: &participants[0],
                participants,
                encrypted: false,
                now: Utc::now(),
            })
            .await
            .unwrap();
        store
            .membership(&id, &participants[0])
            .await
            .unwrap()
            .expect("a participant's membership")
    }

    pub(super) fn row(to: &Membership, from: &UserId, client_id: Option<&str>) -> NewMessageRow {
        let id = MessageId::new();
        NewMessageRow {
            conversation_id: to.id.clone(),
            epoch: to.epoch.clone(),
            body: format!("message {id}"),
            id,
            sender_id: from.clone(),
            client_id: client_id.map(str::to_owned),
            message_type: super::super::model::TEXT.to_owned(),
            metadata: None,
            reply_to: None,
            thread_root: None,
            search_terms: Some("message".to_owned()),
            // Microseconds, as the service sends: what both backends keep.
            now: Utc::now().trunc_subsecs(6),
        }
    }

    pub(super) async fn send(
        store: &ChatStore,
        to: &Membership,
        from: &UserId,
        client_id: Option<&str>,
    ) -> Result<Option<Message>> {
        let mut results = store.insert_messages(vec![row(to, from, client_id)]).await;
        results.pop().expect("one result")
    }

    #[tokio::test]
    async fn a_batch_commits_together_and_answers_each_message_on_its_own() {
        let (store, community, people) = setup(2).await;
        let first = conversation(&store, &community, GROUP, &people).await;
        let second = conversation(&store, &community, GROUP, &people).await;
        let mut gone = conversation(&store, &community, GROUP, &people).await;
        gone.id = ConversationId::new();
        send(&store, &first, &people[0], Some("taken"))
            .await
            .unwrap();
        let batch = vec![
            row(&first, &people[0], None),
            row(&second, &people[1], Some("a")),
            // A repeated client_id: refused alone, the batch goes on (and on PostgreSQL the
            // offset it took is given back).
            row(&first, &people[0], Some("taken")),
            row(&gone, &people[0], None),
            row(&first, &people[1], Some("a")),
            row(&second, &people[1], Some("a")),
        ];
        let results = store.insert_messages(batch).await;
        let offsets: Vec<Option<u64>> = results
            .iter()
            .map(|r| r.as_ref().ok().and_then(|m| m.as_ref().map(|m| m.offset)))
            .collect();
        assert_eq!(offsets, [Some(2), Some(1), None, None, Some(3), None]);
        assert!(matches!(results[2], Ok(None)));
        assert!(matches!(results[3], Err(ChatError::NotFound)));
        assert!(matches!(results[5], Ok(None)));
        // Offsets go on without a gap after the batch.
        let next = send(&store, &first, &people[0], None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(next.offset, 4);
        let next = send(&store, &second, &people[0], None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(next.offset, 2);
    }

    /// A statement that fails inside a batch (here a malformed id): on PostgreSQL it aborts
    /// the transaction, so no message of the batch may be answered as stored, and the next
    /// offsets are the ones the batch did not keep; on SQLite only that message fails.
    #[tokio::test]
    async fn a_failed_statement_is_never_answered_as_stored() {
        let (store, community, people) = setup(2).await;
        let first = conversation(&store, &community, GROUP, &people).await;
        let second = conversation(&store, &community, GROUP, &people).await;
        let mut broken = row(&second, &people[1], None);
        broken.id = MessageId::from("short");
        let batch = vec![
            row(&first, &people[0], None),
            broken,
            row(&second, &people[0], None),
        ];
        let results = store.insert_messages(batch).await;
        assert!(matches!(results[1], Err(ChatError::Database(_))));
        let kept = |r: &Result<Option<Message>>| {
            r.as_ref().ok().and_then(|m| m.as_ref().map(|m| m.offset))
        };
        let next = send(&store, &first, &people[1], None)
            .await
            .unwrap()
            .unwrap();
        let stored = store
            .messages(&first.id, &first.epoch, None, 10)
            .await
            .unwrap();
        if store.db.backend() == "postgres" {
            assert!(results.iter().all(Result::is_err), "{results:?}");
            assert_eq!(next.offset, 1);
            assert_eq!(offsets(&stored), [1]);
        } else {
            assert_eq!((kept(&results[0]), kept(&results[2])), (Some(1), Some(1)));
            assert_eq!(next.offset, 2);
            assert_eq!(offsets(&stored), [2, 1]);
        }
    }

    pub(super) fn offsets(messages: &[Message]) -> Vec<u64> {
        messages.iter().map(|m| m.offset).collect()
    }

    #[tokio::test]
    async fn membership_is_for_participants_only() {
        let (store, community, people) = setup(3).await;
        let chat = conversation(&store, &community, GROUP, &people[..2]).await;
        assert!(store
            .membership(&chat.id, &people[1])
            .await
            .unwrap()
            .is_some());
        assert!(store
            .membership(&chat.id, &people[2])
            .await
            .unwrap()
            .is_none());
        assert!(store
            .membership(&"no-such-conversation1".into(), &people[0])
            .await
            .unwrap()
            .is_none());
        assert!(store.is_participant(&chat.id, &people[1]).await.unwrap());
        assert!(!store.is_participant(&chat.id, &people[2]).await.unwrap());

        assert!(store
            .remove_participant(&chat.id, &people[1])
            .await
            .unwrap());
        assert!(!store
            .remove_participant(&chat.id, &people[1])
            .await
            .unwrap());
        assert!(store
            .membership(&chat.id, &people[1])
            .await
            .unwrap()
            .is_none());
        let left = store.conversation(&chat.id).await.unwrap().unwrap();
        assert_eq!(left.participant_ids, vec![people[0].clone()]);
    }

    #[tokio::test]
    async fn offsets_count_up_per_conversation_and_page_history() {
        let (store, community, people) = setup(2).await;
        let (one, two) = (
            conversation(&store, &community, GROUP, &people).await,
            conversation(&store, &community, GROUP, &people).await,
        );
        for n in 1..=5 {
            let sent = send(&store, &one, &people[n % 2], None)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (sent.offset, sent.epoch.as_str()),
                (n as u64, one.epoch.as_str())
            );
        }
        let other = send(&store, &two, &people[0], None).await.unwrap().unwrap();
        assert_eq!(other.offset, 1);
        assert_ne!(one.epoch, two.epoch);
        let stored = store.conversation(&one.id).await.unwrap().unwrap();
        assert_eq!(stored.last_offset, 5);

        let newest = store.messages(&one.id, &one.epoch, None, 2).await.unwrap();
        assert_eq!(offsets(&newest), [5, 4]);
        let before = store
            .messages(&one.id, &one.epoch, Some(4), 10)
            .await
            .unwrap();
        assert_eq!(offsets(&before), [3, 2, 1]);
        let between = store
            .messages_between(&one.id, &one.epoch, 1, 4, 10)
            .await
            .unwrap();
        assert_eq!(offsets(&between), [2, 3, 4]);
        let capped = store
            .messages_between(&one.id, &one.epoch, 0, 5, 2)
            .await
            .unwrap();
        assert_eq!(offsets(&capped), [1, 2]);
    }

    #[tokio::test]
    async fn a_client_id_stores_once_per_sender() {
        let (store, community, people) = setup(2).await;
        let chat = conversation(&store, &community, GROUP, &people).await;
        let first = send(&store, &chat, &people[0], Some("retry-1"))
            .await
            .unwrap();
        let first = first.expect("stored");
        // A second insert with the same key (a retry racing the first) stores nothing.
        let again = send(&store, &chat, &people[0], Some("retry-1"))
            .await
            .unwrap();
        assert!(again.is_none());
        // The key is the sender's own: someone else may use the same one.
        let theirs = send(&store, &chat, &people[1], Some("retry-1"))
            .await
            .unwrap();
        assert_eq!(theirs.expect("stored").offset, 2);
        let found = store
            .message_by_client_id(&chat.id, &people[0], "retry-1", &chat.epoch)
            .await
            .unwrap();
        assert_eq!(found, Some(first));
        let history = store
            .messages(&chat.id, &chat.epoch, None, 10)
            .await
            .unwrap();
        assert_eq!(offsets(&history), [2, 1]);
    }

    #[tokio::test]
    async fn a_message_to_a_missing_conversation_is_not_found() {
        let (store, community, people) = setup(1).await;
        let gone = Membership {
            id: ConversationId::new(),
            community_id: community,
            epoch: "epoch".into(),
            encrypted: false,
            role: "member".into(),
        };
        let refused = send(&store, &gone, &people[0], None).await;
        assert!(matches!(refused, Err(ChatError::NotFound)), "{refused:?}");
    }

    #[tokio::test]
    async fn a_direct_conversation_is_found_from_either_side() {
        let (store, community, people) = setup(3).await;
        let direct = ConversationKind::Direct;
        let id = conversation(&store, &community, direct, &people[..2])
            .await
            .id;
        let found = store.direct_between(&people[1], &people[0]).await.unwrap();
        assert_eq!(found, Some(id));
        assert_eq!(
            store.direct_between(&people[0], &people[2]).await.unwrap(),
            None
        );
        // A group of the same two is not a direct conversation.
        let pair = [people[0].clone(), people[2].clone()];
        conversation(&store, &community, GROUP, &pair).await;
        assert_eq!(
            store.direct_between(&people[0], &people[2]).await.unwrap(),
            None
        );
    }
}
