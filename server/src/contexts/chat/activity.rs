//! What participants do to messages after they are sent: reactions (one per user per emoji,
//! toggled), edits (earlier bodies kept, `edited_at` set) and deletes (a tombstone: the body
//! is gone from storage and index), each at its own offset of the conversation and pushed on
//! `conversation:{id}` as `reaction`, `message_edited` or `message_deleted`. Also threads and
//! the history view of a message (its reactions and thread summary).

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Map;

use super::events::ChatEvent;
use super::search::terms::Terms;
use super::store::{LogEntry, Membership, NewActivity};
use super::{ChatError, ChatService, Message, MessageView};
use crate::contexts::auth::{Principal, Role};
use crate::ids::{ConversationId, MessageId};

type Result<T, E = ChatError> = std::result::Result<T, E>;

/// The push events.
pub const REACTION: &str = "reaction";
pub const MESSAGE_EDITED: &str = "message_edited";
pub const MESSAGE_DELETED: &str = "message_deleted";

/// Longest emoji accepted, in bytes (a family with skin tones is about 35).
const MAX_EMOJI_BYTES: usize = 64;

/// An emoji is a short run of symbols: no letters, digits, spaces or control characters.
fn check_emoji(emoji: &str) -> Result<()> {
    let ok = !emoji.is_empty()
        && emoji.len() <= MAX_EMOJI_BYTES
        && emoji
            .chars()
            .all(|c| !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control());
    if ok {
        Ok(())
    } else {
        Err(ChatError::Invalid(
            "emoji must be one emoji (no letters, digits or spaces)".into(),
        ))
    }
}

impl ChatService {
    /// A message of a conversation the caller takes part in, with its conversation: what
    /// every change to a message starts from.
    async fn target(
        &self,
        by: &Principal,
        conversation_id: &ConversationId,
        message_id: &MessageId,
    ) -> Result<(Arc<Membership>, Message)> {
        let conversation = self.membership(conversation_id, &by.user_id).await?;
        let message = self
            .store()
            .message(conversation_id, &conversation.epoch, message_id)
            .await?
            .ok_or(ChatError::MessageNotFound)?;
        Ok((conversation, message))
    }

    fn now() -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }

    /// Adds the caller's `emoji` to a message, or takes it away when it is there.
    pub async fn react(
        &self,
        by: &Principal,
        conversation_id: &ConversationId,
        message_id: &MessageId,
        emoji: &str,
    ) -> Result<super::Activity> {
        check_emoji(emoji)?;
        let (conversation, message) = self.target(by, conversation_id, message_id).await?;
        if message.deleted_at.is_some() {
            return Err(ChatError::MessageNotFound);
        }
        let activity = self
            .store()
            .toggle_reaction(
                NewActivity {
                    event: REACTION,
                    conversation_id,
                    epoch: &conversation.epoch,
                    message_id,
                    user_id: &by.user_id,
                    details: Map::new(),
                    now: Self::now(),
                },
                emoji,
            )
            .await?;
        self.inner.bus.publish(ChatEvent::activity(
            by,
            &conversation.community_id,
            &activity,
        ));
        Ok(activity)
    }

    /// Replaces the body of one of the caller's own messages.
    pub async fn edit_message(
        &self,
        by: &Principal,
        conversation_id: &ConversationId,
        message_id: &MessageId,
        body: &str,
    ) -> Result<super::Activity> {
        self.check_body(body)?;
        let (conversation, message) = self.target(by, conversation_id, message_id).await?;
        if message.sender_id != by.user_id {
            return Err(ChatError::NotYours("edit"));
        }
        if message.deleted_at.is_some() {
            return Err(ChatError::MessageNotFound);
        }
        let terms = if conversation.encrypted {
            None
        } else {
            let language = self.language(&conversation.community_id).await;
            Some(Terms::new(language).of_text(body))
        };
        let activity = self
            .store()
            .edit_message(
                NewActivity {
                    event: MESSAGE_EDITED,
                    conversation_id,
                    epoch: &conversation.epoch,
                    message_id,
                    user_id: &by.user_id,
                    details: Map::new(),
                    now: Self::now(),
                },
                body,
                terms.as_deref(),
            )
            .await?;
        self.inner.bus.publish(ChatEvent::activity(
            by,
            &conversation.community_id,
            &activity,
        ));
        Ok(activity)
    }

    /// Deletes a message: its sender may, and so may a group's admins.
    pub async fn delete_message(
        &self,
        by: &Principal,
        conversation_id: &ConversationId,
        message_id: &MessageId,
    ) -> Result<super::Activity> {
        let (conversation, message) = self.target(by, conversation_id, message_id).await?;
        let moderator = conversation.role == "admin" && by.role != Role::Guest;
        if message.sender_id != by.user_id && !moderator {
            return Err(ChatError::NotYours("delete"));
        }
        if message.deleted_at.is_some() {
            return Err(ChatError::MessageNotFound);
        }
        let activity = self
            .store()
            .delete_message(NewActivity {
                event: MESSAGE_DELETED,
                conversation_id,
                epoch: &conversation.epoch,
                message_id,
                user_id: &by.user_id,
                details: Map::new(),
                now: Self::now(),
            })
            .await?;
        self.inner.bus.publish(ChatEvent::activity(
            by,
            &conversation.community_id,
            &activity,
        ));
        Ok(activity)
    }

    /// Earlier bodies of a message, oldest first (participants only).
    pub async fn message_edits(
        &self,
        by: &Principal,
        conversation_id: &ConversationId,
        message_id: &MessageId,
    ) -> Result<Vec<(String, DateTime<Utc>)>> {
        self.target(by, conversation_id, message_id).await?;
        self.store().edits(message_id).await
    }

    /// The replies in a message's thread, oldest first, after offset `after`.
    pub async fn thread(
        &self,
        by: &Principal,
        conversation_id: &ConversationId,
        root: &MessageId,
        after: Option<u64>,
        limit: Option<u32>,
    ) -> Result<Vec<MessageView>> {
        let (conversation, _) = self.target(by, conversation_id, root).await?;
        let limit = limit.unwrap_or(50).clamp(1, 200);
        let replies = self
            .store()
            .thread(
                conversation_id,
                &conversation.epoch,
                root,
                after.unwrap_or(0),
                limit,
            )
            .await?;
        self.views(replies).await
    }

    /// Messages with their reactions and thread summaries, as history shows them.
    pub async fn views(&self, messages: Vec<Message>) -> Result<Vec<MessageView>> {
        let ids: Vec<MessageId> = messages.iter().map(|m| m.id.clone()).collect();
        let reactions = self.store().reactions(&ids).await?;
        let threads = self.store().thread_summaries(&ids).await?;
        Ok(messages
            .into_iter()
            .map(|message| MessageView {
                reactions: reactions
                    .iter()
                    .filter(|(id, _)| *id == message.id)
                    .map(|(_, r)| r.clone())
                    .collect(),
                thread: threads
                    .iter()
                    .find(|(id, _)| *id == message.id)
                    .map(|(_, t)| t.clone()),
                message,
            })
            .collect())
    }

    /// The conversation's log in `(after, up_to]`: messages and activity by offset, oldest
    /// first, at most `limit` (for recovery; not scoped to a principal).
    pub async fn log_between(
        &self,
        conversation_id: &ConversationId,
        epoch: &str,
        after: u64,
        up_to: u64,
        limit: u32,
    ) -> Result<Vec<LogEntry>> {
        self.store()
            .log_between(conversation_id, epoch, after, up_to, limit)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::chat::search::SearchQuery;
    use crate::contexts::chat::{ConversationKind, NewConversation, NewMessage};
    use crate::db::testing::Fixture;

    async fn setup(fx: &Fixture) -> (Principal, Principal, ConversationId) {
        let admin = fx.sign_up("admin@example.org", None).await;
        let ana = fx.invited(&admin, "ana@example.org", Role::Member).await;
        let id = fx
            .chat()
            .create_conversation(
                &admin,
                NewConversation {
                    kind: ConversationKind::Group,
                    name: Some("Casa".into()),
                    participant_ids: vec![ana.user_id.clone()],
                    encrypted: false,
                },
            )
            .await
            .unwrap()
            .id;
        (admin, ana, id)
    }

    fn say(body: &str) -> NewMessage {
        NewMessage {
            body: body.into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn reactions_toggle_and_take_offsets() {
        let fx = Fixture::new().await;
        let chat = fx.chat();
        let (admin, ana, id) = setup(&fx).await;
        let (message, _) = chat.send_message(&ana, &id, say("bom dia")).await.unwrap();
        let added = chat.react(&admin, &id, &message.id, "👍").await.unwrap();
        assert_eq!(added.offset, message.offset + 1);
        assert_eq!(added.details["added"], true);
        chat.react(&ana, &id, &message.id, "👍").await.unwrap();
        let views = chat.views(vec![message.clone()]).await.unwrap();
        assert_eq!(views[0].reactions.len(), 1);
        assert_eq!(views[0].reactions[0].user_ids.len(), 2);
        let removed = chat.react(&admin, &id, &message.id, "👍").await.unwrap();
        assert_eq!(removed.details["added"], false);
        let views = chat.views(vec![message.clone()]).await.unwrap();
        assert_eq!(views[0].reactions[0].user_ids, vec![ana.user_id.clone()]);
        for bad in ["", "ok", "a b", "👍 👍", &"👍".repeat(40)] {
            let refused = chat.react(&admin, &id, &message.id, bad).await;
            assert!(
                matches!(refused, Err(ChatError::Invalid(_))),
                "{bad}: {refused:?}"
            );
        }
        let missing = chat.react(&admin, &id, &MessageId::new(), "👍").await;
        assert!(
            matches!(missing, Err(ChatError::MessageNotFound)),
            "{missing:?}"
        );
        // The log holds the message and the three reactions, in offset order.
        let log = chat
            .log_between(&id, &message.epoch, 0, 10, 10)
            .await
            .unwrap();
        let offsets: Vec<u64> = log.iter().map(LogEntry::offset).collect();
        assert_eq!(offsets, [1, 2, 3, 4]);
        assert!(matches!(&log[0], LogEntry::Message(m) if m.id == message.id));
    }

    #[tokio::test]
    async fn edits_keep_history_and_deletes_leave_nothing_but_a_tombstone() {
        let fx = Fixture::new().await;
        let chat = fx.chat();
        let (admin, ana, id) = setup(&fx).await;
        let (message, _) = chat
            .send_message(&ana, &id, say("o açaí acabou"))
            .await
            .unwrap();
        let not_hers = chat.edit_message(&admin, &id, &message.id, "x").await;
        assert!(
            matches!(not_hers, Err(ChatError::NotYours(_))),
            "{not_hers:?}"
        );
        let edited = chat
            .edit_message(&ana, &id, &message.id, "a tapioca acabou")
            .await
            .unwrap();
        assert_eq!(edited.details["body"], "a tapioca acabou");
        let stored = chat
            .store()
            .message(&id, &message.epoch, &message.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.body, "a tapioca acabou");
        assert!(stored.edited_at.is_some());
        let history = chat.message_edits(&admin, &id, &message.id).await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].0, "o açaí acabou");
        // The index follows the edit.
        let search = |q: &str| {
            SearchQuery::parse(q, crate::contexts::chat::search::Language::Portuguese).unwrap()
        };
        let filter = super::super::store::SearchFilter::for_user(admin.user_id.clone());
        assert!(chat
            .store()
            .search(&search("acai"), &filter, 0, 10)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            chat.store()
                .search(&search("tapioca"), &filter, 0, 10)
                .await
                .unwrap()
                .len(),
            1
        );

        // The group's admin deletes it: the body is gone everywhere.
        chat.react(&admin, &id, &message.id, "😮").await.unwrap();
        let deleted = chat.delete_message(&admin, &id, &message.id).await.unwrap();
        assert_eq!(deleted.event, MESSAGE_DELETED);
        let stored = chat
            .store()
            .message(&id, &message.epoch, &message.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.body, "");
        assert!(stored.deleted_at.is_some());
        assert!(chat.store().edits(&message.id).await.unwrap().is_empty());
        assert!(chat
            .store()
            .search(&search("tapioca"), &filter, 0, 10)
            .await
            .unwrap()
            .is_empty());
        let log = chat
            .log_between(&id, &message.epoch, 0, 20, 20)
            .await
            .unwrap();
        for entry in &log {
            let text = match entry {
                LogEntry::Message(m) => m.body.clone(),
                LogEntry::Activity(a) => serde_json::to_string(&a).unwrap(),
            };
            assert!(
                !text.contains("tapioca") && !text.contains("açaí"),
                "{text}"
            );
        }
        assert_eq!(log.len(), 4, "message, edit, reaction, delete");
        let again = chat.delete_message(&admin, &id, &message.id).await;
        assert!(
            matches!(again, Err(ChatError::MessageNotFound)),
            "{again:?}"
        );
        let react = chat.react(&ana, &id, &message.id, "👍").await;
        assert!(
            matches!(react, Err(ChatError::MessageNotFound)),
            "{react:?}"
        );
        // A member cannot delete the admin's message.
        let (theirs, _) = chat.send_message(&admin, &id, say("regra")).await.unwrap();
        let refused = chat.delete_message(&ana, &id, &theirs.id).await;
        assert!(
            matches!(refused, Err(ChatError::NotYours(_))),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn replies_quote_and_threads_stay_one_level_deep() {
        let fx = Fixture::new().await;
        let chat = fx.chat();
        let (admin, ana, id) = setup(&fx).await;
        let (root, _) = chat
            .send_message(&admin, &id, say("churrasco sábado?"))
            .await
            .unwrap();
        let in_thread = |body: &str, root: &MessageId| NewMessage {
            body: body.into(),
            thread_root: Some(root.clone()),
            ..Default::default()
        };
        let (first, _) = chat
            .send_message(&ana, &id, in_thread("eu vou", &root.id))
            .await
            .unwrap();
        assert_eq!(first.thread_root.as_ref(), Some(&root.id));
        // Replying in the thread of a reply lands in the same thread.
        let (second, _) = chat
            .send_message(&admin, &id, in_thread("ótimo", &first.id))
            .await
            .unwrap();
        assert_eq!(second.thread_root.as_ref(), Some(&root.id));
        let quote = NewMessage {
            body: "sim".into(),
            reply_to: Some(root.id.clone()),
            ..Default::default()
        };
        let (quoted, _) = chat.send_message(&ana, &id, quote).await.unwrap();
        assert_eq!(quoted.reply_to.as_ref(), Some(&root.id));
        let bad = NewMessage {
            body: "?".into(),
            reply_to: Some(MessageId::new()),
            ..Default::default()
        };
        let refused = chat.send_message(&ana, &id, bad).await;
        assert!(matches!(refused, Err(ChatError::Invalid(_))), "{refused:?}");

        // The timeline has the root and the quote; the thread has its two replies.
        let timeline = chat.messages(&ana, &id, None, None).await.unwrap();
        let bodies: Vec<&str> = timeline.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(bodies, ["sim", "churrasco sábado?"]);
        let views = chat.views(timeline).await.unwrap();
        let summary = views[1]
            .thread
            .as_ref()
            .expect("a thread summary on the root");
        assert_eq!(summary.reply_count, 2);
        assert_eq!(summary.last_offset, second.offset);
        let thread = chat.thread(&ana, &id, &root.id, None, None).await.unwrap();
        let bodies: Vec<&str> = thread.iter().map(|m| m.message.body.as_str()).collect();
        assert_eq!(bodies, ["eu vou", "ótimo"]);
    }
}
